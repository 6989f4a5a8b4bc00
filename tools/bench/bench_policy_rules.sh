#!/usr/bin/env bash
# bench_policy_rules.sh: what the kernel's policy rules cost a router that
# forwards, against source-specific routes (why magd's [binding]
# uplink-routing defaults to source routes; README "magd's forwarding state
# at scale"). Root. A benchmark, not a test.
#
#   bench_policy_rules.sh BUILD_DIR [N...]      (default N: 0 1000 5000)
#
# Three namespaces A - R - C on two veth pairs; R forwards 64-octet UDP from
# A (2001:db8:1::1) to C (2001:db8:2::1), blasted by udp_flood for 3 s and
# counted in C. For each N, R holds what a MAG with N MNs would hold:
#   rules:  N rules "from 2001:db8:8000:I::/64 lookup 100" (priority 1000)
#           and N rules "iif mnI lookup 99" (priority 1001): what magd
#           installed before session 24 (one rule per HNP, nothing per
#           tunnel), where a packet out of a tunnel passed every rule;
#   source: N routes "default from 2001:db8:8000:I::/64 dev r1 table 100"
#           behind one rule "lookup 100" (priority 1000), plus the same N iif
#           rules at priority 1001 and one rule "iif r0 lookup main" at 999
#           (magd's rule for a tunnel device, here the packet's input): what
#           magd installs now with uplink-routing = source-routes.
# The forwarded flow matches none of the per-MN objects (as a downlink
# packet), so with rules it passes all of them. An MN's uplink packet passes
# the rules before its own (bench_magd_scale.sh measures that with magd).
# Prints one JSON
# object: per N and mode, datagrams received per second, and how long adding
# the objects took (one `ip -batch`).
set -u
BUILD=${1:-build}
shift || true
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(0 1000 5000)
FLOOD=$BUILD/tools/bench/udp_flood
[[ $(id -u) -eq 0 ]] || { echo '{"error":"needs root"}'; exit 77; }
[[ -x $FLOOD ]] || { echo "{\"error\":\"build udp_flood in $BUILD first\"}"; exit 2; }
ID=$$
A=pbr-$ID-a R=pbr-$ID-r C=pbr-$ID-c
WORK=$(mktemp -d /tmp/pbr-$ID.XXXXXX)
RESULTS=$(mktemp /tmp/pbr-$ID.results.XXXXXX)
cleanup() { for ns in $A $R $C; do ip netns del "$ns" 2>/dev/null; done; rm -rf "$WORK"; }
trap 'cleanup; rm -f "$RESULTS"' EXIT
trap 'exit 130' INT TERM
now_ms() { local t=$EPOCHREALTIME; echo $((${t/./} / 1000)); }

setup() {  # fresh namespaces (run() is called in a subshell: WORK stays the same)
    for ns in $A $R $C; do ip netns del "$ns" 2>/dev/null; done
    for ns in $A $R $C; do ip netns add "$ns" && ip -n "$ns" link set lo up; done
    ip -n $A link add a0 type veth peer name r0 netns $R
    ip -n $C link add c0 type veth peer name r1 netns $R
    ip netns exec $R sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.route.max_size=4194304
    ip -n $A addr add 2001:db8:1::1/64 dev a0 nodad
    ip -n $R addr add 2001:db8:1::2/64 dev r0 nodad
    ip -n $C addr add 2001:db8:2::1/64 dev c0 nodad
    ip -n $R addr add 2001:db8:2::2/64 dev r1 nodad
    ip -n $A link set a0 up; ip -n $R link set r0 up; ip -n $R link set r1 up; ip -n $C link set c0 up
    ip -n $A -6 route add 2001:db8:2::/64 via 2001:db8:1::2
    ip -n $C -6 route add 2001:db8:1::/64 via 2001:db8:2::2
    ip -n $R -6 route add unreachable default table 99
}

run() {  # run MODE N -> "pps sent received add_ms rules routes"
    local mode=$1 n=$2 i
    setup
    {
        for ((i = 0; i < n; i++)); do
            if [[ $mode == rules ]]; then
                printf 'rule add from 2001:db8:8000:%x::/64 lookup 100 pref 1000\n' "$i"
            else
                printf 'route add default from 2001:db8:8000:%x::/64 dev r1 table 100\n' "$i"
            fi
        done
        for ((i = 0; i < n; i++)); do printf 'rule add iif mn%d lookup 99 pref 1001\n' "$i"; done
        if [[ $mode == source ]]; then
            echo "rule add lookup 100 pref 1000"
            echo "rule add iif r0 lookup main pref 999"
        fi
    } >"$WORK/batch"
    local t=$(now_ms)
    ip -n $R -6 -batch "$WORK/batch" >/dev/null 2>&1 || { echo "0 0 0 0 0 0"; return; }
    local add_ms=$(($(now_ms) - t))
    ip netns exec $A ping -6 -c1 -W2 2001:db8:2::1 >/dev/null 2>&1
    rm -f "$WORK/ready"
    ip netns exec $C "$FLOOD" recv --bind 2001:db8:2::1 --port 7400 --duration 8 --idle-ms 700 \
        --ready "$WORK/ready" >"$WORK/recv.json" &
    local receiver=$!
    for _ in $(seq 50); do [[ -e $WORK/ready ]] && break; sleep 0.1; done
    ip netns exec $A "$FLOOD" send --source 2001:db8:1::1 --dest 2001:db8:2::1 --port 7400 --size 64 \
        --duration 3 >"$WORK/send.json"
    wait "$receiver"
    python3 -c '
import json, sys
s, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(int(r["pps"]), s["sent"], r["received"], sys.argv[3], sys.argv[4], sys.argv[5])' \
        "$WORK/send.json" "$WORK/recv.json" "$add_ms" \
        "$(ip -n $R -6 rule show | wc -l)" "$(ip -n $R -6 route show table 100 2>/dev/null | wc -l)"
}

for n in "${SIZES[@]}"; do
    for mode in rules source; do
        echo "$n $mode $(run $mode "$n")"
    done
done >"$RESULTS"
python3 - "$RESULTS" <<'PY'
import json, sys
out = {"benchmark": "policy_rules_vs_source_routes", "packet": "64 B UDP, forwarded by one router",
       "points": []}
for line in open(sys.argv[1]):
    n, mode, pps, sent, received, add_ms, rules, routes = line.split()
    out["points"].append({"mns": int(n), "mode": mode, "forwarded_pps": int(pps), "sent": int(sent),
                          "received": int(received), "add_ms": int(add_ms), "kernel_rules": int(rules),
                          "routes_in_table_100": int(routes)})
print(json.dumps(out, indent=2))
PY
