#!/usr/bin/env bash
# Apache Airflow for orchestration/airflow/, in its own virtual environment.
#
#   scripts/airflow.sh AIRFLOW-ARGS...     e.g. scripts/airflow.sh dags list
#                                                scripts/airflow.sh standalone
#
# First use installs Airflow (the `airflow` extra of pyproject.toml) into
# .cache/airflow-venv, and creates its metadata database (SQLite) under
# $AIRFLOW_HOME (default .airflow). The DAG folder is orchestration/airflow/dags
# and the DAGs call this repository's ./spark-submit.sh (LAKEHOUSE_HOME).
# Env: AIRFLOW_HOME, LAKEHOUSE_AIRFLOW_VENV, PYTHON, and every AIRFLOW__* setting.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${LAKEHOUSE_AIRFLOW_VENV:-$ROOT/.cache/airflow-venv}
PYTHON=${PYTHON:-python3}

spec=$("$PYTHON" - "$ROOT/pyproject.toml" <<'PY'
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
with open(sys.argv[1], "rb") as f:
    print(" ".join(tomllib.load(f)["project"]["optional-dependencies"]["airflow"]))
PY
)
stamp="$VENV/.lakehouse-airflow"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$spec" ]; then
  echo "airflow: installing $spec into $VENV ..." >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086  # the spec is a list of requirement strings
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $spec >&2
  echo "$spec" > "$stamp"
fi

export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/.airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/orchestration/airflow/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=${AIRFLOW__CORE__LOAD_EXAMPLES:-False}
export LAKEHOUSE_HOME=${LAKEHOUSE_HOME:-$ROOT}
if [ ! -f "$AIRFLOW_HOME/.lakehouse-db" ]; then
  mkdir -p "$AIRFLOW_HOME"
  "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { echo "airflow: db migrate failed, see $AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
  touch "$AIRFLOW_HOME/.lakehouse-db"
fi
exec "$VENV/bin/airflow" "$@"
