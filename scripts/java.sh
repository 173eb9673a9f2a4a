# Sourced by the other scripts: find a Java of at least a given major version.
# Sets JAVA (the binary) and exports JAVA_HOME when it was unset.

java_major() {
  # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

require_java() {
  local need=$1
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA=$(command -v java)
  else
    echo "error: Java not found: install Java $need (e.g. apt-get install openjdk-$need-jdk-headless) or set JAVA_HOME" >&2
    exit 1
  fi
  local major
  major=$(java_major "$JAVA")
  if [ -z "$major" ] || [ "$major" -lt "$need" ]; then
    echo "error: Java $need or newer is needed, $JAVA is Java ${major:-unknown}; set JAVA_HOME to a newer JDK" >&2
    exit 1
  fi
  if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")")
    export JAVA_HOME
  fi
}
