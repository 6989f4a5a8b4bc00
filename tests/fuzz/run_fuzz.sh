#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer + ASan/UBSan in BUILD_DIR and
# runs each over a copy of its seed corpus, splitting SECONDS between them
# (so the total time CI spends stays SECONDS):
#   fuzz_mh_parse   tests/fuzz/corpus       (Mobility Header codec)
#   fuzz_mld_parse  tests/fuzz/corpus_mld   (MLD codec)
#   fuzz_lma_engine tests/fuzz/corpus_lma   (lmad packet path: receiver + LMA engine)
# Exits non-zero when the build fails or a fuzzer finds a crash, a
# sanitizer report, a timeout or an out-of-memory input; the reproducer is
# left in BUILD_DIR/fuzz-artifacts/ (hex-dump it with `xxd`).
#
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]
#   TARGET limits the run to the named targets (they then share SECONDS).
#   env JOBS (build parallelism, default 2), FUZZ_ARGS (extra libFuzzer flags)
# Reproduce a crash: BUILD_DIR/tests/fuzz/fuzz_mh_parse BUILD_DIR/fuzz-artifacts/crash-...
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
jobs=${JOBS:-2}

# target:corpus directory (relative to tests/fuzz); add new targets here.
all_targets=(fuzz_mh_parse:corpus fuzz_mld_parse:corpus_mld fuzz_lma_engine:corpus_lma)
targets=()
for entry in "${all_targets[@]}"; do
  if [ $# -eq 0 ] || printf '%s\n' "$@" | grep -qx "${entry%%:*}"; then
    targets+=("$entry")
  fi
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "run_fuzz: no such target: $*" >&2
  exit 2
fi
share=$((seconds / ${#targets[@]}))
[ "$share" -ge 1 ] || share=1

# A separate clang build dir; compilers can only be chosen on first configure.
configure_args=(-S "$source_dir" -B "$build_dir" -DPMIP_FUZZ=ON -DPMIP_BUILD_TESTS=ON)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  configure_args+=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake "${configure_args[@]}" >/dev/null
cmake --build "$build_dir" $(for t in "${targets[@]}"; do echo --target "${t%%:*}"; done) -j"$jobs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build_dir/fuzz-artifacts"

for entry in "${targets[@]}"; do
  target=${entry%%:*}
  corpus=${entry#*:}
  fuzzer=$(find "$build_dir" -type f -name "$target" -perm -u+x | head -n 1)
  if [ -z "$fuzzer" ]; then
    echo "run_fuzz: $target not built (is tests/fuzz added when PMIP_FUZZ?)" >&2
    exit 1
  fi
  rm -rf "$work/corpus" "$work/log"
  mkdir -p "$work/corpus"
  cp "$here/$corpus"/* "$work/corpus/"
  before=$(ls "$build_dir/fuzz-artifacts" | wc -l)

  echo "run_fuzz: $fuzzer for ${share}s over $(ls "$work/corpus" | wc -l) seeds"
  status=0
  # shellcheck disable=SC2086
  "$fuzzer" -max_total_time="$share" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build_dir/fuzz-artifacts/" ${FUZZ_ARGS:-} "$work/corpus" \
    >"$work/log" 2>&1 || status=$?

  after=$(ls "$build_dir/fuzz-artifacts" | wc -l)
  if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
    grep -vE '^#[0-9]+ +(NEW|REDUCE|pulse)' "$work/log" | tail -n 60 >&2
    echo "run_fuzz: $target FAILED (exit $status); reproducer(s) in $build_dir/fuzz-artifacts:" >&2
    ls -l "$build_dir/fuzz-artifacts" >&2
    exit 1
  fi
  grep -E '^#[0-9]+ +(DONE|pulse)|^stat::' "$work/log" | tail -n 12 || true
  echo "run_fuzz: $target OK, no crash in ${share}s ($(ls "$work/corpus" | wc -l) corpus entries)"
done
