#!/usr/bin/env sh
# Installs what the browser tests need (called by `make test` through `make browser-deps`):
#   - node_modules (playwright-core, and the asset build tools) by `npm ci`, when
#     package-lock.json is newer than the last install;
#   - Debian's chromium by apt-get, when /usr/bin/chromium is missing and we are root.
# Outside CI a missing tool only means the browser tests skip (they say why); under CI=true
# it is an error, because CI must run them.
set -eu
cd "$(dirname "$0")/../.."

missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "browser-deps: CI=true but $1" >&2
        exit 1
    fi
    echo "browser-deps: $1; the browser tests will be skipped"
}

if ! command -v npm >/dev/null 2>&1; then
    missing "npm is not installed"
elif [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
    if npm ci --no-audit --no-fund --loglevel=error; then
        touch node_modules/.installed  # the stamp `make assets` uses too
    else
        missing "npm ci failed"
    fi
fi

if [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q chromium >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
            || missing "apt-get could not install chromium"
    else
        missing "chromium is not installed (as root: apt-get install chromium)"
    fi
fi
