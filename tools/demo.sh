#!/usr/bin/env bash
# The demo: one command on a fresh machine (root) shows a mobile node keeping
# its address and its streams while it moves between two access routers.
#
#   sudo bash tools/demo.sh [--json] [--build DIR]
#
# Steps: install what is needed (tools/setup.sh, idempotent), build (Release),
# bring up the namespace testbed (tools/testbed/testbed.sh: a correspondent,
# lmad, two magd, one mobile node that is the real Linux kernel), wait for the
# MN's address (SLAAC from magd's RA), show the bindings; the MN joins the
# multicast group ff3e::4242:1 with an ordinary socket; start a 1000 packet/s
# sequence-numbered multicast stream and a 1000/s unicast stream from the
# correspondent to the MN and a 100/s ping from the MN; move the MN's link
# from mag1 to mag2 while they run, then print what happened -- bindings
# before and after, the gap and the losses of each stream and of the ping --
# and tear everything down (also on failure or Ctrl-C). --json prints one
# JSON object instead.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$ROOT/build-demo
JSON=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --json) JSON=1 ;;
        --build) BUILD=$2; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown argument $1 (--json, --build DIR)" >&2; exit 2 ;;
    esac
    shift
done
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }

say() { [[ $JSON -eq 1 ]] || echo "$@"; }
quiet() { if [[ $JSON -eq 1 ]]; then "$@" >/dev/null 2>&1; else "$@"; fi; }

say "== 1. installing what is needed (tools/setup.sh) and building"
bash "$ROOT/tools/setup.sh" >/tmp/pmip-demo-setup.log 2>&1 || { echo "demo: setup failed, see /tmp/pmip-demo-setup.log" >&2; exit 1; }
# An existing build directory is used as configured; a new one is configured
# for Release without the tests.
{ [[ -f $BUILD/CMakeCache.txt ]] ||
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPMIP_BUILD_TESTS=OFF >/tmp/pmip-demo-build.log 2>&1; } &&
    cmake --build "$BUILD" -j"$(nproc)" --target magd lmad pmipctl pmip-handover-meter >>/tmp/pmip-demo-build.log 2>&1 ||
    { echo "demo: build failed, see /tmp/pmip-demo-build.log" >&2; exit 1; }

TB="bash $ROOT/tools/testbed/testbed.sh"
METER="$BUILD/tools/testbed/pmip-handover-meter"
NAME=pmdemo$$
WORK=$(mktemp -d /tmp/pmip-demo.XXXXXX)
cleanup() {
    $TB down "$NAME" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "== 2. bringing up the testbed: correspondent, lmad, mag1, mag2, one mobile node at mag1"
$TB up "$NAME" "$BUILD" 1 multicast || exit 1
t0=$(date +%s%3N)
keep_logs() {  # the testbed's logs outlive the teardown
    local kept=/tmp/pmip-demo-$NAME-logs
    mkdir -p "$kept" && cp /run/pmip-testbed/"$NAME"/*.log "$kept"/ 2>/dev/null
    echo "$kept"
}
ADDR=$($TB address "$NAME" 1 20) || { echo "demo: the MN got no address (daemon logs kept in $(keep_logs))" >&2; exit 1; }
t1=$(date +%s%3N)
say "   the MN configured $ADDR by SLAAC from magd's Router Advertisement ($((t1 - t0)) ms after start)"
$TB ctl "$NAME" lma --json show bindings >"$WORK/before.json"
say "   lmad's binding cache before the move:"
quiet $TB ctl "$NAME" lma show bindings | sed 's/^/     /'

say "== 3. the MN joins ff3e::4242:1; multicast and unicast streams of 1000 packets/s to it, a ping from it; its link moves from mag1 to mag2"
$TB exec "$NAME" mn1 $METER receive --port 5000 --seconds 7 --json >"$WORK/stream.json" &
RECV=$!
$TB exec "$NAME" mn1 $METER receive --group ff3e::4242:1 --interface eth0 --port 5001 --seconds 7.5 --json >"$WORK/mstream.json" &
MRECV=$!
$TB exec "$NAME" mn1 ping -6 -i 0.01 -c 600 -W 1 2001:db8:200::2 >"$WORK/ping.txt" 2>&1 &
PING=$!
sleep 0.5
$TB exec "$NAME" cn $METER send --realtime --to "$ADDR" --port 5000 --rate 1000 --seconds 6 2>"$WORK/send.json" &
SEND=$!
$TB exec "$NAME" cn $METER send --realtime --to ff3e::4242:1 --interface c0 --port 5001 --rate 1000 --seconds 6 2>"$WORK/msend.json" &
MSEND=$!
sleep 2.5
$TB move "$NAME" 1 mag2
wait $SEND $MSEND $PING
wait $RECV $MRECV
sleep 0.2
$TB ctl "$NAME" lma --json show bindings >"$WORK/after.json"
ADDR_AFTER=$($TB address "$NAME" 1 1)

/usr/bin/python3 - "$WORK" "$ADDR" "${ADDR_AFTER:-}" "$JSON" <<'PY_END'
import json, re, sys
work, addr, addr_after, as_json = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
stream = json.load(open(f"{work}/stream.json"))
mstream = json.load(open(f"{work}/mstream.json"))
ping = open(f"{work}/ping.txt").read()
m = re.search(r"(\d+) packets transmitted, (\d+) received", ping)
sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
before = json.load(open(f"{work}/before.json"))
after = json.load(open(f"{work}/after.json"))
def where(bindings):
    return [{"mn": b["mn"], "mag": b["mag"], "prefixes": b["prefixes"], "tunnel": b["tunnel"]} for b in bindings]
report = {
    "address_before": addr, "address_after": addr_after, "address_kept": addr == addr_after,
    "bindings_before": where(before), "bindings_after": where(after),
    "stream": {"received": stream["received"], "lost": stream["lost"], "gap_ms": stream["max_gap_ms"],
               "duplicates": stream["duplicates"]},
    "multicast": {"group": "ff3e::4242:1", "received": mstream["received"], "lost": mstream["lost"],
                  "gap_ms": mstream["max_gap_ms"], "duplicates": mstream["duplicates"]},
    "ping": {"sent": sent, "received": received, "lost": sent - received, "gap_ms_estimate": (sent - received) * 10},
}
if as_json:
    print(json.dumps(report))
else:
    print("== 4. what happened")
    for b in report["bindings_after"]:
        print(f"   lmad's binding cache after the move: {b['mn']} {', '.join(b['prefixes'])} at MAG {b['mag']} via {b['tunnel']}")
    print(f"   the MN's address: {addr} before, {addr_after or '(none)'} after -> {'kept' if report['address_kept'] else 'CHANGED'}")
    s = report["stream"]
    print(f"   stream correspondent -> MN (1000/s): {s['received']} received, {s['lost']} lost, largest gap {s['gap_ms']} ms")
    m = report["multicast"]
    print(f"   multicast ff3e::4242:1 -> MN (1000/s): {m['received']} received, {m['lost']} lost, largest gap {m['gap_ms']} ms, {m['duplicates']} duplicates")
    p = report["ping"]
    print(f"   ping MN -> correspondent (100/s): {p['received']}/{p['sent']} answered, {p['lost']} lost (about {p['gap_ms_estimate']} ms)")
    print("== 5. tearing down")
ok = report["address_kept"] and report["bindings_after"] and report["bindings_after"][0]["mag"] == "2001:db8:102::12" and stream["received"] > 0 and mstream["received"] > 0
sys.exit(0 if ok else 1)
PY_END
status=$?
exit $status
