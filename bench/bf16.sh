#!/usr/bin/env bash
# bf16 against fp32, and hpsweep against oneDNN's own RNN training primitives, on the same step:
# batch 128 of MNIST's shape, the recurrent layer's last state -> Dense 64 tanh -> Dense 10 (the
# MLP: 784 -> 512 -> 512 -> 10, relu), forward and backward with every weight gradient, no update.
# Round-robin: each round times hpsweep fp32, hpsweep bf16, oneDNN f32 and oneDNN bf16 once
# (S seconds each) in turn, so a shared machine's load falls on all alike; each figure is the
# median of R rounds, and each hpsweep / oneDNN ratio the median of the R ratios taken round by
# round. Prints the CPU, then a Markdown table for docs/benchmarks.md; each round's figures and
# ratios go to standard error as they come.
#
#   bash bench/bf16.sh [--seconds S] [--rounds R] [--models lstm128,gru128,rnn128,lstm32,mlp]
#                      [--threads 1,2] [--eigen]
#
# --eigen adds a column timed in the same rounds: hpsweep fp32 on Eigen's GEMM
# (HPSWEEP_FP32_EIGEN=1), the fp32 products before our own kernel.
#
# hpsweep_dnnl_bench is built only where CMake finds oneDNN (apt install libdnnl-dev); without
# it the oneDNN columns say "-".
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"
BIN="${BUILD}/cli/hpsweep"
DNNL="${BUILD}/bench/hpsweep_dnnl_bench"
SECONDS_PER_ROUND=2
ROUNDS=5
MODEL_LIST="lstm128,gru128,rnn128,lstm32,mlp"
THREAD_LIST="1,2"
EIGEN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --models) MODEL_LIST="$2"; shift 2 ;;
    --threads) THREAD_LIST="$2"; shift 2 ;;
    --eigen) EIGEN=1; shift ;;
    *) echo "usage: bench/bf16.sh [--seconds S] [--rounds R] [--models LIST] [--threads LIST] [--eigen]" >&2
       exit 2 ;;
  esac
done
[[ -x "${BIN}" ]] || bash "${REPO_ROOT}/scripts/build.sh" --target hpsweep >&2

# shellcheck source=bench/models.sh
source "${REPO_ROOT}/bench/models.sh"  # flags_of

median() { printf '%s\n' "$@" | sort -n | sed -n "$(($# / 2 + 1))p"; }
ratio_of() { awk -v a="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.4f", a / c; else print 0 }'; }

hp() {  # threads precision flags... -> samples/s of one round
  local threads="$1" precision="$2"
  shift 2
  "${BIN}" bench "$@" --batch-size 128 --threads "${threads}" --precision "${precision}" \
    --seconds "${SECONDS_PER_ROUND}" --rounds 1 | tail -n 1
}

"${BIN}" bench --cell dense --units 8 --seconds 0.1 --rounds 1 | grep '^cpu: '
if [[ -x "${DNNL}" ]]; then
  "${DNNL}" --quick --models lstm32 --threads 1 | head -n 1 | sed 's/^cpu: .*; oneDNN/oneDNN/'
fi
echo
if [[ "${EIGEN}" == 1 ]]; then
  echo "| model (batch 128) | threads | hpsweep fp32 (Eigen) | hpsweep fp32 | oneDNN f32 | hpsweep fp32 / oneDNN f32 | hpsweep bf16 | bf16/fp32 | oneDNN bf16 | hpsweep bf16 / oneDNN bf16 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
else
  echo "| model (batch 128) | threads | hpsweep fp32 | hpsweep bf16 | bf16/fp32 | oneDNN f32 | hpsweep fp32 / oneDNN f32 | oneDNN bf16 | hpsweep bf16 / oneDNN bf16 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
fi
IFS=, read -r -a models <<<"${MODEL_LIST}"
IFS=, read -r -a thread_counts <<<"${THREAD_LIST}"
for model in "${models[@]}"; do
  read -r -a flags <<<"$(flags_of "${model}")"
  for threads in "${thread_counts[@]}"; do
    fp=() bf=() df=() db=() ei=() rf=() rb=()
    for ((r = 0; r < ROUNDS; ++r)); do
      if [[ "${EIGEN}" == 1 ]]; then
        ei+=("$(HPSWEEP_FP32_EIGEN=1 hp "${threads}" fp32 "${flags[@]}")")
      fi
      fp+=("$(hp "${threads}" fp32 "${flags[@]}")")
      bf+=("$(hp "${threads}" bf16 "${flags[@]}")")
      if [[ -x "${DNNL}" ]]; then
        out=$("${DNNL}" --models "${model}" --threads "${threads}" \
          --seconds "${SECONDS_PER_ROUND}" --rounds 1)
        df+=("$(awk -F'|' -v m="${model}" '$2 ~ " "m" " && $3 ~ /f32/ { gsub(/ /, "", $4); print $4 }' <<<"${out}")")
        db+=("$(awk -F'|' -v m="${model}" '$2 ~ " "m" " && $3 ~ /bf16/ { gsub(/ /, "", $4); print $4 }' <<<"${out}")")
        # This round's ratios: both sides timed seconds apart, so a change of the machine's
        # speed between phases (up to 2x on a shared VM) moves both alike.
        rf+=("$(ratio_of "${fp[-1]}" "${df[-1]}")")
        rb+=("$(ratio_of "${bf[-1]}" "${db[-1]}")")
        echo "round $((r + 1)): ${model} ${threads} thread(s): fp32 ${fp[-1]} / ${df[-1]} = ${rf[-1]}," \
          "bf16 ${bf[-1]} / ${db[-1]} = ${rb[-1]}" >&2
      fi
    done
    f=$(median "${fp[@]}")
    b=$(median "${bf[@]}")
    d1="-" d2="-" vs="-" fvs="-"
    if [[ ${#df[@]} -gt 0 ]]; then
      d1=$(median "${df[@]}")
      d2=$(median "${db[@]}")
      vs=$(printf '%.2fx' "$(median "${rb[@]}")")
      fvs=$(printf '%.2fx' "$(median "${rf[@]}")")
    fi
    ratio=$(awk -v a="${b}" -v c="${f}" 'BEGIN { printf "%.2fx", a / c }')
    if [[ "${EIGEN}" == 1 ]]; then
      e=$(median "${ei[@]}")
      echo "| ${model} | ${threads} | ${e} | ${f} | ${d1} | ${fvs} | ${b} | ${ratio} | ${d2} | ${vs} |"
    else
      echo "| ${model} | ${threads} | ${f} | ${b} | ${ratio} | ${d1} | ${fvs} | ${d2} | ${vs} |"
    fi
  done
done
