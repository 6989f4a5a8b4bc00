#!/usr/bin/env bash
# Traces handovers on the namespace testbed for when a figure looks wrong:
# one MN receives a 1000 packet/s unicast stream from the correspondent while
# its link moves between mag1 and mag2 N times (every 1.5 s), with captures
# on both MAGs' access links (mn1) and lmad's links (MH and the stream), `ip
# monitor` (neighbours, addresses, links, routes) and a 3 ms poll of the MN's
# neighbour entry on both MAGs, and the daemons' logs, all kept in OUTDIR.
# Prints the stream's interruptions over 200 ms (when, how long, what was
# missing) and, for each, the MAG that served the MN next with its neighbour
# states around it.
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
    ip netns exec $NAME-$m dumpcap -q -i mn1 -s 128 -w "$W/$m.pcapng" >"$W/$m.cap.log" 2>&1 &
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
sleep 2
$TB exec $NAME mn1 "$METER" receive --port 5000 --seconds $((3 * N / 2 + 8)) --gap-ms 100 --json >"$W/stream.json" &
RX=$!
sleep 0.5
$TB exec $NAME cn "$METER" send --realtime --to "$ADDR" --port 5000 --rate 1000 --seconds $((3 * N / 2 + 5)) 2>/dev/null &
TX=$!
sleep 1.5
at=mag1
: >"$W/moves"
for i in $(seq 1 "$N"); do
    to=$([[ $at == mag1 ]] && echo mag2 || echo mag1)
    echo "$(date +%s.%N) $i $to" >>"$W/moves"
    $TB move $NAME 1 $to && at=$to
    sleep 1.5
done
wait $TX $RX
sleep 1
kill -INT "${BG[@]}" 2>/dev/null
sleep 1
cp /run/pmip-testbed/$NAME/*.log "$W/" 2>/dev/null
python3 - "$W" <<'PY_END'
import json, subprocess, sys
w = sys.argv[1]
r = json.load(open(f"{w}/stream.json"))
moves = [l.split() for l in open(f"{w}/moves")]
long = [g for g in r["gaps"] if g["ms"] > 200]
print(json.dumps({"moves": len(moves), "received": r["received"], "lost": r["lost"],
                  "interruptions_over_200ms": long}))
for mag in ("mag1", "mag2"):
    out = subprocess.run(["tshark", "-r", f"{w}/{mag}.pcapng", "-Y", "udp.dstport == 5000", "-T", "fields",
                          "-e", "frame.time_epoch"], capture_output=True, text=True).stdout.split()
    times = [float(t) for t in out]
    for a, b in zip(times, times[1:]):
        if 1.6 < b - a < 10:
            print(f"# {mag}: stream to the MN resumed {b - a - 1.5:.3f} s late after a pause ({a:.6f} -> {b:.6f});"
                  f" see {w}/{mag}.neigh and {w}/{mag}.mon around it")
PY_END
