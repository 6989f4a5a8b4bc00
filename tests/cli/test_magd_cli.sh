#!/usr/bin/env bash
# magd command line without root: --help, --check of the example
# configuration (conf/magd.conf + conf/magd-policy.json) and of a broken one
# (every problem as FILE:LINE: key: problem, exit 1), usage errors (exit 2),
# refusal to start with errors (exit 1).
#
#   test_magd_cli.sh PATH/magd CONF_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MAGD=${1:?usage: test_magd_cli.sh PATH/magd CONF_DIR}
CONF=${2:?}
cli_test_begin /tmp/magd-cli.XXXXXX

check "magd --help exits 0 with the manual" bash -c "'$MAGD' --help | grep -q '^EXIT STATUS'"
check "magd --help documents every section" bash -c "for k in mag.address access.interface ra.max-interval-s binding.ordering lmas.profile policy.store tunnel.backend heartbeat.interval-s control.socket log.level; do '$MAGD' --help | grep -q \"^    \$k\" || exit 1; done"
check "magd --version exits 0" status 0 "$MAGD" --version
check "magd with an unknown option exits 2" status 2 "$MAGD" --no-such-option
check "magd with a stray argument exits 2" status 2 "$MAGD" stray
check "example conf/magd.conf passes --check" \
    status 0 "$MAGD" --config "$CONF/magd.conf" --check --policy.store "$CONF/magd-policy.json" \
    --control.socket "$WORK/magd.sock"
check "example conf/magd-maar.conf (RFC 8885 MAAR) passes --check" \
    status 0 "$MAGD" --config "$CONF/magd-maar.conf" --check --policy.store "$CONF/magd-policy.json" \
    --control.socket "$WORK/magd.sock"
check "magd --help documents the MAAR keys" bash -c "for k in mag.mode maar.cmd maar.pool maar.previous-prefix-hold-s maar.previous-prefix-idle-s; do '$MAGD' --help | grep -q \"^    \$k\" || exit 1; done"

cat >"$WORK/bad.conf" <<CONF
[mag]
address = ff02::1
[access]
interface = mn*
detect = rs magic
[binding]
renewal-percent = 99
ordering = random
[policy]
store = $WORK/policy.json
CONF
echo '{"mobile_nodes": [{"mac": "02:00:00:00:00:01", "id": "a"}]}' >"$WORK/policy.json"
check "--check names the multicast forwarding backend (or says it was not probed)" \
    grep -Eq "^multicast(: disabled| forwarding: ((ebpf|kernel) \(|auto \(not probed))" "$WORK/out"
check "--check names the tunnel backend (or says it was not probed)" \
    grep -Eq "^tunnels: ((kernel|ebpf|userspace) \\((auto|configured|kernel)|auto \\(not probed)" "$WORK/out"
# Where auto found no ip6tnl/ip6gre, backend = kernel must fail --check, naming why.
if grep -Eq "^tunnels: (ebpf|userspace) \(auto: kernel tunnel backend unavailable" "$WORK/out"; then
    check "tunnel.backend kernel fails --check on a kernel without ip6tnl/ip6gre" \
        status 1 "$MAGD" --config "$CONF/magd.conf" --check --policy.store "$CONF/magd-policy.json" --control.socket "$WORK/magd.sock" --tunnel.backend kernel
    check "... naming the reason" grep -q "tunnel.backend kernel: .*ip6tnl" "$WORK/err"
fi
check "an unknown multicast.forwarding fails --check naming the choices" \
    status 1 "$MAGD" --config "$CONF/magd.conf" --check --policy.store "$CONF/magd-policy.json" --control.socket "$WORK/magd.sock" --multicast.forwarding fast
check "... at the option" grep -qx 'command line: --multicast.forwarding: "fast" is not one of auto|ebpf|kernel' "$WORK/err"
check "a broken configuration fails --check with exit 1" status 1 "$MAGD" --config "$WORK/bad.conf" --check
check "bad address at its line" grep -qx "$WORK/bad.conf:2: mag.address: ff02::1 is a multicast address" "$WORK/err"
check "bad detection method at its line" grep -qx "$WORK/bad.conf:5: access.detect: \"magic\" is not a detection method (link, rs, none)" "$WORK/err"
check "out-of-range percent at its line" grep -qx "$WORK/bad.conf:7: binding.renewal-percent: \"99\" is not an integer from 10 to 95 percent" "$WORK/err"
check "bad choice at its line" grep -qx "$WORK/bad.conf:8: binding.ordering: \"random\" is not one of timestamp|sequence" "$WORK/err"
check "policy store problem names the member" grep -qx "$WORK/policy.json: mobile_nodes\[0\].lma: missing (the LMA address of this mobile node)" "$WORK/err"
check "magd refuses to start with the broken configuration (exit 1)" status 1 "$MAGD" --config "$WORK/bad.conf"
check "... and says why" grep -q "configuration has errors; not starting" "$WORK/err"
check "a missing --config file is an error naming it" status 1 "$MAGD" --config "$WORK/none.conf" --check
check "... with the path" grep -q "^$WORK/none.conf: cannot be read" "$WORK/err"

check_auth_keys lmas 2001:db8:100::1 "$MAGD" --config "$CONF/magd.conf" --policy.store "$CONF/magd-policy.json" --control.socket "$WORK/magd.sock"

((FAILURES == 0)) || finish  # no summary line when every check passed
