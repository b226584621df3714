#!/usr/bin/env bash
# Headless Chromium and chromedriver (Debian chromium and chromium-driver): a real browser for
# the console's browser tests (tests/console_browser.rs). Installs the packages when the
# commands are missing (needs root then); prints nothing else.
set -euo pipefail
exec "$(dirname "$0")/../apt-ensure.sh" chromium chromium:chromium chromedriver:chromium-driver
