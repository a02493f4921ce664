#!/usr/bin/env bash
# Installs what `make run` and `make test` need, and nothing that is already there:
# Java 17, PostgreSQL's server, Debian's PostgreSQL JDBC driver, .venv with the pinned packages,
# and .tools with the pinned security scanners (checkov, hadolint).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a cluster of its own on 5432 when it installs the server; we do not use it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for conf in /etc/postgresql/*/main; do
      [ -d "$conf" ] || continue
      version=$(basename "$(dirname "$conf")")
      pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
    done
  fi
fi

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[runtime,local,dev]'
  touch "$stamp"
  echo "bootstrap: .venv ready"
fi

tools_stamp=.tools/.installed
if [ ! -f "$tools_stamp" ] || [ scripts/scanners.txt -nt "$tools_stamp" ]; then
  [ -x .tools/bin/python ] || "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --upgrade pip
  .tools/bin/python -m pip install --quiet -r scripts/scanners.txt
  touch "$tools_stamp"
  echo "bootstrap: .tools ready (checkov, hadolint)"
fi
