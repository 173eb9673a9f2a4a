#!/usr/bin/env bash
# Set up a fresh clone. Idempotent: a second run only checks.
#
#   scripts/setup.sh                the runtime: .venv (the package and what it
#                                   needs to run a job, nothing else) and the
#                                   JVM jars (Delta, Kafka connector, broker)
#   scripts/setup.sh --dev          also .venv-dev: the runtime plus the dev
#                                   tools (pytest, ruff, chispa, the Kafka test
#                                   client), for tests, benchmarks and datagen
#   scripts/setup.sh --os-packages  also, as root with apt-get: Chromium (the
#                                   HTML report's browser test) and mawk/gawk
#                                   (the launcher's live-output test)
#
# Needs Python >= 3.10, Java 17+ and Maven on PATH. Packages install from
# pyproject.toml with the exact tested versions of constraints.txt.
# Env: PYTHON (default python3), LAKEHOUSE_VENV (default .venv),
#      LAKEHOUSE_DEV_VENV (default .venv-dev), LAKEHOUSE_JARS_DIR (default .cache/jars)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${LAKEHOUSE_VENV:-$ROOT/.venv}
DEV_VENV=${LAKEHOUSE_DEV_VENV:-$ROOT/.venv-dev}
PYTHON=${PYTHON:-python3}
DEV= OS_PACKAGES= JARS=1
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --os-packages) OS_PACKAGES=1 ;;
    --no-jars) JARS= ;;
    *) echo "setup: unknown option $arg (--dev, --os-packages, --no-jars)" >&2; exit 2 ;;
  esac
done

die() { echo "error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.10 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "Python 3.10 or newer is needed, $PYTHON is $("$PYTHON" -V 2>&1)"

# shellcheck source=scripts/java.sh
source "$ROOT/scripts/java.sh"
require_java 17

want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)

# install_into VENV SPEC: the package (editable) into a venv, pinned by constraints.txt
install_into() {
  local venv=$1 spec=$2 stamp="$1/.lakehouse-installed"
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating virtual environment in $venv"
    "$PYTHON" -m venv "$venv"
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want $spec" ]; then
    echo "setup: Python packages up to date in $venv"
    return
  fi
  echo "setup: installing $spec into $venv ..."
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -c constraints.txt -e "$spec"
  echo "$want $spec" > "$stamp"
}

install_into "$VENV" "."
if [ -n "$DEV" ]; then
  # The dev venv sees the runtime venv's packages (pyspark is large: installed
  # once) and adds the dev tools on top; the runtime venv stays without them.
  if [ ! -x "$DEV_VENV/bin/python" ]; then
    echo "setup: creating virtual environment in $DEV_VENV"
    "$PYTHON" -m venv "$DEV_VENV"
  fi
  runtime_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  dev_site=$("$DEV_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$runtime_site" > "$dev_site/lakehouse-runtime.pth"
  install_into "$DEV_VENV" ".[dev]"
fi

if [ -n "$JARS" ]; then
  "$VENV/bin/python" scripts/resolve_jars.py all
fi

# As root with apt-get only; never fails the setup (the tests that need a
# package say so when it is missing).
if [ -n "$OS_PACKAGES" ] && [ -z "${LAKEHOUSE_SKIP_BROWSER:-}" ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v mawk >/dev/null 2>&1 || missing+=(mawk)
  command -v gawk >/dev/null 2>&1 || missing+=(gawk)
  if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (for the report's browser test and the live-output test) ..."
    if DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null; then
      echo "setup: ${missing[*]} installed"
    else
      echo "setup: warning: ${missing[*]} not installed" >&2
    fi
  fi
fi
echo "setup: done"
