#!/usr/bin/env bash
# The daily chain of the orders pipeline for cron: the Airflow DAG
# lakehouse_orders_daily in shell form (see lakehouse-orders.cron).
#
#   orchestration/cron/orders-daily.sh [YYYY-MM-DD]     default: yesterday (UTC)
#
# stream_ingest (available_now) -> batch_load --date D -> health, stopping at
# the first failure and exiting with its code. Exit codes 1 and 75 are tried
# again (3 tries, 2 then 4 minutes apart); 2, 3 and 4 are not (README,
# "Scheduling"). A second copy started while one runs exits 75 at once.
# Env: PIPELINE (default orders), LAKEHOUSE_ENV, RETRY_DELAY (seconds, 120),
#      LAKEHOUSE_LAUNCHER (default ./spark-submit.sh; the tests put a stub there).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PIPELINE=${PIPELINE:-orders}
DAY=${1:-$(date -u -d yesterday +%F)}
DELAY=${RETRY_DELAY:-120}
LAUNCHER=${LAKEHOUSE_LAUNCHER:-$ROOT/spark-submit.sh}

mkdir -p "$ROOT/.build"
exec 9>"$ROOT/.build/cron-$PIPELINE.lock"
flock -n 9 || { echo "orders-daily: another run for $PIPELINE is in progress" >&2; exit 75; }

step() {
  local try rc wait=$DELAY
  for try in 1 2 3; do
    echo "$(date -u +%FT%TZ) $PIPELINE $DAY: $* (try $try)"
    "$LAUNCHER" "$@"
    rc=$?
    case $rc in
      0) return 0 ;;
      1|75) [ "$try" -lt 3 ] && { sleep "$wait"; wait=$((wait * 2)); } ;;
      *) break ;;
    esac
  done
  echo "$(date -u +%FT%TZ) $PIPELINE $DAY: $1 exited $rc; stopping" >&2
  exit "$rc"
}

step stream_ingest --pipeline "$PIPELINE" --trigger available_now
step batch_load --pipeline "$PIPELINE" --date "$DAY"
step health --pipeline "$PIPELINE"
