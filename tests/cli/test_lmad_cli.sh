#!/usr/bin/env bash
# lmad and pmipctl command lines without root: --help, --check of the example
# configuration (conf/lmad.conf + conf/lmad-policy.json) and of a broken one
# (every problem as FILE:LINE: key: problem, exit 1), usage errors (exit 2),
# pmipctl connection errors naming the socket (exit 2).
#
#   test_lmad_cli.sh PATH/lmad PATH/pmipctl CONF_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LMAD=${1:?usage: test_lmad_cli.sh PATH/lmad PATH/pmipctl CONF_DIR}
PMIPCTL=${2:?}
CONF=${3:?}
cli_test_begin /tmp/lmad-cli.XXXXXX

check "lmad --help exits 0 with the manual" bash -c "'$LMAD' --help | grep -q '^EXIT STATUS'"
check "lmad with an unknown option exits 2" status 2 "$LMAD" --no-such-option
check "example conf/lmad.conf passes --check" \
    status 0 "$LMAD" --config "$CONF/lmad.conf" --check --policy.store "$CONF/lmad-policy.json" \
    --control.socket "$WORK/lmad.sock" --state.file "$WORK/lmad.state"

cat >"$WORK/bad.conf" <<CONF
[lma]
address = 2001:db8::1
[pools]
pool = 2001:db8:8000::/33 64
pool = 2001:db8:8000::/48 64
[binding]
max-lifetime = 999999
[heartbeat]
on-peer-failure = panic
[policy]
store = $WORK/policy.json
CONF
echo '{"mobile_nodes": [{"id": "a", "prefixes": ["nope"]}]}' >"$WORK/policy.json"
check "--check names the multicast forwarding backend (or says it was not probed)" \
    grep -Eq "^multicast(: disabled| forwarding: ((ebpf|kernel) \(|auto \(not probed))" "$WORK/out"
check "--check names the tunnel backend (or says it was not probed)" \
    grep -Eq "^tunnels: ((kernel|ebpf|userspace) \\((auto|configured|kernel)|auto \\(not probed)" "$WORK/out"
# Where auto found no ip6tnl/ip6gre, backend = kernel must fail --check, naming why.
if grep -Eq "^tunnels: (ebpf|userspace) \(auto: kernel tunnel backend unavailable" "$WORK/out"; then
    check "tunnel.backend kernel fails --check on a kernel without ip6tnl/ip6gre" \
        status 1 "$LMAD" --config "$CONF/lmad.conf" --check --policy.store "$CONF/lmad-policy.json" --control.socket "$WORK/lmad.sock" --state.file "$WORK/lmad.state" --tunnel.backend kernel
    check "... naming the reason" grep -q "tunnel.backend kernel: .*ip6tnl" "$WORK/err"
fi
check "an unknown multicast.forwarding fails --check naming the choices" \
    status 1 "$LMAD" --config "$CONF/lmad.conf" --check --policy.store "$CONF/lmad-policy.json" --control.socket "$WORK/lmad.sock" --state.file "$WORK/lmad.state" --multicast.forwarding fast
check "... at the option" grep -qx 'command line: --multicast.forwarding: "fast" is not one of auto|ebpf|kernel' "$WORK/err"
check "a broken configuration fails --check with exit 1" status 1 "$LMAD" --config "$WORK/bad.conf" --check
check "overlapping pool reported at its line" grep -qx "$WORK/bad.conf:5: pools.pool: 2001:db8:8000::/48 overlaps pool 2001:db8:8000::/33 (line 4)" "$WORK/err"
check "out-of-range lifetime reported at its line" grep -q "^$WORK/bad.conf:7: binding.max-lifetime: " "$WORK/err"
check "bad choice reported at its line" grep -qx "$WORK/bad.conf:9: heartbeat.on-peer-failure: \"panic\" is not one of keep|purge" "$WORK/err"
check "policy store problems reported with the entry member" grep -qx "$WORK/policy.json: mobile_nodes\[0\].prefixes\[0\]: not an IPv6 prefix or address: \"nope\"" "$WORK/err"
check "lmad refuses to start with the broken configuration (exit 1)" status 1 "$LMAD" --config "$WORK/bad.conf"

check_auth_keys mags 2001:db8:100::/64 "$LMAD" --config "$CONF/lmad.conf" --policy.store "$CONF/lmad-policy.json" --control.socket "$WORK/lmad.sock" --state.file "$WORK/lmad.state"

check "pmipctl --help exits 0" bash -c "'$PMIPCTL' --help | grep -q '^EXIT STATUS'"
check "pmipctl without a command exits 2" status 2 "$PMIPCTL"
check "pmipctl debug with a bad state exits 2" status 2 "$PMIPCTL" debug mh maybe
check "pmipctl exits 2 naming the socket it cannot reach" status 2 "$PMIPCTL" --socket "$WORK/none.sock" show counters
check "... and the message names $WORK/none.sock" grep -q "$WORK/none.sock" "$WORK/err"

finish
