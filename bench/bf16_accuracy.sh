#!/usr/bin/env bash
# Accuracy is not traded for bf16's speed: the same trials trained in fp32 and in bf16 on full
# MNIST, 3 seeds each, and the quick-start sweep end to end in both precisions.
#   A3: LSTM(128, tanh) -> Dense(64, tanh) -> Dense(10), Adam, batch 128, 3 epochs, the last 20%
#       of the training set validating (SEEDS.md A3, at 3 epochs)
#   C1: LSTM(128, return_sequences) -> Dropout 0.2 -> LSTM(128) -> Dropout 0.1 -> Dense(32, relu)
#       -> Dropout 0.2 -> Dense(10) logits, Adam, batch 32, 5 epochs, validated on the test set
#       (SEEDS.md C1)
# Prints each run's test accuracy and seconds, each model's mean per precision and the gap, then
# each precision's quick-start leaderboard winner. Needs a CPU with avx512_bf16.
#
#   bash bench/bf16_accuracy.sh [--seeds "1 2 3"] [--threads 2] [--skip-c1] [--skip-sweep]
#
# Time on 2 cores: A3 about 20 s a run, C1 about 2 minutes a run, each sweep about a minute.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}/cli/hpsweep"
SEEDS="1 2 3"
THREADS=2
SKIP_C1=0
SKIP_SWEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --skip-c1) SKIP_C1=1; shift ;;
    --skip-sweep) SKIP_SWEEP=1; shift ;;
    *) echo "usage: bench/bf16_accuracy.sh [--seeds LIST] [--threads N] [--skip-c1] [--skip-sweep]" >&2
       exit 2 ;;
  esac
done
[[ -x "${BIN}" ]] || bash "${REPO_ROOT}/scripts/build.sh" --target hpsweep >&2
"${BIN}" bench --cell dense --units 8 --seconds 0.1 --rounds 1 | grep '^cpu: '

A3="--cell lstm --units 128 --dense 64 --dense-activation tanh --batch-size 128 --epochs 3
    --validation-split 0.2"
C1="--cell lstm --layers 2 --units 128 --dropout 0.2,0.1,0.2 --dense 32 --dense-activation relu
    --output logits --batch-size 32 --epochs 5 --validation test"

run_model() {  # name flags
  local name="$1" flags="$2"
  declare -A sum=()
  echo
  echo "| ${name} | seed | precision | test accuracy | seconds |"
  echo "|---|---:|---|---:|---:|"
  for seed in ${SEEDS}; do
    for precision in fp32 bf16; do
      # shellcheck disable=SC2086
      out=$("${BIN}" train ${flags} --seed "${seed}" --precision "${precision}" \
        --threads "${THREADS}" --json)
      read -r acc secs < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["test_accuracy"], round(d["seconds"], 1))' <<<"${out}")
      echo "| ${name} | ${seed} | ${precision} | ${acc} | ${secs} |"
      sum[${precision}]=$(awk -v a="${sum[${precision}]:-0}" -v b="${acc}" 'BEGIN { print a + b }')
    done
  done
  local n
  n=$(wc -w <<<"${SEEDS}")
  awk -v f="${sum[fp32]}" -v b="${sum[bf16]}" -v n="${n}" -v m="${name}" 'BEGIN {
    printf "%s mean test accuracy: fp32 %.4f, bf16 %.4f, bf16 - fp32 = %+.2f points\n",
           m, f / n, b / n, 100 * (b - f) / n }'
}

run_model A3 "${A3}"
[[ "${SKIP_C1}" == 1 ]] || run_model C1 "${C1}"

if [[ "${SKIP_SWEEP}" == 0 ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "${work}"' EXIT
  for precision in fp32 bf16; do
    sed "s/^fixed:/fixed:\n  precision: ${precision}/" "${REPO_ROOT}/sweeps/quickstart.yaml" \
      >"${work}/quickstart-${precision}.yaml"
    echo
    echo "quickstart sweep, precision ${precision}:"
    (cd "${REPO_ROOT}" && bash scripts/hpsweep run "${work}/quickstart-${precision}.yaml" \
      --workers 2 --db "${work}/${precision}.db" 2>&1 | tail -n 12)
  done
fi
