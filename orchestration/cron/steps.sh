# Sourced by the cron scripts: one lock per chain and one retrying step.
#
#   take_lock NAME   exits 75 when another copy holding NAME runs
#   step JOB ARGS... runs "$LAUNCHER" JOB ARGS...; exit codes 1 and 75 are
#                    tried again (3 tries, DELAY then 2*DELAY seconds apart),
#                    2, 3 and 4 are not; a failed step exits the script with
#                    its code (docs/jobs.md, "orchestrator contract")
# Needs: ROOT, LAUNCHER, DELAY, LABEL (what the log lines name), SCRIPT_NAME.

take_lock() {
  mkdir -p "$ROOT/.build"
  exec 9>"$ROOT/.build/$1.lock"
  flock -n 9 || { echo "$SCRIPT_NAME: another run for $PIPELINE is in progress" >&2; exit 75; }
}

step() {
  local try rc wait=$DELAY
  for try in 1 2 3; do
    echo "$(date -u +%FT%TZ) $LABEL: $* (try $try)"
    "$LAUNCHER" "$@"
    rc=$?
    case $rc in
      0) return 0 ;;
      1|75) [ "$try" -lt 3 ] && { sleep "$wait"; wait=$((wait * 2)); } ;;
      *) break ;;
    esac
  done
  echo "$(date -u +%FT%TZ) $LABEL: $1 exited $rc; stopping" >&2
  exit "$rc"
}
