#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/libfuzzer/, clang, ASan + UBSan), runs the checked-in
# regression inputs through them once, and fuzzes each for a bounded time over a copy of its
# checked-in corpus.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 8 s; targets: all nine, as many at
#                                                      a time as there are cores)
#
# The default is the smoke run's budget (ctest fuzz_smoke): on the suite's 2 cores, 9 targets of
# 8 s two at a time fuzz for 40 s (6 of 12 s did for 36 s before report_line and folder_unpack,
# whose sources add about 26 s of one core to the clang build; sweep_export's, report/ with
# engine/trainer.cc and the training it links, add about 53 s).
#
# Build folder: <repo>/build/fuzz, or HPSWEEP_FUZZ_BUILD_DIR. A crash, sanitizer report, hang
# (-timeout=10) or out-of-memory (-rss_limit_mb=2048) fails the script; its reproducer is copied
# to <build>/fuzz/findings/<target>/. New corpus entries stay in <build>/fuzz/run/: nothing is
# written into the repository. Exit status: 0 clean, 1 a finding or a build failure, 77 (ctest's
# skip) when clang, libFuzzer or clang's OpenMP is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HPSWEEP_FUZZ_BUILD_DIR:-${REPO_ROOT}/build/fuzz}"
SECONDS_PER_TARGET="${1:-8}"
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] ||
  TARGETS=(sweep_file model_file checkpoint idx csv digit_image report_line folder_unpack
           sweep_export)
if ! [[ "${SECONDS_PER_TARGET}" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi

# -max_len per target: a little above the largest seed, as far as each format needs.
declare -A MAX_LEN=([sweep_file]=4096 [model_file]=8192 [checkpoint]=8192 [idx]=16384 [csv]=4096
                   [digit_image]=16384 [report_line]=4096 [folder_unpack]=4096
                   [sweep_export]=8192)
for t in "${TARGETS[@]}"; do
  [[ -n "${MAX_LEN[$t]:-}" ]] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
done

skip() {
  echo "fuzz: SKIPPED: $*" >&2
  echo "fuzz: install them with: apt-get install -y clang libfuzzer-14-dev libclang-rt-14-dev" \
       "libomp-14-dev (scripts/bootstrap.sh does)" >&2
  exit 77
}
command -v clang >/dev/null 2>&1 || skip "clang not found on PATH"
command -v clang++ >/dev/null 2>&1 || skip "clang++ not found on PATH"
for tool in cmake ninja; do
  command -v "${tool}" >/dev/null 2>&1 || skip "${tool} not found on PATH"
done
mkdir -p "${BUILD_DIR}"
probe_dir="$(mktemp -d "${BUILD_DIR}/probe.XXXXXX")"
trap 'rm -rf "${probe_dir}"' EXIT
# <omp.h> and the OpenMP runtime: engine/trainer.cc, which sweep_export links, calls it.
printf '%s\n' '#include <omp.h>' \
  'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) {' \
  '  return omp_get_thread_num();' '}' >"${probe_dir}/probe.cc"
if ! clang++ -fsanitize=fuzzer,address,undefined -fopenmp "${probe_dir}/probe.cc" \
     -o "${probe_dir}/probe" >"${probe_dir}/log" 2>&1; then
  sed 's/^/  /' "${probe_dir}/log" >&2
  skip "clang++ cannot link -fsanitize=fuzzer,address,undefined -fopenmp (libFuzzer, the" \
       "sanitizer runtimes or OpenMP missing: libfuzzer-14-dev, libclang-rt-14-dev," \
       "libomp-14-dev)"
fi

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [[ ! -f "${BUILD_DIR}/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S "${REPO_ROOT}/fuzz/libfuzzer" -B "${BUILD_DIR}" -G Ninja \
    -DCMAKE_BUILD_TYPE= "${launcher[@]}" >"${BUILD_DIR}/configure.log" 2>&1 ||
    { cat "${BUILD_DIR}/configure.log" >&2; echo "fuzz: configure failed" >&2; exit 1; }
fi
cmake --build "${BUILD_DIR}" -j"$(nproc)" -- -k 0 || { echo "fuzz: build failed" >&2; exit 1; }

# One target's run: its exit status goes to <work>/rc.
fuzz_one() {
  local t="$1" work="${BUILD_DIR}/run/$1" rc=0
  UBSAN_OPTIONS=print_stacktrace=1 "${BUILD_DIR}/${t}_fuzz" "${work}/corpus" \
    -max_total_time="${SECONDS_PER_TARGET}" -timeout=10 -rss_limit_mb=2048 \
    -max_len="${MAX_LEN[$t]}" -artifact_prefix="${work}/artifacts/" -print_final_stats=1 \
    >"${work}/log" 2>&1 || rc=$?
  echo "${rc}" >"${work}/rc"
}

# First the regressions (fuzz/regressions/<t>/), each input run once under ASan + UBSan: the
# g++ build's replay tests (ctest fuzz_replay_<t>) run them uninstrumented, so this is where an
# overflow that does not crash still fails. Given files, a libFuzzer binary runs them and exits.
for t in "${TARGETS[@]}"; do
  regressions=("${REPO_ROOT}/fuzz/regressions/${t}"/*)
  [[ -e "${regressions[0]}" ]] || continue
  if ! UBSAN_OPTIONS=print_stacktrace=1 "${BUILD_DIR}/${t}_fuzz" -timeout=60 -rss_limit_mb=2048 \
       "${regressions[@]}" >"${BUILD_DIR}/${t}_regressions.log" 2>&1; then
    tail -n 60 "${BUILD_DIR}/${t}_regressions.log" >&2
    echo "fuzz: ${t}: a regression input fails under ASan + UBSan (above)" >&2
    exit 1
  fi
  echo "fuzz: ${t}: ${#regressions[@]} regression inputs clean under ASan + UBSan"
done

# The targets run as many at a time as there are cores (each fuzzes on one thread); each still
# gets its full SECONDS_PER_TARGET.
jobs_max="$(nproc)"
for t in "${TARGETS[@]}"; do
  work="${BUILD_DIR}/run/${t}"
  rm -rf "${work}"
  mkdir -p "${work}/corpus" "${work}/artifacts"
  # The corpus only: the regressions are replayed by ctest (fuzz_replay_<name>), and some are
  # deliberately slow to decode (4-megapixel images) and would slow the search down.
  find "${REPO_ROOT}/fuzz/corpus/${t}" -maxdepth 1 -type f -exec cp {} "${work}/corpus/" \;
  echo "fuzz: ${t}: ${SECONDS_PER_TARGET} s over $(ls "${work}/corpus" | wc -l) seeds"
  while [[ "$(jobs -rp | wc -l)" -ge "${jobs_max}" ]]; do wait -n || true; done
  fuzz_one "${t}" &
done
wait

failed=()
for t in "${TARGETS[@]}"; do
  work="${BUILD_DIR}/run/${t}"
  rc="$(cat "${work}/rc" 2>/dev/null || echo 1)"
  grep -E '^(stat::number_of_executed_units|stat::new_units_added):' "${work}/log" |
    sed "s/^/fuzz: ${t}: /" || true
  if [[ ${rc} -ne 0 ]]; then
    failed+=("${t}")
    tail -n 60 "${work}/log" >&2
    mkdir -p "${BUILD_DIR}/findings/${t}"
    for f in "${work}/artifacts"/*; do
      [[ -e "${f}" ]] || continue
      cp "${f}" "${BUILD_DIR}/findings/${t}/"
      kept="${BUILD_DIR}/findings/${t}/$(basename "${f}")"
      echo "fuzz: ${t} FAILED (exit ${rc}); reproducer: ${kept}" >&2
      echo "fuzz:   reproduce: ${BUILD_DIR}/${t}_fuzz ${kept}" >&2
      echo "fuzz:   after the fix, add it to fuzz/regressions/${t}/ (ctest fuzz_replay_${t}" \
           "then keeps it fixed)" >&2
    done
    echo "fuzz: ${t}: full log: ${work}/log" >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ok: ${TARGETS[*]}, ${SECONDS_PER_TARGET} s each, no findings"
