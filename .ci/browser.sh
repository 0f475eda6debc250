#!/usr/bin/env bash
# Headless Chromium + chromedriver for the browser tests (tests marked `browser`); quiet, idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
echo "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
