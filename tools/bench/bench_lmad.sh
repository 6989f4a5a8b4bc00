#!/usr/bin/env bash
# bench_lmad.sh: the real lmad under load from lma_load (issue 4 "Evidence
# expected"; DESIGN.md section 8). Root.
#
#   bench_lmad.sh BUILD_DIR [BINDINGS] [MAGS]     (defaults 200000 and 200)
#
# Two namespaces on a veth pair: plb-PID-lma runs lmad (userspace tunnel
# backend: one TUN device per MAG; real kernel routes, proto 213, one per
# binding, via netlink; heartbeats off; log level warning), plb-PID-gen holds
# MAGS MAG addresses and runs lma_load. Phases, each printed as one JSON line:
#   warmup     one MN per MAG at 200 PBU/s, so every tunnel device exists
#   half_load  min(BINDINGS, 100000) registrations offered at 25,000 PBU/s
#              (env HALF_RATE):
#              PBA latency percentiles at the issue's "half load"
#   full_load  the rest offered at 200,000 PBU/s: the rate lmad sustains
#   (each with lmad's CPU seconds and PBAs per lmad CPU second, which do
#   not depend on how much of a shared machine lmad got; PBUs that waited
#   longer than TimestampValidityWindow in the socket queue are answered 156,
#   as RFC 5213 section 5.5 says, and show in pbas_by_status)
#   memory     lmad's heap in use (pmipctl show counters daemon.heap_in_use_bytes)
#              and its VmRSS, after all bindings minus after warm-up, per
#              binding; the count of proto 213 routes in the kernel.
#              RESERVE_HEAP=yes (env, default) has lmad touch its heap for
#              BINDINGS at start ([binding] reserve-heap), so its RSS does
#              not grow in the phases; RESERVE_HEAP=no leaves that to the
#              registrations (page faults in the PBU path)
#   (warmup, half_load and full_load also give lmad_minor_faults: its page
#   faults in the phase, first touches of new heap memory)
#   mh_socket  lmad's MH socket counters (pmipctl show counters): packets
#              read and sent and in how many recvmmsg / sendmmsg batches,
#              the engine's batches (routes per netlink batch, PBAs per
#              batch, sessions failed by a route), rx_queue_overflows (the PBUs the kernel dropped because
#              the socket's queue was full: SO_RXQ_OVFL) and rx_shed_stale
#              (read but dropped for waiting longer than [binding]
#              max-queue-delay-ms, env MAX_QUEUE_DELAY_MS, default 500): an
#              overload's losses, counted
# TRACE_DIR=DIR (env): the half_load phase's per-PBU send time and latency_rx
# go to DIR/half_load.trace (lma_load --trace), and a half_load_slow_windows
# line lists the 10 ms windows whose PBUs waited over 1 ms.
# PERF_DIR=DIR (env): lmad is profiled during full_load (perf record -g,
# 4,000 samples/s) into DIR/full_load.perf.
# PIN=1 (env): lmad runs on CPU 1 and lma_load on CPU 0 (taskset), so lmad
# has a core to itself (the issue's "pinned" figures); PIN=0 (default) lets
# the scheduler share both cores among them.
# Bounded: each phase stops after 25 s. Everything is removed on exit.
set -u
BUILD=${1:?usage: bench_lmad.sh BUILD_DIR [BINDINGS] [MAGS]}
BINDINGS=${2:-200000}
MAGS=${3:-200}
LMAD=$BUILD/lma/lmad
LOAD=$BUILD/tools/bench/lma_load
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
[[ $(id -u) -eq 0 ]] || { echo '{"error":"needs root"}'; exit 77; }
[[ -x $LMAD && -x $LOAD ]] || { echo "{\"error\":\"build lmad and lma_load in $BUILD first\"}"; exit 2; }

PIN=${PIN:-0}
PIN_LMAD=()
PIN_LOAD=()
if [[ $PIN == 1 ]]; then
    (( $(nproc) >= 2 )) || { echo '{"error":"PIN=1 needs 2 CPUs"}'; exit 2; }
    PIN_LMAD=(taskset -c 1)
    PIN_LOAD=(taskset -c 0)
fi
ID=$$
NS_LMA=plb-$ID-lma
NS_GEN=plb-$ID-gen
WORK=$(mktemp -d /tmp/plb-$ID.XXXXXX)
LMAD_PID=
cleanup() {
    [[ -n $LMAD_PID ]] && kill -TERM "$LMAD_PID" 2>/dev/null && wait "$LMAD_PID" 2>/dev/null
    ip netns del "$NS_LMA" 2>/dev/null
    ip netns del "$NS_GEN" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS_LMA" && ip netns add "$NS_GEN" || { echo '{"error":"cannot create namespaces"}'; exit 77; }
ip link add lv netns "$NS_LMA" type veth peer name gv netns "$NS_GEN"
ip -n "$NS_LMA" link set lo up
ip -n "$NS_GEN" link set lo up
ip -n "$NS_LMA" link set lv up
ip -n "$NS_GEN" link set gv up
ip -n "$NS_LMA" -6 addr add 2001:db8:100::1/64 dev lv nodad
# MAG addresses 2001:db8:100::1:0 + i.
{
    for ((i = 0; i < MAGS; i++)); do
        printf 'address add 2001:db8:100::1:%x/64 dev gv nodad\n' "$i"
    done
} | ip -n "$NS_GEN" -6 -batch -
# Neighbour entries for every MAG address grow the LMA's neighbour table.
ip netns exec "$NS_LMA" sysctl -qw net.ipv6.neigh.default.gc_thresh3=65536 net.ipv6.route.max_size=4194304 2>/dev/null
ip netns exec "$NS_GEN" sysctl -qw net.ipv6.neigh.default.gc_thresh3=65536 2>/dev/null

cat >"$WORK/lmad.conf" <<EOF
[lma]
address = 2001:db8:100::1
[pools]
pool = 2001:db8:4000::/36 64
[binding]
max-lifetime = 3600
expected-bindings = $BINDINGS
reserve-heap = ${RESERVE_HEAP:-yes}
max-queue-delay-ms = ${MAX_QUEUE_DELAY_MS:-500}
[mags]
authorized = 2001:db8:100::/64
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
ip netns exec "$NS_LMA" "${PIN_LMAD[@]}" "$LMAD" --config "$WORK/lmad.conf" >"$WORK/lmad.log" 2>&1 &
LMAD_PID=$!
for _ in $(seq 50); do [[ -S $WORK/lmad.sock ]] && break; sleep 0.1; done
[[ -S $WORK/lmad.sock ]] || { echo '{"error":"lmad did not start"}'; cat "$WORK/lmad.log" >&2; exit 1; }
ip netns exec "$NS_GEN" ping -6 -c1 -W2 2001:db8:100::1 >/dev/null 2>&1

# lmad's CPU seconds (utime + stime): a rate per CPU second does not depend on
# how much of a shared machine lmad got.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' /proc/$LMAD_PID/stat; }
# lmad's minor page faults so far (first touches of new heap memory; each one
# is a trap into the kernel, dear on a virtual machine).
faults() { awk '{ print $10 }' /proc/$LMAD_PID/stat; }
# lmad's counters now, into file $1 (for each phase's batch sizes).
counters() { "$PMIPCTL" --socket "$WORK/lmad.sock" --json show counters >"$1" 2>/dev/null || echo '{}' >"$1"; }
phase() {  # phase NAME JSON-FILE CPU-BEFORE COUNTERS-BEFORE FAULTS-BEFORE
    local cpu_used faults_now
    cpu_used=$(awk -v a="$3" -v b="$(cpu)" 'BEGIN { printf "%.3f", b - a }')
    faults_now=$(faults)
    counters "$WORK/counters-after"
    python3 - "$1" "$2" "$cpu_used" "$4" "$WORK/counters-after" "$(( faults_now - $5 ))" <<'EOF'
import json, sys
name, path, cpu = sys.argv[1], sys.argv[2], float(sys.argv[3])
r = json.load(open(path))
answered = sum(r["pbas_by_status"].values())
out = {"phase": name, "lmad_cpu_seconds": cpu,
       "pbus_per_lmad_cpu_second": round(answered / cpu) if cpu > 0 else None,
       "lmad_minor_faults": int(sys.argv[6])}
# This phase's engine batches (PBAs per batch) and MH socket reads.
try:
    c0, c1 = (json.load(open(f)) for f in sys.argv[4:6])  # counters before, after
    d = lambda sect, key: c1[sect].get(key, 0) - c0[sect].get(key, 0)
    batches = d("engine", "batches")
    out["batches"] = batches
    out["pbas_per_batch"] = round(d("engine", "batched_pbas") / batches, 2) if batches else None
    out["rx_batches"] = d("mh_socket", "rx_batches")
except (KeyError, ValueError, AttributeError):
    out["batches"] = None
out["result"] = r
print(json.dumps(out))
EOF
}

HALF=$((BINDINGS < 100000 ? BINDINGS : 100000))
HALF_RATE=${HALF_RATE:-25000}
REST=$((BINDINGS - HALF))
# Warm-up: one MN per MAG, slowly, so that every tunnel exists before the
# measured phases (creating a userspace tunnel device waits for the tunnel
# data-plane thread; that one-off cost per MAG is not the PBU path).
CPUW=$(cpu)
FAULTSW=$(faults)
counters "$WORK/counters-w"
ip netns exec "$NS_GEN" "${PIN_LOAD[@]}" "$LOAD" --lma 2001:db8:100::1 --mag-base 2001:db8:100::1:0 --mags "$MAGS" \
    --count "$MAGS" --first "$BINDINGS" --rate 200 --lmad-pid "$LMAD_PID" --max-seconds 25 >"$WORK/warmup.json"
phase warmup "$WORK/warmup.json" "$CPUW" "$WORK/counters-w" "$FAULTSW"
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$LMAD_PID/status)
ROUTES0=$(ip -n "$NS_LMA" -6 route show proto 213 | wc -l)
CPU0=$(cpu)
FAULTS0=$(faults)
counters "$WORK/counters-0"
ip netns exec "$NS_GEN" "${PIN_LOAD[@]}" "$LOAD" --lma 2001:db8:100::1 --mag-base 2001:db8:100::1:0 --mags "$MAGS" \
    --count "$HALF" --rate "$HALF_RATE" --lmad-pid "$LMAD_PID" --max-seconds 25 \
    ${TRACE_DIR:+--trace "$TRACE_DIR/half_load.trace"} >"$WORK/half.json"
phase half_load "$WORK/half.json" "$CPU0" "$WORK/counters-0" "$FAULTS0"
if [[ -n ${TRACE_DIR:-} && -s $TRACE_DIR/half_load.trace ]]; then
    # Where the slow PBAs were: 10 ms windows of send time holding a PBU
    # answered after more than 1 ms (a stall shows as one or two windows).
    python3 - "$TRACE_DIR/half_load.trace" <<'EOF'
import collections, json, sys
windows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    sent_us, latency_us = map(float, line.split())
    windows[int(sent_us // 10000)].append(latency_us)
slow = [{"t_ms": k * 10, "pbus_over_1ms": sum(1 for x in v if x > 1000), "max_us": round(max(v))}
        for k, v in sorted(windows.items()) if max(v) > 1000]
print(json.dumps({"phase": "half_load_slow_windows", "trace": sys.argv[1],
                  "pbus_over_1ms": sum(w["pbus_over_1ms"] for w in slow), "windows": slow}))
EOF
fi
if ((REST > 0)); then
    CPU1=$(cpu)
    FAULTS1=$(faults)
    counters "$WORK/counters-1"
    PERF_PID=
    if [[ -n ${PERF_DIR:-} ]]; then
        perf record -q -g -F 4000 -p "$LMAD_PID" -o "$PERF_DIR/full_load.perf" 2>/dev/null &
        PERF_PID=$!
        sleep 0.5
    fi
    ip netns exec "$NS_GEN" "${PIN_LOAD[@]}" "$LOAD" --lma 2001:db8:100::1 --mag-base 2001:db8:100::1:0 --mags "$MAGS" \
        --count "$REST" --first "$HALF" --rate 200000 --lmad-pid "$LMAD_PID" --max-seconds 25 \
        --drain-ms 5000 >"$WORK/full.json"
    [[ -n $PERF_PID ]] && kill -INT "$PERF_PID" && wait "$PERF_PID"
    phase full_load "$WORK/full.json" "$CPU1" "$WORK/counters-1" "$FAULTS1"
fi
RSS1=$(awk '/VmRSS/ {print $2}' /proc/$LMAD_PID/status)
counters "$WORK/counters-loaded"  # for the memory and mh_socket lines
ROUTES=$(ip -n "$NS_LMA" -6 route show proto 213 | wc -l)
TUNNELS=$(ip -n "$NS_LMA" -o link show | grep -c ': pm6-')
python3 - "$RSS0" "$RSS1" "$ROUTES" "$TUNNELS" "$BINDINGS" "$MAGS" "$ROUTES0" "$WORK/counters-0" "$WORK/counters-loaded" <<'EOF'
import json, sys
rss0, rss1, routes, tunnels, bindings, mags, routes0 = map(int, sys.argv[1:8])
added = max(routes - routes0, 1)
try:
    d0, d1 = (json.load(open(f))["daemon"] for f in sys.argv[8:10])
    heap = round((d1["heap_in_use_bytes"] - d0["heap_in_use_bytes"]) / added)
    reserved_kib = d1["heap_reserved_bytes"] // 1024
except (KeyError, ValueError, OSError):
    heap, reserved_kib = None, None
# bytes_per_binding: lmad's heap in use (malloc's own count) per binding
# added. With [binding] reserve-heap (env RESERVE_HEAP, default yes) the
# reservation is resident from the start and rss_bytes_per_binding is ~0;
# with RESERVE_HEAP=no it is the resident growth per binding.
print(json.dumps({"phase": "memory", "lmad_rss_after_warmup_kib": rss0, "lmad_rss_loaded_kib": rss1,
                  "kernel_routes_proto_213": routes, "tunnel_devices": tunnels,
                  "bytes_per_binding": heap,
                  "rss_bytes_per_binding": round((rss1 - rss0) * 1024 / added),
                  "heap_reserved_kib": reserved_kib,
                  "bindings_requested": bindings, "mags": mags}))
EOF
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
mh, e = c["mh_socket"], c["engine"]
batches = e.get("batches") or 0
print(json.dumps({"phase": "mh_socket", "rx_packets": mh["rx_packets"], "rx_batches": mh.get("rx_batches"),
                  "tx_packets": mh.get("tx_packets"), "tx_batches": mh.get("tx_batches"),
                  "rx_queue_overflows": mh.get("rx_queue_overflows"), "rx_shed_stale": mh.get("rx_shed_stale"),
                  "engine_batches": batches,
                  "routes_per_netlink_batch": round(e.get("batched_route_requests", 0) / batches, 2) if batches else None,
                  "pbas_per_batch": round(e.get("batched_pbas", 0) / batches, 2) if batches else None,
                  "batch_sessions_failed": e.get("batch_sessions_failed"),
                  "data_path_errors": e.get("data_path_errors")}))' "$WORK/counters-loaded" || echo '{"phase":"mh_socket","error":"no counters"}'
kill -TERM "$LMAD_PID"
wait "$LMAD_PID"
echo "{\"phase\":\"shutdown\",\"lmad_exit\":$?,\"routes_left\":$(ip -n "$NS_LMA" -6 route show proto 213 | wc -l)}"
LMAD_PID=
