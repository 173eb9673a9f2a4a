#!/usr/bin/env bash
# Set up a fresh clone: Python venv with the pinned packages, and the JVM jars
# (Delta + Kafka connector for Spark, and the Kafka broker). Idempotent: a
# second run only checks. Needs Python >= 3.10, Java 17+ and Maven on PATH.
#
# Usage: scripts/setup.sh
# Env:   PYTHON (interpreter for the venv, default python3)
#        LAKEHOUSE_VENV (default .venv), LAKEHOUSE_JARS_DIR (default .cache/jars)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${LAKEHOUSE_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}

die() { echo "error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.10 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "Python 3.10 or newer is needed, $PYTHON is $("$PYTHON" -V 2>&1)"

# shellcheck source=scripts/java.sh
source "$ROOT/scripts/java.sh"
require_java 17

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.lakehouse-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (pyspark, delta-spark, dev tools) ..."
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
else
  echo "setup: Python packages up to date in $VENV"
fi

"$VENV/bin/python" scripts/resolve_jars.py all
echo "setup: done"
