#!/usr/bin/env bash
# The demo: set-up, the local Kafka broker, sample order events, and the main
# job, stream_ingest, on the embedded defaults (conf/local.yaml, pipeline
# orders), run twice the way an orchestrator would (available_now):
#
#   1. 20,000 events (5% duplicates, 1% malformed)  -> bronze + quarantine
#   2. 2,000 more, some of them late                -> resumes from the checkpoint
#   3. batch_load of today's bronze partition       -> silver (quality gate on)
#   4. health                                       -> table + .lake/_ops/health/report.html
#
# Each run prints a summary line and, last, its ledger row as JSON.
#
# Usage: scripts/demo.sh            (DEMO_EVENTS=N for another first batch size)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
EVENTS=${DEMO_EVENTS:-20000}
TOPIC=${ORDERS_TOPIC:-orders}

scripts/setup.sh --dev   # the jobs run in .venv; datagen's Kafka producer is a dev tool
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
