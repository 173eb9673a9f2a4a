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

if [ -n "$FAST" ]; then
  scripts/setup.sh --dev --no-jars
else
  # the report's browser check needs Chromium, the live-output test mawk/gawk
  scripts/setup.sh --dev --os-packages
fi
echo "test: ruff"
.venv-dev/bin/ruff check .
.venv-dev/bin/ruff format --check .
echo "test: import contract"
.venv-dev/bin/lint-imports --no-cache
echo "test: pytest"
if [ -n "$FAST" ]; then
  exec .venv-dev/bin/pytest tests/unit "$@"
fi
exec .venv-dev/bin/pytest "$@"
