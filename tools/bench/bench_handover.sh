#!/usr/bin/env bash
# Handover figures (issue 7): on the namespace testbed, one mobile node that
# has joined ff3e::4242:1 receives a 1000 packet/s multicast stream and a
# 1000 packet/s unicast stream from the correspondent while its access link
# is moved between mag1 and mag2 HANDOVERS times (every 1.5 s). Each
# interruption is a gap between two consecutive arrivals across which at
# least 3 packets went missing (one per move is expected; the count is
# printed); packets lost are counted across the whole run. Prints one JSON object: per-handover gaps, median and worst of
# each stream, packets lost.
#
#   sudo bash tools/bench/bench_handover.sh BUILD_DIR [HANDOVERS=20] [MODES="off sial"]
#                                            (MODES: any of off sial profile
#                                             pbum peers sialpeers, each optionally
#                                             with +src, +src+peer, then +mt or
#                                             +mts, then -late, then -nohold)
#
# MODES: the multicast context transfer (RFC 7161) of the daemons, one run
# each on a fresh testbed (PMIP_TESTBED_SIAL): off (the MN's report after the
# new MAG's General Query restores its stream) and sial (the new MAG gets the
# MN's groups in the PBA or the Subscription Response), and profile (context
# transfer off; the MN's policy profile lists the channel (2001:db8:200::2,
# ff3e::4242:1), so each new MAG joins it at the PBA without waiting for the
# MN, README "Multicast from the MN's policy profile"), and pbum (profile, and
# the daemons' draft-asaeda PBU-M: the new MAG's PBU asks lmad for the
# profile's channel, which lmad forwards from its PBA on; PMIP_TESTBED_PBU_M),
# and peers (lmad without SIAL; the magd are each other's context peers,
# draft-asaeda Figure 6: the new MAG gets the MN's groups from the previous
# MAG; PMIP_TESTBED_LMA_SIAL=off, PMIP_TESTBED_CONTEXT_PEERS=yes), and
# sialpeers (sial in every daemon and the magd context peers: the previous
# MAG's answer covers the reactive order, where lmad's context comes late).
# With one mode the
# JSON is that run's; with several, {"off": {...}, "sial": {...}}. A mode
# with -late (e.g. sial-late) runs magd with [tunnel] prepare = no: the
# tunnel and the multicast instance made at the PBA, not while the PBU is
# out (PMIP_TESTBED_PREPARE). A mode with +mt (e.g. sial+mt) runs every
# daemon with draft-asaeda's M-Tunnel made dynamically ([multicast]
# m-tunnel = dynamic), +mts with static M-Tunnels (PMIP_TESTBED_M_TUNNEL);
# +mt or +mts comes before -late. A mode with -nohold (e.g. sial-nohold)
# runs every daemon with [multicast] hold-packets = 0: the ebpf backend does
# not hold the packets that arrive before their forwarding entry (the
# daemons' default holds 8 per flow; PMIP_TESTBED_HOLD_PACKETS). A mode with +src (e.g. off+src) has a
# mobile source: a second MN, mn2, attached at mag1 for the whole run, sends
# the 1000 packet/s multicast stream to ff0e::4242:1 (any-source, joined by
# mn1) instead of the correspondent, so mn1 gets it from mag1 locally and,
# at mag2, through lmad (RFC 6224 3.2.2: mag1 sends its MNs' multicast
# upstream); +src+peer adds the RFC 7287 peering link pe0 between the MAGs
# (testbed option peer; its wait: PMIP_TESTBED_PEERING_WAIT_MS), so at mag2
# the stream comes over the peering. Their JSON adds the multicast gaps of
# the moves to mag2 and to mag1 apart ("multicast_to_mag2",
# "multicast_to_mag1") and the jitter (the meter's jitter_ms: RFC 3550's
# transit difference D averaged, send times from the sequence numbers).
#
# The testbed's environment applies, e.g. PMIP_TESTBED_LINK_DELAY_MS=10: the
# MAG-LMA links delayed 10 ms each way (tools/testbed/testbed.sh).
#
# Bounded: about 3 s per handover plus 15 s of set-up, per mode. Root.
set -u
BUILD=${1:?usage: bench_handover.sh BUILD_DIR [HANDOVERS]}
N=${2:-20}
MODES=${3:-off sial}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TB="bash $ROOT/tools/testbed/testbed.sh"
METER="$BUILD/tools/testbed/pmip-handover-meter"
[[ -x ${BUILD}/tools/testbed/pmip-handover-meter ]] || { echo "bench_handover: no $BUILD/tools/testbed/pmip-handover-meter (build it)" >&2; exit 1; }
NAME=pmh$$
WORK=$(mktemp -d /tmp/pmh-$$.XXXXXX)
trap '$TB down $NAME 2>/dev/null; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"' EXIT
[[ $(id -u) -eq 0 ]] || { echo "bench_handover: needs root" >&2; exit 1; }

run_mode() {  # run_mode MODE: one testbed, N handovers, $WORK/result-MODE.json
    local MODE=${1%-nohold} prepare=yes m_tunnel=off src=no peer="" hold=${PMIP_TESTBED_HOLD_PACKETS:-}
    [[ $1 == *-nohold ]] && hold=0
    [[ $MODE == *-late ]] && prepare=no
    MODE=${MODE%-late}
    case $MODE in
        *+mts) m_tunnel=static MODE=${MODE%+mts} ;;
        *+mt) m_tunnel=dynamic MODE=${MODE%+mt} ;;
    esac
    case $MODE in
        *+src+peer) src=yes peer=peer MODE=${MODE%+src+peer} ;;
        *+src) src=yes MODE=${MODE%+src} ;;
    esac
    local mns=1 group=ff3e::4242:1
    [[ $src == yes ]] && mns=2 group=ff0e::4242:1
    local sial=$MODE pbu_m=no lma_sial peers=no
    [[ $MODE == profile || $MODE == pbum ]] && sial=off
    [[ $MODE == pbum ]] && pbu_m=yes
    lma_sial=$sial
    [[ $MODE == peers ]] && sial=sial lma_sial=off peers=yes
    [[ $MODE == sialpeers ]] && sial=sial lma_sial=sial peers=yes
    PMIP_TESTBED_HOLD_PACKETS=$hold PMIP_TESTBED_M_TUNNEL=$m_tunnel PMIP_TESTBED_LMA_SIAL=$lma_sial PMIP_TESTBED_CONTEXT_PEERS=$peers PMIP_TESTBED_PBU_M=$pbu_m PMIP_TESTBED_PREPARE=$prepare PMIP_TESTBED_SIAL=$sial $TB up "$NAME" "$BUILD" $mns multicast $peer >/dev/null || exit 1
    if [[ $MODE == profile || $MODE == pbum ]]; then
        python3 - "/run/pmip-testbed/$NAME/magd-policy.json" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    e["multicast_channels"] = [{"group": "ff3e::4242:1", "sources": ["2001:db8:200::2"]}]
json.dump(p, open(sys.argv[1], "w"))
PY_END
        for m in mag1 mag2; do $TB ctl "$NAME" $m reload >/dev/null || exit 1; done
    fi
    ADDR=$($TB address "$NAME" 1 20) || { echo "bench_handover: no address" >&2; exit 1; }
    if [[ $src == yes ]]; then
        $TB address "$NAME" 2 20 >/dev/null || { echo "bench_handover: mn2 has no address" >&2; exit 1; }
    fi
    DURATION=$(python3 -c "print(3.0 * $N + 4)")
    $TB exec "$NAME" mn1 $METER receive --port 5000 --seconds "$(python3 -c "print($DURATION + 2)")" --gap-ms 3 --json >"$WORK/u.json" &
    RU=$!
    $TB exec "$NAME" mn1 $METER receive --group $group --interface eth0 --port 5001 --seconds "$(python3 -c "print($DURATION + 2)")" --gap-ms 3 --json >"$WORK/m.json" &
    RM=$!
    sleep 1  # the join is reported and proxied
    $TB exec "$NAME" cn $METER send --realtime --to "$ADDR" --port 5000 --rate 1000 --seconds "$DURATION" 2>/dev/null &
    SU=$!
    if [[ $src == yes ]]; then
        $TB exec "$NAME" mn2 $METER send --realtime --to $group --interface eth0 --port 5001 --rate 1000 --seconds "$DURATION" 2>/dev/null &
    else
        $TB exec "$NAME" cn $METER send --realtime --to $group --interface c0 --port 5001 --rate 1000 --seconds "$DURATION" 2>/dev/null &
    fi
    SM=$!
    t0=$(date +%s.%N)
    sleep 1.5
    at=mag1
    : >"$WORK/moves"
    : >"$WORK/move-errors"
    for i in $(seq 1 "$N"); do
        to=$([[ $at == mag1 ]] && echo mag2 || echo mag1)
        echo "$(python3 -c "import time; print(time.time() - $t0)")" >>"$WORK/moves"
        if $TB move "$NAME" 1 "$to" 2>>"$WORK/move-errors"; then
            at=$to
        else
            echo "move $i to $to failed" >>"$WORK/move-errors"
        fi
        sleep 1.5
    done
    wait $SU $SM $RU $RM
    /usr/bin/python3 - "$WORK" "$N" >"$WORK/result-$1.json" <<'PY_END'
import json, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
moves = [float(x) for x in open(f"{work}/moves").read().split()]
def per_handover(report):
    # A handover is an interruption across which packets went missing (the
    # stream is 1000/s: jitter alone loses none); one per move is expected.
    return [g["ms"] for g in report["gaps"] if g["missing"] >= 3]
errors = [l for l in open(f"{work}/move-errors").read().splitlines() if l.strip()]
result = {"handovers": n, "move_errors": errors}
for name in ("u", "m"):
    r = json.load(open(f"{work}/{name}.json"))
    gaps = per_handover(r)
    key = "unicast" if name == "u" else "multicast"
    if not gaps:
        gaps = [0.0]
    result[key] = {"gap_ms_median": round(statistics.median(gaps), 2), "gap_ms_worst": round(max(gaps), 2),
                   "gaps_ms": gaps, "lost_total": r["lost"], "lost_per_handover": round(r["lost"] / n, 1),
                   "interruptions_seen": len(gaps),
                   "received": r["received"], "duplicates": r["duplicates"]}
    if "jitter_ms" in r:
        result[key]["jitter_ms"] = r["jitter_ms"]
    # Moves alternate mag1 -> mag2, mag2 -> mag1: with one interruption per
    # move the gaps of each direction apart.
    if name == "m" and len(gaps) == n:
        for direction, part in (("to_mag2", gaps[0::2]), ("to_mag1", gaps[1::2])):
            result["multicast_" + direction] = {"gap_ms_median": round(statistics.median(part), 2),
                                                "gap_ms_worst": round(max(part), 2)}
print(json.dumps(result))
PY_END
    $TB down "$NAME" >/dev/null 2>&1
}

for mode in $MODES; do
    [[ $mode =~ ^(off|sial|profile|pbum|peers|sialpeers)(\+src(\+peer)?)?(\+mts?)?(-late)?(-nohold)?$ ]] ||
        { echo "bench_handover: mode \"$mode\" is not off|sial|profile|pbum|peers|sialpeers[+src[+peer]][+mt|+mts][-late][-nohold]" >&2; exit 1; }
    run_mode "$mode" || exit 1
    : >"$WORK/moves"
done
/usr/bin/python3 - "$WORK" $MODES <<'PY_END'
import json, sys
work, modes = sys.argv[1], sys.argv[2:]
results = {m: json.load(open(f"{work}/result-{m}.json")) for m in modes}
print(json.dumps(results[modes[0]] if len(modes) == 1 else results))
PY_END
