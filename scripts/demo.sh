#!/usr/bin/env bash
# The README's main command: run healthcardd on the embedded default (two virtual readers, demo cards, virtual
# SAM; no hardware) and walk through a kiosk registration payment with examples/kiosk_client.py.
#
# Idempotent: sets up the venv with scripts/setup.sh when it is missing; uses a private state directory under
# var/demo (journal + card images: each run debits the same demo card again); stops the daemon at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh
fi
PY=.venv/bin/python
LISTEN=${HEALTHCARDD_LISTEN:-127.0.0.1:50051}
STATE=${HEALTHCARDD_STATE:-var/demo}
mkdir -p "$STATE"
LOG="$STATE/healthcardd.log"

"$PY" -m daemon.main --simulate --listen "$LISTEN" --state-dir "$STATE" --log-format json >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; }
trap cleanup EXIT

# Wait for gRPC health SERVING (at most 30 s).
"$PY" - "$LISTEN" "$PID" <<'PYEOF'
import os, sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
target, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
with grpc.insecure_channel(target) as ch:
    stub = health_pb2_grpc.HealthStub(ch)
    while True:
        try:
            if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                break
        except grpc.RpcError:
            pass
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit("healthcardd exited during start-up; see its log")
        if time.monotonic() > deadline:
            sys.exit("healthcardd did not become SERVING within 30 s")
        time.sleep(0.2)
print(f"healthcardd is SERVING on {target}")
PYEOF

"$PY" examples/kiosk_client.py --target "$LISTEN" --reader virtual-0 --fee 500 --topup 2000
echo "daemon log: $LOG"
