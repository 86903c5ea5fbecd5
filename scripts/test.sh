#!/usr/bin/env bash
# Test: bootstraps, builds (installing chromium and python3-torch for the browser and PyTorch
# tests meanwhile, if missing), and runs the whole GoogleTest suite with ctest.
#
#   scripts/test.sh [extra ctest args, e.g. -R Idx or -L fast]
#
# Build folder as in scripts/build.sh (HPSWEEP_BUILD_DIR). Exit status is ctest's.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"

bash "${REPO_ROOT}/scripts/bootstrap.sh"
# Test-only packages: chromium (the report and dashboard tests open their pages in a real headless
# browser) and python3-torch (the PyTorch example runs as a program trial: docs/programs.md).
# Installed beside the build, which is CPU-bound while apt is not; a test whose package could not
# be installed says so and skips.
install_test_packages() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "ok installed" ||
    missing+=(python3-torch)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test: ${missing[*]} missing; the tests that need them will skip" >&2
    return 0
  fi
  echo "test: installing ${missing[*]} for the browser and PyTorch tests" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null ||
    echo "test: could not install ${missing[*]}; the tests that need them will skip" >&2
}
install_test_packages &
packages=$!
bash "${REPO_ROOT}/scripts/build.sh"  # (its bootstrap finds everything in place)
wait "${packages}" || true
# -j4 on 2 cores: the process tests spend most of their time waiting (for a lease, a signal,
# Slurm's clock), and run in three lanes that never overlap within themselves (tests/CMakeLists.txt).
exec ctest --test-dir "${BUILD_DIR}" --output-on-failure -j4 "$@"
