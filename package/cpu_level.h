// CPU levels: which x86-64 micro-architecture level (psABI x86-64-v2, -v3, -v4) a CPU runs, for
// the package's launcher (package/launcher.cc), which runs the hpsweep build of that level.
//
//   v2: SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CMPXCHG16B, LAHF   (Nehalem, 2008, and later)
//   v3: v2 + AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, XSAVE   (Haswell, Zen 1)
//   v4: v3 + AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL   (Skylake-SP, Zen 4)
//
// Feature names are __builtin_cpu_supports's (/proc/cpuinfo spells some differently: sse4_2,
// cx16, abm). The CPU is asked through a function so that tests can fake one.
//
// This file is compiled into the launcher with baseline x86-64 flags and must stay free of the
// engine's code: the launcher has to run, and say what is missing, on any x86-64 CPU.
//
// Thread-safety: pure functions.
#ifndef HPSWEEP_PACKAGE_CPU_LEVEL_H_
#define HPSWEEP_PACKAGE_CPU_LEVEL_H_

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

constexpr int kMinCpuLevel = 2;
constexpr int kMaxCpuLevel = 4;

// Whether the CPU has a feature, by __builtin_cpu_supports name.
using CpuHas = std::function<bool(const std::string& feature)>;

// The features level `level` (2..4) needs, its lower levels' included, in the order above.
std::vector<std::string> CpuLevelFeatures(int level);

// The features of CpuLevelFeatures(level) that the CPU lacks; empty when it runs that level.
std::vector<std::string> MissingCpuFeatures(int level, const CpuHas& has);

// The level to run. `requested` is HPSWEEP_CPU_LEVEL: "" picks the highest level the CPU has;
// "v2", "v3" or "v4" forces that level. Errors: InvalidArgument for any other value;
// FailedPrecondition, naming the missing features and the CPU's own level, when the CPU lacks
// the forced level, or lacks even v2.
StatusOr<int> ChooseCpuLevel(const std::string& requested, const CpuHas& has);

}  // namespace hpsweep

#endif  // HPSWEEP_PACKAGE_CPU_LEVEL_H_
