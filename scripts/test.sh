#!/usr/bin/env bash
# Test: bootstraps, builds, and runs the whole GoogleTest suite with ctest.
#
#   scripts/test.sh [extra ctest args, e.g. -R Idx or -L fast]
#
# Build folder as in scripts/build.sh (HPSWEEP_BUILD_DIR). Exit status is ctest's.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"

bash "${REPO_ROOT}/scripts/build.sh"  # bootstraps first
exec ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 "$@"
