# The operations bundle's own tool: composecheck loads docker-compose.yml with compose-go (the library behind
# `docker compose`), for tests/ops/test_bundle.py.
.tools/bin/composecheck: tools/composecheck/main.go tools/composecheck/go.mod tools/composecheck/go.sum
	mkdir -p .tools/bin
	cd tools/composecheck && go build -trimpath -o ../../.tools/bin/composecheck .

ops-tools:: .tools/bin/composecheck

# Re-render the checked-in bundle after changing anthropic_otel.ops.
.PHONY: bundle
bundle: .venv/.ok
	env -u ALERT_WEBHOOK_URL .venv/bin/python -m anthropic_otel bundle --out .
