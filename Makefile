# `make test` and `make lint` bootstrap their own virtual environments: nothing needs installing first.
PYTHON ?= python3
# The oldest SDK runs on the oldest supported Python, to prove both ends of the range.
PYTHON_OLDEST ?= $(shell command -v $(HOME)/.pyenv/versions/3.10.13/bin/python3 || command -v python3.10 || echo $(PYTHON))
# The newest SDK is this one line; .venv follows it.
NEWEST_SDK := 2.15.0
SDKS := 0.42.0 0.125.0 1.13.0 1.14.0 $(NEWEST_SDK)
PIP_FLAGS := -q --disable-pip-version-check

.PHONY: test lint format matrix clean demo venvs bench bench-smoke ops-test ops-tools

.venv/.ok: .venv/.sdk-$(NEWEST_SDK)
	touch $@

.venv/.sdk-%: pyproject.toml
	rm -rf .venv && $(PYTHON) -m venv .venv
	.venv/bin/pip install $(PIP_FLAGS) -e '.[dev]' anthropic==$*
	touch $@

.venvs/0.42.0/.ok: PYTHON := $(PYTHON_OLDEST)
.venvs/%/.ok: pyproject.toml
	rm -rf .venvs/$* && $(PYTHON) -m venv .venvs/$*
	.venvs/$*/bin/pip install $(PIP_FLAGS) -e '.[test]' anthropic==$*
	touch $@

lint: .venv/.ok
	.venv/bin/ruff check src tests benchmarks examples
	.venv/bin/ruff format --check src tests benchmarks examples

format: .venv/.ok
	.venv/bin/ruff format src tests benchmarks examples
	.venv/bin/ruff check --fix src tests benchmarks examples

# Every venv, buildable in parallel (`make -j4 venvs`); `make test` builds what is missing by itself.
venvs: .venv/.ok $(SDKS:%=.venvs/%/.ok)

# The whole suite against every SDK generation, each in its own venv.
# The whole suite against every SDK generation, each in its own venv, two at a time (the machine has two cores);
# each run's output is printed whole when it ends. tests/ops (the operations bundle: real Collector, Prometheus,
# Jaeger) runs once, in `make ops-test`.
matrix: $(SDKS:%=.venvs/%/.ok)
	@$(MAKE) --no-print-directory -j2 -k $(SDKS:%=matrix-%) || { echo "FAILED on anthropic: $$(cat .venvs/*/failed 2>/dev/null)"; exit 1; }

matrix-%: .venvs/%/.ok
	@rm -f .venvs/$*/failed; .venvs/$*/bin/python -m pytest -q tests --ignore=tests/ops > .venvs/$*/pytest.log 2>&1 \
		|| echo $* > .venvs/$*/failed; \
	echo "== anthropic $* ($$(.venvs/$*/bin/python --version))"; cat .venvs/$*/pytest.log; [ ! -f .venvs/$*/failed ]

# The overhead guard: a few thousand calls, failing only if the plugin adds over 100% to a bare call.
bench-smoke: .venv/.ok
	.venv/bin/python benchmarks/overhead.py --smoke

# The operations bundle against the real binaries (built by tools/tools.mk into .tools/bin), on the newest SDK.
ops-test: .venv/.ok ops-tools
	.venv/bin/python -m pytest -q tests/ops

-include tools/*.mk
ops-tools::

test: lint matrix ops-test bench-smoke

# The overhead benchmark on the newest and the oldest SDK of the matrix, in wall-clock time (about ten minutes
# each) and in instructions (a few minutes each; skipped without valgrind); figures in benchmarks/RESULTS.md.
OLDEST_SDK := $(firstword $(SDKS))
INSTRUCTION_WORKLOADS := "create" "stream, 50 events" "stream, 6 events"
bench: .venv/.ok .venvs/$(OLDEST_SDK)/.ok
	.venv/bin/python benchmarks/overhead.py --breakdown --json benchmarks/results-$(NEWEST_SDK).json
	.venvs/$(OLDEST_SDK)/bin/python benchmarks/overhead.py --breakdown --json benchmarks/results-$(OLDEST_SDK).json
	.venv/bin/python benchmarks/instructions.py --workloads $(INSTRUCTION_WORKLOADS) \
		--json benchmarks/instructions-$(NEWEST_SDK).json
	.venvs/$(OLDEST_SDK)/bin/python benchmarks/instructions.py --workloads $(INSTRUCTION_WORKLOADS) \
		--json benchmarks/instructions-$(OLDEST_SDK).json

clean:
	rm -rf .venv .venvs

# A compressed day of traffic through the instrumented SDK against the bundled fake API, before and after prompt
# caching, Message Batches and input validation; about a minute. DEMO_FLAGS passes flags: DEMO_FLAGS='--json r.json'.
demo: .venv/.ok
	.venv/bin/anthropic-otel demo $(DEMO_FLAGS)
