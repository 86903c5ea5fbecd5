// Tests for package/cpu_level: which level a CPU runs, and the errors that name what it lacks.
#include "package/cpu_level.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hpsweep {
namespace {

// A fake CPU with every feature of `level` (0: none), minus those in `without`.
CpuHas FakeCpu(int level, std::set<std::string> without = {}) {
  return [level, without](const std::string& f) {
    if (without.count(f) != 0) return false;
    for (const std::string& g : CpuLevelFeatures(level)) {
      if (g == f) return true;
    }
    return false;
  };
}

TEST(CpuLevel, FeaturesAreCumulative) {
  EXPECT_EQ(CpuLevelFeatures(2).size(), 7u);
  EXPECT_EQ(CpuLevelFeatures(3).size(), 16u);
  EXPECT_EQ(CpuLevelFeatures(4).size(), 21u);
  EXPECT_EQ(CpuLevelFeatures(4).front(), "sse3");
  EXPECT_EQ(CpuLevelFeatures(4).back(), "avx512vl");
}

TEST(CpuLevel, AutoPicksTheHighestLevelTheCpuHas) {
  for (int level = 2; level <= 4; ++level) {
    StatusOr<int> got = ChooseCpuLevel("", FakeCpu(level));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, level);
  }
}

TEST(CpuLevel, OneMissingFeatureDropsALevel) {
  // AVX-512F without AVX512BW (Knights Landing): v3, not v4.
  StatusOr<int> got = ChooseCpuLevel("", FakeCpu(4, {"avx512bw"}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3);
  // AVX2 without FMA: v2.
  got = ChooseCpuLevel("", FakeCpu(4, {"fma"}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2);
}

TEST(CpuLevel, ForcedLevelTheCpuHasRuns) {
  StatusOr<int> got = ChooseCpuLevel("v2", FakeCpu(4));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2);
  got = ChooseCpuLevel("v3", FakeCpu(3));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3);
}

TEST(CpuLevel, ForcedLevelTheCpuLacksNamesTheMissingFeatures) {
  StatusOr<int> got = ChooseCpuLevel("v4", FakeCpu(3, {}));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
  const std::string& m = got.status().message();
  EXPECT_NE(m.find("HPSWEEP_CPU_LEVEL=v4"), std::string::npos) << m;
  EXPECT_NE(m.find("avx512f, avx512bw, avx512cd, avx512dq, avx512vl"), std::string::npos) << m;
  EXPECT_NE(m.find("it runs x86-64-v3"), std::string::npos) << m;
}

TEST(CpuLevel, CpuBelowV2IsAnErrorThatSaysHowToBuild) {
  StatusOr<int> got = ChooseCpuLevel("", FakeCpu(2, {"sse4.2", "popcnt"}));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
  const std::string& m = got.status().message();
  EXPECT_NE(m.find("missing: sse4.2, popcnt"), std::string::npos) << m;
  EXPECT_NE(m.find("HPSWEEP_PORTABLE=ON"), std::string::npos) << m;
  got = ChooseCpuLevel("v2", FakeCpu(0));
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("below x86-64-v2"), std::string::npos);
}

TEST(CpuLevel, UnknownLevelNamesAreRefusedAndQuotedSafely) {
  for (const char* bad : {"v1", "v5", "V4", "4", "x86-64-v4", " v4"}) {
    StatusOr<int> got = ChooseCpuLevel(bad, FakeCpu(4));
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(got.status().message().find("use v2, v3 or v4"), std::string::npos);
  }
  // Long or unprintable values are not echoed into the terminal.
  StatusOr<int> got = ChooseCpuLevel(std::string(5000, 'v'), FakeCpu(4));
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.status().message().size(), 200u);
  EXPECT_NE(got.status().message().find("5000 bytes"), std::string::npos);
  got = ChooseCpuLevel("v4\x1b[2J", FakeCpu(4));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message().find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace hpsweep
