// Random identifiers (base/csprng.h).
#include "base/csprng.h"

#include <gtest/gtest.h>

#include <set>

namespace hpsweep::csprng_test {
namespace {

TEST(CsprngTest, HexOfTheAskedLengthAndNeverRepeated) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = RandomHex(16);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_EQ(id->size(), 32u);
    EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos) << *id;
    EXPECT_TRUE(seen.insert(*id).second) << "repeated: " << *id;
  }
  // Every hex digit turns up: the bytes are not, say, all below 0x80.
  std::set<char> digits;
  for (const std::string& id : seen) digits.insert(id.begin(), id.end());
  EXPECT_EQ(digits.size(), 16u);
  auto empty = RandomHex(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

}  // namespace
}  // namespace hpsweep::csprng_test
