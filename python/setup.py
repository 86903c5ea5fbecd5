"""Builds the hpsweep client, generating its gRPC stubs from proto/hpsweep.proto on the way.

The metadata is in pyproject.toml; this file only adds the code generation to build_py, so that
`pip install ./python` (offline, from the repository) makes hpsweep/_gen/hpsweep_pb2.py and
hpsweep_pb2_grpc.py from the same .proto the coordinator was built from.

The compiler: Debian's `protoc` with `grpc_python_plugin` (protobuf-compiler and
protobuf-compiler-grpc, which the C++ build needs anyway) when both are on PATH, else the
`grpc_tools.protoc` module (python3-grpc-tools; Debian 12's is old and refuses proto3 `optional`
fields, hence second). HPSWEEP_PROTO names another hpsweep.proto.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_proto():
    path = os.environ.get("HPSWEEP_PROTO") or os.path.join(HERE, "..", "proto", "hpsweep.proto")
    if not os.path.isfile(path):
        sys.exit(
            "hpsweep: %s not found: install from the repository (pip install ./python, which "
            "reads ../proto/hpsweep.proto) or set HPSWEEP_PROTO to the file" % path
        )
    return path


def protoc_command(include, out):
    protoc, plugin = shutil.which("protoc"), shutil.which("grpc_python_plugin")
    if protoc and plugin:
        return [protoc, "--plugin=protoc-gen-grpc_python=" + plugin, "-I", include,
                "--python_out=" + out, "--grpc_python_out=" + out]
    try:
        import grpc_tools.protoc  # noqa: F401
    except ImportError:
        sys.exit("hpsweep: no protoc to generate the gRPC stubs: install protobuf-compiler and "
                 "protobuf-compiler-grpc (or python3-grpc-tools)")
    return [sys.executable, "-m", "grpc_tools.protoc", "-I", include, "--python_out=" + out,
            "--grpc_python_out=" + out]


def generate(package_dir):
    """Writes hpsweep_pb2.py and hpsweep_pb2_grpc.py into package_dir (the hpsweep._gen package)."""
    proto = find_proto()
    with tempfile.TemporaryDirectory() as tmp:
        # Compiled as hpsweep/_gen/hpsweep.proto, the generated stub imports
        # `from hpsweep._gen import hpsweep_pb2`, which works inside the package.
        gen = os.path.join(tmp, "hpsweep", "_gen")
        os.makedirs(gen)
        shutil.copyfile(proto, os.path.join(gen, "hpsweep.proto"))
        cmd = protoc_command(tmp, tmp) + ["hpsweep/_gen/hpsweep.proto"]
        subprocess.run(cmd, check=True)
        os.makedirs(package_dir, exist_ok=True)
        for name in ("hpsweep_pb2.py", "hpsweep_pb2_grpc.py"):
            shutil.copyfile(os.path.join(gen, name), os.path.join(package_dir, name))
        with open(os.path.join(package_dir, "__init__.py"), "w") as f:
            f.write('"""Generated from proto/hpsweep.proto when the package was built."""\n')


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        if not self.dry_run:
            generate(os.path.join(self.build_lib, "hpsweep", "_gen"))


def scratch_dir():
    """A folder outside the source tree for setuptools' build/ and hpsweep.egg-info/, removed
    when this build step ends: pip builds a local folder in place (pip >= 21.3), and setuptools
    would otherwise write both into python/, which fails on a read-only checkout and leaves
    files in the repository."""
    path = tempfile.mkdtemp(prefix="hpsweep-build-")
    atexit.register(shutil.rmtree, path, True)
    return path


SCRATCH = scratch_dir()
setup(
    cmdclass={"build_py": BuildWithStubs},
    options={
        "build": {"build_base": os.path.join(SCRATCH, "build")},
        "egg_info": {"egg_base": SCRATCH},
    },
)
