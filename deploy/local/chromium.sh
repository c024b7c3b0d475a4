#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it via executable_path; no browser download).
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
if command -v chromium >/dev/null; then say "chromium present: $(command -v chromium)"; exit 0; fi
apt_install chromium fonts-dejavu-core
