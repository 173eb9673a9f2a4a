#!/usr/bin/env bash
# The one way to launch a lakehouse job from a checkout, locally or on a cluster:
# the same launcher as `lakehouse run` (lib/lakehouse/launch/launcher.py), run
# with the project's own environment.
#
#   ./spark-submit.sh [--env ENV] [--conf-dir DIR] [--conf KEY=VALUE ...] [--master M]
#                     [--print-command] JOB [job args...]
#   ./spark-submit.sh --help
#
# Env: LAKEHOUSE_VENV (default .venv), LAKEHOUSE_PYTHON (default $LAKEHOUSE_VENV/bin/python).
# The exit code is the job's own (docs/jobs.md, "Exit codes"); 2 for a bad launch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${LAKEHOUSE_VENV:-$ROOT/.venv}
PY=${LAKEHOUSE_PYTHON:-$VENV/bin/python}
if [ ! -x "$PY" ]; then
  echo "spark-submit.sh: error: no Python environment at $VENV: run scripts/setup.sh" >&2
  exit 1
fi
export LAKEHOUSE_HOME=$ROOT LAKEHOUSE_PROG=./spark-submit.sh
export PYTHONPATH=$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}
exec "$PY" -m lakehouse.launch "$@"
