# The reliability soak: a million calls through the real SDK and OpenTelemetry SDK on an in-process transport;
# memory, open spans and tally series must stay flat (figures printed, exit 1 if one grows). Not part of `make test`:
# tests/reliability runs there, on every SDK of the matrix. SOAK_CALLS=100000 for a shorter run.
SOAK_CALLS ?= 1000000

.PHONY: soak
soak: .venv/.ok
	.venv/bin/python tests/reliability/soak.py --calls $(SOAK_CALLS)
