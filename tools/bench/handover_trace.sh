#!/usr/bin/env bash
# Traces handovers on the namespace testbed for when a figure looks wrong:
# one MN receives a 1000 packet/s unicast stream (port 5000) and a 1000
# packet/s multicast stream (ff3e::4242:1, port 5001, joined by the MN) from
# the correspondent while its link moves between mag1 and mag2 N times (every
# 1.5 s), with captures of both streams on every interface of both MAGs
# (tunnel in, access link out) and of the MH and the streams at lmad, `ip
# monitor` (neighbours, addresses, links, routes) and a 3 ms poll of the MN's
# neighbour entry on both MAGs, and the daemons' logs, all kept in OUTDIR.
# Prints the unicast stream's interruptions over 200 ms, each late resumption
# at a MAG, and per stream the medians over the moves of the time from the
# new MAG's PBA (on lmad's link) to the stream's first packet in on its
# tunnel and out on the MN's link: where a stream's handover time goes.
#
#   sudo bash tools/bench/handover_trace.sh BUILD_DIR [N=40] [OUTDIR=/tmp/handover-trace]
#
# PMIP_TESTBED_SIAL (sial, off) chooses the daemons' context transfer.
# Found with it: the 1 s interruption of session 10 (README "Measured
# figures"). Bounded: about 1.5 s per move plus 15 s. Root.
set -u
BUILD=${1:?usage: handover_trace.sh BUILD_DIR [N] [OUTDIR]}
N=${2:-40}
W=${3:-/tmp/handover-trace}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TB="bash $ROOT/tools/testbed/testbed.sh"
METER=$BUILD/tools/testbed/pmip-handover-meter
[[ $(id -u) -eq 0 ]] || { echo "handover_trace: needs root" >&2; exit 1; }
[[ -x $METER ]] || { echo "handover_trace: no $METER (build it)" >&2; exit 1; }
NAME=hot$$
rm -rf "$W"; mkdir -p "$W"
BG=()
trap 'kill "${BG[@]}" 2>/dev/null; $TB down $NAME >/dev/null 2>&1' EXIT
$TB up $NAME "$BUILD" 1 multicast >/dev/null || exit 1
ADDR=$($TB address $NAME 1 20) || { echo "handover_trace: no address" >&2; exit 1; }
for m in mag1 mag2; do
    ip netns exec $NAME-$m dumpcap -q -i any -s 128 -f "ip6 and udp portrange 5000-5001" \
        -w "$W/$m.pcapng" >"$W/$m.cap.log" 2>&1 &
    BG+=($!)
    ip netns exec $NAME-$m ip -ts monitor neigh address link route >"$W/$m.mon" 2>&1 &
    BG+=($!)
    python3 - "$NAME-$m" "$W/$m.neigh" <<'PY_END' &
import subprocess, sys, time
ns, out = sys.argv[1], sys.argv[2]
last = None
with open(out, "w") as f:
    while True:
        r = subprocess.run(["ip", "-n", ns, "-s", "-6", "neigh", "show", "dev", "mn1"],
                           capture_output=True, text=True)
        cur = " | ".join(l for l in r.stdout.splitlines() if not l.startswith("fe80"))
        if cur != last:
            f.write(f"{time.time():.6f} {cur}\n")
            f.flush()
            last = cur
        time.sleep(0.003)
PY_END
    BG+=($!)
done
ip netns exec $NAME-lma dumpcap -q -i any -s 200 -f "ip6 proto 135 or (ip6 and udp port 5000)" \
    -w "$W/lma.pcapng" >"$W/lma.cap.log" 2>&1 &
BG+=($!)
ip netns exec $NAME-lma dumpcap -q -i l1 -i l2 -f "ip6 proto 135" -w "$W/mh.pcapng" >"$W/mh.cap.log" 2>&1 &
BG+=($!)
sleep 2
$TB exec $NAME mn1 "$METER" receive --port 5000 --seconds $((3 * N / 2 + 8)) --gap-ms 100 --json >"$W/stream.json" &
RX=$!
$TB exec $NAME mn1 "$METER" receive --group ff3e::4242:1 --interface eth0 --port 5001 --seconds $((3 * N / 2 + 8)) \
    --gap-ms 100 --json >"$W/multicast.json" &
RXM=$!
sleep 0.5
$TB exec $NAME cn "$METER" send --realtime --to "$ADDR" --port 5000 --rate 1000 --seconds $((3 * N / 2 + 5)) 2>/dev/null &
TX=$!
$TB exec $NAME cn "$METER" send --realtime --to ff3e::4242:1 --interface c0 --port 5001 --rate 1000 \
    --seconds $((3 * N / 2 + 5)) 2>/dev/null &
TXM=$!
sleep 1.5
at=mag1
: >"$W/moves"
for i in $(seq 1 "$N"); do
    to=$([[ $at == mag1 ]] && echo mag2 || echo mag1)
    echo "$(date +%s.%N) $i $to" >>"$W/moves"
    $TB move $NAME 1 $to && at=$to
    sleep 1.5
done
wait $TX $RX $TXM $RXM
sleep 1
kill -INT "${BG[@]}" 2>/dev/null
sleep 1
cp /run/pmip-testbed/$NAME/*.log "$W/" 2>/dev/null
python3 - "$W" <<'PY_END'
import json, statistics, subprocess, sys
w = sys.argv[1]
def fields(pcap, flt, names):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", flt, "-T", "fields"] + sum([["-e", n] for n in names], []),
                         capture_output=True, text=True).stdout
    return [l.split("\t") for l in out.splitlines() if l]
r = json.load(open(f"{w}/stream.json"))
moves = [(float(l.split()[0]), l.split()[2]) for l in open(f"{w}/moves")]
long = [g for g in r["gaps"] if g["ms"] > 200]
print(json.dumps({"moves": len(moves), "unicast_received": r["received"], "unicast_lost": r["lost"],
                  "unicast_interruptions_over_200ms": long}))
# At each MAG: (time, incoming (tunnel) or outgoing (access link), port).
mag = {}
for m in ("mag1", "mag2"):
    mag[m] = [(float(t), k != "4", p) for t, k, p in
              fields(f"{w}/{m}.pcapng", "udp", ["frame.time_epoch", "sll.pkttype", "udp.dstport"])]
    out = [t for t, incoming, p in mag[m] if not incoming and p == "5000"]
    for a, b in zip(out, out[1:]):
        if 1.6 < b - a < 10:
            print(f"# {m}: unicast to the MN resumed {b - a - 1.5:.3f} s late ({a:.6f} -> {b:.6f});"
                  f" see {w}/{m}.neigh and {w}/{m}.mon around it")
coa = {"mag1": "2001:db8:101::11", "mag2": "2001:db8:102::12"}
pbas = [(float(t), d) for t, d, ty in fields(f"{w}/mh.pcapng", "mipv6", ["frame.time_epoch", "ipv6.dst", "mip6.mhtype"])
        if ty == "6"]
legs = {k: [] for k in ("unicast in", "unicast out", "multicast in", "multicast out")}
for i, (t, to) in enumerate(moves):
    end = moves[i + 1][0] if i + 1 < len(moves) else t + 1.5
    pba = [p for p, d in pbas if d == coa[to] and t < p < end]
    if not pba:
        continue
    for name, port in (("unicast", "5000"), ("multicast", "5001")):
        for incoming, leg in ((True, "in"), (False, "out")):
            first = [a for a, inc, p in mag[to] if inc == incoming and p == port and t < a < end]
            if first:
                legs[f"{name} {leg}"].append(round((min(first) - pba[0]) * 1e3, 2))
print(json.dumps({"ms_from_pba_median": {k: statistics.median(v) for k, v in legs.items() if v},
                  "ms_from_pba": legs}))
PY_END
