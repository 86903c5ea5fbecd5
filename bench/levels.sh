#!/usr/bin/env bash
# Engine training throughput of the package's CPU-level builds against the -march=native build:
# samples/s of a training step at batch 128 (hpsweep bench), for the native build/cli/hpsweep and
# the packaged launcher (<build>/package/stage/bin/hpsweep, HPSWEEP_PACKAGE=ON) with no
# HPSWEEP_CPU_LEVEL (this CPU's best level) and forced to v3 and v2. The binaries take turns,
# one timed round each, R times (each turn starting with the next binary), so that load from
# other processes falls on all of them alike; each figure is the median of its R rounds. Prints a
# Markdown table for docs/benchmarks.md.
#
#   bash bench/levels.sh [--seconds S] [--rounds R] [--threads T]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"
NATIVE="${BUILD}/cli/hpsweep"
LAUNCHER="${BUILD}/package/stage/bin/hpsweep"
SECONDS_PER_ROUND=2
ROUNDS=7
THREADS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "usage: bench/levels.sh [--seconds S] [--rounds R] [--threads T]" >&2; exit 2 ;;
  esac
done
for bin in "${NATIVE}" "${LAUNCHER}"; do
  [[ -x "${bin}" ]] || { echo "levels: ${bin} missing; build with -DHPSWEEP_PACKAGE=ON" >&2; exit 1; }
done

MODELS=(
  "LSTM-128 + Dense 64|--cell lstm --units 128 --dense 64"
  "GRU-128|--cell gru --units 128"
  "MLP 512-512|--cell dense --layers 2 --units 512"
)
# column name | command prefix
RUNS=(
  "native|${NATIVE}"
  "package (auto)|env -u HPSWEEP_CPU_LEVEL ${LAUNCHER}"
  "package v3|env HPSWEEP_CPU_LEVEL=v3 ${LAUNCHER}"
  "package v2|env HPSWEEP_CPU_LEVEL=v2 ${LAUNCHER}"
)
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

header="| model (batch 128, ${THREADS} thread) |"
rule="|---|"
for run in "${RUNS[@]}"; do header+=" ${run%%|*} |"; rule+="---:|"; done
echo "${header} auto / native |"
echo "${rule}---:|"
for entry in "${MODELS[@]}"; do
  name="${entry%%|*}"
  flags="${entry#*|}"
  declare -A rates=()
  for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#RUNS[@]}; k++)); do
      run="${RUNS[$(((r + k) % ${#RUNS[@]}))]}"
      # shellcheck disable=SC2086  # the prefix and flags are word lists
      rate=$(${run#*|} bench ${flags} --batch-size 128 --threads "${THREADS}" \
               --seconds "${SECONDS_PER_ROUND}" --rounds 1 | tail -n 1)
      rates["${run%%|*}"]+="${rate} "
    done
  done
  row="| ${name} |"
  for run in "${RUNS[@]}"; do
    m=$(tr ' ' '\n' <<<"${rates[${run%%|*}]}" | grep . | median)
    row+=" ${m} |"
    [[ "${run%%|*}" == native ]] && native="${m}"
    [[ "${run%%|*}" == "package (auto)" ]] && auto="${m}"
  done
  echo "${row} $(awk -v a="${auto}" -v n="${native}" 'BEGIN { printf "%.3f", a / n }') |"
  unset rates
done
