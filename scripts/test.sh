#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (system packages included),
# then runs ruff (lint + format check), mypy --strict and the whole pytest suite.
# This is the README's test command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/findscu ] && [ -x /usr/bin/wlmscpfs ] && [ -x /usr/bin/dcmqrscp ] || need_apt+=(dcmtk)
[ -x /usr/bin/openssl ] || need_apt+=(openssl)
[ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc)
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || need_apt+=(chromium chromium-driver)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff check";  .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy --strict
echo "== pytest"
# pytest exits 5 when it collects no test: with `set -e` that fails the run, as it must.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
