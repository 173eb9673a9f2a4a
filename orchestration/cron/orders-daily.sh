#!/usr/bin/env bash
# The daily chain of the orders pipeline for cron: the Airflow DAG
# lakehouse_orders_daily in shell form (see lakehouse-orders.cron).
#
#   orchestration/cron/orders-daily.sh [YYYY-MM-DD]     default: yesterday (UTC)
#
# stream_ingest (available_now) -> batch_load --date D -> backfill of the
# RELOAD_DAYS days before D whose source changed since their load (late events
# that reached bronze after their day's run) -> health, stopping at the first
# failure and exiting with its code. Exit codes 1 and 75 are tried
# again (3 tries, 2 then 4 minutes apart); 2, 3 and 4 are not (docs/jobs.md,
# "orchestrator contract"). A second copy started while one runs exits 75 at once.
# Env: PIPELINE (default orders), LAKEHOUSE_ENV, RETRY_DELAY (seconds, 120),
#      RELOAD_DAYS (days before D loaded again when their source changed, 3),
#      LAKEHOUSE_LAUNCHER (default ./spark-submit.sh; the tests put a stub there).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PIPELINE=${PIPELINE:-orders}
DAY=${1:-$(date -u -d yesterday +%F)}
DELAY=${RETRY_DELAY:-120}
RELOAD_DAYS=${RELOAD_DAYS:-3}
LAUNCHER=${LAKEHOUSE_LAUNCHER:-$ROOT/spark-submit.sh}

LABEL="$PIPELINE $DAY"
SCRIPT_NAME=orders-daily
# shellcheck source=orchestration/cron/steps.sh
. "$ROOT/orchestration/cron/steps.sh"
take_lock "cron-$PIPELINE"

step stream_ingest --pipeline "$PIPELINE" --trigger available_now
step batch_load --pipeline "$PIPELINE" --date "$DAY"
if [ "$RELOAD_DAYS" -gt 0 ]; then
  step backfill --pipeline "$PIPELINE" --start "$(date -u -d "$DAY - $RELOAD_DAYS days" +%F)" \
    --end "$(date -u -d "$DAY - 1 day" +%F)" --changed-only
fi
step health --pipeline "$PIPELINE"
