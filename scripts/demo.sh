#!/usr/bin/env bash
# The demo: set-up, the local Kafka broker, sample order events, and the main
# job, stream_ingest, on the embedded defaults (conf/local.yaml, pipeline
# orders), run twice the way an orchestrator would (available_now):
#
#   1. 20,000 events (5% duplicates, 1% malformed)  -> bronze + quarantine
#   2. 2,000 more, some of them late                -> resumes from the checkpoint
#   3. batch_load of today's bronze partition       -> silver (quality gate on)
#   4. health                                       -> table + .lake/_ops/health/report.html
#   5. a query of the gold view by name             -> lakehouse sql (local metastore)
#
# Each run prints a summary line and, last, its ledger row as JSON.
#
# Usage: scripts/demo.sh            (DEMO_EVENTS=N for another first batch size)
#        scripts/demo.sh --s3       the same with the lake on a local S3-compatible
#                                   server (scripts/s3.sh, conf/s3.yaml: s3a://lake/demo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
EVENTS=${DEMO_EVENTS:-20000}
TOPIC=${ORDERS_TOPIC:-orders}
case "${1:-}" in
  "") ;;
  --s3) export LAKEHOUSE_ENV=s3 ;;
  *) echo "demo: unknown option $1 (--s3)" >&2; exit 2 ;;
esac

scripts/setup.sh --dev   # the jobs run in .venv; datagen's Kafka producer is a dev tool
if [ "${LAKEHOUSE_ENV:-}" = s3 ]; then
  # the demo server's keys: drawn once, kept beside its objects (0600)
  keys=${LAKEHOUSE_S3_DIR:-$ROOT/.s3}/demo-keys.env
  if [ -z "${S3_ACCESS_KEY:-}" ] && [ ! -f "$keys" ]; then
    mkdir -p "$(dirname "$keys")"
    (umask 077; .venv/bin/python -c 'import secrets
print(f"S3_ACCESS_KEY=demo-{secrets.token_hex(4)}\nS3_SECRET_KEY={secrets.token_urlsafe(24)}")' > "$keys")
  fi
  if [ -z "${S3_ACCESS_KEY:-}" ]; then set -a; source "$keys"; set +a; fi
  export S3_ENDPOINT=http://127.0.0.1:${S3_PORT:-9000}
  scripts/s3.sh start
  echo "demo: the lake is s3a://lake/demo on $S3_ENDPOINT (objects in .s3/data/lake/demo)"
fi
# tables by name: a Hive metastore on 127.0.0.1 (scripts/metastore.sh), the catalog of conf/
export LAKEHOUSE_CATALOG=${LAKEHOUSE_CATALOG:-hive}
if [ "$LAKEHOUSE_CATALOG" = hive ]; then
  export METASTORE_PORT=${METASTORE_PORT:-9083}
  export LAKEHOUSE_METASTORE_URI=${LAKEHOUSE_METASTORE_URI:-thrift://127.0.0.1:$METASTORE_PORT}
  scripts/metastore.sh start
fi
scripts/kafka.sh start
scripts/kafka.sh topics create "$TOPIC" 2 >/dev/null

echo "demo: producing $EVENTS order events to topic $TOPIC (5% duplicates, 1% malformed)"
.venv-dev/bin/python -m datagen.orders --topic "$TOPIC" --count "$EVENTS" \
  --dup-share 0.05 --malformed-share 0.01
./spark-submit.sh stream_ingest --pipeline orders

echo "demo: producing 2000 more, 5% of them three hours late"
.venv-dev/bin/python -m datagen.orders --topic "$TOPIC" --count 2000 \
  --dup-share 0.05 --late-share 0.05 --late-by 3h
DAY=$(date -u +%F)  # the newest events were made just now: today (UTC) has rows
./spark-submit.sh stream_ingest --pipeline orders

echo "demo: loading $DAY from bronze into silver (MERGE, quality rules of the pipeline)"
./spark-submit.sh batch_load --pipeline orders --date "$DAY"

echo "demo: health of the pipeline (freshness, SLAs, quality)"
status=0
./spark-submit.sh health --pipeline orders || status=$?
echo "demo: health exit $status (0: nothing at error level; 4: something is, see above)"
if [ "$LAKEHOUSE_CATALOG" != none ]; then
  echo "demo: the gold view by name, as an analyst's shell sees it (lakehouse sql)"
  .venv/bin/lakehouse sql -e "SELECT * FROM gold.daily_revenue ORDER BY event_date DESC LIMIT 3"
fi
