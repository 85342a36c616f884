# anthropic-otel side by side with the other Anthropic instrumentations, on the newest SDK of the matrix: each
# instrumentation in a venv of its own, with the same SDK, OpenTelemetry SDK and Python, driven in one run by
# benchmarks/peers.py (wall-clock rounds interleaved across one worker process per venv, then instruction counts
# per venv with callgrind). Figures in benchmarks/RESULTS.md and benchmarks/peers-<sdk>.json.
#
#   make bench-peers                       # the full run: about an hour on two cores shared with other work
#   make bench-peers PEERS_FLAGS=--no-wall # the census and the instruction counts only (or --no-instructions)
# For iteration, fewer instrumentations and workloads, into a file of its own (a count is a process under valgrind,
# so the workloads and configurations counted set the time, about a minute for each two):
#   make bench-peers PEERS=anthropic-otel PEERS_JSON=/tmp/peers.json PEERS_FLAGS='--quick --workloads create'
PEERS ?= anthropic-otel otel-genai openllmetry
PEERS_JSON ?= benchmarks/peers-$(NEWEST_SDK).json
PEER_OTEL_SDK := 1.45.2
PEER_OTEL_GENAI := 1.3b0
PEER_OPENLLMETRY := 0.62.4
PEER_PINS := anthropic==$(NEWEST_SDK) opentelemetry-api==$(PEER_OTEL_SDK) opentelemetry-sdk==$(PEER_OTEL_SDK)
PEER_VENVS := .venvs/peer-anthropic-otel .venvs/peer-otel-genai .venvs/peer-openllmetry
PEERS_FLAGS ?=

.PHONY: bench-peers peer-venvs
peer-venvs: $(PEER_VENVS:%=%/.ok-$(NEWEST_SDK))

# anthropic-otel from this checkout, editable, so that a rerun measures the code as it is.
.venvs/peer-anthropic-otel/.ok-$(NEWEST_SDK): pyproject.toml tools/bench.mk
	rm -rf .venvs/peer-anthropic-otel && $(PYTHON) -m venv .venvs/peer-anthropic-otel
	.venvs/peer-anthropic-otel/bin/pip install $(PIP_FLAGS) -e . $(PEER_PINS)
	touch $@

# The OpenTelemetry GenAI Anthropic instrumentation (open-telemetry/opentelemetry-python-genai).
.venvs/peer-otel-genai/.ok-$(NEWEST_SDK): tools/bench.mk
	rm -rf .venvs/peer-otel-genai && $(PYTHON) -m venv .venvs/peer-otel-genai
	.venvs/peer-otel-genai/bin/pip install $(PIP_FLAGS) \
		opentelemetry-instrumentation-genai-anthropic==$(PEER_OTEL_GENAI) $(PEER_PINS)
	touch $@

# OpenLLMetry's Anthropic instrumentation (traceloop/openllmetry).
.venvs/peer-openllmetry/.ok-$(NEWEST_SDK): tools/bench.mk
	rm -rf .venvs/peer-openllmetry && $(PYTHON) -m venv .venvs/peer-openllmetry
	.venvs/peer-openllmetry/bin/pip install $(PIP_FLAGS) \
		opentelemetry-instrumentation-anthropic==$(PEER_OPENLLMETRY) $(PEER_PINS)
	touch $@

bench-peers: peer-venvs
	.venvs/peer-anthropic-otel/bin/python benchmarks/peers.py $(PEERS_FLAGS) \
		$(foreach peer,$(PEERS),--venv $(peer)=.venvs/peer-$(peer)) --json $(PEERS_JSON)
