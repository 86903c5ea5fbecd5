#!/usr/bin/env bash
# Engine training throughput: samples/s of a training step (forward, backward, gradient sum) at
# batch 128 for the models of the performance table, with 1 and 2 threads, each the median of
# timed rounds (hpsweep bench). Prints a Markdown table for docs/benchmarks.md.
#
#   bash bench/engine.sh [--seconds S] [--rounds R]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}/cli/hpsweep"
SECONDS_PER_ROUND=2
ROUNDS=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "usage: bench/engine.sh [--seconds S] [--rounds R]" >&2; exit 2 ;;
  esac
done
[[ -x "${BIN}" ]] || bash "${REPO_ROOT}/scripts/build.sh" --target hpsweep >&2

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
  one=$("${BIN}" bench ${flags} --batch-size 128 --threads 1 --seconds "${SECONDS_PER_ROUND}" --rounds "${ROUNDS}" | tail -n 1)
  two=$("${BIN}" bench ${flags} --batch-size 128 --threads 2 --seconds "${SECONDS_PER_ROUND}" --rounds "${ROUNDS}" | tail -n 1)
  ratio=$(awk -v a="${one}" -v b="${two}" 'BEGIN { printf "%.2f", b / a }')
  echo "| ${name} | ${one} | ${two} | ${ratio}x |"
done
