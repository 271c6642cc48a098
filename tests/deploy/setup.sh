#!/usr/bin/env sh
# Installs what the deployment tests need (called by `make test` through `make deploy-deps`):
# Debian's nginx, the load balancer of the scale-out test, and Debian's prometheus for its
# promtool, which checks and unit-tests deploy/prometheus/alerts.yml; by apt-get when they
# are missing and we are root. Outside CI a missing one only means its tests skip (they say
# why); under CI=true it is an error, because CI must run them.
# Both packages ship a service; the tests start their own nginx and use only promtool, so
# while installing, policy-rc.d (where the machine has none) keeps Debian from starting them.
set -eu

missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "deploy-deps: CI=true but $1" >&2
        exit 1
    fi
    echo "deploy-deps: $1; $2 will be skipped"
}

# ensure PACKAGE PROGRAM WHAT: apt-get install PACKAGE unless PROGRAM is already there.
ensure() {
    if [ -x "/usr/sbin/$2" ] || [ -x "/usr/bin/$2" ] || command -v "$2" >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt-get install -y -q --no-install-recommends "$1" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$1" >/dev/null; } \
            || missing "apt-get could not install $1" "$3"
    else
        missing "$2 is not installed (as root: apt-get install $1)" "$3"
    fi
}

ensure nginx nginx "the scale-out test"
ensure prometheus promtool "the alert-rule tests"
