#!/usr/bin/env sh
# Installs what the deployment tests need (called by `make test` through `make deploy-deps`):
# Debian's nginx, the load balancer of the scale-out test, by apt-get when it is missing and
# we are root. Outside CI a missing nginx only means that test skips (it says why); under
# CI=true it is an error, because CI must run it.
set -eu

missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "deploy-deps: CI=true but $1" >&2
        exit 1
    fi
    echo "deploy-deps: $1; the scale-out test will be skipped"
}

if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends nginx >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends nginx >/dev/null; } \
            || missing "apt-get could not install nginx"
    else
        missing "nginx is not installed (as root: apt-get install nginx)"
    fi
fi
