// Tests for base/cpu_info.h: the CPU line every speed figure carries, read from /proc/cpuinfo.
#include "base/cpu_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace hpsweep::cpu_info_test {
namespace {

std::string FirstModelName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "";
}

TEST(CpuInfoTest, SummaryNamesTheModelTheCountAndTheFlagsItHas) {
  const std::string s = CpuSummary();
  const std::string model = FirstModelName();
  if (model.empty()) GTEST_SKIP() << "no model name in /proc/cpuinfo";
  EXPECT_EQ(s.rfind(model + ", ", 0), 0u) << s;
  EXPECT_NE(s.find(", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs"),
            std::string::npos)
      << s;
  // Each extension the summary names is one the CPU has, and the other way round.
  for (const char* f : {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"}) {
    const bool listed = s.find(std::string(" ") + f) != std::string::npos;
    EXPECT_EQ(listed, CpuHasFlag(f)) << f << " in " << s;
  }
  EXPECT_FALSE(CpuHasFlag("no_such_flag"));
  EXPECT_FALSE(CpuHasFlag(""));
}

}  // namespace
}  // namespace hpsweep::cpu_info_test
