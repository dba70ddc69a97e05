#!/usr/bin/env bash
# The README's main command: run healthcard-host (the hospital host, embedded SQLite) and healthcardd connected to
# it on the embedded default (virtual readers, demo cards, virtual SAM; no hardware), walk through a kiosk
# registration payment with examples/kiosk_client.py (its top-up authorised by the host), then the counter's part
# with examples/counter_client.py: refund, report the card lost, a payment refused at the kiosk, 补卡 (a new card
# for the same holder from the kiosk's dispenser, the balance moved onto it), the new card paying while the old
# one stays refused, the day's settlement.
#
# Idempotent: sets up the venv with scripts/setup.sh when it is missing; uses a private state directory under
# var/demo (journal, card images, host ledger: emptied at the start of each run); stops the daemon at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh
fi
PY=.venv/bin/python
LISTEN=${HEALTHCARDD_LISTEN:-127.0.0.1:50051}
HOST_LISTEN=${HEALTHCARD_HOST_LISTEN:-127.0.0.1:50061}
STATE=${HEALTHCARDD_STATE:-var/demo}
mkdir -p "$STATE"
# Each run starts afresh: the counter's part replaces (补卡) the kiosk's demo card, and a replaced card stays
# listed for good; so the demo's journal, card images and host ledger of an earlier run go first.
rm -rf "$STATE/host" "$STATE/cards" "$STATE"/*.db "$STATE"/*.db-wal "$STATE"/*.db-shm
LOG="$STATE/healthcardd.log"
HOST_LOG="$STATE/healthcard-host.log"
cat >"$STATE/healthcardd.toml" <<TOMLEOF
simulate = true
[host]
address = "$HOST_LISTEN"
node_id = "demo-kiosk"
institution = "DEMO"
retry_s = 0.5
TOMLEOF

# The host keeps for 补卡 only the visit records a SAM it trusts signed (docs/host.md): the demo daemon's virtual
# SAMs (one per simulated reader) are made here, before the daemon starts, so that their public keys go into the
# host's [trusted_signers] (a hospital lists its kiosks' SAM keys the same way: `healthcard sam info`).
mkdir -p -m 700 "$STATE/cards"
TRUSTED=""
for reader in virtual-0 virtual-1 virtual-blank; do
  "$PY" -m healthcard.cli.main sam new --out "$STATE/cards/$reader-sam.json" >/dev/null
  key="$("$PY" -m healthcard.cli.main sam info --sam "$STATE/cards/$reader-sam.json" --json |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["sm2_public_key"])')"
  TRUSTED+="\"demo-kiosk $reader\" = \"$key\""$'\n'
done

# replacement_wait_s = 0: the demo replaces a card right after reporting it lost (a hospital waits days, so that
# the uploads of offline terminals reach the old card's balance first; docs/host.md).
cat >"$STATE/healthcard-host.toml" <<TOMLEOF
replacement_wait_s = 0
[trusted_signers]
$TRUSTED
TOMLEOF
"$PY" -m daemon.host.main --config "$STATE/healthcard-host.toml" --listen "$HOST_LISTEN" --state-dir "$STATE/host" \
  --log-format json >"$HOST_LOG" 2>&1 &
HOST_PID=$!
"$PY" -m daemon.main --config "$STATE/healthcardd.toml" --listen "$LISTEN" --state-dir "$STATE" --log-format json \
  >"$LOG" 2>&1 &
PID=$!
cleanup() {
  kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  kill -TERM "$HOST_PID" 2>/dev/null && wait "$HOST_PID" 2>/dev/null || true
}
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

# The daemon registers the cards its readers see with the host (through its outbox): wait for virtual-0's.
"$PY" - "$LISTEN" "$HOST_LISTEN" <<'PYEOF'
import sys, time
import grpc
from daemon._gen.healthcard.host.v1 import host_service_pb2 as hpb, host_service_pb2_grpc as hpb_grpc
from daemon._gen.healthcard.v1 import healthcard_service_pb2 as pb, healthcard_service_pb2_grpc as pb_grpc
deadline = time.monotonic() + 30
with grpc.insecure_channel(sys.argv[1]) as kch, grpc.insecure_channel(sys.argv[2]) as hch:
    number = pb_grpc.HealthCardServiceStub(kch).GetBalance(pb.GetBalanceRequest(reader="virtual-0")).card_number
    while True:
        try:
            hpb_grpc.HostServiceStub(hch).GetCard(hpb.GetCardRequest(card_number=number), timeout=2)
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                sys.exit("the host did not get the kiosk's card within 30 s; see the logs")
            time.sleep(0.2)
print(f"healthcard-host on {sys.argv[2]} has card {number} (registered by the kiosk)")
PYEOF

"$PY" examples/kiosk_client.py --target "$LISTEN" --reader virtual-0 --fee 500 --topup 2000
"$PY" examples/counter_client.py --host "$HOST_LISTEN" --kiosk "$LISTEN" --node demo-kiosk --reader virtual-0 \
  --declare kiosk-01=2000
echo "daemon log: $LOG; host log: $HOST_LOG"
