#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (system packages included),
# then runs ruff (lint + format check), mypy --strict and the whole pytest suite.
# This is the README's test command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/findscu ] && [ -x /usr/bin/wlmscpfs ] && [ -x /usr/bin/dcmqrscp ] || need_apt+=(dcmtk)
[ -x /usr/bin/openssl ] || need_apt+=(openssl)
command -v ip >/dev/null && command -v unshare >/dev/null || need_apt+=(iproute2 util-linux)
[ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc)
# PostgreSQL for the Q/R index tests; they run their own throw-away cluster (tests/pg_cluster.py).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || need_apt+=(chromium chromium-driver)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Packages must not start services while installing (Orthanc's would take ports 4242/8042,
    # PostgreSQL's 5432).
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        guard=/usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
    [ -z "$guard" ] || rm -f "$guard"
fi
# The tests start their own Orthanc and PostgreSQL on free ports: the system services stay
# off at boot too.
for service in orthanc postgresql; do
    if [ -e "/etc/init.d/$service" ] || [ -e "/lib/systemd/system/$service.service" ]; then
        if command -v systemctl >/dev/null; then systemctl disable "$service" >/dev/null 2>&1 || true; fi
        if command -v update-rc.d >/dev/null; then update-rc.d "$service" disable >/dev/null 2>&1 || true; fi
    fi
done

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff check";  .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy --strict
echo "== pytest"
# pytest exits 5 when it collects no test: with `set -e` that fails the run, as it must.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
