#!/usr/bin/env bash
# Engine training throughput: samples/s of a training step (forward, backward, gradient sum) at
# batch 128 for the models of the performance table, with 1 and 2 threads, each the median of
# timed rounds (hpsweep bench). Prints a Markdown table for docs/benchmarks.md.
# --bidirectional: instead, LSTM-128 and GRU-128 plain and with --bidirectional true, taking turns
# one round each (so that they meet the same load; the median of each's R rounds), and the ratio
# of their times.
#
#   bash bench/engine.sh [--seconds S] [--rounds R] [--bidirectional]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}/cli/hpsweep"
SECONDS_PER_ROUND=2
ROUNDS=5
BIDIRECTIONAL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --bidirectional) BIDIRECTIONAL=1; shift ;;
    *) echo "usage: bench/engine.sh [--seconds S] [--rounds R] [--bidirectional]" >&2; exit 2 ;;
  esac
done
[[ -x "${BIN}" ]] || bash "${REPO_ROOT}/scripts/build.sh" --target hpsweep >&2

bench() {  # threads flags... -> median samples/s
  local threads="$1"
  shift
  "${BIN}" bench "$@" --batch-size 128 --threads "${threads}" --seconds "${SECONDS_PER_ROUND}" \
    --rounds "${ROUNDS}" | tail -n 1
}

if [[ "${BIDIRECTIONAL}" == 1 ]]; then
  echo "| model (batch 128) | threads | plain (samples/s) | bidirectional (samples/s) | time ratio |"
  echo "|---|---:|---:|---:|---:|"
  for cell in lstm gru; do
    for threads in 1 2; do
      # One round each in turn, so that a shared machine's load falls on both alike.
      p=() b=()
      for ((r = 0; r < ROUNDS; ++r)); do
        p+=("$(ROUNDS=1 bench "${threads}" --cell "${cell}" --units 128)")
        b+=("$(ROUNDS=1 bench "${threads}" --cell "${cell}" --units 128 --bidirectional true)")
      done
      plain=$(printf '%s\n' "${p[@]}" | sort -n | sed -n "$((ROUNDS / 2 + 1))p")
      bi=$(printf '%s\n' "${b[@]}" | sort -n | sed -n "$((ROUNDS / 2 + 1))p")
      ratio=$(awk -v a="${plain}" -v b="${bi}" 'BEGIN { printf "%.2f", a / b }')
      echo "| ${cell^^}-128 + Dense 10 | ${threads} | ${plain} | ${bi} | ${ratio}x |"
    done
  done
  exit 0
fi

# name | flags | MFLOP per training sample (forward + backward, 2 flops per multiply-add)
MODELS=(
  "LSTM-128 + Dense 64|--cell lstm --units 128 --dense 64"
  "SimpleRNN-128|--cell simple_rnn --units 128"
  "GRU-128|--cell gru --units 128"
  "LSTM-32|--cell lstm --units 32"
  "MLP 512-512|--cell dense --layers 2 --units 512"
)
"${BIN}" bench --cell dense --units 8 --seconds 0.1 --rounds 1 | grep '^cpu: '  # the CPU, first
echo "| model (batch 128) | 1 thread (samples/s) | 2 threads (samples/s) | 2-thread speed-up |"
echo "|---|---:|---:|---:|"
for entry in "${MODELS[@]}"; do
  name="${entry%%|*}"
  flags="${entry#*|}"
  one=$(bench 1 ${flags})
  two=$(bench 2 ${flags})
  ratio=$(awk -v a="${one}" -v b="${two}" 'BEGIN { printf "%.2f", b / a }')
  echo "| ${name} | ${one} | ${two} | ${ratio}x |"
done
