#!/usr/bin/env bash
# How close each model's fp32 training step comes to the machine's large-GEMM rate: the step's
# matrix-product FLOP per sample times its samples/s (hpsweep bench, 2 threads unless --threads,
# batch 128), against Eigen's 2048^3 float product on as many threads (hpsweep_gemm_peak --peak).
# Each round times the reference and then every model in turn, so that a shared machine's load
# (whose speed here moves by 2x between phases) falls on both sides of a fraction alike; each
# fraction is the median of the R fractions taken round by round. Prints the CPU, then a
# Markdown table.
#
#   bash bench/fraction.sh [--seconds S] [--rounds R] [--threads T] [--precision fp32|bf16]
#
# FLOP counted: the products the step computes (bench/models.sh, flop_of).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"
BIN="${BUILD}/cli/hpsweep"
PEAK="${BUILD}/bench/hpsweep_gemm_peak"
SECONDS_PER_ROUND=1.5
ROUNDS=5
THREADS=2
PRECISION=fp32
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --precision) PRECISION="$2"; shift 2 ;;
    *) echo "usage: bench/fraction.sh [--seconds S] [--rounds R] [--threads T] [--precision P]" >&2
       exit 2 ;;
  esac
done
[[ -x "${BIN}" && -x "${PEAK}" ]] || bash "${REPO_ROOT}/scripts/build.sh" >&2

# shellcheck source=bench/models.sh
source "${REPO_ROOT}/bench/models.sh"  # BENCH_MODELS, flags_of, flop_of
MODELS="${BENCH_MODELS}"
median() { printf '%s\n' "$@" | sort -g | sed -n "$(($# / 2 + 1))p"; }

declare -A FRACTIONS RATES
PEAKS=()
for ((r = 1; r <= ROUNDS; ++r)); do
  peak="$("${PEAK}" --peak "${THREADS}")"
  PEAKS+=("${peak}")
  for m in ${MODELS}; do
    # shellcheck disable=SC2046
    sps="$("${BIN}" bench $(flags_of "${m}") --batch-size 128 --threads "${THREADS}" \
      --precision "${PRECISION}" --seconds "${SECONDS_PER_ROUND}" --rounds 1 | tail -n 1)"
    gf="$(awk -v s="${sps}" -v f="$(flop_of "${m}")" 'BEGIN { printf "%.1f", s * f / 1e9 }')"
    RATES[${m}]+=" ${gf}"
    FRACTIONS[${m}]+=" $(awk -v g="${gf}" -v p="${peak}" 'BEGIN { printf "%.4f", g / p }')"
  done
done

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
echo "reference: Eigen 2048^3 float product, ${THREADS} thread(s): median $(median "${PEAKS[@]}") GF/s" \
  "(rounds: ${PEAKS[*]})"
echo
echo "| model (batch 128, ${PRECISION}, ${THREADS} threads) | MFLOP a sample | step GF/s | fraction of the large GEMM | rounds' lowest-highest |"
echo "|---|---:|---:|---:|---:|"
for m in ${MODELS}; do
  # shellcheck disable=SC2086
  printf '| %s | %.2f | %.1f | %.0f%% | %s |\n' "${m}" \
    "$(awk -v f="$(flop_of "${m}")" 'BEGIN { print f / 1e6 }')" \
    "$(median ${RATES[${m}]})" "$(awk -v x="$(median ${FRACTIONS[${m}]})" 'BEGIN { print 100 * x }')" \
    "$(printf '%s\n' ${FRACTIONS[${m}]} | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
       END { printf "%.0f-%.0f%%", 100 * lo, 100 * hi }')"
done
