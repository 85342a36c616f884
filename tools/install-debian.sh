#!/bin/sh
# Debian packages the operations tests need: Prometheus (2.42.0 in Debian 12/13) for the fleet test's
# remote-write target and Alertmanager (0.25.0) for the rules tests. Idempotent: installs only what is missing.
set -eu
# Pinned to the upstream releases the bundle is tested with; the Debian revision may move with security updates.
PROMETHEUS_VERSION=2.42.0
ALERTMANAGER_VERSION=0.25.0
installed() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | grep -q "^$2"; }
need=""
installed prometheus "$PROMETHEUS_VERSION" || need="$need prometheus=$PROMETHEUS_VERSION*"
installed prometheus-alertmanager "$ALERTMANAGER_VERSION" || need="$need prometheus-alertmanager=$ALERTMANAGER_VERSION*"
[ -z "$need" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
set -f  # the version globs are for apt, not the shell
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need
# The packages enable their own services where an init system runs; the tests start their own instances.
for svc in prometheus prometheus-alertmanager; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
