#!/usr/bin/env bash
# The one way to launch a lakehouse job, locally or on a cluster.
#
#   ./spark-submit.sh [--env ENV] [--conf-dir DIR] [--print-command] JOB [job args...]
#   ./spark-submit.sh --help
#
# Reads conf/base.yaml + conf/<ENV>.yaml (through lib/lakehouse/launch/submit.py, the same
# loader the jobs use) for the master, deploy mode, jars and Spark confs,
# zips lib/ for --py-files, and runs jobs/JOB.py with spark-submit. The exit
# code is the job's own (see docs/jobs.md, "Exit codes"); 2 for a bad launch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${LAKEHOUSE_VENV:-$ROOT/.venv}
PY=${LAKEHOUSE_PYTHON:-$VENV/bin/python}

jobs_list() {
  local f names=()
  for f in "$ROOT"/jobs/*.py; do
    f=$(basename "$f" .py)
    [ "$f" = "__init__" ] || names+=("$f")
  done
  (IFS=', '; echo "${names[*]}")
}

usage() {
  cat <<EOF
usage: ./spark-submit.sh [--env ENV] [--conf-dir DIR] [--print-command] JOB [job args...]

Launch a lakehouse job with spark-submit, configured from conf/.

options:
  --env ENV          config overlay conf/ENV.yaml (default: \$LAKEHOUSE_ENV or local)
  --conf-dir DIR     config folder (default: \$LAKEHOUSE_CONF_DIR or ./conf)
  --print-command    print the spark-submit command line (secrets masked) and exit
  -h, --help         show this help

jobs: $(jobs_list)
      (./spark-submit.sh JOB --help shows a job's own options)
EOF
}

fail() { echo "spark-submit.sh: error: $*" >&2; exit 2; }

ENV_NAME=${LAKEHOUSE_ENV:-}
CONF_DIR=${LAKEHOUSE_CONF_DIR:-}
PRINT_COMMAND=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --print-command) PRINT_COMMAND=1; shift ;;
    --env) [ $# -ge 2 ] || fail "--env needs a value"; ENV_NAME=$2; shift 2 ;;
    --env=*) ENV_NAME=${1#--env=}; shift ;;
    --conf-dir) [ $# -ge 2 ] || fail "--conf-dir needs a value"; CONF_DIR=$2; shift 2 ;;
    --conf-dir=*) CONF_DIR=${1#--conf-dir=}; shift ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done

[ $# -ge 1 ] || { usage >&2; fail "no job given (jobs: $(jobs_list))"; }
JOB=$1
shift
if [[ ! "$JOB" =~ ^[a-z][a-z0-9_]*$ ]] || [ "$JOB" = "__init__" ] || [ ! -f "$ROOT/jobs/$JOB.py" ]; then
  fail "unknown job '$JOB' (jobs: $(jobs_list))"
fi

[ -x "$PY" ] || { echo "spark-submit.sh: error: no Python environment at $VENV: run scripts/setup.sh" >&2; exit 1; }

# The job gets the config folder as an absolute path: inside spark-submit, lib/
# is a zip and cannot find ./conf by itself.
CONF_DIR=${CONF_DIR:-$ROOT/conf}
[ -d "$CONF_DIR" ] || fail "config folder '$CONF_DIR' does not exist"
CONF_DIR=$(cd "$CONF_DIR" && pwd)
common=(--conf-dir "$CONF_DIR")
[ -n "$ENV_NAME" ] && common+=(--env "$ENV_NAME")

# Job --help needs no Spark: answer it from Python directly.
for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
    exec env PYTHONPATH="$ROOT/lib:$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/jobs/$JOB.py" "$@"
  fi
done

# The run's id: chosen here, so that in cluster deploy mode (driver on the
# cluster, its stdout out of reach) the run can be found in the ledger after.
RUN_ID=${LAKEHOUSE_RUN_ID:-$(date -u +%Y%m%dT%H%M%S)-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}

set +e
submit_out=$(cd "$ROOT" && "$PY" -m lakehouse.launch.submit --job "$JOB" "${common[@]}" \
  --zip "$ROOT/.build/lakehouse.zip" --run-id "$RUN_ID")
rc=$?
set -e
[ $rc -eq 0 ] || exit $rc
mapfile -t submit_args <<< "$submit_out"
DEPLOY_MODE=client
for ((i = 0; i + 1 < ${#submit_args[@]}; i++)); do
  [ "${submit_args[$i]}" = "--deploy-mode" ] && DEPLOY_MODE=${submit_args[$((i + 1))]}
done
job_common=("${common[@]}")
if [ "$DEPLOY_MODE" = cluster ]; then
  # the driver runs on the cluster and reads the config shipped as an archive
  job_common=(--conf-dir lakehouse-conf)  # lib/lakehouse/launch/submit.py CONF_ALIAS
  [ -n "$ENV_NAME" ] && job_common+=(--env "$ENV_NAME")
fi

if [ -n "${SPARK_HOME:-}" ] && [ -x "$SPARK_HOME/bin/spark-submit" ]; then
  SPARK_SUBMIT="$SPARK_HOME/bin/spark-submit"
else
  SPARK_SUBMIT="$VENV/bin/spark-submit"
fi
export LAKEHOUSE_HOME=$ROOT
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$PY}
export PYSPARK_DRIVER_PYTHON=${PYSPARK_DRIVER_PYTHON:-$PY}

if [ -n "$PRINT_COMMAND" ]; then  # for operators porting the launch to their own tooling
  exec "$PY" -m lakehouse.launch.submit --quote -- "LAKEHOUSE_HOME=$ROOT" "PYSPARK_PYTHON=$PYSPARK_PYTHON" \
    "PYSPARK_DRIVER_PYTHON=$PYSPARK_DRIVER_PYTHON" "$SPARK_SUBMIT" "${submit_args[@]}" \
    "$ROOT/jobs/$JOB.py" "$@" "${job_common[@]}"
fi

if [ "$DEPLOY_MODE" = cluster ]; then
  # Cluster deploy mode (YARN, Kubernetes): spark-submit only knows whether the
  # application failed. Bad arguments and config are refused here first (exit
  # 2, nothing submitted); then spark-submit waits for the application
  # (waitAppCompletion); then the run's own exit code and record are read back
  # from the ledger (lib/lakehouse/launch/runstatus.py).
  trap 'rm -f "$ROOT/.build/conf-$RUN_ID.zip"' EXIT
  LAKEHOUSE_CHECK_ONLY=1 PYTHONPATH="$ROOT/lib:$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" "$ROOT/jobs/$JOB.py" "$@" "${common[@]}" || exit $?
  status=0
  launched_at=$(date -u +%s)
  "$SPARK_SUBMIT" "${submit_args[@]}" "$ROOT/jobs/$JOB.py" "$@" "${job_common[@]}" >&2 || status=$?
  rc=0
  # read with this environment's own pyspark (SPARK_HOME may be a cluster client's)
  (cd "$ROOT" && env -u SPARK_HOME "$PY" -m lakehouse.launch.runstatus --run-id "$RUN_ID" --submit-status "$status" \
    --launched-at "$launched_at" \
    "${common[@]}") || rc=$?
  exit "$rc"
fi

# Spark's PythonRunner merges the driver's stderr into stdout. The job marks
# its stderr lines (lib/lakehouse/runtime/job.py); they are sent back to stderr here, so stdout
# carries only the job's report and, last, its JSON run record.
#
# Signals: SIGTERM/SIGINT must reach the Python driver (which stops cleanly
# and records the run) but not the JVM (whose shutdown hooks would kill the
# SparkContext under it). So spark-submit starts with both signals ignored
# (the JVM keeps an inherited "ignore"; the driver installs its own
# handlers), and this script forwards them to the driver, whose pid the job
# writes to LAKEHOUSE_DRIVER_PIDFILE. Signalling the whole process group, as
# Airflow does, works the same way.
MARK=$'\x1f'
export LAKEHOUSE_STDERR_MARKER=$MARK
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-run.XXXXXX")
export LAKEHOUSE_DRIVER_PIDFILE=$RUN_DIR/driver.pid
cleanup() { rm -rf "$RUN_DIR"; }
trap cleanup EXIT

trap '' TERM INT
{
  status=0
  "$SPARK_SUBMIT" "${submit_args[@]}" "$ROOT/jobs/$JOB.py" "$@" "${job_common[@]}" || status=$?
  echo "$status" > "$RUN_DIR/rc"
} | awk -v mark="$MARK" '
      index($0, mark) == 1 { print substr($0, 2) > "/dev/stderr"; fflush("/dev/stderr"); next }
      { print; fflush() }' &
pipeline_pid=$!

forward() {
  local pid
  pid=$(cat "$LAKEHOUSE_DRIVER_PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill -"$1" "$pid" 2>/dev/null || true
  fi
}
trap 'forward TERM' TERM
trap 'forward INT' INT

while kill -0 "$pipeline_pid" 2>/dev/null; do
  wait "$pipeline_pid" || true
done
rc=$(cat "$RUN_DIR/rc" 2>/dev/null || echo 1)
exit "$rc"
