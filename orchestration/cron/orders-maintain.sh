#!/usr/bin/env bash
# Table upkeep of the orders pipeline for cron: the Airflow DAG
# lakehouse_orders_maintain in shell form (see lakehouse-orders.cron).
#
#   orchestration/cron/orders-maintain.sh [maintain options, e.g. --dry-run]
#
# Runs `maintain --pipeline PIPELINE`: OPTIMIZE of the closed days, VACUUM,
# retention properties (docs/jobs.md, "maintain"). It changes no row, so it
# may run while the daily chain or the stream runs; it has its own lock, and
# a second copy of it exits 75 at once. Exit codes 1 and 75 are tried again
# (3 tries), 2 is not.
# Env: PIPELINE (default orders), LAKEHOUSE_ENV, RETRY_DELAY (seconds, 120),
#      LAKEHOUSE_LAUNCHER (default ./spark-submit.sh; the tests put a stub there).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PIPELINE=${PIPELINE:-orders}
DELAY=${RETRY_DELAY:-120}
LAUNCHER=${LAKEHOUSE_LAUNCHER:-$ROOT/spark-submit.sh}
LABEL="$PIPELINE maintain"
SCRIPT_NAME=orders-maintain
# shellcheck source=orchestration/cron/steps.sh
. "$ROOT/orchestration/cron/steps.sh"
take_lock "cron-$PIPELINE-maintain"

step maintain --pipeline "$PIPELINE" "$@"
