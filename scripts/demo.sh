#!/usr/bin/env bash
# The demo: set-up, the local Kafka broker, then the main job on the embedded
# defaults (conf/local.yaml, pipeline orders). Until the streaming job lands,
# the main job is `doctor`: it proves Spark, Delta, the lake and Kafka work.
#
# Usage: scripts/demo.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/setup.sh
scripts/kafka.sh start
exec ./spark-submit.sh doctor
