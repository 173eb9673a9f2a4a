#!/usr/bin/env bash
# Set up a fresh clone: Python venv with the pinned packages, and the JVM jars
# (Delta + Kafka connector for Spark, and the Kafka broker). Idempotent: a
# second run only checks. Needs Python >= 3.10, Java 17+ and Maven on PATH.
#
# Usage: scripts/setup.sh
# Env:   PYTHON (interpreter for the venv, default python3)
#        LAKEHOUSE_VENV (default .venv), LAKEHOUSE_JARS_DIR (default .cache/jars)
#        LAKEHOUSE_SKIP_BROWSER (set: do not install Chromium; as root with apt-get,
#        setup otherwise installs it for the HTML report's browser test)
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

# Optional: Chromium, for the browser check of the HTML health report
# (tests/test_report_html.py skips it without Chromium; the parser checks
# still run). Only as root with apt-get; never fails the setup.
if [ ! -x /usr/bin/chromium ] && [ -z "${LAKEHOUSE_SKIP_BROWSER:-}" ] \
  && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium (for the HTML report browser test) ..."
  if DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      chromium >/dev/null; then
    echo "setup: chromium installed"
  else
    echo "setup: warning: chromium not installed (the HTML report test will use the parser check only)" >&2
  fi
fi
echo "setup: done"
