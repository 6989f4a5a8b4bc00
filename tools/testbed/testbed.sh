#!/usr/bin/env bash
# The namespace testbed: the reference topology of DESIGN.md section 3 with
# the real daemons and the real Linux kernel as mobile nodes.
#
#   testbed.sh up NAME BUILD_DIR [MNS] [multicast] [twolmas] [auth] [ipsec] [direct] [sat] [peer]
#                                        build the topology, start lmad and two magd
#                                        (multicast: lmad anchors multicast, upstream l0;
#                                        twolmas: a second LMA, lma2, serves the last MN;
#                                        auth: signalling authenticated, [mags]/[lmas]
#                                        auth required, HMAC-SHA256, SPI 1000, one random
#                                        key per MAG in STATE/magN.key, mode 0600;
#                                        ipsec: the Mobility Header between each MAG and
#                                        the LMA in ESP transport mode, keyed by
#                                        strongSwan (IKEv2, PSK; one charon per node,
#                                        STATE/ipsec-NODE), SAs up before the daemons start;
#                                        needs a kernel with ESP and strongswan-charon;
#                                        direct: each MAG in proxy-direct mode, its
#                                        direct upstream d0 linked to a local
#                                        router lrN; ff0e::4d00:0/112 from any
#                                        source and ff3e::4d00:0/112 from
#                                        2001:db8:400::/56 joined there;
#                                        sat: lmad has a second upstream l9 to a
#                                        source "sat", upstream-channel
#                                        ff0e::5a00:0/112, matching
#                                        $PMIP_TESTBED_LMA_MATCHING, first or all;
#                                        peer: a link pe0 between mag1 and mag2,
#                                        each magd's RFC 7287 peering, its
#                                        upstream report wait
#                                        $PMIP_TESTBED_PEERING_WAIT_MS, default 25)
#   testbed.sh move NAME MN MAG          move MN's access link (1..MNS) to mag1|mag2:
#                                        break before make, the old port down then
#                                        the new one up in one `ip -batch` (~1 ms)
#   testbed.sh address NAME MN [SECS]    wait for MN's global address, print it
#   testbed.sh ctl NAME lma|lma2|mag1|mag2 PMIPCTL-ARGS...
#   testbed.sh exec NAME NODE CMD...     run CMD in cn|lma|mag1|mag2|mnN
#   testbed.sh down NAME                 stop the daemons, delete everything
#
#   NAME-cn      c0 2001:db8:200::2 (correspondent / content source)
#   NAME-lma     l0 2001:db8:200::1, lo 2001:db8:100::1 (LMAA),
#                l1 2001:db8:101::1, l2 2001:db8:102::1; lmad
#   NAME-mag1    u1 2001:db8:101::11; magd (Proxy-CoA 2001:db8:101::11)
#   NAME-mag2    u2 2001:db8:102::12; magd (Proxy-CoA 2001:db8:102::12)
#   NAME-mnN     eth0, MAC 02:00:00:00:00:NN: the MN's one interface, wired by
#                tc to two ports: p1 linked to device "mnN" at mag1, p2 to
#                device "mnN" at mag2; exactly one port is up (the MN's point
#                of attachment), the other MAG sees no carrier on its "mnN"
#   with twolmas:
#   NAME-lma2    lo 2001:db8:300::1 (LMAA 2), l3 2001:db8:111::1 -- u3 2001:db8:111::11
#                at mag1, s0 2001:db8:210::1; lmad (pool 2001:db8:9000::/36)
#   NAME-src2    c2 2001:db8:210::2 (content source behind lma2)
#   with sat:
#   NAME-sat     s9 2001:db8:500::2 -- l9 2001:db8:500::1 at lmad
#   with peer:   pe0 at mag1 -- pe0 at mag2 (link-local addresses only)
#   with direct:
#   NAME-lrN     r0 2001:db8:40N::2 -- d0 2001:db8:40N::1 at magN (a local
#                multicast router's link and source, N = 1, 2)
#
# Tunnels: [tunnel] backend = $PMIP_TESTBED_TUNNELS in every daemon (auto, ebpf,
# kernel or userspace; default userspace (TUN), so the testbed runs on
# kernels without ip6tnl/ip6gre). Multicast forwarding: [multicast] forwarding
# = $PMIP_TESTBED_FORWARDING in every daemon (auto, ebpf or kernel; default
# auto: ebpf where its program loads); the ebpf backend's unresolved queue:
# $PMIP_TESTBED_HOLD_PACKETS ([multicast] hold-packets in every daemon when
# set; unset: the key is not written, the daemons' default applies). Multicast context transfer (RFC 7161):
# $PMIP_TESTBED_SIAL = sial (default) or off, in every daemon ([multicast]
# context-transfer in magd, [sial] enabled in lmad). Tunnel devices kept
# after their last binding: $PMIP_TESTBED_TUNNEL_DELETE_DELAY_MS ([tunnel]
# delete-delay-ms in every daemon; default 0, the daemons' default). Tunnels
# made while the first PBU is out: $PMIP_TESTBED_PREPARE = yes (default, the
# daemon's) or no (magd [tunnel] prepare). draft-asaeda PBU-M:
# $PMIP_TESTBED_PBU_M = yes or no (default; [multicast] pbu-m in every
# daemon, with multicast). magd's [binding] uplink-routing:
# $PMIP_TESTBED_UPLINK_ROUTING = auto (default), source-routes or rules. lmad's SIAL alone: $PMIP_TESTBED_LMA_SIAL = sial or
# off (default: $PMIP_TESTBED_SIAL). The MAGs as each other's context peers
# (magd [multicast] context-peer, draft-asaeda Figure 6):
# $PMIP_TESTBED_CONTEXT_PEERS = yes or no (default). draft-asaeda's M-Tunnel
# ([multicast] m-tunnel in every daemon): $PMIP_TESTBED_M_TUNNEL = off
# (default), dynamic or static (lmad lists both MAGs as m-tunnel-mag).
# A one-way delay on each MAG-LMA link (a realistic core, e.g. 10-40 ms as
# in LTE/UMTS): $PMIP_TESTBED_LINK_DELAY_MS (default 0: a plain veth);
# then each link goes through a namespace NAME-wanN where pmip-delay-link
# (tools/testbed/delay_link.cpp; this kernel has no netem) delays every
# frame both ways (its counters go to STATE/delayN.json when it stops).
# draft-zhao's MAG as a plain MLD listener (magd [multicast] mode = listener
# in both): $PMIP_TESTBED_MAG_LISTENER = yes or no (default). A mode for one
# LMA's instance (magd [multicast] lma-mode in both):
# $PMIP_TESTBED_MAG_LMA_MODE = "LMA-ADDRESS MODE" (default none). State (configs, logs, control sockets, pids)
# lives in /run/pmip-testbed/NAME; `down` removes it and every namespace even
# when `up` failed half-way. Needs root.
set -u

STATE_ROOT=/run/pmip-testbed
source "$(dirname "${BASH_SOURCE[0]}")/mn_wiring.sh"
source "$(dirname "${BASH_SOURCE[0]}")/link_local.sh"

die() { echo "testbed: $*" >&2; exit 1; }
usage() { sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ns_of() {  # ns_of NAME NODE
    echo "$1-$2"
}

down() {
    local name=$1 dir=$STATE_ROOT/$1
    if [[ -d $dir ]]; then
        for pidfile in "$dir"/*.pid; do
            [[ -f $pidfile ]] || continue
            local pid
            pid=$(cat "$pidfile")
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null
        done
    fi
    for ns in $(testbed_namespaces "$name" "|mn[0-9]+"); do
        ip netns del "$ns"
    done
    rm -rf "$dir"
}

# daemon_failed NAME WHO: WHO's daemon did not answer. Prints the end of its
# log, keeps every daemon log of the testbed in KEPT_LOGS (they would go with
# the state directory), takes the testbed down and exits 1.
daemon_failed() {
    local name=$1 who=$2 dir=$STATE_ROOT/$1 label
    case $who in
        lma) label=lmad ;; lma2) label=lmad2 ;; mag1) label=magd1 ;; mag2) label=magd2 ;;
    esac
    local kept=${PMIP_TESTBED_KEPT_LOGS:-/tmp}/pmip-testbed-$name-logs
    mkdir -p "$kept" && cp "$dir"/*.log "$dir"/*.conf "$kept"/ 2>/dev/null
    echo "testbed: $who daemon did not start; the end of $label.log:" >&2
    tail -n 20 "$dir/$label.log" 2>/dev/null | sed 's/^/    /' >&2
    down "$name"
    die "$who daemon did not start (logs and configs kept in $kept)"
}

start_daemon() {  # start_daemon NAME NODE LABEL BINARY CONFIG
    local name=$1 node=$2 label=$3 binary=$4 config=$5 dir=$STATE_ROOT/$1
    ip netns exec "$name-$node" "$binary" --config "$config" >>"$dir/$label.log" 2>&1 &
    echo $! >"$dir/$label.pid"
}

ctl() {  # ctl NAME lma|mag1|mag2 ARGS...
    local name=$1 who=$2 dir=$STATE_ROOT/$1
    shift 2
    local build
    build=$(cat "$dir/build")
    local sock
    case $who in
        lma) sock=$dir/lmad.sock ;;
        lma2) sock=$dir/lmad2.sock ;;
        mag1) sock=$dir/magd1.sock ;;
        mag2) sock=$dir/magd2.sock ;;
        *) die "ctl: lma, lma2, mag1 or mag2, not \"$who\"" ;;
    esac
    "$build/tools/pmipctl/pmipctl" --socket "$sock" "$@"
}

# testbed_namespaces NAME [MORE]: the testbed's router and host namespaces
# (MORE: "|mn[0-9]+" for the mobile nodes' too).
testbed_namespaces() {
    ip netns list | awk '{print $1}' | grep -E "^$1-(cn|lma|lma2|src2|lr1|lr2|sat|wan1|wan2|mag1|mag2${2:-})$"
}


wait_for() {  # wait_for SECONDS COMMAND... (SECONDS x PMIP_TEST_TIME_SCALE)
    local deadline=$((SECONDS + $1 * ${PMIP_TEST_TIME_SCALE:-1}))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

up() {
    local name=$1 build=$2 mns=${3:-1} dir=$STATE_ROOT/$1
    local multicast="" twolmas="" auth="" ipsec="" direct="" sat="" peer="" forwarding=${PMIP_TESTBED_FORWARDING:-auto}
    local tunnels=${PMIP_TESTBED_TUNNELS:-userspace} sial=${PMIP_TESTBED_SIAL:-sial}
    [[ $sial =~ ^(sial|off)$ ]] || die "PMIP_TESTBED_SIAL: sial or off, not \"$sial\""
    local delete_delay=${PMIP_TESTBED_TUNNEL_DELETE_DELAY_MS:-0}
    local prepare=${PMIP_TESTBED_PREPARE:-yes}
    [[ $prepare =~ ^(yes|no)$ ]] || die "PMIP_TESTBED_PREPARE: yes or no, not \"$prepare\""
    local lma_sial=${PMIP_TESTBED_LMA_SIAL:-$sial}
    [[ $lma_sial =~ ^(sial|off)$ ]] || die "PMIP_TESTBED_LMA_SIAL: sial or off, not \"$lma_sial\""
    local peers=${PMIP_TESTBED_CONTEXT_PEERS:-no}
    [[ $peers =~ ^(yes|no)$ ]] || die "PMIP_TESTBED_CONTEXT_PEERS: yes or no, not \"$peers\""
    local m_tunnel=${PMIP_TESTBED_M_TUNNEL:-off}
    [[ $m_tunnel =~ ^(off|dynamic|static)$ ]] || die "PMIP_TESTBED_M_TUNNEL: off, dynamic or static, not \"$m_tunnel\""
    local link_delay=${PMIP_TESTBED_LINK_DELAY_MS:-0}
    [[ $link_delay =~ ^[0-9]+$ ]] || die "PMIP_TESTBED_LINK_DELAY_MS: milliseconds, not \"$link_delay\""
    if ((link_delay > 0)); then
        [[ -x $build/tools/testbed/pmip-delay-link ]] || die "no $build/tools/testbed/pmip-delay-link (build it)"
    fi
    local listener=${PMIP_TESTBED_MAG_LISTENER:-no}
    [[ $listener =~ ^(yes|no)$ ]] || die "PMIP_TESTBED_MAG_LISTENER: yes or no, not \"$listener\""
    local pbu_m=${PMIP_TESTBED_PBU_M:-no}
    local uplink=${PMIP_TESTBED_UPLINK_ROUTING:-auto}
    [[ $uplink =~ ^(auto|source-routes|rules)$ ]] ||
        die "PMIP_TESTBED_UPLINK_ROUTING: auto, source-routes or rules, not \"$uplink\""
    [[ $pbu_m =~ ^(yes|no)$ ]] || die "PMIP_TESTBED_PBU_M: yes or no, not \"$pbu_m\""
    [[ $delete_delay =~ ^[0-9]+$ ]] || die "PMIP_TESTBED_TUNNEL_DELETE_DELAY_MS: milliseconds, not \"$delete_delay\""
    [[ $forwarding =~ ^(auto|ebpf|kernel)$ ]] || die "PMIP_TESTBED_FORWARDING: auto, ebpf or kernel, not \"$forwarding\""
    local hold_line=""
    if [[ -n ${PMIP_TESTBED_HOLD_PACKETS:-} ]]; then
        [[ $PMIP_TESTBED_HOLD_PACKETS =~ ^[0-9]+$ ]] ||
            die "PMIP_TESTBED_HOLD_PACKETS: a number of packets, not \"$PMIP_TESTBED_HOLD_PACKETS\""
        hold_line="hold-packets = $PMIP_TESTBED_HOLD_PACKETS"$'\n'
    fi
    [[ $tunnels =~ ^(auto|kernel|userspace|ebpf)$ ]] || die "PMIP_TESTBED_TUNNELS: auto, kernel, userspace or ebpf, not \"$tunnels\""
    for option in "${@:4}"; do
        case $option in
            multicast) multicast=multicast ;;
            twolmas) twolmas=twolmas ;;
            auth) auth=auth ;;
            ipsec) ipsec=ipsec ;;
            direct) direct=direct ;;
            sat) sat=sat ;;
            peer) peer=peer ;;
            *) die "up: unknown option \"$option\" (multicast, twolmas, auth, ipsec, direct, sat, peer)" ;;
        esac
    done
    [[ -z $twolmas ]] || ((mns >= 2)) || die "twolmas needs MNS >= 2 (the last MN is lma2's)"
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN devices)"
    [[ -x $build/mag/magd && -x $build/lma/lmad && -x $build/tools/pmipctl/pmipctl ]] ||
        die "no magd/lmad/pmipctl under $build (build first: cmake --build $build)"
    [[ $tunnels == kernel || -c /dev/net/tun ]] || die "no /dev/net/tun (the userspace tunnel backend needs it)"
    ((mns >= 1 && mns <= 99)) || die "MNS must be 1..99"
    [[ -e $dir ]] && die "testbed $name exists (testbed.sh down $name)"
    mkdir -p "$dir"
    build=$(cd "$build" && pwd)
    echo "$build" >"$dir/build"
    echo "$mns" >"$dir/mns"
    local ns
    [[ -z $direct || -n $multicast ]] || die "direct needs multicast"
    [[ -z $sat || -n $multicast ]] || die "sat needs multicast"
    [[ -z $peer || -n $multicast ]] || die "peer needs multicast"
    local peering_wait=${PMIP_TESTBED_PEERING_WAIT_MS:-25}
    [[ $peering_wait =~ ^[0-9]+$ ]] || die "PMIP_TESTBED_PEERING_WAIT_MS: milliseconds, not \"$peering_wait\""
    [[ -z $direct || ${PMIP_TESTBED_MAG_LISTENER:-no} == no ]] || die "direct and PMIP_TESTBED_MAG_LISTENER=yes: one magd mode"
    local matching=${PMIP_TESTBED_LMA_MATCHING:-first}
    [[ $matching =~ ^(first|all)$ ]] || die "PMIP_TESTBED_LMA_MATCHING: first or all, not \"$matching\""
    for node in cn lma mag1 mag2 $(seq -f "mn%g" 1 "$mns") ${twolmas:+lma2 src2} ${direct:+lr1 lr2} ${sat:+sat} $( ((link_delay > 0)) && echo wan1 wan2); do
        ns=$name-$node
        ip netns add "$ns" || { down "$name"; die "cannot create namespace $ns"; }
        ip -n "$ns" link set lo up
    done
    local CN=$name-cn LMA=$name-lma M1=$name-mag1 M2=$name-mag2
    ip link add c0 netns "$CN" type veth peer name l0 netns "$LMA"
    if ((link_delay > 0)); then
        # lmad's lN -- xN [wanN: pmip-delay-link] yN -- magN's uN
        for i in 1 2; do
            local W=$name-wan$i
            ip link add l$i netns "$LMA" type veth peer name x$i netns "$W"
            ip link add y$i netns "$W" type veth peer name u$i netns "$name-mag$i"
            ip netns exec "$W" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
            ip -n "$W" link set x$i up
            ip -n "$W" link set y$i up
            ip netns exec "$W" "$build/tools/testbed/pmip-delay-link" --a x$i --b y$i \
                --delay-ms "$link_delay" --stats "$dir/delay$i.json" >"$dir/delay$i.log" 2>&1 &
            echo $! >"$dir/delay$i.pid"
        done
    else
        ip link add l1 netns "$LMA" type veth peer name u1 netns "$M1"
        ip link add l2 netns "$LMA" type veth peer name u2 netns "$M2"
    fi
    ip -n "$CN" -6 addr add 2001:db8:200::2/64 dev c0 nodad
    ip -n "$CN" link set c0 up
    ip -n "$CN" -6 route add default via 2001:db8:200::1
    ip -n "$LMA" -6 addr add 2001:db8:200::1/64 dev l0 nodad
    ip -n "$LMA" -6 addr add 2001:db8:100::1/128 dev lo
    ip -n "$LMA" -6 addr add 2001:db8:101::1/64 dev l1 nodad
    ip -n "$LMA" -6 addr add 2001:db8:102::1/64 dev l2 nodad
    for d in l0 l1 l2; do ip -n "$LMA" link set $d up; done
    ip netns exec "$LMA" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip -n "$M1" -6 addr add 2001:db8:101::11/64 dev u1 nodad
    ip -n "$M1" link set u1 up
    ip -n "$M1" -6 route add default via 2001:db8:101::1
    ip -n "$M2" -6 addr add 2001:db8:102::12/64 dev u2 nodad
    ip -n "$M2" link set u2 up
    ip -n "$M2" -6 route add default via 2001:db8:102::1

    if [[ -n $sat ]]; then
        ip link add l9 netns "$LMA" type veth peer name s9 netns "$name-sat"
        ip -n "$LMA" -6 addr add 2001:db8:500::1/64 dev l9 nodad
        ip -n "$name-sat" -6 addr add 2001:db8:500::2/64 dev s9 nodad
        ip -n "$LMA" link set l9 up
        ip -n "$name-sat" link set s9 up
    fi
    if [[ -n $direct ]]; then
        for i in 1 2; do
            ip link add d0 netns "$name-mag$i" type veth peer name r0 netns "$name-lr$i"
            ip -n "$name-mag$i" -6 addr add 2001:db8:40$i::1/64 dev d0 nodad
            ip -n "$name-lr$i" -6 addr add 2001:db8:40$i::2/64 dev r0 nodad
            ip -n "$name-mag$i" link set d0 up
            ip -n "$name-lr$i" link set r0 up
        done
    fi
    if [[ -n $peer ]]; then
        ip link add pe0 netns "$M1" type veth peer name pe0 netns "$M2"
        ip -n "$M1" link set pe0 up
        ip -n "$M2" link set pe0 up
    fi
    if [[ -n $twolmas ]]; then
        local L2=$name-lma2 S2=$name-src2
        ip link add l3 netns "$L2" type veth peer name u3 netns "$M1"
        ip link add c2 netns "$S2" type veth peer name s0 netns "$L2"
        ip -n "$L2" -6 addr add 2001:db8:300::1/128 dev lo
        ip -n "$L2" -6 addr add 2001:db8:111::1/64 dev l3 nodad
        ip -n "$L2" -6 addr add 2001:db8:210::1/64 dev s0 nodad
        ip -n "$L2" link set l3 up
        ip -n "$L2" link set s0 up
        ip -n "$L2" -6 route add 2001:db8:101::/64 via 2001:db8:111::11
        ip netns exec "$L2" sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n "$M1" -6 addr add 2001:db8:111::11/64 dev u3 nodad
        ip -n "$M1" link set u3 up
        ip -n "$M1" -6 route add 2001:db8:300::/64 via 2001:db8:111::1
        ip -n "$S2" -6 addr add 2001:db8:210::2/64 dev c2 nodad
        ip -n "$S2" link set c2 up
        ip -n "$S2" -6 route add default via 2001:db8:210::1
    fi

    local entries="" lma_entries="" lma2_entries=""
    for i in $(seq 1 "$mns"); do
        local mac
        mac=$(printf '02:00:00:00:00:%02x' "$i")
        # eth0 wired to p1 (to mag1) and p2 (to mag2); the MN starts at mag1.
        local MN=$name-mn$i
        mn_wire "$MN" "$mac" "$M1" "mn$i" "$(printf '02:00:00:00:01:%02x' "$i")" \
            "$M2" "mn$i" "$(printf '02:00:00:00:02:%02x' "$i")"
        ip -n "$MN" link set p1 up
        local lma_address=2001:db8:100::1
        if [[ -n $twolmas && $i -eq $mns ]]; then
            lma_address=2001:db8:300::1
            lma2_entries+="${lma2_entries:+,}{\"id\": \"mn$i@testbed.example\"}"
        else
            lma_entries+="${lma_entries:+,}{\"id\": \"mn$i@testbed.example\"}"
        fi
        entries+="${entries:+,}{\"mac\": \"$mac\", \"interface\": \"mn$i\", \"id\": \"mn$i@testbed.example\", \"lma\": \"$lma_address\", \"lifetime\": 400, \"multicast\": true}"
    done
    echo "{\"mobile_nodes\": [$entries]}" >"$dir/magd-policy.json"
    echo "{\"mobile_nodes\": [$lma_entries]}" >"$dir/lmad-policy.json"
    # MinDelayBeforeBCEDelete 1 s, not the RFC 5213 default of 10 s, so the
    # tests see "no binding left" soon after a detach. It equals a MAG's first
    # PBU retransmission: a registration racing a de-registration (PBA 157)
    # relies on magd answering the 157 with a fresh PBU at once.
    cat >"$dir/lmad.conf" <<EOF
[lma]
address = 2001:db8:100::1
[pools]
pool = 2001:db8:8000::/33 64
[binding]
max-lifetime = 400
min-delay-before-bce-delete-ms = 1000
[mags]
authorized = 2001:db8:100::/46
[policy]
store = $dir/lmad-policy.json
[tunnel]
backend = $tunnels
delete-delay-ms = $delete_delay
[control]
socket = $dir/lmad.sock
[state]
file = $dir/lmad.state
[sial]
enabled = $([[ $lma_sial == sial ]] && echo true || echo false)
EOF
    if [[ $multicast == multicast ]]; then
        printf '[multicast]\nenabled = true\nupstream = l0\nforwarding = %s\n%spbu-m = %s\nm-tunnel = %s\n' \
            "$forwarding" "$hold_line" "$pbu_m" "$m_tunnel" >>"$dir/lmad.conf"
        if [[ $m_tunnel == static ]]; then
            printf 'm-tunnel-mag = 2001:db8:101::11\nm-tunnel-mag = 2001:db8:102::12\n' >>"$dir/lmad.conf"
        fi
        if [[ -n $sat ]]; then
            printf 'upstream-channel = l9 ff0e::5a00:0/112\nupstream-matching = %s\n' "$matching" >>"$dir/lmad.conf"
        fi
    fi
    if [[ -n $auth ]]; then
        printf '[mags]\n' >>"$dir/lmad.conf"
        for i in 1 2; do
            (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/mag$i.key")
            printf 'auth = 2001:db8:10%s::1%s required 1000 hmac-sha256 %s\n' "$i" "$i" "$dir/mag$i.key" >>"$dir/lmad.conf"
        done
    fi
    for i in 1 2; do
        local addr=2001:db8:10$i::1$i
        cat >"$dir/magd$i.conf" <<EOF
[mag]
address = $addr
[access]
interface = mn*
[ra]
max-interval-s = 30
[policy]
store = $dir/magd-policy.json
[tunnel]
backend = $tunnels
delete-delay-ms = $delete_delay
prepare = $prepare
[control]
socket = $dir/magd$i.sock
[binding]
uplink-routing = $uplink
[multicast]
forwarding = $forwarding
${hold_line}context-transfer = $sial
pbu-m = $pbu_m
m-tunnel = $m_tunnel
EOF
        [[ $listener == no ]] || printf 'mode = listener\n' >>"$dir/magd$i.conf"
        [[ -z ${PMIP_TESTBED_MAG_LMA_MODE:-} ]] || printf 'lma-mode = %s\n' "$PMIP_TESTBED_MAG_LMA_MODE" >>"$dir/magd$i.conf"
        if [[ -n $direct ]]; then
            printf 'mode = proxy-direct\ndirect-upstream = d0\ndirect-channel = ff0e::4d00:0/112\n' >>"$dir/magd$i.conf"
            printf 'direct-channel = ff3e::4d00:0/112 2001:db8:400::/56\n' >>"$dir/magd$i.conf"
        fi
        [[ -z $peer ]] || printf 'peering = pe0 %s\n' "$peering_wait" >>"$dir/magd$i.conf"
        if [[ $peers == yes ]]; then
            printf 'context-peer = 2001:db8:101::11\ncontext-peer = 2001:db8:102::12\n' >>"$dir/magd$i.conf"
        fi
        if [[ -n $auth ]]; then
            printf '[lmas]\nauth = 2001:db8:100::1 required 1000 hmac-sha256 %s\n' "$dir/mag$i.key" >>"$dir/magd$i.conf"
        fi
    done
    if [[ -n $twolmas ]]; then
        echo "{\"mobile_nodes\": [$lma2_entries]}" >"$dir/lmad2-policy.json"
        cat >"$dir/lmad2.conf" <<EOF
[lma]
address = 2001:db8:300::1
[pools]
pool = 2001:db8:9000::/36 64
[binding]
max-lifetime = 400
min-delay-before-bce-delete-ms = 1000
[mags]
authorized = 2001:db8:101::11
[policy]
store = $dir/lmad2-policy.json
[tunnel]
backend = $tunnels
delete-delay-ms = $delete_delay
[control]
socket = $dir/lmad2.sock
[state]
file = $dir/lmad2.state
EOF
        if [[ $multicast == multicast ]]; then
            printf '[multicast]\nenabled = true\nupstream = s0\nforwarding = %s\n%sm-tunnel = %s\n' \
                "$forwarding" "$hold_line" "$m_tunnel" >>"$dir/lmad2.conf"
            [[ $m_tunnel != static ]] || printf 'm-tunnel-mag = 2001:db8:101::11\n' >>"$dir/lmad2.conf"
        fi
        start_daemon "$name" lma2 lmad2 "$build/lma/lmad" "$dir/lmad2.conf"
    fi
    if [[ -n $ipsec ]]; then
        if ! ipsec_up "$name"; then
            local kept=${PMIP_TESTBED_KEPT_LOGS:-/tmp}/pmip-testbed-$name-logs
            mkdir -p "$kept" && cp -r "$dir"/ipsec-* "$kept"/ 2>/dev/null
            down "$name"
            die "IPsec (strongSwan) did not come up (charon and swanctl logs kept in $kept)"
        fi
    fi
    start_daemon "$name" lma lmad "$build/lma/lmad" "$dir/lmad.conf"
    start_daemon "$name" mag1 magd1 "$build/mag/magd" "$dir/magd1.conf"
    start_daemon "$name" mag2 magd2 "$build/mag/magd" "$dir/magd2.conf"
    for who in lma mag1 mag2 ${twolmas:+lma2}; do
        wait_for 10 ctl "$name" "$who" show counters || daemon_failed "$name" "$who"
    done
    for i in $(seq 1 "$mns"); do
        ip -n "$M2" link set "mn$i" up  # no carrier: the MN's p2 is down
        ip -n "$M1" link set "mn$i" up
    done
    # The testbed is up when its routers' and hosts' links are usable (see
    # link_local.sh; not the MNs': their kernels solicit on their own); the
    # MNs attach meanwhile.
    local routers
    mapfile -t routers < <(testbed_namespaces "$name")
    if ! wait_for 10 links_settled "${routers[@]}"; then
        local left
        left=$(links_in_dad "${routers[@]}" | tr '\n' ';')
        down "$name"
        die "no usable link-local address (still in DAD?) after $((10 * ${PMIP_TEST_TIME_SCALE:-1})) s on: $left"
    fi
}

# --- IPsec for the Mobility Header (RFC 5213 section 4: "SHOULD use IPsec") ---
# One charon per node, in the node's namespace and a mount namespace of its
# own in which STATE/ipsec-NODE is /run (charon's pid file and VICI socket
# are fixed paths under /run); swanctl talks to it over
# STATE/ipsec-NODE/charon.vici. Transport mode, traffic selectors
# dynamic[135]: only Mobility Header packets between the MAG's and the LMA's
# addresses are protected, and plaintext ones matching them are dropped by
# the kernel (the inbound policy). start_action = trap on both sides; the
# MAGs initiate before the daemons start.
IPSEC_PEERS=("mag1 2001:db8:101::11" "mag2 2001:db8:102::12")
ipsec_conf() {  # ipsec_conf DIR: strongswan.conf for a charon whose /run is DIR
    cat >"$1/strongswan.conf" <<EOF
charon {
    load = random nonce aes sha1 sha2 hmac kdf gmp kernel-netlink socket-default vici
    install_routes = no
    install_virtual_ip = no
    plugins {
        vici { socket = unix:///run/charon.vici }
    }
    filelog {
        log { path = /run/charon.log
              default = 1
              ike = 1
              knl = 1
              flush_line = yes }
    }
}
EOF
}
ipsec_connection() {  # ipsec_connection NAME LOCAL REMOTE START_ACTION
    cat <<EOF
    $1 {
        version = 2
        local_addrs = $2
        remote_addrs = $3
        proposals = aes128-sha256-modp2048
        # No MOBIKE: the SAs stay between the Proxy-CoA and the LMAA (a roam
        # would move a transport SA to another address of the LMA when the
        # daemons' tunnels change the routes).
        mobike = no
        local { auth = psk
                id = $2 }
        remote { auth = psk
                 id = $3 }
        children {
            mh-$1 {
                mode = transport
                local_ts = dynamic[135]
                remote_ts = dynamic[135]
                esp_proposals = aes128-sha256
                start_action = $4
            }
        }
    }
EOF
}
ipsec_up() {  # ipsec_up NAME: charon in lma, mag1, mag2; SAs established
    local name=$1 dir=$STATE_ROOT/$1 node psk peer who addr
    [[ -x /usr/lib/ipsec/charon && -x /usr/sbin/swanctl ]] ||
        { echo "testbed: ipsec needs strongswan-charon and strongswan-swanctl (tools/setup.sh)" >&2; return 1; }
    psk=0x$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    for node in lma mag1 mag2; do
        mkdir -p "$dir/ipsec-$node"
        chmod 700 "$dir/ipsec-$node"
        ipsec_conf "$dir/ipsec-$node"
    done
    {
        echo "connections {"
        for peer in "${IPSEC_PEERS[@]}"; do
            read -r who addr <<<"$peer"
            ipsec_connection "$who" 2001:db8:100::1 "$addr" trap
        done
        echo "}"
        echo "secrets {"
        for peer in "${IPSEC_PEERS[@]}"; do
            read -r who addr <<<"$peer"
            printf '    ike-%s { id-1 = 2001:db8:100::1\n        id-2 = %s\n        secret = %s }\n' "$who" "$addr" "$psk"
        done
        echo "}"
    } >"$dir/ipsec-lma/swanctl.conf"
    for peer in "${IPSEC_PEERS[@]}"; do
        read -r who addr <<<"$peer"
        {
            echo "connections {"
            ipsec_connection lma "$addr" 2001:db8:100::1 trap
            echo "}"
            printf 'secrets {\n    ike-lma { id-1 = %s\n        id-2 = 2001:db8:100::1\n        secret = %s }\n}\n' "$addr" "$psk"
        } >"$dir/ipsec-$who/swanctl.conf"
    done
    for node in lma mag1 mag2; do
        ip netns exec "$name-$node" sh -c "mount --bind '$dir/ipsec-$node' /run &&
            STRONGSWAN_CONF=/run/strongswan.conf exec /usr/lib/ipsec/charon" >>"$dir/ipsec-$node/stderr.log" 2>&1 &
        echo $! >"$dir/charon-$node.pid"
    done
    for node in lma mag1 mag2; do
        wait_for 10 test -S "$dir/ipsec-$node/charon.vici" ||
            { echo "testbed: charon in $node did not start:" >&2; tail -5 "$dir/ipsec-$node/stderr.log" "$dir/ipsec-$node/charon.log" >&2 2>/dev/null; return 1; }
        swanctl --load-all --file "$dir/ipsec-$node/swanctl.conf" --uri "unix://$dir/ipsec-$node/charon.vici" \
            >>"$dir/ipsec-$node/swanctl.log" 2>&1 ||
            { echo "testbed: swanctl --load-all failed in $node:" >&2; tail -5 "$dir/ipsec-$node/swanctl.log" >&2; return 1; }
    done
    for who in mag1 mag2; do
        swanctl --initiate --child mh-lma --uri "unix://$dir/ipsec-$who/charon.vici" --timeout $((20 * ${PMIP_TEST_TIME_SCALE:-1})) \
            >>"$dir/ipsec-$who/swanctl.log" 2>&1 ||
            { echo "testbed: IKE from $who to the LMA failed:" >&2; tail -8 "$dir/ipsec-$who/swanctl.log" "$dir/ipsec-$who/charon.log" >&2 2>/dev/null; return 1; }
    done
}

move() {  # move NAME MN mag1|mag2
    local name=$1 mn=$2 to=$3
    [[ $to == mag1 || $to == mag2 ]] || die "move: mag1 or mag2, not \"$to\""
    local from=p1 port=p2
    [[ $to == mag1 ]] && from=p2 port=p1
    ip -n "$name-mn$mn" link show "$port" >/dev/null 2>&1 || die "move: no mobile node mn$mn in testbed $name"
    ip -n "$name-mn$mn" -o link show "$from" | grep -q '[<,]UP[,>]' || die "move: mn$mn is not at $([[ $to == mag1 ]] && echo mag2 || echo mag1)"
    printf 'link set %s down\nlink set %s up\n' "$from" "$port" | ip -n "$name-mn$mn" -batch -
}

address() {  # address NAME MN [SECONDS]: a usable (not tentative) HNP address
    local name=$1 mn=$2 secs=${3:-15}
    local deadline=$((SECONDS + secs * ${PMIP_TEST_TIME_SCALE:-1})) a
    while :; do
        a=$(ip -n "$name-mn$mn" -6 -o addr show dev eth0 scope global | grep -v tentative |
            awk '$4 ~ /^2001:db8:[89]/ {sub("/.*", "", $4); print $4; exit}')
        [[ -n $a ]] && { echo "$a"; return 0; }
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

[[ $# -ge 2 ]] || usage
command=$1
shift
case $command in
    up) [[ $# -ge 2 ]] || usage; up "$@" ;;
    down) down "$1" ;;
    move) [[ $# -eq 3 ]] || usage; move "$@" ;;
    address) address "$@" ;;
    ctl) ctl "$@" ;;
    exec) name=$1 node=$2; shift 2; ip netns exec "$name-$node" "$@" ;;
    *) usage ;;
esac
