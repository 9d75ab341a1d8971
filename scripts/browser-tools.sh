#!/usr/bin/env bash
# Ensure what the browser tests need: Debian's Chromium (driven headless through Playwright's
# Python API, never a browser build of Playwright's own) and axe-core's axe.min.js from the npm
# registry, cached in .cache/test-tools/axe-core-<version>/. Then print, one per line:
#
#   chromium=<path of the browser>
#   axe=<path of axe.min.js>
#
# Idempotent and cheap when both are there (no network). Says on stderr what it installs.
#
# Environment:
#   TEST_TOOLS_DIR  cache directory (default: <repo>/.cache/test-tools)
#   CHROMIUM        a Chromium or Chrome binary to use instead of looking for one
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${TEST_TOOLS_DIR:-"$repo_root/.cache/test-tools"}
# Pinned so every run checks the page against the same rules; bump it on purpose.
axe_version=4.14.1
axe_dir="$cache_dir/axe-core-$axe_version"

log() { printf 'browser-tools: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# A browser counts only if it starts: Debian's wrapper script is useless without its binary.
browser_ok() { [[ -x "$1" ]] && "$1" --version 2>/dev/null | grep -q -E 'Chromium|Chrome'; }

find_browser() {
	local name found
	if [[ -n "${CHROMIUM:-}" ]]; then
		browser_ok "$CHROMIUM" && { printf '%s\n' "$CHROMIUM"; return 0; }
		die "CHROMIUM=$CHROMIUM does not run"
	fi
	for name in chromium chromium-browser; do
		found=$(command -v "$name" 2>/dev/null || true)
		[[ -n "$found" ]] && browser_ok "$found" && { printf '%s\n' "$found"; return 0; }
	done
	return 1
}

mkdir -p "$cache_dir"
# Parallel runs must not install or unpack over each other.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache_dir/.browser-lock"
	flock -w 600 9 || die "timed out waiting for the lock on $cache_dir/.browser-lock"
fi

if ! browser=$(find_browser); then
	command -v apt-get >/dev/null 2>&1 || die "no Chromium on PATH and no apt-get; install Chromium or set CHROMIUM"
	[[ $EUID -eq 0 ]] || die "no Chromium on PATH; run 'sudo apt-get install chromium' (or set CHROMIUM)"
	log "installing Debian's chromium"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq chromium >&2; then
		# A fresh machine often has no package lists yet.
		log "install failed; running apt-get update and retrying"
		apt-get -q update >&2 || die "apt-get update failed"
		apt-get install -y -qq chromium >&2 || die "apt-get install chromium failed"
	fi
	browser=$(find_browser) || die "chromium was installed but does not run"
	log "installed $("$browser" --version 2>/dev/null)"
fi

if [[ ! -s "$axe_dir/axe.min.js" ]]; then
	command -v npm >/dev/null 2>&1 || die "npm is needed to fetch axe-core $axe_version"
	work=$(mktemp -d "$cache_dir/.axe.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	log "fetching axe-core@$axe_version from the npm registry"
	(cd "$work" && npm pack "axe-core@$axe_version" --silent >/dev/null) ||
		die "npm pack axe-core@$axe_version failed"
	tar -xzf "$work/axe-core-$axe_version.tgz" -C "$work" package/axe.min.js package/LICENSE
	head -c 200 "$work/package/axe.min.js" | grep -q "axe v$axe_version" ||
		die "the axe-core package does not hold axe v$axe_version"
	mkdir -p "$work/out"
	cp "$work/package/axe.min.js" "$work/package/LICENSE" "$work/out/"
	# Rename into place so a concurrent reader never sees half a file.
	rm -rf "$axe_dir"
	mv "$work/out" "$axe_dir"
	log "installed axe-core $axe_version (MPL-2.0) in $axe_dir"
fi

printf 'chromium=%s\naxe=%s\n' "$browser" "$axe_dir/axe.min.js"
