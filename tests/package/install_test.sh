#!/usr/bin/env bash
# The .deb on a clean Debian 12: installs it with apt in a fresh `debootstrap --variant=minbase
# bookworm` root, then checks that `hpsweep --help`, `worker --help` and `train --help` run
# there, that ldd finds every library of every installed binary and `hpsweep certs` its openssl
# command (the Depends are complete), and that a 1-epoch `train` on 1000 MNIST images runs at
# this CPU's level and at v2.
#
#   tests/package/install_test.sh DEB CACHE_DIR MNIST_DIR
#
# Needs root (chroot, mount) and deb.debian.org. CACHE_DIR keeps the pristine debootstrap root
# (CACHE_DIR/bookworm-minbase, made once, about 40 s) and the .debs apt downloaded
# (CACHE_DIR/archives), so a re-run copies the root and downloads nothing it already has. Each
# run installs into a fresh copy, removed at the end. Exit status 0 only when every check passed.
set -euo pipefail
DEB="$1"
CACHE="$2"
MNIST="$3"
MIRROR="http://deb.debian.org/debian"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "[$(date +%T)] $*"; }

[[ "$(id -u)" -eq 0 ]] || fail "needs root (chroot, mount /proc)"
[[ -f "${DEB}" ]] || fail "${DEB} not found: build it with cmake --build BUILD --target package"
command -v debootstrap >/dev/null || fail "debootstrap missing: apt-get install -y debootstrap"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
         t10k-labels-idx1-ubyte; do
  [[ -f "${MNIST}/${f}" ]] || fail "${MNIST}/${f} missing: run scripts/bootstrap.sh"
done

mkdir -p "${CACHE}/archives"
exec 9>"${CACHE}/lock"
flock 9  # one run at a time per cache

PRISTINE="${CACHE}/bookworm-minbase"
if [[ ! -x "${PRISTINE}/usr/bin/apt-get" ]]; then
  step "debootstrap --variant=minbase bookworm into ${PRISTINE} (once)"
  rm -rf "${PRISTINE}.partial"
  debootstrap --variant=minbase bookworm "${PRISTINE}.partial" "${MIRROR}" \
    >"${CACHE}/debootstrap.log" 2>&1 || fail "debootstrap failed: $(tail -5 "${CACHE}/debootstrap.log")"
  mv "${PRISTINE}.partial" "${PRISTINE}"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hpsweep-install.XXXXXX")"
ROOT="${WORK}/root"
cleanup() {
  umount "${ROOT}/proc" 2>/dev/null || true
  # Never delete through a mount point that is still there.
  if grep -q " ${ROOT}/" /proc/mounts; then
    echo "install_test: ${ROOT} still has mounts; left in place" >&2
  else
    rm -rf "${WORK}"
  fi
}
trap cleanup EXIT

step "copy the clean root"
cp -a "${PRISTINE}" "${ROOT}"
mount -t proc proc "${ROOT}/proc"
cp /etc/resolv.conf "${ROOT}/etc/resolv.conf"
# A node's usual sources: the release, its updates and security fixes.
cat >"${ROOT}/etc/apt/sources.list" <<SOURCES
deb ${MIRROR} bookworm main
deb ${MIRROR} bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
find "${CACHE}/archives" -maxdepth 1 -name '*.deb' -exec cp -t "${ROOT}/var/cache/apt/archives" {} +
cp "${DEB}" "${ROOT}/tmp/"
DEB_NAME="$(basename "${DEB}")"

in_root() { chroot "${ROOT}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

step "apt-get update"
in_root apt-get -qq update || fail "apt-get update in the chroot failed"
step "apt-get install ./${DEB_NAME}  (Depends: $(dpkg-deb -f "${DEB}" Depends))"
in_root sh -c "cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends ./${DEB_NAME}" >"${WORK}/apt.log" 2>&1 ||
  fail "apt-get install failed: $(tail -20 "${WORK}/apt.log")"
grep -E "newly installed" "${WORK}/apt.log" || true
cp -n "${ROOT}"/var/cache/apt/archives/*.deb "${CACHE}/archives/" 2>/dev/null || true

step "checks"
[[ -x "${ROOT}/usr/bin/hpsweep" ]] || fail "/usr/bin/hpsweep not installed"
for bin in /usr/bin/hpsweep /usr/lib/hpsweep/hpsweep-v2 /usr/lib/hpsweep/hpsweep-v3 \
           /usr/lib/hpsweep/hpsweep-v4; do
  [[ -x "${ROOT}${bin}" ]] || fail "${bin} not installed"
  in_root ldd "${bin}" >"${WORK}/ldd" 2>&1 || fail "ldd ${bin}: $(cat "${WORK}/ldd")"
  if grep -q "not found" "${WORK}/ldd"; then
    fail "${bin} lacks libraries (the Depends are incomplete): $(grep 'not found' "${WORK}/ldd")"
  fi
  echo "ok: ldd ${bin}: $(wc -l <"${WORK}/ldd") libraries, none missing"
done
for args in "--help" "worker --help" "train --help"; do
  # shellcheck disable=SC2086  # word splitting of args is wanted
  in_root hpsweep ${args} >"${WORK}/out" 2>&1 || fail "hpsweep ${args}: $(cat "${WORK}/out")"
  grep -q "Usage" "${WORK}/out" || fail "hpsweep ${args} printed no usage: $(head -5 "${WORK}/out")"
  echo "ok: hpsweep ${args}"
done
# `hpsweep certs` runs the openssl command: a Depends that no library check finds.
in_root hpsweep certs --out /tmp/certs --host nodeA >"${WORK}/out" 2>&1 ||
  fail "hpsweep certs: $(tail -5 "${WORK}/out")"
[[ -s "${ROOT}/tmp/certs/ca.crt" ]] || fail "hpsweep certs wrote no ca.crt: $(tail -5 "${WORK}/out")"
echo "ok: hpsweep certs (the openssl command is there)"
mkdir -p "${ROOT}/tmp/mnist"
cp "${MNIST}"/*-ubyte "${ROOT}/tmp/mnist/"
for level in "" v2; do
  in_root env HPSWEEP_CPU_LEVEL="${level}" hpsweep train --cell lstm --units 16 --epochs 1 \
    --train-limit 1000 --threads 1 --json --data-dir /tmp/mnist >"${WORK}/train.json" 2>&1 ||
    fail "train (HPSWEEP_CPU_LEVEL='${level}'): $(tail -5 "${WORK}/train.json")"
  grep -q '"test_accuracy":0\.[0-9]' "${WORK}/train.json" ||
    fail "train (HPSWEEP_CPU_LEVEL='${level}') printed no accuracy: $(head -c 300 "${WORK}/train.json")"
  echo "ok: a 1-epoch train in the chroot, HPSWEEP_CPU_LEVEL='${level}'"
done
step "PASS"
