#!/usr/bin/env bash
# The test command: set-up (venv, packages, jars), lint, then every test,
# slow, Kafka and chaos ones included. The test session starts its own Kafka
# broker on 127.0.0.1:19092 (unless one answers there) and stops it after.
#
# Usage: scripts/test.sh [pytest args...]      e.g. scripts/test.sh -m "not slow"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/setup.sh
echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "test: pytest"
exec .venv/bin/pytest "$@"
