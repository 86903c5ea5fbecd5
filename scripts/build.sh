#!/usr/bin/env bash
# Build: bootstraps (packages + MNIST), then configures and builds hpsweep with CMake + Ninja.
#
#   scripts/build.sh [extra cmake --build args, e.g. --target hpsweep]
#
# Build folder: <repo>/build, or HPSWEEP_BUILD_DIR. Release unless the cache says otherwise.
# CMake's configure output shows only on the first configure; later runs print Ninja's
# progress and any compiler diagnostics.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HPSWEEP_BUILD_DIR:-${REPO_ROOT}/build}"

bash "${REPO_ROOT}/scripts/bootstrap.sh"

if [[ ! -f "${BUILD_DIR}/CMakeCache.txt" ]]; then
  cmake -S "${REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "${BUILD_DIR}" -j"$(nproc)" "$@"
