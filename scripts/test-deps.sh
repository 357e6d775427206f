#!/usr/bin/env bash
# System packages the test suite uses: Prometheus and promtool (Debian's `prometheus` package), for the
# dashboard, deploy-file and alert-rule tests (`promtool check rules`, `promtool test rules`). tests/test_kubernetes.py
# needs no system package: it renders the manifests itself and compares with `kubectl kustomize` only
# where a kubectl with Kustomize v5 happens to be installed (Debian's kubernetes-client has Kustomize v2).
# Installed when missing and we can (root with apt-get); the tests
# start their own Prometheus on a free loopback port, so the package's service is kept from starting.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-deps: Prometheus is missing; install Debian's 'prometheus' package (apt-get install prometheus)" >&2
    exit 1
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi
