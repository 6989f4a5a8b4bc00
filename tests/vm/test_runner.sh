#!/usr/bin/env bash
# tools/vm/pmip-vm itself (issue 14: "a test of the runner itself"): five
# boots of Debian's stock kernel, one check per line.
#   1. the command's exit status comes back; stdout and stderr stream out as
#      the command writes them (a line written 3 s before the next arrives
#      >= 2 s before it); arguments with spaces and quotes arrive intact;
#      the command runs in the caller's directory, as root, on the stock
#      kernel; what it writes to the host's files stays in the guest;
#   2. a command the guest cannot run gives 127;
#   3. --timeout: status 124 within the timeout plus a few seconds;
#   4. SIGTERM to the runner: status 143, no QEMU left;
#   5. SIGKILL to the runner: QEMU dies with it (PR_SET_PDEATHSIG);
#   after each: no QEMU process and no new file in /tmp, /var/tmp, /dev/shm.
# Also without a boot: --check, and an unknown PMIP_VM_KERNEL exits 77.
# Exits 77 ("SKIPPED: no VM here: REASON") where no VM can run.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../netns/lib.sh"
VM=$NETNS_ROOT/tools/vm/pmip-vm

if ! why=$("$VM" --check); then
    echo "$why"
    exit 77
fi
echo "# $why"
kernel=$(sed -n 's/^pmip-vm: can run kernel \([^ ]*\) .*/\1/p' <<<"$why")
netns_test_begin pvt

# Running QEMU processes (a killed one stays a zombie until PID 1 reaps it).
qemus() { ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 == "qemu-system-x86"' | wc -l; }
scratch() { ls -A /tmp /var/tmp /dev/shm 2>/dev/null | grep -v "^pvt-$$\." | sort; }
QEMUS_BEFORE=$(qemus)
scratch >"$WORK/scratch-before"
# Whether any of the given PIDs is still a running (not zombie) process.
qemu_gone() { local p; for p in "$@"; do ps -o stat= -p "$p" 2>/dev/null | grep -qv '^Z' && return 1; done; return 0; }
no_leftovers() {  # no_leftovers WHAT [QEMU_PID...]: the run's QEMU is gone, nothing left in scratch
    local what=$1
    shift
    if (($# > 0)); then
        # The QEMU this run started, by PID: other QEMUs on the host (another
        # user's VM) do not count.
        check "$what: no QEMU process left (pid $*)" wait_until 10 qemu_gone "$@"
    else
        check "$what: no QEMU process left" wait_until 10 test "$(qemus)" = "$QEMUS_BEFORE"
    fi || ps -eo pid=,ppid=,stat=,etimes=,comm= | awk '$5 == "qemu-system-x86" { print "    qemu: " $0 }'
    scratch >"$WORK/scratch-after"
    # Entries that appeared (files other processes removed meanwhile do not count).
    comm -13 "$WORK/scratch-before" "$WORK/scratch-after" >"$WORK/scratch-new"
    sed 's/^/    new: /' "$WORK/scratch-new"
    check "$what: no new file in /tmp, /var/tmp, /dev/shm" test ! -s "$WORK/scratch-new"
}

# --- without a boot ---------------------------------------------------------------
PMIP_VM_KERNEL=0.0-none "$VM" -- true >"$WORK/nokernel.txt" 2>&1
rc=$?
check "an unknown PMIP_VM_KERNEL: status 77 (rc=$rc) and the reason named" \
    sh -c "test $rc -eq 77 && grep -q 'PMIP_VM_KERNEL=0.0-none' '$WORK/nokernel.txt'"

# --- 1. status, streaming, arguments, directory, root, kernel, isolation -------------
mkdir -p "$WORK/cwd"
# Each output line is stamped with the host's clock when it arrives.
stamp() { while IFS= read -r line; do echo "$(date +%s%N) $line"; done; }
(
    cd "$WORK/cwd" || exit 1
    "$VM" --timeout 120 -- bash -c '
        echo "first line"; sleep 3; echo "second line"
        echo "to stderr" >&2
        printf "arg:<%s>\n" "$@"
        echo "cwd:$(pwd) uid:$(id -u) kernel:$(uname -r) PMIP_VM=$PMIP_VM"
        touch guest-wrote-this
        exit 7' argv0 "two words" "it's" ""
    echo "rc:$?"
) 2>"$WORK/run1.err" | stamp >"$WORK/run1.out"
cat "$WORK/run1.out" | cut -d' ' -f2- | sed 's/^/    | /'
rc=$(sed -n 's/^[0-9]* rc://p' "$WORK/run1.out")
check "1: the command's exit status (7) is the runner's (got $rc)" test "$rc" = 7
t_first=$(awk '$2 == "first" {print $1}' "$WORK/run1.out")
t_second=$(awk '$2 == "second" {print $1}' "$WORK/run1.out")
check "1: output streams: the first line arrived >= 2 s before the second" \
    test $(( (${t_second:-0} - ${t_first:-0}) / 1000000 )) -ge 2000
check "1: stderr comes out too" grep -q " to stderr$" "$WORK/run1.out"
check "1: arguments arrive intact (spaces, quotes, empty)" \
    sh -c "grep -q ' arg:<two words>\$' '$WORK/run1.out' && grep -q \" arg:<it's>\$\" '$WORK/run1.out' && grep -q ' arg:<>\$' '$WORK/run1.out'"
check "1: runs in the caller's directory as root on kernel $kernel with PMIP_VM=1" \
    grep -q " cwd:$WORK/cwd uid:0 kernel:$kernel PMIP_VM=1\$" "$WORK/run1.out"
check "1: the guest's writes do not reach the host's files" test ! -e "$WORK/cwd/guest-wrote-this"
check "1: the runner says which accelerator it uses, in one line" grep -Eq "pmip-vm: kernel .*, (TCG|KVM) \(" "$WORK/run1.err"
no_leftovers 1

# --- 2. a command the guest cannot run ---------------------------------------------
"$VM" --timeout 120 -- /nonexistent/command >"$WORK/run2.out" 2>&1
rc=$?
check "2: a command that does not exist gives 127 (got $rc)" test "$rc" -eq 127
no_leftovers 2

# --- 3. timeout ---------------------------------------------------------------------
start=$SECONDS
"$VM" --timeout 20 -- sleep 600 >"$WORK/run3.out" 2>&1
rc=$?
took=$((SECONDS - start))
check "3: --timeout 20: status 124 (got $rc) after ${took} s (< 40)" sh -c "test $rc -eq 124 && test $took -lt 40"
check "3: the timeout is said" grep -q "timed out after 20 s" "$WORK/run3.out"
no_leftovers 3

# --- 4 and 5. the runner killed ------------------------------------------------------
for sig in TERM KILL; do
    n=$([[ $sig == TERM ]] && echo 4 || echo 5)
    "$VM" --timeout 300 -- bash -c 'echo guest-running; sleep 600' >"$WORK/run$n.out" 2>&1 &
    pid=$!
    PIDS+=($pid)
    check "$n: the guest command runs" wait_until 60 grep -q guest-running "$WORK/run$n.out"
    qemu_pid=$(pgrep -P "$pid" -x qemu-system-x86 | tr '\n' ' ')
    check "$n: the runner's QEMU found (pid $qemu_pid)" test -n "$qemu_pid"
    kill -$sig "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    forget_pid "$pid"
    if [[ $sig == TERM ]]; then
        check "4: SIGTERM: the runner exits 143 (got $rc)" test "$rc" -eq 143
    else
        check "5: SIGKILL: the runner is gone (status $rc)" test "$rc" -eq 137
    fi
    # shellcheck disable=SC2086 # one word per PID
    no_leftovers "$n" $qemu_pid
done

finish
