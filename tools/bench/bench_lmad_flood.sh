#!/usr/bin/env bash
# bench_lmad_flood.sh: lmad under a flood of forged PBUs while an authorized
# MAG keeps registering (issue 16 "hostile input, end to end"). Root.
#
#   bench_lmad_flood.sh BUILD_DIR [FLOOD_COUNT] [FLOOD_RATE] [--check]
#                                  (defaults 100000 and 10000: 100,000 in 10 s)
#
# Two namespaces on a veth pair: pfl-PID-lma runs lmad ([mags] authorized and
# auth required for 2001:db8:100::/64, HMAC-SHA256 SPI 1000; serve-unknown, so
# any PBU that got through would create a binding; userspace tunnels, real
# kernel routes), pfl-PID-gen holds the authorized MAG 2001:db8:100::1:0 and
# runs lma_load. Phases, each printed as one JSON line:
#   warmup     the MAG registers 50 MNs (signed), so its tunnel exists
#   baseline   2,000 signed registrations at 200/s: PBA latency, no flood
#   flood      FLOOD_COUNT unsigned PBUs at FLOOD_RATE from random sources of
#              the /64 (IPV6_FREEBIND) with random MN identifiers, plus a
#              tenth of that from the MAG's own address (forged: unsigned),
#              while the MAG's signed registrations go on at 200/s: their PBA
#              latency and how many went unanswered
#   result     lmad's RSS before and after the flood, its bindings and kernel
#              routes (only the MAG's), its auth counters (what it dropped,
#              how many PBA 146 it sent and how many the rate limit held back)
# With --check the script exits 1 when a forged PBU created a binding, when a
# signed registration went unanswered, or when lmad grew by more than 16 MiB.
# Bounded: each lma_load run stops after its count or 30 s. Everything is
# removed on exit.
set -u
BUILD=${1:?usage: bench_lmad_flood.sh BUILD_DIR [FLOOD_COUNT] [FLOOD_RATE] [--check]}
FLOOD=${2:-100000}
FLOOD_RATE=${3:-10000}
CHECK=${4:-}
LMAD=$BUILD/lma/lmad
LOAD=$BUILD/tools/bench/lma_load
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
[[ $(id -u) -eq 0 ]] || { echo '{"error":"needs root"}'; exit 77; }
[[ -x $LMAD && -x $LOAD && -x $PMIPCTL ]] || { echo "{\"error\":\"build lmad, lma_load and pmipctl in $BUILD first\"}"; exit 2; }

ID=$$
NS_LMA=pfl-$ID-lma
NS_GEN=pfl-$ID-gen
WORK=$(mktemp -d /tmp/pfl-$ID.XXXXXX)
LMAD_PID=
LOAD_PIDS=()
cleanup() {
    for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [[ -n $LMAD_PID ]] && kill -TERM "$LMAD_PID" 2>/dev/null && wait "$LMAD_PID" 2>/dev/null
    ip netns del "$NS_LMA" 2>/dev/null
    ip netns del "$NS_GEN" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS_LMA" && ip netns add "$NS_GEN" || { echo '{"error":"cannot create namespaces"}'; exit 77; }
ip link add lv netns "$NS_LMA" type veth peer name gv netns "$NS_GEN"
for ns in "$NS_LMA" "$NS_GEN"; do ip -n "$ns" link set lo up; done
ip -n "$NS_LMA" link set lv up
ip -n "$NS_GEN" link set gv up
ip -n "$NS_LMA" -6 addr add 2001:db8:100::1/64 dev lv nodad
ip -n "$NS_GEN" -6 addr add 2001:db8:100::1:0/64 dev gv nodad

(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$WORK/mag.key")
cat >"$WORK/lmad.conf" <<EOF
[lma]
address = 2001:db8:100::1
[pools]
pool = 2001:db8:4000::/36 64
[binding]
max-lifetime = 3600
[mags]
authorized = 2001:db8:100::/64
auth = 2001:db8:100::/64 required 1000 hmac-sha256 $WORK/mag.key
[policy]
serve-unknown = true
[tunnel]
backend = userspace
[heartbeat]
interval-s = 0
[control]
socket = $WORK/lmad.sock
[state]
file = $WORK/lmad.state
[log]
level = warning
EOF
ip netns exec "$NS_LMA" "$LMAD" --config "$WORK/lmad.conf" >"$WORK/lmad.log" 2>&1 &
LMAD_PID=$!
for _ in $(seq 50); do [[ -S $WORK/lmad.sock ]] && break; sleep 0.1; done
[[ -S $WORK/lmad.sock ]] || { echo '{"error":"lmad did not start"}'; cat "$WORK/lmad.log" >&2; exit 1; }
ip netns exec "$NS_GEN" ping -6 -c1 -W2 2001:db8:100::1 >/dev/null 2>&1

load() {  # load OUT ARGS...: lma_load from the MAG's namespace
    local out=$1
    shift
    ip netns exec "$NS_GEN" "$LOAD" --lma 2001:db8:100::1 --mag-base 2001:db8:100::1:0 --mags 1 \
        --lmad-pid "$LMAD_PID" --max-seconds 30 "$@" >"$out"
}
phase() {  # phase NAME FILE...: one JSON line
    python3 - "$@" <<'EOF'
import json, sys
name, files = sys.argv[1], sys.argv[2:]
print(json.dumps({"phase": name, "runs": [json.load(open(f)) for f in files]}))
EOF
}
SIGNED=(--key "$WORK/mag.key" --spi 1000)

load "$WORK/warmup.json" --count 50 --first 900000 --rate 100 "${SIGNED[@]}"
phase warmup "$WORK/warmup.json"
load "$WORK/baseline.json" --count 2000 --first 0 --rate 200 "${SIGNED[@]}"
phase baseline "$WORK/baseline.json"

RSS0=$(awk '/VmRSS/ {print $2}' /proc/$LMAD_PID/status)
SECONDS_FLOOD=$(( (FLOOD + FLOOD_RATE - 1) / FLOOD_RATE ))
load "$WORK/flood.json" --count "$FLOOD" --rate "$FLOOD_RATE" --spoof --drain-ms 500 &
LOAD_PIDS+=($!)
load "$WORK/forged.json" --count $((FLOOD / 10)) --first 500000 --rate $((FLOOD_RATE / 10)) --drain-ms 500 &
LOAD_PIDS+=($!)
load "$WORK/during.json" --count $((SECONDS_FLOOD * 200)) --first 100000 --rate 200 "${SIGNED[@]}" &
LOAD_PIDS+=($!)
for p in "${LOAD_PIDS[@]}"; do wait "$p"; done
LOAD_PIDS=()
phase flood "$WORK/flood.json" "$WORK/forged.json" "$WORK/during.json"
RSS1=$(awk '/VmRSS/ {print $2}' /proc/$LMAD_PID/status)
"$PMIPCTL" --socket "$WORK/lmad.sock" --json show counters >"$WORK/counters.json"
"$PMIPCTL" --socket "$WORK/lmad.sock" --json show bindings >"$WORK/bindings.json"
ROUTES=$(ip -n "$NS_LMA" -6 route show proto 213 | wc -l)
python3 - "$RSS0" "$RSS1" "$ROUTES" "$WORK" "$CHECK" <<'EOF'
import json, sys
rss0, rss1, routes, work, check = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
counters = json.load(open(f"{work}/counters.json"))
bindings = json.load(open(f"{work}/bindings.json"))
runs = {n: json.load(open(f"{work}/{n}.json")) for n in ("warmup", "baseline", "during")}
authorized = sum(r["pbus_sent"] for r in runs.values())
flooded = [b["mn"] for b in bindings if not b["mn"].startswith("mn")]
mh = counters["mh"]
result = {"phase": "result", "lmad_rss_before_flood_kib": rss0, "lmad_rss_after_flood_kib": rss1,
          "rss_growth_kib": rss1 - rss0, "bindings": len(bindings), "authorized_pbus": authorized,
          "bindings_from_forged_pbus": len(flooded), "kernel_routes_proto_213": routes,
          "auth": counters.get("auth", {}),
          "mh_auth_drops": {k: v for k, v in mh.items() if k.startswith("auth_")},
          "baseline_latency": runs["baseline"]["latency"], "flood_latency": runs["during"]["latency"],
          "signed_unanswered_during_flood": runs["during"]["unanswered"]}
print(json.dumps(result))
if check == "--check":
    problems = []
    if flooded:
        problems.append(f"{len(flooded)} bindings from forged PBUs")
    for name, r in runs.items():
        if r["unanswered"] or r["pbas_by_status"].get("0", 0) != r["pbus_sent"]:
            problems.append(f"{name}: {r['unanswered']} signed PBUs unanswered, statuses {r['pbas_by_status']}")
    if rss1 - rss0 > 16 * 1024:
        problems.append(f"lmad grew by {rss1 - rss0} KiB during the flood")
    for p in problems:
        print("FAIL - " + p)
    sys.exit(1 if problems else 0)
EOF
