#!/usr/bin/env bash
# Test: bootstraps, builds, installs chromium if missing (for the report and dashboard tests), and runs the
# whole GoogleTest suite with ctest.
#
#   scripts/test.sh [extra ctest args, e.g. -R Idx or -L fast]
#
# Build folder as in scripts/build.sh (HPSWEEP_BUILD_DIR). Exit status is ctest's.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"

bash "${REPO_ROOT}/scripts/build.sh"  # bootstraps first
# The report and dashboard tests open their pages in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing chromium for the report and dashboard tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test: chromium missing; the report and dashboard tests will skip their browser checks" >&2
  fi
fi
# -j4 on 2 cores: the process tests spend most of their time waiting (for a lease, a signal,
# Slurm's clock), and run in three lanes that never overlap within themselves (tests/CMakeLists.txt).
exec ctest --test-dir "${BUILD_DIR}" --output-on-failure -j4 "$@"
