#!/usr/bin/env bash
# Installs Debian's chromium when it is missing: the browser test of report.html drives it
# (headless, networking off). Needs root for apt-get; .ci/run calls it before the tests.
# Prints the browser's path. Never downloads a browser build of its own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    command -v chromium
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: chromium is missing and installing it needs root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
command -v chromium
