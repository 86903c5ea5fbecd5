#include "package/cpu_level.h"

#include <cstddef>

namespace hpsweep {
namespace {

// The features each level adds to the one below it.
const std::vector<std::string>& AddedFeatures(int level) {
  static const std::vector<std::string> kV2 = {"sse3",   "ssse3",      "sse4.1", "sse4.2",
                                               "popcnt", "cmpxchg16b", "lahf_lm"};
  static const std::vector<std::string> kV3 = {"avx", "avx2",  "bmi",   "bmi2", "f16c",
                                               "fma", "lzcnt", "movbe", "xsave"};
  static const std::vector<std::string> kV4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq",
                                               "avx512vl"};
  static const std::vector<std::string> kNone;
  switch (level) {
    case 2: return kV2;
    case 3: return kV3;
    case 4: return kV4;
    default: return kNone;
  }
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The value as it may be quoted in a message: short and printable ASCII, or its length only.
std::string Quoted(const std::string& value) {
  constexpr size_t kMaxQuoted = 16;
  bool printable = value.size() <= kMaxQuoted;
  for (char c : value) printable = printable && c >= 0x20 && c < 0x7f;
  if (printable) return "'" + value + "'";
  return "a value of " + std::to_string(value.size()) + " bytes";
}

}  // namespace

std::vector<std::string> CpuLevelFeatures(int level) {
  std::vector<std::string> all;
  for (int l = kMinCpuLevel; l <= level && l <= kMaxCpuLevel; ++l) {
    const std::vector<std::string>& added = AddedFeatures(l);
    all.insert(all.end(), added.begin(), added.end());
  }
  return all;
}

std::vector<std::string> MissingCpuFeatures(int level, const CpuHas& has) {
  std::vector<std::string> missing;
  for (const std::string& f : CpuLevelFeatures(level)) {
    if (!has(f)) missing.push_back(f);
  }
  return missing;
}

StatusOr<int> ChooseCpuLevel(const std::string& requested, const CpuHas& has) {
  int best = 0;  // the highest level the CPU has, 0 when below v2
  for (int l = kMinCpuLevel; l <= kMaxCpuLevel && MissingCpuFeatures(l, has).empty(); ++l) {
    best = l;
  }
  const std::string advice =
      best == 0 ? "it is below x86-64-v2: build hpsweep from source with -DHPSWEEP_PORTABLE=ON"
                : "it runs x86-64-v" + std::to_string(best) +
                      ": unset HPSWEEP_CPU_LEVEL to run the best level it has";
  if (requested.empty()) {
    if (best == 0) {
      return FailedPrecondition(
          "this CPU lacks x86-64-v2, the lowest level this package is built for (missing: " +
          Join(MissingCpuFeatures(kMinCpuLevel, has)) +
          "); build hpsweep from source with -DHPSWEEP_PORTABLE=ON");
    }
    return best;
  }
  int level = 0;
  if (requested == "v2") level = 2;
  if (requested == "v3") level = 3;
  if (requested == "v4") level = 4;
  if (level == 0) {
    return InvalidArgument("HPSWEEP_CPU_LEVEL is " + Quoted(requested) +
                           "; use v2, v3 or v4, or unset it to pick this CPU's best level");
  }
  const std::vector<std::string> missing = MissingCpuFeatures(level, has);
  if (!missing.empty()) {
    return FailedPrecondition("HPSWEEP_CPU_LEVEL=" + requested + " but this CPU lacks x86-64-" +
                              requested + " (missing: " + Join(missing) + "); " + advice);
  }
  return level;
}

}  // namespace hpsweep
