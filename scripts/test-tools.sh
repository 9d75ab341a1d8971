#!/usr/bin/env bash
# Ensure the Prometheus tooling the integration tests need (promtool, amtool,
# alertmanager) is available in .cache/test-tools/bin, then print that directory.
#
# Idempotent and cheap when the tools are already there. Tools found on PATH are
# linked; the rest are taken from Debian's prometheus / prometheus-alertmanager
# packages with `apt-get download` + `dpkg-deb -x`, because installing those
# packages would drag in ~218 MB of web-UI dependencies the tests never use.
#
# Environment:
#   TEST_TOOLS_DIR     cache directory (default: <repo>/.cache/test-tools)
#   TEST_TOOLS_NO_PATH set to 1 to ignore tools already on PATH
#
# stdout carries only the bin directory so callers can do BIN=$(scripts/test-tools.sh).
#
# Debian's alertmanager reads its notification templates from the hard-coded
# directory /usr/share/prometheus/alertmanager and refuses to start without
# default.tmpl. Rather than writing into /usr/share, the extracted binary gets that
# path rewritten to the equally long relative path ././././././././share/alertmanager
# and the templates are copied to <cache>/share/alertmanager, so the patched binary
# must be started with <cache> as its working directory (tests/harness/alertmanager.py
# does this). Go keeps string lengths out of band, so a same-length rewrite is safe.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${TEST_TOOLS_DIR:-"$repo_root/.cache/test-tools"}
bin_dir="$cache_dir/bin"
tools=(promtool amtool alertmanager)
debian_am_assets=/usr/share/prometheus/alertmanager
relative_am_assets=././././././././share/alertmanager
am_templates="$cache_dir/share/alertmanager"

log() { printf 'test-tools: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# A tool counts as present only if it actually runs: a truncated copy from an
# interrupted earlier run must not be mistaken for a usable binary.
tool_ok() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

have_tool() {
	tool_ok "$bin_dir/$1" || return 1
	# A copied (patched) alertmanager is useless without its templates; a symlink
	# to a system binary uses the system's.
	[[ "$1" != alertmanager || -L "$bin_dir/$1" || -f "$am_templates/default.tmpl" ]]
}

all_present() {
	local t
	for t in "${tools[@]}"; do
		have_tool "$t" || return 1
	done
}

# Fast path without taking the lock: the common case on a warm machine.
if all_present; then
	printf '%s\n' "$bin_dir"
	exit 0
fi

mkdir -p "$bin_dir"

# Parallel test runs (e.g. several make targets) must not extract over each other.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache_dir/.lock"
	flock -w 300 9 || die "timed out waiting for the lock on $cache_dir/.lock"
fi

if all_present; then
	printf '%s\n' "$bin_dir"
	exit 0
fi

# Debian names the alertmanager binary prometheus-alertmanager; upstream tarballs
# name it alertmanager. Accept either.
path_names() {
	case "$1" in
	alertmanager) echo "alertmanager prometheus-alertmanager" ;;
	*) echo "$1" ;;
	esac
}

deb_for() {
	case "$1" in
	promtool) echo prometheus ;;
	amtool | alertmanager) echo prometheus-alertmanager ;;
	esac
}

deb_member_for() {
	case "$1" in
	promtool) echo usr/bin/promtool ;;
	amtool) echo usr/bin/amtool ;;
	alertmanager) echo usr/bin/prometheus-alertmanager ;;
	esac
}

# The rewrite below must keep the binary's string lengths intact.
((${#debian_am_assets} == ${#relative_am_assets})) || die "internal error: asset path lengths differ"

bin_dir_real=$(cd "$bin_dir" && pwd -P)

link_from_path() {
	local t=$1 name found
	for name in $(path_names "$t"); do
		found=$(command -v "$name" 2>/dev/null || true)
		[[ -n "$found" ]] || continue
		found=$(readlink -f "$found")
		# Never link the cache to itself when bin_dir is already on PATH.
		[[ "$(dirname "$found")" == "$bin_dir_real" ]] && continue
		tool_ok "$found" || continue
		ln -sfn "$found" "$bin_dir/$t.tmp.$$"
		mv -f "$bin_dir/$t.tmp.$$" "$bin_dir/$t"
		log "using $found for $t"
		return 0
	done
	return 1
}

missing=()
for t in "${tools[@]}"; do
	have_tool "$t" && continue
	if [[ "${TEST_TOOLS_NO_PATH:-0}" != 1 ]] && link_from_path "$t"; then
		continue
	fi
	missing+=("$t")
done

if ((${#missing[@]} > 0)); then
	command -v apt-get >/dev/null 2>&1 || die "need ${missing[*]} but apt-get is unavailable; install Prometheus' promtool, amtool and alertmanager and put them on PATH"
	command -v dpkg-deb >/dev/null 2>&1 || die "need ${missing[*]} but dpkg-deb is unavailable"

	pkgs=()
	for t in "${missing[@]}"; do
		p=$(deb_for "$t")
		[[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p")
	done

	work=$(mktemp -d "$cache_dir/.work.XXXXXX")
	trap 'rm -rf "$work"' EXIT

	apt_opts=(-q)
	# As root apt drops to the _apt user for downloads, which cannot write into our
	# private temp dir; downloading as root avoids a noisy warning.
	if [[ $EUID -eq 0 ]]; then
		apt_opts+=(-o APT::Sandbox::User=root)
	fi

	download() { (cd "$work" && apt-get "${apt_opts[@]}" download "${pkgs[@]}") >&2; }

	log "downloading ${pkgs[*]}"
	if ! download; then
		# A fresh machine/container often has no package lists yet.
		[[ $EUID -eq 0 ]] || die "apt-get download ${pkgs[*]} failed and refreshing package lists needs root; run 'sudo apt-get update' and retry"
		log "download failed; running apt-get update and retrying"
		apt-get -q update >&2 || die "apt-get update failed"
		download || die "apt-get download ${pkgs[*]} failed even after apt-get update"
	fi

	for deb in "$work"/*.deb; do
		[[ -e "$deb" ]] || die "apt-get download produced no .deb files"
		dpkg-deb -x "$deb" "$work/root"
	done

	for t in "${missing[@]}"; do
		src="$work/root/$(deb_member_for "$t")"
		[[ -f "$src" ]] || die "$(deb_for "$t") package does not contain $(deb_member_for "$t")"
		staged="$bin_dir/$t.tmp.$$"
		if [[ "$t" == alertmanager ]] && grep -qaF "$debian_am_assets" "$src"; then
			[[ -f "$work/root$debian_am_assets/default.tmpl" ]] ||
				die "prometheus-alertmanager package lacks $debian_am_assets/default.tmpl"
			command -v perl >/dev/null 2>&1 || die "perl is needed to relocate alertmanager's templates"
			mkdir -p "$am_templates"
			cp -f "$work/root$debian_am_assets"/*.tmpl "$am_templates/"
			perl -0777 -pe "s{\Q$debian_am_assets\E}{$relative_am_assets}g" "$src" >"$staged"
			grep -qaF "$debian_am_assets" "$staged" && die "could not relocate alertmanager's template path"
		else
			cp -f "$src" "$staged"
		fi
		# Write-then-rename so a concurrent reader never sees a half-written binary.
		chmod 0755 "$staged"
		mv -f "$staged" "$bin_dir/$t"
		log "installed $t from $(deb_for "$t")"
	done
fi

for t in "${tools[@]}"; do
	have_tool "$t" || die "$bin_dir/$t is missing, does not run or lacks its templates"
done

printf '%s\n' "$bin_dir"
