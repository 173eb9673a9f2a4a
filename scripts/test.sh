#!/usr/bin/env bash
# The test command: set-up (venv, packages, jars, browser), lint, the import
# contract, then every test, slow, Kafka and chaos ones included. Each test
# session starts its own Kafka broker (127.0.0.1:19092 unless one answers
# there) and S3 server and stops them after.
#
# Without pytest args the tiers run in two lanes side by side: tests/unit,
# tests/spark and tests/jobs in one (its test JVM mostly keeps one core busy),
# tests/system in the other (mostly waiting on the JVMs it starts), on ports of
# its own (broker 19192 and controller 19193, S3 19600, metastore 19684; the
# first lane's broker takes 19092 and 19093); its output follows the
# first lane's. LAKEHOUSE_TEST_LANES=1 runs everything in one session.
#
# Usage: scripts/test.sh                      every tier, two lanes
#        scripts/test.sh [pytest args...]     one session, e.g. scripts/test.sh -m "not slow"
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
if [ $# -gt 0 ] || [ "${LAKEHOUSE_TEST_LANES:-2}" = 1 ]; then
  exec .venv-dev/bin/pytest --durations=25 "$@"
fi

TMP_BASE="${TMPDIR:-/tmp}/lakehouse-tests-$$"
mkdir -p .build "$TMP_BASE"
SYSTEM_LOG=.build/test-system.log
echo "test: tests/system in a second lane (log: $SYSTEM_LOG)"
LAKEHOUSE_TEST_KAFKA_PORT=19192 LAKEHOUSE_TEST_S3_PORT=19600 LAKEHOUSE_TEST_METASTORE_PORT=19684 \
  .venv-dev/bin/pytest -p no:cacheprovider --durations=25 --basetemp "$TMP_BASE/system" \
  tests/system >"$SYSTEM_LOG" 2>&1 &
SYSTEM_PID=$!
trap 'kill "$SYSTEM_PID" 2>/dev/null || true' INT TERM
set +e
.venv-dev/bin/pytest --durations=25 --basetemp "$TMP_BASE/main" tests/unit tests/spark tests/jobs
MAIN_RC=$?
wait "$SYSTEM_PID"
SYSTEM_RC=$?
set -e
echo "test: tests/system (second lane)"
cat "$SYSTEM_LOG"
rm -rf "$TMP_BASE"
echo "test: tests/unit tests/spark tests/jobs exit $MAIN_RC; tests/system exit $SYSTEM_RC"
[ "$MAIN_RC" = 0 ] && [ "$SYSTEM_RC" = 0 ]
