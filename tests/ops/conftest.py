"""The operations bundle's tests: real binaries from `.tools/bin` (built by `make ops-tools`) on loopback."""
