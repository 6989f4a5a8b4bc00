#!/usr/bin/env bash
# Builds fuzz_mh_parse with clang + libFuzzer + ASan/UBSan in BUILD_DIR and
# runs it for SECONDS over a copy of the seed corpus (tests/fuzz/corpus).
# Exits non-zero when the build fails or the fuzzer finds a crash, a
# sanitizer report, a timeout or an out-of-memory input; the reproducer is
# left in BUILD_DIR/fuzz-artifacts/ (hex-dump it with `xxd`).
#
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS
#   env JOBS (build parallelism, default 2), FUZZ_ARGS (extra libFuzzer flags)
# Reproduce a crash: BUILD_DIR/tests/fuzz/fuzz_mh_parse BUILD_DIR/fuzz-artifacts/crash-...
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
jobs=${JOBS:-2}

# A separate clang build dir; compilers can only be chosen on first configure.
configure_args=(-S "$source_dir" -B "$build_dir" -DPMIP_FUZZ=ON -DPMIP_BUILD_TESTS=ON)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  configure_args+=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake "${configure_args[@]}" >/dev/null
cmake --build "$build_dir" --target fuzz_mh_parse -j"$jobs"

fuzzer=$(find "$build_dir" -type f -name fuzz_mh_parse -perm -u+x | head -n 1)
if [ -z "$fuzzer" ]; then
  echo "run_fuzz: fuzz_mh_parse not built (is tests/fuzz added when PMIP_FUZZ?)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$build_dir/fuzz-artifacts"
cp "$here"/corpus/* "$work/corpus/"
before=$(ls "$build_dir/fuzz-artifacts" | wc -l)

echo "run_fuzz: $fuzzer for ${seconds}s over $(ls "$work/corpus" | wc -l) seeds"
status=0
# shellcheck disable=SC2086
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$build_dir/fuzz-artifacts/" ${FUZZ_ARGS:-} "$work/corpus" \
  >"$work/log" 2>&1 || status=$?

after=$(ls "$build_dir/fuzz-artifacts" | wc -l)
if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
  grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)' "$work/log" | tail -n 60 >&2
  echo "run_fuzz: FAILED (exit $status); reproducer(s) in $build_dir/fuzz-artifacts:" >&2
  ls -l "$build_dir/fuzz-artifacts" >&2
  exit 1
fi
grep -E '^#[0-9]+ +(DONE|pulse)|^stat::' "$work/log" | tail -n 12 || true
echo "run_fuzz: OK, no crash in ${seconds}s ($(ls "$work/corpus" | wc -l) corpus entries)"
