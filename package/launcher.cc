// The package's /usr/bin/hpsweep: a launcher that runs the hpsweep build for this CPU's x86-64
// level, <launcher dir>/../lib/hpsweep/hpsweep-v{2,3,4}, with the same arguments.
//
// Why whole binaries per level and not per-level kernels in one binary: the engine is Eigen,
// header-only templates inlined everywhere; the same template compiled with different -march
// flags in one program is an ODR violation, and the linker may keep the AVX-512 copy of a
// function that baseline code calls (SIGILL on an older node). Separate executables cannot mix,
// every level gets the whole engine inlined and tuned, and the seam is one execv().
//
// HPSWEEP_CPU_LEVEL=v2|v3|v4 forces a level (tests, benchmarks); a level the CPU lacks is an
// error that names the missing features. The launcher sets HPSWEEP_EXE to its own path so that
// `hpsweep run` hands workers the launcher (each node then picks its own level), not this node's
// level build.
//
// Built with baseline x86-64 flags and no engine code, so that it runs, and explains, anywhere.
// Exit status: the level build's; 2 for a bad HPSWEEP_CPU_LEVEL, 1 for a CPU that lacks the
// level, 127 when the level build cannot be run.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/status.h"
#include "package/cpu_level.h"

namespace {

// __builtin_cpu_supports takes only string literals: one line per feature of cpu_level.cc.
bool CpuHasFeature(const std::string& f) {
#define HPSWEEP_FEATURE(name) \
  if (f == name) return __builtin_cpu_supports(name) != 0;
  HPSWEEP_FEATURE("sse3")
  HPSWEEP_FEATURE("ssse3")
  HPSWEEP_FEATURE("sse4.1")
  HPSWEEP_FEATURE("sse4.2")
  HPSWEEP_FEATURE("popcnt")
  HPSWEEP_FEATURE("cmpxchg16b")
  HPSWEEP_FEATURE("lahf_lm")
  HPSWEEP_FEATURE("avx")
  HPSWEEP_FEATURE("avx2")
  HPSWEEP_FEATURE("bmi")
  HPSWEEP_FEATURE("bmi2")
  HPSWEEP_FEATURE("f16c")
  HPSWEEP_FEATURE("fma")
  HPSWEEP_FEATURE("lzcnt")
  HPSWEEP_FEATURE("movbe")
  HPSWEEP_FEATURE("xsave")
  HPSWEEP_FEATURE("avx512f")
  HPSWEEP_FEATURE("avx512bw")
  HPSWEEP_FEATURE("avx512cd")
  HPSWEEP_FEATURE("avx512dq")
  HPSWEEP_FEATURE("avx512vl")
#undef HPSWEEP_FEATURE
  return false;  // a name this file does not know: treat it as missing
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  __builtin_cpu_init();
  const char* requested = std::getenv("HPSWEEP_CPU_LEVEL");
  hpsweep::StatusOr<int> level =
      hpsweep::ChooseCpuLevel(requested == nullptr ? "" : requested, CpuHasFeature);
  if (!level.ok()) {
    std::fprintf(stderr, "hpsweep: %s\n", level.status().message().c_str());
    return level.status().code() == hpsweep::StatusCode::kInvalidArgument ? 2 : 1;
  }

  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::fprintf(stderr, "hpsweep: cannot read /proc/self/exe: %s\n", std::strerror(errno));
    return 127;
  }
  self[n] = '\0';
  std::string dir(self);
  dir.resize(dir.rfind('/'));
  const std::string target = dir + "/../lib/hpsweep/hpsweep-v" + std::to_string(*level);

  setenv("HPSWEEP_EXE", self, /*overwrite=*/1);
  execv(target.c_str(), argv);
  std::fprintf(stderr,
               "hpsweep: cannot run %s, the build for this CPU's level (x86-64-v%d): %s; "
               "reinstall the hpsweep package\n",
               target.c_str(), *level, std::strerror(errno));
  return 127;
}
