# Sourced by scripts/kafka.sh, scripts/s3.sh and scripts/metastore.sh: a local server run in the
# background with a pid file. Needs PIDFILE set by the caller.

running_pid() { # the server's pid, if its pid file names a live process
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; return 0; fi
  return 1
}

port_in_use() { # does anything accept connections on 127.0.0.1:PORT?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_service() { # stop_service LABEL WHAT SECONDS: TERM, wait up to SECONDS, then KILL
  local label=$1 what=$2 seconds=$3 pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    echo "$label: not running"
    return 0
  fi
  echo "$label: stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((seconds * 4))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "$label: stopped"; return 0; }
    sleep 0.25
  done
  echo "$label: $what did not stop within ${seconds}s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

wait_ready() { # wait_ready SECONDS CHECK LOG...: run CHECK until it succeeds
  # returns 1 when the server died first (the LOG files' tails go to stderr, the
  # pid file is removed), 2 when SECONDS passed without an answer
  local seconds=$1 check=$2 waited=0
  shift 2
  while ! "$check"; do
    if ! running_pid >/dev/null; then
      tail -n 20 "$@" 2>/dev/null >&2 || true
      rm -f "$PIDFILE"
      return 1
    fi
    [ "$waited" -lt $((seconds * 4)) ] || return 2
    sleep 0.25
    waited=$((waited + 1))
  done
}

