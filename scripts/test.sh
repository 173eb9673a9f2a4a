#!/usr/bin/env bash
# The test command: set-up (venv, packages, jars, browser), lint, the import
# contract, then every test, slow, Kafka and chaos ones included. The test
# session starts its own Kafka broker on 127.0.0.1:19092 (unless one answers
# there) and stops it after.
#
# Usage: scripts/test.sh [pytest args...]     every tier, e.g. scripts/test.sh -m "not slow"
#        scripts/test.sh --fast [pytest args] the unit tier only (no JVM, seconds)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

FAST=
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi

scripts/setup.sh ${FAST:+--python-only}
if [ -z "$FAST" ]; then
  # the health report's browser check needs a headless Chromium (installed as root)
  scripts/setup.sh --browser
fi
echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "test: import contract"
.venv/bin/lint-imports --no-cache
echo "test: pytest"
if [ -n "$FAST" ]; then
  exec .venv/bin/pytest tests/unit "$@"
fi
exec .venv/bin/pytest "$@"
