#!/usr/bin/env bash
# The Python client's test as a user meets the client: the package installed offline into a fresh
# virtual environment (README, "From Python"), then client_test.py run with that environment's
# python against real coordinator and worker processes.
#
# Usage: run_client_test.sh HPSWEEP_BIN SOURCE_DIR
# The interpreter: Debian's /usr/bin/python3 (before a pyenv or other python3 on PATH, which lacks
# Debian's python3-grpcio and python3-protobuf), else python3; the venv sees those packages
# through --system-site-packages. Exit 77 (ctest: skipped) when no interpreter has them.
set -euo pipefail
bin=$1 src=$2
python=
for candidate in /usr/bin/python3 python3; do
  if "${candidate}" -c 'import grpc, google.protobuf, ensurepip, setuptools, wheel' 2>/dev/null; then
    python=${candidate}
    break
  fi
done
if [[ -z "${python}" ]]; then
  echo "skipped: no python3 with grpcio, protobuf, venv, setuptools and wheel;" \
       "scripts/bootstrap.sh installs python3-grpcio python3-protobuf python3-venv python3-pip"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/hpsweep_pytest.XXXXXX")
trap 'chmod -R u+w "${work}"; rm -rf "${work}"' EXIT
# The README's install command ("From Python"), run from a copy of the repository made read-only:
# the install must not write into the source folder (no python/build/, python/*.egg-info), so it
# works from a read-only checkout and leaves the repository clean.
mkdir -p "${work}/src"
cp -r "${src}/python" "${src}/proto" "${work}/src/"
rm -rf "${work}/src/python/build" "${work}/src/python/"*.egg-info
(cd "${work}/src" && find python proto | sort) > "${work}/before.txt"
chmod -R a-w "${work}/src"
"${python}" -m venv --system-site-packages "${work}/venv"
(cd "${work}/src" &&
  "${work}/venv/bin/pip" install --quiet --no-build-isolation --no-index \
    --disable-pip-version-check ./python)
(cd "${work}/src" && find python proto | sort) > "${work}/after.txt"
if ! diff "${work}/before.txt" "${work}/after.txt"; then
  echo "FAIL: pip install ./python wrote into the source folder (above)"
  exit 1
fi
cd "${work}"  # not the source folder: `import hpsweep` must find the installed package
HPSWEEP_BIN="${bin}" HPSWEEP_SOURCE_DIR="${src}" \
  "${work}/venv/bin/python" "${src}/tests/python/client_test.py" -v 2>&1
