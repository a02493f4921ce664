#!/usr/bin/env bash
# Installs what `make run` and `make test` need, and nothing that is already there:
# Java 17, PostgreSQL's server, Debian's PostgreSQL JDBC driver, Maven, .venv with the pinned
# packages, .tools with the pinned security scanners (checkov, hadolint), and the S3A jars of
# scripts/jars.txt in ~/.cache/retail-etl/jars.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
command -v mvn >/dev/null 2>&1 || missing+=(maven)

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

# The jars Glue 5.1 has and PySpark lacks (S3A), pinned with their SHA-256, fetched once.
jars=${HOME}/.cache/retail-etl/jars
mkdir -p "$jars"
grep -v '^#' scripts/jars.txt | while read -r coordinate sha256; do
  [ -n "$coordinate" ] || continue
  IFS=: read -r _group artifact version <<<"$coordinate"
  jar="$jars/$artifact-$version.jar"
  if [ -f "$jar" ] && echo "$sha256  $jar" | sha256sum --check --status; then
    continue
  fi
  echo "bootstrap: fetching $coordinate with Maven"
  mvn --batch-mode --quiet dependency:copy -Dartifact="$coordinate" -Dtransitive=false \
    -DoutputDirectory="$jars" >/dev/null
  if ! echo "$sha256  $jar" | sha256sum --check --status; then
    echo "bootstrap: $jar does not have the SHA-256 scripts/jars.txt pins ($sha256)" >&2
    rm -f "$jar"
    exit 1
  fi
done

# The local JVM's class archive (retail_etl/local/classes.py): built once per .venv and Java,
# again when either changes; a job process then starts seconds sooner.
archive=.venv/spark-classes.jsa
java_now=$(java -version 2>&1 | head -n 1)
if [ ! -f "$archive" ] || [ "$stamp" -nt "$archive" ] \
   || [ "$(cat "$archive.java" 2>/dev/null)" != "$java_now" ]; then
  echo "bootstrap: building the local Spark's class archive (once, about a minute)"
  RETAIL_SPARK_CLASS_ARCHIVE="$PWD/$archive" .venv/bin/python -m retail_etl.local.classes >/dev/null
  echo "$java_now" > "$archive.java"
fi
