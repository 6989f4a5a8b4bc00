#!/usr/bin/env bash
# run_peer_interop.sh ARGS...: test_peer_interop.sh ARGS, and once more,
# fresh (new namespaces, a new peer process), when the first run failed
# with the peer as MAG:
# - exit 3: every check that failed did so after the peer MAG ended its
#   registration itself ("# peer-ended:" lines; see peer_ended there). The
#   OAI MAG does so in about 1 VM run in 5 for reasons of its own (README,
#   Interop).
# - exit 1 with the peer as MAG (OAI or UMIP, one code base): a failure not
#   shown to be the peer's doing ("# why:" lines say which condition was
#   missing). The OAI MAG has lost its data path in about 1 run in 20 in
#   ways the test cannot yet tell from ours (vm_interop, CI after session
#   31: pings unanswered, then the peer's de-registration ~7.5 s after the
#   attach). Retried once so that CI is not decided by it; a regression of
#   ours fails both attempts. The price: a fault of ours that shows only
#   sometimes with the peer as MAG is less likely to fail the test, so the
#   first attempt's failed checks are repeated on "# attempt 1:" lines,
#   which the log keeps.
# Both runs' output is kept; the second run's result is the test's (3 or
# 77 there is a failure). Any other result of the first run (a pass, a
# skip, a failure with the peer as LMA) is the test's at once.
set -u
HERE=$(dirname "${BASH_SOURCE[0]}")
ROLE=${4:-}
trap 'exit 130' INT TERM
first=$(mktemp)
trap 'rm -f "$first"' EXIT
bash "$HERE/test_peer_interop.sh" "$@" 2>&1 | tee "$first"
rc=${PIPESTATUS[0]}
if ((rc == 3)); then
    echo "# attempt 1: every failed check followed the peer's own end of its registration: attempt 2, fresh"
elif ((rc == 1)) && [[ $ROLE == mag ]]; then
    grep -a -E '^(FAIL|# why:)' "$first" | sed 's/^/# attempt 1: /'
    echo "# attempt 1 failed (the checks above), not shown to be the peer MAG's doing: attempt 2, fresh (README, Interop)"
else
    exit "$rc"
fi
bash "$HERE/test_peer_interop.sh" "$@"
rc=$?
((rc == 3 || rc == 77)) && rc=1
exit "$rc"
