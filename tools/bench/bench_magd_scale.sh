#!/usr/bin/env bash
# bench_magd_scale.sh: N mobile-node access links on one magd registered with
# one lmad (issue 5 "Evidence expected": 5,000 MNs, all registered within
# 2 s of the links coming up; the time and magd's memory). Root.
#
#   bench_magd_scale.sh BUILD_DIR [N]          (N defaults to 5000)
#
#   env TIMEOUT_S=60    give up waiting for the registrations after this long
#       LOG_LEVEL=info  magd's and lmad's log level (info logs every attach and
#                       registration, as a deployment would)
#       MULTICAST=0     1: every MN admissible for magd's MLD proxy (policy)
#       PERF=0          1: `perf record -g` on magd during the registrations,
#                       system: on every CPU (`perf record -a -g`); the top
#                       of `perf report` (by command and symbol) goes to stderr
#       KEEP_WORK=      non-empty: keep the work directory (configs, logs)
#       UPLINK_ROUTING=auto  magd's [binding] uplink-routing: auto,
#                       source-routes or rules
#       TUNNELS=userspace    both daemons' [tunnel] backend
#       FORWARD=1       1: after the registrations, the forwarding phase below
#
# Topology (names carry this shell's PID; addresses in 2001:db8::/32):
#
#   pms-PID-lma  lo 2001:db8:100::1 (LMAA), l1 2001:db8:101::1; lmad
#   pms-PID-mag  u1 2001:db8:101::11 (Proxy-CoA); magd, access links mn1..mnN
#   pms-PID-mn   p1..pN, the MN ends of the access links (veth peers of
#                mn1..mnN), MAC 02:00:00:XX:XX:XX = the policy's MAC of MN I;
#                IPv6 disabled: the MNs stay silent (no DAD, no RS) and drop
#                the RAs, so magd attaches them on link up (policy
#                "interface": "mnI")
#
# Both daemons use the userspace (TUN) tunnel backend; lmad assigns one /64
# per MN from 2001:db8:8000::/33. Phases:
#   setup     namespaces, N veth pairs (ip -batch), lmad, then magd, which
#             prepares every access link at start (RFC 6543 MAC and
#             link-local, accept_ra=0, access rule):
#             "magd_start_until_links_prepared_ms" is from exec until it
#             reports N links prepared
#   idle      all pI up (their mnI ends still down); magd's and lmad's VmRSS
#   measure   t0, then one `ip -batch` bringing mn1..mnN up; every 50 ms
#             `pmipctl --json show mns` (magd) and `show bindings` (lmad) are
#             counted until N are "registered" / "active" (TIMEOUT_S at most)
#   forward   (FORWARD=1) IPv6 on pN, the last MN, which takes magd's RA and
#             forms its address; then 64-octet UDP for 3 s each way, unpaced
#             (udp_flood): downlink from the LMA's address to the MN, through
#             lmad's tunnel and magd's forwarding to mnN, and uplink from the
#             MN to the LMA's address. With uplink-routing = rules, the last
#             MN's uplink packets pass every MN's rule; downlink packets leave
#             the tunnel by the tunnel's own rule (both modes).
#             Reported as datagrams received per second (the LMA's side is
#             lmad's tunnel backend, which bounds both)
#   report    one JSON object on stdout: the times from t0 (polled, and from
#             the timestamps of magd's own log lines, which do not depend on
#             the polling; per MN from magd seeing its link up to its
#             registration: p50/p90/p99/max), how long the `ip -batch` itself
#             took (the kernel brings links up at its own pace), magd's and
#             lmad's CPU seconds during the phase (independent of how much of
#             a shared machine they got), VmRSS before and after (KiB, per
#             MN), magd's and lmad's counters, the kernel's routes and rules
#             at the MAG, and "target_met" (all N within 2 s).
# If N registrations are not all reached within TIMEOUT_S,
# "registered_at_magd" / "bindings_at_lmad" say how many were, and "error"
# says so. A run with N=5000 takes about 30 s on 2 cores (setup ~15 s); every
# wait has a deadline (worst case about 4 minutes). Everything (daemons,
# namespaces, work directory) is removed on exit, also on failure, SIGINT or
# SIGTERM. Exit 77 when not root / no TUN, 2 when the binaries are missing.
# A benchmark, not a test: not registered with ctest (too heavy for CI).
set -u
BUILD=${1:?usage: bench_magd_scale.sh BUILD_DIR [N]}
N=${2:-5000}
TIMEOUT_S=${TIMEOUT_S:-60}
LOG_LEVEL=${LOG_LEVEL:-info}
MULTICAST=${MULTICAST:-0}
PERF=${PERF:-0}
UPLINK_ROUTING=${UPLINK_ROUTING:-auto}
TUNNELS=${TUNNELS:-userspace}
FORWARD=${FORWARD:-1}
FLOOD=$BUILD/tools/bench/udp_flood
MAGD=$BUILD/mag/magd
LMAD=$BUILD/lma/lmad
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
PY=/usr/bin/python3

fatal() { printf '{"error":"%s"}\n' "$*"; exit "${EXIT_CODE:-1}"; }
[[ $(id -u) -eq 0 ]] || EXIT_CODE=77 fatal "needs root (namespaces, TUN devices)"
[[ -x $MAGD && -x $LMAD && -x $PMIPCTL ]] || EXIT_CODE=2 fatal "build magd, lmad and pmipctl in $BUILD first"
[[ -c /dev/net/tun ]] || EXIT_CODE=77 fatal "no /dev/net/tun (userspace tunnel backend)"
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 65535)) || EXIT_CODE=2 fatal "N must be 1..65535"

ID=$$
NS_LMA=pms-$ID-lma
NS_MAG=pms-$ID-mag
NS_MN=pms-$ID-mn
WORK=$(mktemp -d /tmp/pms-$ID.XXXXXX)
LMA=2001:db8:100::1
MAG=2001:db8:101::11
MAGD_PID=
LMAD_PID=
PERF_PID=

cleanup() {
    [[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
    for pid in $MAGD_PID $LMAD_PID; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # Deleting a namespace deletes its devices in one batch in the kernel
    # (much faster than deleting 2N veth ends one by one).
    for ns in $NS_MAG $NS_MN $NS_LMA; do ip netns del "$ns" 2>/dev/null; done
    if [[ -n ${KEEP_WORK:-} ]]; then echo "# kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { local t=$EPOCHREALTIME; echo $((${t/./} / 1000)); }  # no fork
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 " " $15}' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }  # utime stime
mctl() { "$PMIPCTL" --socket "$WORK/magd.sock" --timeout 10 "$@"; }
lctl() { "$PMIPCTL" --socket "$WORK/lmad.sock" --timeout 10 "$@"; }
count_registered() { mctl --json show mns 2>/dev/null | grep -c '"state": "registered"'; }
count_active() { lctl --json show bindings 2>/dev/null | grep -c '"state": "active"'; }
wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
step() { echo "# $(date -u +%H:%M:%S) $*" >&2; }
T_SETUP=$(now_ms)

# --- topology -----------------------------------------------------------------
step "namespaces, $N veth pairs"
for ns in $NS_LMA $NS_MAG $NS_MN; do
    ip netns add "$ns" || EXIT_CODE=77 fatal "cannot create namespace $ns"
    ip -n "$ns" link set lo up
done
ip link add l1 netns "$NS_LMA" type veth peer name u1 netns "$NS_MAG"
ip -n "$NS_LMA" -6 addr add $LMA/128 dev lo
ip -n "$NS_LMA" -6 addr add 2001:db8:101::1/64 dev l1 nodad
ip -n "$NS_LMA" link set l1 up
ip -n "$NS_MAG" -6 addr add $MAG/64 dev u1 nodad
ip -n "$NS_MAG" link set u1 up
ip -n "$NS_MAG" -6 route add default via 2001:db8:101::1
# The MAG holds N routes and N+N rules; neighbours on N links.
ip netns exec "$NS_MAG" sysctl -qw net.ipv6.route.max_size=4194304 \
    net.ipv6.neigh.default.gc_thresh1=65536 net.ipv6.neigh.default.gc_thresh2=65536 \
    net.ipv6.neigh.default.gc_thresh3=65536 2>/dev/null
ip netns exec "$NS_LMA" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.route.max_size=4194304
# Silent MNs: IPv6 off on p1..pN (no DAD, RS or MLD; magd's RAs dropped on
# arrival). N real MNs are N hosts; N interfaces of one namespace taking RAs
# would charge magd (veth delivers in the sender's softirq) with a kernel
# cost no MAG has: every RA walking N default routes (rt6_get_dflt_router)
# and the whole FIB for its MTU option (rt6_mtu_change).
ip netns exec "$NS_MN" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1

mac_of() { printf -v MAC '02:00:00:%02x:%02x:%02x' $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }  # no fork
{
    for ((i = 1; i <= N; i++)); do
        mac_of $i
        echo "link add mn$i type veth peer name p$i netns $NS_MN address $MAC"
    done
} >"$WORK/create.batch"
for ((i = 1; i <= N; i++)); do echo "link set p$i up"; done >"$WORK/mn-up.batch"
for ((i = 1; i <= N; i++)); do echo "link set mn$i up"; done >"$WORK/mag-up.batch"
t=$(now_ms)
ip -n "$NS_MAG" -batch "$WORK/create.batch" >"$WORK/create.log" 2>&1 ||
    fatal "creating the veth pairs failed: $(head -c 300 "$WORK/create.log" | tr '"\n' "' ")"
CREATE_MS=$(($(now_ms) - t))
created=$(ip -n "$NS_MAG" -o link show | grep -c ': mn[0-9]*@')
((created == N)) || fatal "only $created of $N access links were created"

# --- configuration ------------------------------------------------------------
multicast=$([[ $MULTICAST == 1 ]] && echo true || echo false)
{
    echo '{"mobile_nodes": ['
    for ((i = 1; i <= N; i++)); do
        mac_of $i
        sep=,
        ((i == N)) && sep=
        printf '{"mac": "%s", "interface": "mn%d", "id": "mn%d@scale.example", "lma": "%s", "lifetime": 400, "multicast": %s}%s\n' \
            "$MAC" $i $i $LMA $multicast "$sep"
    done
    echo ']}'
} >"$WORK/magd-policy.json"
{
    echo '{"mobile_nodes": ['
    for ((i = 1; i <= N; i++)); do
        sep=,
        ((i == N)) && sep=
        printf '{"id": "mn%d@scale.example"}%s\n' $i "$sep"
    done
    echo ']}'
} >"$WORK/lmad-policy.json"
cat >"$WORK/lmad.conf" <<EOF
[lma]
address = $LMA
[pools]
pool = 2001:db8:8000::/33 64
[binding]
max-lifetime = 400
expected-bindings = $N
[mags]
authorized = 2001:db8:101::/64
[policy]
store = $WORK/lmad-policy.json
[tunnel]
backend = $TUNNELS
[control]
socket = $WORK/lmad.sock
[state]
file = $WORK/lmad.state
[log]
level = $LOG_LEVEL
EOF
cat >"$WORK/magd.conf" <<EOF
[mag]
address = $MAG
[access]
interface = mn*
[ra]
max-interval-s = 30
[policy]
store = $WORK/magd-policy.json
[tunnel]
backend = $TUNNELS
[binding]
uplink-routing = $UPLINK_ROUTING
[control]
socket = $WORK/magd.sock
[log]
level = $LOG_LEVEL
EOF
"$MAGD" --config "$WORK/magd.conf" --check >"$WORK/check.log" 2>&1 ||
    fatal "magd --check rejects the generated configuration: $(head -c 300 "$WORK/check.log" | tr '"\n' "' ")"

# --- daemons ------------------------------------------------------------------
step "lmad, magd (preparing $N access links)"
ip netns exec "$NS_LMA" "$LMAD" --config "$WORK/lmad.conf" >"$WORK/lmad.log" 2>&1 &
LMAD_PID=$!
wait_for 20 lctl show counters || fatal "lmad did not start (log: $(tail -c 300 "$WORK/lmad.log" | tr '"\n' "' "))"
t=$(now_ms)
ip netns exec "$NS_MAG" "$MAGD" --config "$WORK/magd.conf" >"$WORK/magd.log" 2>&1 &
MAGD_PID=$!
prepared() {
    [[ $(mctl --json show counters 2>/dev/null | jq '.daemon.access_links_prepared // 0') -ge $N ]]
}
wait_for 120 prepared || fatal "magd did not prepare $N access links within 120 s (log: $(tail -c 300 "$WORK/magd.log" | tr '"\n' "' "))"
MAGD_START_MS=$(($(now_ms) - t))
kill -0 "$MAGD_PID" 2>/dev/null || fatal "magd exited"

# The MN ends up first: carrier on mnI then follows mnI's own up alone.
ip -n "$NS_MN" -batch "$WORK/mn-up.batch" >"$WORK/mn-up.log" 2>&1 || fatal "bringing the MN ends up failed"
sleep 2
MAGD_RSS0=$(rss_kib "$MAGD_PID")
LMAD_RSS0=$(rss_kib "$LMAD_PID")
SETUP_MS=$(($(now_ms) - T_SETUP))
(( $(count_registered) == 0 )) || fatal "MNs registered before their links came up"

# --- measurement --------------------------------------------------------------
step "bringing $N access links up"
if [[ $PERF == 1 || $PERF == system ]] && command -v perf >/dev/null; then
    perf_target=(-p "$MAGD_PID")
    [[ $PERF == system ]] && perf_target=(-a)
    perf record -g -o "$WORK/perf.data" "${perf_target[@]}" >/dev/null 2>"$WORK/perf.log" &
    PERF_PID=$!
    sleep 0.5
fi
MAGD_CPU0=$(cpu_ticks "$MAGD_PID")
LMAD_CPU0=$(cpu_ticks "$LMAD_PID")
T0_UTC=$(date -u +%Y-%m-%dT%H:%M:%S)
T0=$(now_ms)
( ip -n "$NS_MAG" -batch "$WORK/mag-up.batch" >"$WORK/mag-up.log" 2>&1; echo $(($(now_ms) - T0)) >"$WORK/batch_ms" ) &
BATCH_PID=$!
MAG_MS=
LMA_MS=
registered=0
active=0
polls=0
deadline=$((T0 + TIMEOUT_S * 1000))
while :; do
    tick=$(now_ms)
    ((polls++))
    if [[ -z $MAG_MS ]]; then
        registered=$(count_registered)
        ((registered >= N)) && MAG_MS=$(($(now_ms) - T0))
    fi
    if [[ -z $LMA_MS ]]; then
        active=$(count_active)
        ((active >= N)) && LMA_MS=$(($(now_ms) - T0))
    fi
    [[ -n $MAG_MS && -n $LMA_MS ]] && break
    (($(now_ms) >= deadline)) && break
    kill -0 "$MAGD_PID" 2>/dev/null || break
    rest=$((tick + 50 - $(now_ms)))
    ((rest > 0)) && sleep "0.$(printf '%03d' $rest)"
done
wait "$BATCH_PID"
BATCH_MS=$(cat "$WORK/batch_ms" 2>/dev/null || echo null)
MAGD_CPU1=$(cpu_ticks "$MAGD_PID")
LMAD_CPU1=$(cpu_ticks "$LMAD_PID")
if [[ -n $PERF_PID ]]; then
    kill -INT "$PERF_PID" 2>/dev/null
    wait "$PERF_PID" 2>/dev/null
    PERF_PID=
    perf report -i "$WORK/perf.data" --no-children --sort comm,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/  \{2,\}/  /g' | head -40 >&2
fi
sleep 1  # RSS after the RA bursts and the last log lines
MAGD_RSS1=$(rss_kib "$MAGD_PID")
LMAD_RSS1=$(rss_kib "$LMAD_PID")
mctl --json show counters >"$WORK/magd-counters.json" 2>/dev/null || echo '{}' >"$WORK/magd-counters.json"
lctl --json show counters >"$WORK/lmad-counters.json" 2>/dev/null || echo '{}' >"$WORK/lmad-counters.json"
mctl --json show mns >"$WORK/mns.json" 2>/dev/null || echo '[]' >"$WORK/mns.json"
MAG_ROUTES=$(ip -n "$NS_MAG" -6 route show table all proto 213 | wc -l)
MAG_RULES=$(ip -n "$NS_MAG" -6 rule show | wc -l)
MAG_RAW_DROPS=$(ip netns exec "$NS_MAG" awk 'NR > 1 && $2 ~ /:0087$/ {d += $NF} END {print d + 0}' /proc/net/raw6)
UPLINK_LOG=$(grep -o 'uplink forwarding: [^:]*' "$WORK/magd.log" | head -1)

# --- forwarding through magd's state (FORWARD=1) ----------------------------------
DOWN_JSON=null
UP_JSON=null
FORWARD_ERROR=
flood_pps() {  # flood_pps RECV_NS BIND SEND_NS SOURCE PORT -> '{"sent":..,"received":..,"pps":..}'
    rm -f "$WORK/flood-ready"
    ip netns exec "$1" "$FLOOD" recv --bind "$2" --port "$5" --duration 8 --idle-ms 700 \
        --ready "$WORK/flood-ready" >"$WORK/flood-recv.json" 2>/dev/null &
    local receiver=$!
    wait_for 5 test -e "$WORK/flood-ready"
    ip netns exec "$3" "$FLOOD" send --source "$4" --dest "$2" --port "$5" --size 64 --duration 3 \
        >"$WORK/flood-send.json" 2>/dev/null
    wait "$receiver"
    "$PY" -c '
import json, sys
s, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"sent": s["sent"], "received": r["received"], "pps": int(r["pps"])}))' \
        "$WORK/flood-send.json" "$WORK/flood-recv.json" 2>/dev/null || echo null
}
if [[ $FORWARD == 1 && -n $MAG_MS ]]; then
    step "forwarding through magd's state: downlink and uplink to mn$N"
    ip netns exec "$NS_MN" sysctl -qw net.ipv6.conf.p$N.disable_ipv6=0 net.ipv6.conf.p$N.accept_ra=1
    mn_address() { ip -n "$NS_MN" -6 addr show dev "p$N" scope global | awk '/inet6/ {sub("/.*", "", $2); print $2; exit}'; }
    has_address() { [[ -n $(mn_address) ]]; }
    if [[ ! -x $FLOOD ]]; then
        FORWARD_ERROR="no $FLOOD (build udp_flood)"
    elif ! wait_for 15 has_address; then
        FORWARD_ERROR="mn$N formed no global address"
    else
        MN_ADDR=$(mn_address)
        ip -n "$NS_MN" -6 route replace default dev "p$N" via fe80::200:5eff:fe00:5213 2>/dev/null
        wait_for 10 ip netns exec "$NS_LMA" ping -6 -c1 -W1 "$MN_ADDR" ||
            FORWARD_ERROR="the LMA does not reach mn$N at $MN_ADDR"
        DOWN_JSON=$(flood_pps "$NS_MN" "$MN_ADDR" "$NS_LMA" "$LMA" 7300)
        UP_JSON=$(flood_pps "$NS_LMA" "$LMA" "$NS_MN" "$MN_ADDR" 7301)
    fi
fi
LMA_RAW_DROPS=$(ip netns exec "$NS_LMA" awk 'NR > 1 && $2 ~ /:0087$/ {d += $NF} END {print d + 0}' /proc/net/raw6)

# --- report -------------------------------------------------------------------
export N T0 T0_UTC MAG_MS LMA_MS BATCH_MS registered active polls TIMEOUT_S CREATE_MS MAGD_START_MS SETUP_MS \
    MAGD_RSS0 MAGD_RSS1 LMAD_RSS0 LMAD_RSS1 MAGD_CPU0 MAGD_CPU1 LMAD_CPU0 LMAD_CPU1 MAG_ROUTES MAG_RULES \
    MAG_RAW_DROPS LMA_RAW_DROPS LOG_LEVEL MULTICAST WORK UPLINK_LOG DOWN_JSON UP_JSON FORWARD_ERROR TUNNELS
"$PY" - <<'EOF'
import datetime, json, os, re
e = os.environ
n = int(e["N"]); t0 = int(e["T0"])
hz = os.sysconf("SC_CLK_TCK")
def num(k):
    v = e.get(k, "")
    return int(v) if v not in ("", "null") else None
def load(name, default):
    try:
        with open(os.path.join(e["WORK"], name)) as f:
            return json.load(f)
    except Exception:
        return default
# magd's log: "2026-11-22T08:00:00.123Z info [bul] [mag mn=.. if=mn7] registered: ..."
stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z")
def times(pattern):
    out = []
    with open(os.path.join(e["WORK"], "magd.log"), errors="replace") as f:
        for line in f:
            if pattern in line:
                m = stamp.match(line)
                if m:
                    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                    ms = int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) - t0
                    if ms >= -1000:
                        out.append(ms)
    return out
ups, regs = times("access link up"), times("] registered: prefix")
# Per MN: from magd's "access link up" to its "registered" (log line contexts
# "[mag if=mnI]" and "[mag mn=.. if=mnI]").
iface = re.compile(r" if=(mn\d+)\]")
first_up, registered_at = {}, {}
with open(os.path.join(e["WORK"], "magd.log"), errors="replace") as f:
    for line in f:
        m, i = stamp.match(line), iface.search(line)
        if not m or not i:
            continue
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        ms = int(t.timestamp() * 1000) - t0
        if "access link up" in line:
            first_up.setdefault(i.group(1), ms)
        elif "] registered: prefix" in line:
            registered_at.setdefault(i.group(1), ms)
lat = sorted(registered_at[k] - first_up[k] for k in registered_at if k in first_up)
def pct(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None
def span(v):
    return {"count": len(v), "first_ms": min(v) if v else None, "last_ms": max(v) if v else None}
mc, lc = load("magd-counters.json", {}), load("lmad-counters.json", {})
eng = mc.get("engine", {})
mag_ms, lma_ms = num("MAG_MS"), num("LMA_MS")
rss0, rss1 = num("MAGD_RSS0"), num("MAGD_RSS1")
lrss0, lrss1 = num("LMAD_RSS0"), num("LMAD_RSS1")
states = {}
for m in load("mns.json", []):
    states[m.get("state")] = states.get(m.get("state"), 0) + 1
out = {
    "benchmark": "magd_scale",
    "mobile_nodes": n,
    "t0_utc": e["T0_UTC"],
    "log_level": e["LOG_LEVEL"],
    "multicast": e["MULTICAST"] == "1",
    "setup": {"create_veth_pairs_ms": num("CREATE_MS"), "magd_start_until_links_prepared_ms": num("MAGD_START_MS"),
              "total_setup_ms": num("SETUP_MS")},
    "ip_batch_links_up_ms": num("BATCH_MS"),
    "magd_all_registered_ms": mag_ms,
    "lmad_all_bindings_ms": lma_ms,
    "registered_at_magd": int(e["registered"]) if mag_ms is None else n,
    "bindings_at_lmad": int(e["active"]) if lma_ms is None else n,
    "magd_states_at_end": states,
    "polls": int(e["polls"]),
    "from_magd_log": {"access_link_up": span(ups), "registered": span(regs),
                      "link_up_to_registered_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                                                   "max": lat[-1] if lat else None},
                      "last_registered_after_last_link_up_ms": (max(regs) - max(ups)) if ups and regs else None},
    "target_ms": 2000,
    "target_met": mag_ms is not None and mag_ms <= 2000,
    "magd_rss_kib": {"before_links_up": rss0, "after_registration": rss1,
                     "growth": (rss1 - rss0) if rss0 and rss1 else None,
                     "total_per_mn": round(rss1 / n, 2) if rss1 else None,
                     "growth_per_mn": round((rss1 - rss0) / n, 2) if rss0 and rss1 else None},
    "lmad_rss_kib": {"before": lrss0, "after": lrss1,
                     "growth_per_mn": round((lrss1 - lrss0) / n, 2) if lrss0 and lrss1 else None},
    "cpu_s_during_measurement": {d: {"user": round((int(e[D + "1"].split()[0]) - int(e[D + "0"].split()[0])) / hz, 2),
                                     "system": round((int(e[D + "1"].split()[1]) - int(e[D + "0"].split()[1])) / hz, 2)}
                                 for d, D in (("magd", "MAGD_CPU"), ("lmad", "LMAD_CPU"))},
    "magd_counters": {k: eng.get(k) for k in ("attaches", "pbu_sent", "pbu_retransmitted", "pba_accepted",
                                              "pba_rejected", "pba_unmatched", "data_path_errors")},
    "magd_access_counters": mc.get("access", {}),
    "magd_socket_counters": mc.get("socket", {}),
    "lmad_counters": {k: lc.get("engine", lc).get(k) for k in ("pbu_received", "pbu_accepted", "pbu_rejected",
                                                               "pbu_ignored", "sessions_created")}
                     if isinstance(lc.get("engine", lc), dict) else lc,
    "raw_socket_drops": {"magd_mh": num("MAG_RAW_DROPS"), "lmad_mh": num("LMA_RAW_DROPS")},
    "mag_kernel": {"proto213_routes": num("MAG_ROUTES"), "ipv6_rules": num("MAG_RULES")},
    "tunnels": e["TUNNELS"],
    "uplink_routing": e["UPLINK_LOG"],
    "forwarding_64B_udp": {"downlink_lma_to_mn": json.loads(e["DOWN_JSON"]),
                           "uplink_mn_to_lma": json.loads(e["UP_JSON"])},
}
if e["FORWARD_ERROR"]:
    out["forwarding_64B_udp"]["error"] = e["FORWARD_ERROR"]
if mag_ms is None or lma_ms is None:
    out["error"] = "not all %d MNs registered within %s s" % (n, e["TIMEOUT_S"])
print(json.dumps(out, indent=2))
EOF
