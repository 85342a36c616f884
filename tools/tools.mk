# The operations bundle's binaries, built from pinned Go modules into .tools/bin (ignored by git):
#   make collector   .tools/bin/otelcol  the Collector distribution of tools/otelcol (Collector release v0.161.0)
#   make jaeger      .tools/bin/jaeger   Jaeger v2 (v1.76.0), built in its own module tools/jaeger
#   make ops-debian  Debian's Prometheus 2.42.0 and Alertmanager 0.25.0 (tools/install-debian.sh, as root)
# Each binary depends on its module's go.mod/go.sum (and main.go), so an up-to-date one is not rebuilt; a rebuild
# reuses the Go build and module caches (GOCACHE, GOMODCACHE).
GO ?= go
TOOLS_BIN := .tools/bin
TOOLS_GOFLAGS := -mod=readonly -trimpath -buildvcs=false
TOOLS_GOENV := GOTOOLCHAIN=local

.PHONY: collector jaeger ops-debian

collector: $(TOOLS_BIN)/otelcol
jaeger: $(TOOLS_BIN)/jaeger

.tools/.gitignore:
	mkdir -p $(@D) && echo '*' > $@

$(TOOLS_BIN)/otelcol: tools/otelcol/go.mod tools/otelcol/go.sum tools/otelcol/main.go | .tools/.gitignore
	cd tools/otelcol && $(TOOLS_GOENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags='-s -w' -o $(CURDIR)/$@ .
	touch $@

# The version Jaeger reports (`jaeger version`), read from the module's requirement, as Jaeger's own build sets it.
JAEGER_VERSION = $(shell sed -n 's|^[[:space:]]*github.com/jaegertracing/jaeger \(v[^ ]*\).*|\1|p' tools/jaeger/go.mod)
$(TOOLS_BIN)/jaeger: tools/jaeger/go.mod tools/jaeger/go.sum | .tools/.gitignore
	cd tools/jaeger && $(TOOLS_GOENV) $(GO) build $(TOOLS_GOFLAGS) \
		-ldflags="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(JAEGER_VERSION)" \
		-o $(CURDIR)/$@ github.com/jaegertracing/jaeger/cmd/jaeger
	touch $@

ops-debian:
	sh tools/install-debian.sh

ops-tools:: collector jaeger ops-debian
