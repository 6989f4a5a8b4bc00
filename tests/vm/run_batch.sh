#!/usr/bin/env bash
# A batch of CTest tests run in one boot of Debian's stock kernel
# (tools/vm/pmip-vm). Exits 77 ("SKIPPED: no VM here: REASON") where no VM
# can run (no QEMU, no stock kernel, not root), else the batch's status.
#
#   run_batch.sh BUILD_DIR TIMEOUT_SECONDS TEST...
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:?usage: run_batch.sh BUILD_DIR TIMEOUT TEST...}" && pwd)
TIMEOUT=${2:?usage: run_batch.sh BUILD_DIR TIMEOUT TEST...}
shift 2
if ! why=$("$ROOT/tools/vm/pmip-vm" --check); then
    echo "$why"
    exit 77
fi
exec "$ROOT/tools/vm/pmip-vm" --timeout "$TIMEOUT" -- bash "$HERE/guest_ctest.sh" "$BUILD" "$@"
