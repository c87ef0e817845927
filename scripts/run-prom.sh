#!/usr/bin/env bash
# (Vendored copy of the workplace's shared run-prom.sh, so that a fresh clone has it; used by
# docs/operations.md to look at a running node with a throw-away Prometheus. The tests start
# their own Prometheus, with several jobs and targets, from Rust.)
# run-prom.sh - start a throw-away Prometheus on loopback that scrapes one loopback target,
# wait until that target is reported "up", then print Prometheus' PID on stdout.
#
# usage: run-prom.sh PROM_PORT TARGET_PORT [METRICS_PATH] [WORKDIR]
#   PROM_PORT     free port for Prometheus' web/API listener on 127.0.0.1
#   TARGET_PORT   port of the exporter under test on 127.0.0.1
#   METRICS_PATH  default /metrics
#   WORKDIR       default: a fresh mktemp dir under /tmp (holds prom.yml, data/, prom.log, prom.pid)
# environment:
#   SCRAPE_INTERVAL   default 1s
#   WAIT_TIMEOUT      seconds to wait for the target to be up, default 30
#                     (Prometheus 2.42 needs ~5-6 s before its first scrape: the scrape
#                      manager applies new target sets on a fixed 5 s tick)
#   PROM_EXTRA_ARGS   extra flags, e.g. "--enable-feature=native-histograms,exemplar-storage"
#   PROMETHEUS_BIN    default: prometheus from PATH
# stdout: the PID only (so PID=$(run-prom.sh ...) works); everything else goes to stderr.
# stop it later with: kill "$PID"   (by PID; it exits cleanly on SIGTERM)
# exit codes: 0 target up, 1 usage/port busy, 2 prometheus died, 3 timeout (prometheus killed).
set -euo pipefail

PROM_PORT=${1:?usage: run-prom.sh PROM_PORT TARGET_PORT [METRICS_PATH] [WORKDIR]}
TARGET_PORT=${2:?usage: run-prom.sh PROM_PORT TARGET_PORT [METRICS_PATH] [WORKDIR]}
METRICS_PATH=${3:-/metrics}
WORKDIR=${4:-}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1s}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-30}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-prometheus}
read -r -a EXTRA <<<"${PROM_EXTRA_ARGS:-}"

log() { echo "run-prom: $*" >&2; }

command -v "$PROMETHEUS_BIN" >/dev/null || { log "no '$PROMETHEUS_BIN' in PATH (apt-get install --no-install-recommends prometheus)"; exit 1; }
command -v curl >/dev/null || { log "curl is required"; exit 1; }
# refuse a port that already has a listener (bash /dev/tcp connect succeeds only if someone listens)
if (exec 3<>"/dev/tcp/127.0.0.1/$PROM_PORT") 2>/dev/null; then
  log "port 127.0.0.1:$PROM_PORT is already in use"; exit 1
fi

[[ -n "$WORKDIR" ]] || WORKDIR=$(mktemp -d /tmp/run-prom.XXXXXX)
mkdir -p "$WORKDIR"
cat >"$WORKDIR/prom.yml" <<EOF
global:
  scrape_interval: $SCRAPE_INTERVAL
  scrape_timeout: $SCRAPE_INTERVAL
  evaluation_interval: $SCRAPE_INTERVAL
scrape_configs:
  - job_name: target
    metrics_path: $METRICS_PATH
    static_configs:
      - targets: ['127.0.0.1:$TARGET_PORT']
EOF

# stdin/stdout/stderr detached so that $(run-prom.sh ...) returns once this script exits
"$PROMETHEUS_BIN" \
  --config.file="$WORKDIR/prom.yml" \
  --storage.tsdb.path="$WORKDIR/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" \
  --web.enable-lifecycle \
  "${EXTRA[@]}" \
  </dev/null >"$WORKDIR/prom.log" 2>&1 &
PID=$!
echo "$PID" >"$WORKDIR/prom.pid"
log "pid $PID, workdir $WORKDIR, api http://127.0.0.1:$PROM_PORT"

API="http://127.0.0.1:$PROM_PORT/api/v1/targets?state=active"
deadline=$((SECONDS + WAIT_TIMEOUT))
last=""
while ((SECONDS < deadline)); do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "prometheus exited early; last log lines:"; tail -n 15 "$WORKDIR/prom.log" >&2; exit 2
  fi
  body=$(curl -sf --max-time 1 "$API" 2>/dev/null || true)
  if grep -q '"health":"up"' <<<"$body"; then
    log "target 127.0.0.1:$TARGET_PORT$METRICS_PATH is up after ${SECONDS}s"
    echo "$PID"
    exit 0
  fi
  err=$(grep -oE '"lastError":"([^"\\]|\\.)*"' <<<"$body" | head -n 1 || true)
  [[ -n "$err" && "$err" != '"lastError":""' && "$err" != "$last" ]] && { log "target not up yet: $err"; last=$err; }
  sleep 0.2
done
log "target not up after ${WAIT_TIMEOUT}s (${last:-no scrape yet}); stopping prometheus $PID"
kill "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
exit 3
