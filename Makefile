# incident-bot: `make run` to start it, `make test` to check it. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: install install-dev run test test-tools lint format clean bench

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: install
	$(BIN)/incident-bot serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Tests start what they need (throwaway PostgreSQL, real Alertmanager, fake Slack) themselves;
# scripts/test-tools.sh fetches promtool, amtool and alertmanager once into .cache/.
# Then the bots' end-to-end suites again with every bot on PostgreSQL (a fresh database each);
# the store's contract suite already runs on both backends in the first pass.
PG_SUITES := tests/slack/test_alert_threads.py tests/slack/test_digest.py \
	tests/slack/test_outbox_sender.py tests/slack/test_incident_commands.py \
	tests/slack/test_pagerduty_threads.py tests/slack/test_action_guards.py \
	tests/web/test_webhooks.py tests/web/test_api.py
test: test-tools install-dev lint validate
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m pytest --store postgresql $(PYTEST_ARGS) $(PG_SUITES)

# What the tests start themselves, installed only where missing and each said on stderr:
# PostgreSQL's server binaries (Debian's postgresql, for the throwaway cluster), Prometheus'
# promtool, amtool and alertmanager (extracted into .cache/), and for the browser tests Debian's
# Chromium and axe-core. The first step of `make test`; run it alone to see what it would do.
test-tools:
	@echo "test-tools: checking PostgreSQL, promtool, amtool, alertmanager, Chromium, axe-core" >&2
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		echo "test-tools: installing Debian's postgresql (server binaries for the tests' throwaway cluster)" >&2; \
		[ "$$(id -u)" = 0 ] || { echo "test-tools: not root; run: sudo apt-get install postgresql" >&2; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	scripts/test-tools.sh >/dev/null
	scripts/browser-tools.sh >/dev/null

format: install-dev
	$(BIN)/ruff format bot tests
	$(BIN)/ruff check --fix bot tests

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache

# infra/: Prometheus rules and their unit tests, Alertmanager, CloudFormation, both kustomize
# overlays against the Kubernetes schemas, Compose, Grafana, yamllint and shellcheck; offline.
.PHONY: validate
validate: install-dev
	scripts/validate-infra.sh

# docs/status-page-{desktop,phone}.png: the status page with a sample incident; and
# docs/alert-thread.png: an alert thread from the bot's own blocks for a captured Alertmanager
# group, drawn by a static Block Kit mock (scripts/block_kit_mock.py); all in the browser tests'
# headless Chromium. SCREENSHOTS_ARGS="--only alert-thread" makes one kind.
.PHONY: screenshots
screenshots: install-dev
	scripts/browser-tools.sh >/dev/null
	$(BIN)/python scripts/screenshots.py $(SCREENSHOTS_ARGS)

# Benchmarks (bench/, issue 8), on loopback only: each prints a table, then bench/RESULTS.md is
# rewritten with the figures, the date and nproc. About 5 minutes on 2 cores; BENCH_ARGS=--quick
# runs shorter variants. The storm needs Alertmanager, fetched by scripts/test-tools.sh.
bench: install
	scripts/test-tools.sh >/dev/null
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)
