# shellcheck shell=bash disable=SC2034  # (sourced; its variables are for the scripts)
# What the namespace test scripts (tests/netns/test_*.sh) share. Sourced
# right after `set -u`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Results    check WHAT COMMAND...: runs COMMAND, prints "ok - WHAT" or
#            "FAIL - WHAT" (counted in FAILURES) and returns 0 or 1 accordingly;
#            pass / fail WHAT by hand; finish: the summary line, then exit 1 if
#            a check failed, else 0.
# Skips      skip REASON: "SKIPPED: REASON", exit 77; need_root [WHY];
#            need_tools TOOL...; need_tun; need_ip6mr (IPv6 multicast routing:
#            MRT6_VERSION on a raw ICMPv6 socket); ip6mr_missing: the reason
#            on stdout and status 0 when the kernel has no ip6mr, else 1;
#            need_kernel_tunnels / kernel_tunnels_missing: the same for ip6tnl
#            and ip6gre devices.
# Polling    wait_until SECONDS COMMAND...: COMMAND every 0.1 s until it
#            succeeds, once more at the deadline; COMMAND's last status.
#            Deadlines are multiplied by PMIP_TEST_TIME_SCALE (default 1).
# Processes  PIDS: background jobs, SIGTERMed and reaped on exit (add with
#            PIDS+=($!)); forget_pid PID; stop_pid PID [SIGNAL]: signal (TERM),
#            reap, forget; returns the job's exit status.
# Clean-up   netns_test_begin PREFIX: WORK=/tmp/PREFIX-$$.XXXXXX, and on EXIT
#            (TERM, INT and HUP exit 1): cleanup_hook if the script defines one,
#            stop PIDS, show the last FAIL_LOG_LINES (40) lines of each file of
#            FAIL_LOGS (globs) when a check failed, take the testbed down, delete
#            NAMESPACES, remove WORK (kept with KEEP_WORK=1).
#            reap_stale_namespaces PREFIX SUFFIXES: deletes PREFIX-PID-SUFFIX
#            namespaces of earlier runs killed before their clean-up.
# Testbed    TB: tools/testbed/testbed.sh; METER: BUILD_DIR's pmip-handover-meter (set by testbed_up);
#            testbed_test_begin PREFIX: need_root, need_tun, netns_test_begin
#            PREFIX and NAME=PREFIX$$, the testbed's name;
#            testbed_up NAME BUILD_DIR ARGS...: `testbed.sh up` (its status),
#            skipped (77) where namespaces cannot be created, taken down on
#            exit, its daemons' logs shown when a check failed; TB_STATE: its
#            state directory (configs, logs, sockets, pids);
#            q WHO "PMIPCTL-ARGS" EXPR: prints the Python expression EXPR over
#            `d`, the answer of WHO's `pmipctl --json PMIPCTL-ARGS`;
#            gre_key_profiles GROUP SOURCE: both stores' MNs to keyed GRE
#            tunnels, with the channel in magd's profiles (files only);
#            count_arrivals N GROUP, mn_flowing N: a counter of GROUP's
#            packets at mnN, and whether they still arrive.
# Namespaces add_namespaces [--forwarding] NS...: made, lo up, DAD off,
#            forwarding on when asked.
# Also       in_ns NS COMMAND... (not for a background job whose PID is to
#            be signalled: a function runs in a subshell); PY (Debian's
#            /usr/bin/python3 where there is one).

NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETNS_ROOT=$(cd "$NETNS_DIR/../.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || echo python3)

# ------------------------------------------------------------------ results
FAILURES=0
pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*"
    FAILURES=$((FAILURES + 1))
}
check() {  # check WHAT COMMAND...: COMMAND's success or failure
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; return 1; fi
}
finish() {
    if ((FAILURES > 0)); then
        echo "$FAILURES check(s) failed"
        exit 1
    fi
    echo "all checks passed"
    exit 0
}

# ------------------------------------------------------------------ skips
skip() {
    echo "SKIPPED: $*"
    exit 77
}
need_root() { [[ $(id -u) -eq 0 ]] || skip "needs root${1:+ ($1)}"; }
need_tools() {
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
}
need_tun() { [[ -c /dev/net/tun ]] || skip "no /dev/net/tun (userspace tunnel backend)"; }
ip6mr_missing() {
    "$PY" - <<'EOF' 2>/dev/null
import errno, socket, sys
try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.getsockopt(socket.IPPROTO_IPV6, 206, 4)  # MRT6_VERSION
except OSError as e:
    if e.errno == errno.ENOPROTOOPT:
        print("kernel without IPv6 multicast routing (CONFIG_IPV6_MROUTE): MRT6_VERSION: "
              + e.strerror)
        sys.exit(0)
    print("cannot probe IPv6 multicast routing: " + str(e))
    sys.exit(0)
sys.exit(1)
EOF
}
need_ip6mr() {
    local reason
    reason=$(ip6mr_missing) && skip "$reason"
    return 0
}
# kernel_tunnels_missing: the reason on stdout and status 0 when this kernel
# cannot create ip6tnl and ip6gre devices (probed in a throw-away namespace).
kernel_tunnels_missing() {
    local ns=pmprobe-$$-$RANDOM kind out
    ip netns add "$ns" 2>/dev/null || { echo "cannot create a namespace to probe tunnel devices"; return 0; }
    for kind in ip6tnl ip6gre; do
        if ! out=$(ip -n "$ns" link add pmprobe0 type $kind local fd00::1 remote fd00::2 2>&1); then
            ip netns del "$ns"
            echo "kernel cannot create $kind devices (ip6_tunnel/ip6_gre): ${out:-unknown error}"
            return 0
        fi
        ip -n "$ns" link del pmprobe0
    done
    ip netns del "$ns"
    return 1
}
# need_esp: skips, naming the reason, when this kernel cannot hold an IPv6
# ESP transport-mode SA (no esp6/xfrm: the tests of IPsec run in the VM).
need_esp() {
    local ns=pmprobe-$$-$RANDOM out
    ip netns add "$ns" 2>/dev/null || skip "cannot create a namespace to probe ESP"
    out=$(ip -n "$ns" xfrm state add src fd00::1 dst fd00::2 proto esp spi 0x100 mode transport \
        enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff \
        auth-trunc 'hmac(sha256)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 128 2>&1)
    local rc=$?
    ip netns del "$ns"
    ((rc == 0)) || skip "this kernel cannot hold an IPv6 ESP SA (esp6/xfrm6: ${out:-unknown error})"
}
need_kernel_tunnels() {
    local reason
    reason=$(kernel_tunnels_missing) && skip "$reason"
    return 0
}

# ------------------------------------------------------------------ polling
# PMIP_TEST_TIME_SCALE (an integer, default 1) multiplies every wait_until
# deadline: the stock-kernel VM (tools/vm, TCG) runs code 15-25x slower, so
# its tests check function with relaxed timing bounds and say so.
TIME_SCALE=${PMIP_TEST_TIME_SCALE:-1}
[[ $TIME_SCALE =~ ^[1-9][0-9]*$ ]] || TIME_SCALE=1
((TIME_SCALE == 1)) || echo "# timing bounds relaxed x$TIME_SCALE (PMIP_TEST_TIME_SCALE; functional checks only)"
no_links_like() {  # no_links_like NS REGEX: no link of NS named REGEX...; fails when ip itself does
    local links
    links=$(ip -n "$1" -o link show) || return 1
    ! grep -Eq ": $2" <<<"$links"
}
wait_until() {  # wait_until SECONDS COMMAND...
    local deadline=$((SECONDS + $1 * TIME_SCALE))
    shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

# ------------------------------------------------------------------ processes
PIDS=()
forget_pid() {
    local keep=() pid
    for pid in "${PIDS[@]}"; do [[ $pid != "$1" ]] && keep+=("$pid"); done
    PIDS=("${keep[@]}")
}
stop_pid() {  # stop_pid PID [SIGNAL]
    local rc
    kill -"${2:-TERM}" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    rc=$?
    forget_pid "$1"
    return $rc
}
# add_namespaces [--forwarding] NS...: each namespace made (a failure is a
# FAIL and exit 1), lo up, DAD off, IPv6 forwarding on with --forwarding.
add_namespaces() {
    local forwarding=0 ns
    [[ ${1:-} == --forwarding ]] && { forwarding=1; shift; }
    for ns in "$@"; do
        ip netns add "$ns" || { echo "FAIL - creating namespace $ns"; exit 1; }
        ip -n "$ns" link set lo up
        in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ((forwarding)) && in_ns "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
    done
    return 0
}
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# tcp_transfer FROM_NS SOURCE TO_NS DESTINATION PORT OCTETS: one TCP
# connection SOURCE -> DESTINATION:PORT carrying OCTETS of
# tests/netns/tunnel_traffic.py's pattern in 64 KiB writes (so the sender's
# stack makes GSO packets); sets TCP_GOT, TCP_INTACT (1: every octet the
# pattern's, in order) and TCP_SECONDS from the receiver ("0 0 -" when it
# printed nothing).
TCP_GOT=0 TCP_INTACT=0 TCP_SECONDS=-
tcp_transfer() {
    local from_ns=$1 source=$2 to_ns=$3 destination=$4 port=$5 octets=$6
    local ready=$WORK/tcp-ready-$port out=$WORK/tcp-out-$port
    rm -f "$ready" "$out"
    ip netns exec "$to_ns" "$PY" "$NETNS_DIR/tunnel_traffic.py" tcp-recv --bind "$destination" \
        --port "$port" --expect "$octets" --ready "$ready" --timeout 20 >"$out" &
    local receiver=$!
    PIDS+=("$receiver")
    wait_until 10 test -e "$ready"
    in_ns "$from_ns" "$PY" "$NETNS_DIR/tunnel_traffic.py" tcp-send --source "$source" \
        --dest "$destination" --port "$port" --octets "$octets"
    wait "$receiver"
    forget_pid "$receiver"
    TCP_GOT=0 TCP_INTACT=0 TCP_SECONDS=-
    read -r TCP_GOT TCP_INTACT TCP_SECONDS <"$out" 2>/dev/null
    TCP_GOT=${TCP_GOT:-0} TCP_INTACT=${TCP_INTACT:-0} TCP_SECONDS=${TCP_SECONDS:--}
}

# ------------------------------------------------------------------ clean-up
WORK=
NAMESPACES=()
FAIL_LOGS=()
FAIL_LOG_LINES=40
TESTBED=
netns_test_begin() {  # netns_test_begin PREFIX
    WORK=$(mktemp -d "/tmp/$1-$$.XXXXXX")
    trap netns_cleanup EXIT
    trap 'exit 1' TERM INT HUP
}
netns_cleanup() {
    local pid ns pattern f
    declare -F cleanup_hook >/dev/null && cleanup_hook
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if ((FAILURES > 0)); then
        for pattern in "${FAIL_LOGS[@]}"; do
            for f in $pattern; do
                [[ -f $f ]] || continue
                echo "--- $f (last $FAIL_LOG_LINES lines) ---"
                tail -n "$FAIL_LOG_LINES" "$f"
            done
        done
    fi
    [[ -n $TESTBED ]] && $TB down "$TESTBED" 2>/dev/null
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [[ -n ${KEEP_WORK:-} ]]; then
        echo "# kept $WORK"
    elif [[ -n $WORK ]]; then
        rm -rf "$WORK"
    fi
}
# Named after a PID that no longer runs and holding no process; nothing else
# is touched.
reap_stale_namespaces() {  # reap_stale_namespaces PREFIX 'SUFFIX|SUFFIX...'
    local ns pid
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$1-[0-9]+-($2)\$"); do
        pid=${ns#"$1"-}
        pid=${pid%%-*}
        if ! kill -0 "$pid" 2>/dev/null && [[ -z $(ip netns pids "$ns" 2>/dev/null) ]]; then
            ip netns del "$ns" 2>/dev/null
        fi
    done
}

# ------------------------------------------------------------------ testbed
TB="bash $NETNS_ROOT/tools/testbed/testbed.sh"
METER=  # set by testbed_up: BUILD_DIR/tools/testbed/pmip-handover-meter
TB_STATE=
testbed_test_begin() {  # testbed_test_begin PREFIX: sets NAME=PREFIX$$
    need_root "network namespaces, TUN devices"
    need_tun
    netns_test_begin "$1"
    NAME=$1$$
}
testbed_up() {  # testbed_up NAME BUILD_DIR [MNS] [OPTIONS...]
    local name=$1
    METER=$2/tools/testbed/pmip-handover-meter
    [[ -x $METER ]] || { fail "no $METER (build pmip-handover-meter)"; finish; }
    ip netns add "$name-probe" 2>/dev/null || skip "cannot create network namespaces"
    ip netns del "$name-probe"
    TESTBED=$name
    TB_STATE=/run/pmip-testbed/$name
    FAIL_LOGS+=("$TB_STATE/*.log")
    $TB up "$@"
}
# Tunnel backends of the testbed's daemons (PMIP_TESTBED_TUNNELS: userspace
# by default, kernel or auto). need_testbed_mechanisms skips, naming the
# reason, when the kernel lacks what PMIP_TESTBED_TUNNELS=kernel,
# PMIP_TEST_NEEDS_KERNEL_TUNNELS=1 or PMIP_TESTBED_FORWARDING=kernel (ip6mr)
# ask for; check_tunnel_backend WHO...: each daemon's `show tunnels` reports
# the backend the setting must give: kernel for kernel, userspace for
# userspace, ebpf for ebpf, and for auto kernel where this kernel has
# ip6tnl/ip6gre, else ebpf.
need_testbed_mechanisms() {
    if [[ ${PMIP_TESTBED_TUNNELS:-userspace} == kernel || ${PMIP_TEST_NEEDS_KERNEL_TUNNELS:-0} == 1 ]]; then
        need_kernel_tunnels
    fi
    [[ ${PMIP_TESTBED_FORWARDING:-auto} == kernel ]] && need_ip6mr
    if [[ ${PMIP_TESTBED_TUNNELS:-userspace} == ebpf && -x ${BUILD:-}/tests/tunnel_harness ]]; then
        local reason
        reason=$("$BUILD/tests/tunnel_harness" --ebpf-reason 2>&1) || skip "ebpf tunnel backend unavailable here: $reason"
    fi
    return 0
}
expected_tunnel_backend() {
    case ${PMIP_TESTBED_TUNNELS:-userspace} in
        kernel) echo kernel ;;
        userspace) echo userspace ;;
        ebpf) echo ebpf ;;
        # Without ip6tnl/ip6gre, auto takes ebpf (these kernels have tc/BPF).
        auto) if kernel_tunnels_missing >/dev/null; then echo ebpf; else echo kernel; fi ;;
    esac
}
check_tunnel_backend() {  # check_tunnel_backend WHO...
    local who want got
    want=$(expected_tunnel_backend)
    for who in "$@"; do
        got=$(q "$who" "show tunnels" "','.join(sorted({t['backend'] for t in d}))")
        check "$who: tunnels on the $want backend (PMIP_TESTBED_TUNNELS=${PMIP_TESTBED_TUNNELS:-userspace}; got ${got:-none})" \
            test "$got" = "$want"
    done
}
# start_capture NS IFACE FILE FILTER: dumpcap in namespace NS on IFACE into
# FILE (its own messages in FILE.log); CAP is its PID (stop it with
# `stop_pid $CAP INT` before reading FILE). Succeeds once it captures (10 s
# at most, scaled).
start_capture() {
    ip netns exec "$1" dumpcap -q -i "$2" -f "$4" -w "$3" >"$3.log" 2>&1 &
    CAP=$!
    PIDS+=($CAP)
    wait_until 10 grep -q "Capturing on" "$3.log"
}
# gre_key_profiles GROUP SOURCE: every MN in the testbed's two stores gets
# "tunnel": "gre-key" (lmad's store decides the kind, magd's asks for it)
# and, in magd's, the channel (SOURCE, GROUP) as its "multicast_channels".
# Only the files: reloading the daemons is the caller's.
gre_key_profiles() {
    "$PY" - "$TB_STATE/lmad-policy.json" "$TB_STATE/magd-policy.json" "$1" "$2" <<'PY_END'
import json, sys
lma, mag, group, source = sys.argv[1:]
for path, with_channel in ((lma, False), (mag, True)):
    p = json.load(open(path))
    for e in p["mobile_nodes"]:
        e["tunnel"] = "gre-key"
        if with_channel:
            e["multicast_channels"] = [{"group": group, "sources": [source]}]
    json.dump(p, open(path, "w"))
PY_END
}
# count_arrivals N GROUP: an nftables counter in mnN's namespace of the
# packets to GROUP it receives (table ip6 arrivals); mn_flowing N: more
# arrived in the next 0.5 s.
count_arrivals() {
    ip netns exec "$TESTBED-mn$1" nft -f - <<NFT
table ip6 arrivals {
    chain pre {
        type filter hook prerouting priority 0;
        ip6 daddr $2 counter
    }
}
NFT
}
mn_arrived() { ip netns exec "$TESTBED-mn$1" nft list chain ip6 arrivals pre | grep -o 'packets [0-9]*' | awk '{print $2}'; }
# count_flows N SOURCE GROUP [SOURCE GROUP...]: nftables counters in mnN's
# namespace of the packets from SOURCE to GROUP it receives (table ip6
# flows); flow_arrived N SOURCE GROUP: that count; flow_flowing N SOURCE
# GROUP: more arrived in the next 0.5 s; flow_stopped N SOURCE GROUP: none
# in the next second.
count_flows() {
    local n=$1 rules=""
    shift
    while (($# >= 2)); do
        rules+="        ip6 saddr $1 ip6 daddr $2 counter"$'\n'
        shift 2
    done
    ip netns exec "$TESTBED-mn$n" nft -f - <<NFT
table ip6 flows {
    chain pre {
        type filter hook prerouting priority 0;
$rules    }
}
NFT
}
flow_arrived() {
    ip netns exec "$TESTBED-mn$1" nft list chain ip6 flows pre | grep "saddr $2 ip6 daddr $3 " | grep -o 'packets [0-9]*' | awk '{print $2}'
}
flow_flowing() { local a b; a=$(flow_arrived "$@"); sleep 0.5; b=$(flow_arrived "$@"); ((b > a)); }
flow_stopped() { local a b; a=$(flow_arrived "$@"); sleep 1; b=$(flow_arrived "$@"); ((b == a)); }
mn_flowing() { local a b; a=$(mn_arrived "$1"); sleep 0.5; b=$(mn_arrived "$1"); ((b > a)); }
q() {  # q WHO "PMIPCTL-ARGS" EXPR
    $TB ctl "$TESTBED" "$1" --json $2 2>/dev/null |
        "$PY" -c "import json,sys; d=json.load(sys.stdin); print($3)"
}
