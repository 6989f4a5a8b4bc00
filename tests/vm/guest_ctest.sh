#!/usr/bin/env bash
# Runs inside pmip-vm's guest (Debian's stock kernel): the named CTest tests
# of BUILD_DIR, one after the other, with timing bounds relaxed
# (PMIP_TEST_TIME_SCALE, default 4: TCG runs code 15-25x slower). Unlike on
# the host, a test that reports SKIPPED fails here: the VM exists to run what
# the host cannot, so every named test must run and pass.
#
#   guest_ctest.sh BUILD_DIR TEST...
set -u
BUILD=${1:?usage: guest_ctest.sh BUILD_DIR TEST...}
shift
(($# > 0)) || { echo "guest_ctest.sh: no test named" >&2; exit 2; }
export PMIP_TEST_TIME_SCALE=${PMIP_TEST_TIME_SCALE:-4}
echo "# in the VM: kernel $(uname -r), $(nproc) CPUs; timing bounds x$PMIP_TEST_TIME_SCALE; tests: $*"
regex="^($(IFS='|'; echo "$*"))\$"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd "$BUILD" && ctest --output-on-failure -R "$regex") 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
failures=0
for name in "$@"; do
    line=$(grep -E "Test +#[0-9]+: $name \.+" "$log" | tail -1)
    if [[ $line =~ \ Passed\  ]]; then
        echo "vm: PASS $name"
        # A test that passed at its second attempt (run_peer_interop.sh)
        # says so here: its output is not in the log above.
        awk -v name="$name" '/^[0-9]+\/[0-9]+ Testing: / {t = $3}
            t == name && /^# attempt 1/ {print "vm:   " name ": " $0}' \
            "$BUILD/Testing/Temporary/LastTest.log" 2>/dev/null | tail -n 20
    elif [[ -z $line ]]; then
        echo "vm: FAIL $name (not run: no such test in $BUILD?)"
        failures=$((failures + 1))
    elif [[ $line =~ Skipped|Not\ Run ]]; then
        echo "vm: FAIL $name (skipped inside the VM, where it must run)"
        failures=$((failures + 1))
    else
        echo "vm: FAIL $name"
        # Its failed checks again here, at the end, where a CI excerpt of
        # the last lines still shows them (the test's output is long).
        # (FAIL lines of the shell tests, FAILED: of the Catch2 ones, and the
        # "# why:" lines a shell test prints to explain a failure.)
        sed -n "/Test *#[0-9]*: $name /,/Test *#[0-9]*: /p" "$log" | grep -a -E '^FAIL|: FAILED:|^# why:' |
            tail -n 40 |
            sed "s/^/vm:   $name: /"
        failures=$((failures + 1))
    fi
done
if ((failures > 0 || rc != 0)); then
    echo "vm: $failures of $# tests did not pass (ctest status $rc)"
    exit 1
fi
echo "vm: all $# tests passed on kernel $(uname -r)"
