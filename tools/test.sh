#!/usr/bin/env bash
# The project's test command: installs what is missing, builds, and runs every
# test. Order: fuzz (bounded), the sanitizer build's tests, then the normal
# build's full suite, whose ctest summary is the last thing printed.
#
#   bash tools/test.sh            # everything
#   PMIP_FUZZ_SECONDS=0 bash tools/test.sh   # skip the fuzz run (reported as skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${PMIP_FUZZ_SECONDS:-60}

bash tools/setup.sh

echo "== fuzz: MH parser for ${fuzz_seconds}s (clang, libFuzzer, ASan+UBSan)"
if [ "$fuzz_seconds" -gt 0 ]; then
  bash tests/fuzz/run_fuzz.sh build-fuzz "$fuzz_seconds"
else
  echo "fuzz: SKIPPED (PMIP_FUZZ_SECONDS=0)"
fi

echo "== build and test with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPMIP_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs" -L 'unit|cli')

echo "== build and test (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
