# shellcheck shell=bash disable=SC2034  # (sourced; its variables are for the scripts)
# What the command-line test scripts (tests/cli/test_*.sh) share. Sourced
# right after `set -u`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Results    check WHAT COMMAND...: runs COMMAND, prints "ok - WHAT" or
#            "FAIL - WHAT" (counted in FAILURES) and returns 0 or 1 accordingly;
#            pass WHAT / fail WHAT [DETAIL] by hand (DETAIL: on the lines below,
#            indented); CHECKS counts both; finish [SUMMARY]: SUMMARY (by
#            default "N check(s) failed" or "all checks passed"), then exit 1
#            if a check failed, else 0. The lines start with OK_MARK and
#            FAIL_MARK ("ok - ", "FAIL - "); a script that prints "ok   WHAT"
#            and "FAIL WHAT" sets them after sourcing.
# Commands   status EXPECTED COMMAND...: COMMAND's exit status is EXPECTED; its
#            stdout and stderr are left in WORK/out and WORK/err.
# Clean-up   cli_test_begin [TEMPLATE]: WORK=$(mktemp -d [TEMPLATE]), and on
#            EXIT: the script's background jobs still running are killed, WORK
#            removed.

# ------------------------------------------------------------------ results
CHECKS=0
FAILURES=0
OK_MARK="ok - "
FAIL_MARK="FAIL - "
pass() {
    CHECKS=$((CHECKS + 1))
    echo "$OK_MARK$1"
}
fail() {  # fail WHAT [DETAIL]
    CHECKS=$((CHECKS + 1))
    FAILURES=$((FAILURES + 1))
    echo "$FAIL_MARK$1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/       /'; fi
}
check() {  # check WHAT COMMAND...: COMMAND's success or failure
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; return 1; fi
}
finish() {  # finish [SUMMARY]
    if (($# > 0)); then
        echo "$1"
    elif ((FAILURES > 0)); then
        echo "$FAILURES check(s) failed"
    else
        echo "all checks passed"
    fi
    ((FAILURES == 0)) || exit 1
    exit 0
}

# ------------------------------------------------------------------ commands
status() {  # status EXPECTED COMMAND...: exit status of COMMAND is EXPECTED
    local expected=$1
    shift
    "$@" >"$WORK/out" 2>"$WORK/err"
    [[ $? -eq $expected ]]
}

# ------------------------------------------------------------------ clean-up
WORK=
# scapy_python: the python3 that imports scapy (Debian's python3-scapy; a
# pyenv python3 first on PATH would not see it), or nothing.
scapy_python() {
    local candidate
    for candidate in /usr/bin/python3 python3; do
        if "$candidate" -c 'import scapy' 2>/dev/null; then echo "$candidate"; return 0; fi
    done
    return 1
}

cli_test_begin() {  # cli_test_begin [TEMPLATE]
    WORK=$(mktemp -d ${1:+"$1"})
    trap cli_cleanup EXIT
}
cli_cleanup() {
    local pids
    pids=$(jobs -p)
    # shellcheck disable=SC2086  # one PID a word
    [[ -z $pids ]] || kill $pids 2>/dev/null
    rm -rf "$WORK"
}

# check_auth_keys SECTION PEER DAEMON-COMMAND...: the SECTION.auth key
# ([mags] of lmad, [lmas] of magd; issue 16) at --check and at start, with
# DAEMON-COMMAND (the daemon and options that make an otherwise valid run):
# an owner-only key file passes, one others can read fails naming the file
# and its mode (and the daemon refuses to start), a reserved SPI and an
# unknown algorithm fail naming why; --help documents the key.
check_auth_keys() {
    local section=$1 peer=$2
    shift 2
    local daemon=("$@")
    printf '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n' >"$WORK/peer.key"
    chmod 600 "$WORK/peer.key"
    local ok=("${daemon[@]}" "--$section.auth" "$peer required 1000 hmac-sha256 $WORK/peer.key")
    check "$section.auth with an owner-only key passes --check" status 0 "${ok[@]}" --check
    chmod 644 "$WORK/peer.key"
    check "a key file others can read fails --check" status 1 "${ok[@]}" --check
    check "... naming the file and its mode" grep -q "$section.auth: key file $WORK/peer.key is accessible to group or others (mode 0644" "$WORK/err"
    check "${daemon[0]##*/} refuses to start with it (exit 1)" status 1 "${ok[@]}"
    chmod 600 "$WORK/peer.key"
    check "a reserved SPI fails --check" status 1 "${ok[@]/1000 hmac/200 hmac}" --check
    check "... saying 0-255 are reserved" grep -q "$section.auth: SPI \"200\" is not a number from 256 to 4294967295 (0-255 are reserved" "$WORK/err"
    check "an unknown algorithm fails --check naming the choices" status 1 "${ok[@]/hmac-sha256/md5}" --check
    check "... hmac-sha256|hmac-sha1-96" grep -q '"md5" is not an algorithm (hmac-sha256|hmac-sha1-96)' "$WORK/err"
    check "--help documents $section.auth" bash -c "'${daemon[0]}' --help | grep -q '^    $section.auth = (repeatable'"
}
