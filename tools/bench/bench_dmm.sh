#!/usr/bin/env bash
# Handover gap and signalling per move: RFC 8885 DMM (lmad as CMD, magd as
# MAARs) against centralized PMIPv6 (lmad as LMA, magd as MAGs) on the same
# namespaces (tools/testbed/dmm_topology.sh), with the real kernel as the MN.
#
#   sudo bash tools/bench/bench_dmm.sh BUILD_DIR [MOVES] [MODES]
#
#   MOVES (default 20) moves maar1 -> maar2 -> maar3 -> maar1 ..., 1.5 s
#   apart, while a correspondent sends 1000 datagrams/s (64 octets) to the
#   MN's first address: in dmm its address from maar1's prefix P1, which
#   stays anchored at maar1 and reaches the MN through a tunnel from maar1
#   wherever it is (the MN also gets each serving MAAR's prefix); in pmip its
#   home address, through lmad's tunnel to the MAG it is at. MODES: "dmm
#   pmip" (default). Per mode: the gap of each move (the longest interruption
#   of the stream within 1 s after it, the meter's kernel receive
#   timestamps), median and worst, datagrams lost per move, and the Mobility
#   Header messages on the core link per move (dumpcap on the bridge).
#   Prints one JSON object per mode, then a summary line.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/netns/lib.sh"
BUILD=${1:?usage: bench_dmm.sh BUILD_DIR [MOVES] [MODES]}
BUILD=$(cd "$BUILD" && pwd)
MOVES=${2:-20}
MODES=${3:-dmm pmip}
need_root "namespaces"
need_tun
need_tools dumpcap
METER=$BUILD/tools/testbed/pmip-handover-meter
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
HOLD=600
source "$NETNS_ROOT/tools/testbed/dmm_topology.sh"
netns_test_begin benchdmm
reap_stale_namespaces benchdmm 'core|cmd|maar1|maar2|maar3|cn|mn'

run_mode() {  # run_mode MODE: one fresh topology
    local mode=$1
    N=benchdmm-$$-$mode
    mkdir -p "$WORK/$mode"
    local saved_work=$WORK
    WORK=$WORK/$mode
    dmm_topology_up "$mode"
    local up=0
    for _ in $(seq 1 100); do
        if "$PMIPCTL" --socket "$WORK/lmad.sock" show counters >/dev/null 2>&1 &&
            "$PMIPCTL" --socket "$WORK/magd3.sock" show counters >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || { echo "$mode: daemons did not start (logs in $WORK)" >&2; WORK=$saved_work; return 1; }
    local start=2001:db8:a1:
    [[ $mode == pmip ]] && start=2001:db8:8000:
    dmm_move_to 1
    local address=""
    for _ in $(seq 1 200); do
        address=$(dmm_mn_address "$start")
        [[ -n $address ]] && break
        sleep 0.1
    done
    [[ -n $address ]] || { echo "$mode: the MN got no address (logs in $WORK)" >&2; WORK=$saved_work; return 1; }
    ip netns exec "$N-core" dumpcap -q -i br0 -f "ip6 proto 135" -w "$WORK/mh.pcapng" >"$WORK/dumpcap.log" 2>&1 &
    local cap=$!
    PIDS+=($cap)
    wait_until 10 grep -q "Capturing on" "$WORK/dumpcap.log"
    local seconds
    seconds=$(awk -v m="$MOVES" 'BEGIN { print int(m * 1.5 + 3) }')
    ip netns exec "$N-mn" "$METER" receive --port 5001 --seconds $((seconds + 1)) --gap-ms 2 --json \
        >"$WORK/flow.json" 2>&1 &
    local recv=$!
    PIDS+=($recv)
    sleep 0.3
    ip netns exec "$N-cn" "$METER" send --to "$address" --port 5001 --rate 1000 --seconds "$seconds" \
        --realtime 2>"$WORK/send.json" &
    PIDS+=($!)
    sleep 1.5
    local t0 at=1 times=""
    t0=$(date +%s.%N)
    for m in $(seq 1 "$MOVES"); do
        at=$((at % 3 + 1))
        times+="$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f ", a - b }')"
        dmm_move_to "$at"
        sleep 1.5
    done
    wait "$recv" 2>/dev/null
    forget_pid "$recv"
    sleep 0.5
    stop_pid "$cap" INT
    local mh
    mh=$(tshark -r "$WORK/mh.pcapng" 2>/dev/null | wc -l)
    "$PY" - "$mode" "$WORK/flow.json" "$MOVES" "$mh" "$times" <<'PY_END'
import json, statistics, sys
mode, path, moves, mh, times = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = json.loads(open(path).read().strip().splitlines()[-1])
# The meter's at_s counts from the first arrival, about when the sender
# started, 1.5 s before the first move: move k is at 1.5 + offsets[k] s. Its
# gap is the longest interruption (3 datagrams or more missing) from 0.3 s
# before it to 1 s after; a move with none lost fewer than 3 datagrams.
offsets = [float(t) for t in times.split()]
gaps = []
for o in offsets:
    window = [g["ms"] for g in r["gaps"] if g["missing"] >= 3 and -0.3 <= g["at_s"] - (1.5 + o) < 1.0]
    gaps.append(max(window) if window else 0.0)
out = {"mode": mode, "moves": moves, "gap_ms_median": round(statistics.median(gaps), 2),
       "gap_ms_worst": round(max(gaps), 2), "gaps_ms": gaps, "lost_per_move": round(r["lost"] / moves, 1),
       "mh_messages_per_move": round(mh / moves, 1), "received": r["received"], "lost": r["lost"],
       "duplicates": r["duplicates"]}
print(json.dumps(out))
PY_END
    kill -TERM "${PIDS[@]}" 2>/dev/null
    sleep 1
    for ns in core cmd maar1 maar2 maar3 cn mn; do ip netns del "$N-$ns" 2>/dev/null; done
    WORK=$saved_work
}

for mode in $MODES; do
    run_mode "$mode" | tee -a "$WORK/results.jsonl"
done
"$PY" - "$WORK/results.jsonl" <<'PY_END'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("# " + "; ".join("%s: gap median %.2f ms (worst %.2f), %.1f lost/move, %.1f MH messages/move"
                       % (r["mode"], r["gap_ms_median"], r["gap_ms_worst"], r["lost_per_move"],
                          r["mh_messages_per_move"]) for r in rs))
PY_END
