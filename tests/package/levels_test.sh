#!/usr/bin/env bash
# The package's CPU levels, before packaging: runs the staged launcher (<build>/package/stage/
# bin/hpsweep) with each HPSWEEP_CPU_LEVEL. A level this CPU has (by /proc/cpuinfo) must run
# `--help`, `train --help` and a 1-epoch `train` on 1000 MNIST images, and the process must be
# that level's build; a level it lacks must fail with a message naming the missing features.
# Also: no level picks this CPU's best; a bad value, a missing level build, and `slurm-script`
# naming the launcher (not a level build) for the workers.
#
#   tests/package/levels_test.sh LAUNCHER MNIST_DIR
set -euo pipefail
LAUNCHER="$1"
MNIST="$2"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hpsweep-levels.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "${p}" 2>/dev/null || true; done
  rm -rf "${TMP}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The levels this CPU has, from the kernel's flags (independent of the launcher's own check).
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has_all() {
  local f
  for f in "$@"; do [[ "${FLAGS}" == *" ${f} "* ]] || return 1; done
}
cpu_has_level() {
  case "$1" in
    v2) has_all pni ssse3 sse4_1 sse4_2 popcnt cx16 lahf_lm ;;
    v3) cpu_has_level v2 && has_all avx avx2 bmi1 bmi2 f16c fma abm movbe xsave ;;
    v4) cpu_has_level v3 && has_all avx512f avx512bw avx512cd avx512dq avx512vl ;;
  esac
}

# The executable a launched process ends up as: a worker without a coordinator keeps retrying,
# long enough to read its /proc/PID/exe after the launcher's execv.
exe_of_launch() {
  env "$@" "${LAUNCHER}" worker --coordinator 127.0.0.1:1 --data-dir "${MNIST}" \
    >"${TMP}/worker.log" 2>&1 &
  local pid=$! exe=""
  PIDS+=("${pid}")
  for _ in $(seq 1 100); do
    exe="$(readlink "/proc/${pid}/exe" 2>/dev/null || true)"
    [[ "${exe}" == */hpsweep-v* ]] && break
    sleep 0.1
  done
  kill "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
  echo "${exe##*/}"
}

best=""
for level in v2 v3 v4; do
  if cpu_has_level "${level}"; then
    best="${level}"
    HPSWEEP_CPU_LEVEL="${level}" "${LAUNCHER}" --help >"${TMP}/out" 2>&1 ||
      fail "${level}: --help failed: $(cat "${TMP}/out")"
    grep -q "hpsweep" "${TMP}/out" || fail "${level}: --help printed no usage"
    HPSWEEP_CPU_LEVEL="${level}" "${LAUNCHER}" train --help >"${TMP}/out" 2>&1 ||
      fail "${level}: train --help failed: $(cat "${TMP}/out")"
    HPSWEEP_CPU_LEVEL="${level}" "${LAUNCHER}" train --cell lstm --units 16 --epochs 1 \
      --train-limit 1000 --threads 1 --json --data-dir "${MNIST}" >"${TMP}/train.json" ||
      fail "${level}: 1-epoch train failed"
    grep -q '"test_accuracy":0\.[0-9]' "${TMP}/train.json" ||
      fail "${level}: train printed no test accuracy: $(head -c 300 "${TMP}/train.json")"
    got="$(exe_of_launch HPSWEEP_CPU_LEVEL="${level}")"
    [[ "${got}" == "hpsweep-${level}" ]] || fail "${level}: the process ran '${got}'"
    echo "ok: ${level} runs --help, train --help and a 1-epoch train, as hpsweep-${level}"
  else
    rc=0
    HPSWEEP_CPU_LEVEL="${level}" "${LAUNCHER}" --help >"${TMP}/out" 2>&1 || rc=$?
    [[ "${rc}" -eq 1 ]] || fail "${level}: this CPU lacks it, yet exit status ${rc}"
    grep -q "this CPU lacks x86-64-${level} (missing: " "${TMP}/out" ||
      fail "${level}: unclear error: $(cat "${TMP}/out")"
    echo "ok: ${level} is refused on this CPU: $(cat "${TMP}/out")"
  fi
done
[[ -n "${best}" ]] || fail "this CPU is below x86-64-v2; the package cannot run here"

got="$(exe_of_launch)"
[[ "${got}" == "hpsweep-${best}" ]] || fail "no HPSWEEP_CPU_LEVEL: ran '${got}', not hpsweep-${best}"
echo "ok: without HPSWEEP_CPU_LEVEL the launcher runs hpsweep-${best}"

rc=0
HPSWEEP_CPU_LEVEL=v5 "${LAUNCHER}" --help >"${TMP}/out" 2>&1 || rc=$?
[[ "${rc}" -eq 2 ]] || fail "HPSWEEP_CPU_LEVEL=v5: exit status ${rc}, expected 2"
grep -q "HPSWEEP_CPU_LEVEL is 'v5'; use v2, v3 or v4" "${TMP}/out" ||
  fail "HPSWEEP_CPU_LEVEL=v5: unclear error: $(cat "${TMP}/out")"
echo "ok: HPSWEEP_CPU_LEVEL=v5 is refused"

# A launcher without its level builds says which file it could not run.
mkdir -p "${TMP}/bin"
cp "${LAUNCHER}" "${TMP}/bin/hpsweep"
rc=0
"${TMP}/bin/hpsweep" --help >"${TMP}/out" 2>&1 || rc=$?
[[ "${rc}" -eq 127 ]] || fail "launcher without level builds: exit status ${rc}, expected 127"
grep -q "cannot run ${TMP}/bin/../lib/hpsweep/hpsweep-${best}" "${TMP}/out" ||
  fail "launcher without level builds: unclear error: $(cat "${TMP}/out")"
echo "ok: a launcher without its level builds names the missing file"

# Workers on other nodes must start the launcher, which picks their level, not this node's build.
printf 'token\n' >"${TMP}/worker.token"
chmod 600 "${TMP}/worker.token"
printf 'ca\n' >"${TMP}/ca.crt"
"${LAUNCHER}" slurm-script --coordinator nodeA:50051 --tls-ca "${TMP}/ca.crt" \
  --token-file "${TMP}/worker.token" >"${TMP}/script" 2>&1 || fail "slurm-script: $(cat "${TMP}/script")"
grep -q "^exec '${LAUNCHER}' worker" "${TMP}/script" ||
  fail "slurm-script does not run the launcher: $(grep exec "${TMP}/script")"
echo "ok: slurm-script runs ${LAUNCHER} on the workers"
echo "PASS"
