#!/usr/bin/env bash
# The demo: set-up, the local Kafka broker, sample order events, and the main
# job, stream_ingest, on the embedded defaults (conf/local.yaml, pipeline
# orders), run twice the way an orchestrator would (available_now):
#
#   1. 20,000 events (5% duplicates, 1% malformed)  -> bronze + quarantine
#   2. 2,000 more, some of them late                -> resumes from the checkpoint
#
# Each run prints a summary line and, last, its ledger row as JSON.
#
# Usage: scripts/demo.sh            (DEMO_EVENTS=N for another first batch size)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
EVENTS=${DEMO_EVENTS:-20000}
TOPIC=${ORDERS_TOPIC:-orders}

scripts/setup.sh
scripts/kafka.sh start
scripts/kafka.sh topics create "$TOPIC" 2 >/dev/null

echo "demo: producing $EVENTS order events to topic $TOPIC (5% duplicates, 1% malformed)"
.venv/bin/python -m datagen.orders --topic "$TOPIC" --count "$EVENTS" \
  --dup-share 0.05 --malformed-share 0.01
./spark-submit.sh stream_ingest --pipeline orders

echo "demo: producing 2000 more, 5% of them three hours late"
.venv/bin/python -m datagen.orders --topic "$TOPIC" --count 2000 \
  --dup-share 0.05 --late-share 0.05 --late-by 3h
./spark-submit.sh stream_ingest --pipeline orders
