#!/usr/bin/env bash
# System packages the test suite uses, from Debian:
# - `prometheus` (Prometheus and promtool), for the dashboard, deploy-file and alert-rule tests
#   (`promtool check rules`, `promtool test rules`). Required: without it this script fails.
# - `redis-server`, for the Redis-backed response cache tests (tests/test_cache_redis.py starts its own on a
#   free port). Installed when we can; where we cannot, those tests skip and say why.
# - `docker.io` and `debootstrap`, for `make test-image` (tests/test_image.py builds the Dockerfile on a
#   stand-in python:3.11-slim made by debootstrap, and runs the image). Installed when we can; where we
#   cannot, that test skips and says why.
# - `curl`, for tests/test_docs_examples.py, which runs the docs' curl examples as written. Required.
# - `redis-server`, for the shared state backend's tests (tests/test_state_redis.py starts its own on a
#   free port, without persistence). Required.
# tests/test_kubernetes.py needs no system package: it renders the manifests itself and compares with
# `kubectl kustomize` only where a kubectl with Kustomize v5 happens to be installed.
# Installed when missing and we can (root with apt-get), in one apt-get call, and a no-op when all are
# present. The tests start their own Prometheus and their own dockerd, so the packages' services are kept
# from starting.
set -euo pipefail
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v dockerd >/dev/null && [ -x /usr/bin/docker ] || missing+=(docker.io)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} = 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-deps: missing Debian package(s): ${missing[*]} (apt-get install ${missing[*]})" >&2
    if [[ " ${missing[*]} " == *" prometheus "* || " ${missing[*]} " == *" curl "* || " ${missing[*]} " == *" redis-server "* ]]; then
        exit 1
    fi
    echo "test-deps: without them tests/test_image.py (make test-image) and tests/test_cache_redis.py skip" >&2
    exit 0
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Only the services of the packages just installed (on a machine without systemd there are none).
services=()
for package in "${missing[@]}"; do
    case "$package" in
        prometheus) services+=(prometheus) ;;
        redis-server) services+=(redis-server) ;;
        docker.io) services+=(docker.socket docker containerd) ;;
        redis-server) services+=(redis-server) ;;
    esac
done
if command -v systemctl >/dev/null; then
    for service in "${services[@]}"; do
        if systemctl is-active --quiet "$service" 2>/dev/null; then
            systemctl stop "$service" || true
        fi
    done
fi
