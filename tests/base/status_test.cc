// StatusOr on a temporary: *F() and F().value() hand out the value itself, not a reference into
// the temporary (a range-for over `*F()` once iterated a destroyed vector).
#include "base/status.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hpsweep::status_test {
namespace {

StatusOr<std::vector<std::string>> Names() {
  return std::vector<std::string>{"alpha", "beta", "gamma"};
}

TEST(StatusOrTest, TemporaryGivesAValueNotAReference) {
  using SO = StatusOr<std::vector<std::string>>;
  EXPECT_TRUE((std::is_same_v<decltype(*std::declval<SO>()), std::vector<std::string>>));
  EXPECT_TRUE((std::is_same_v<decltype(std::declval<SO>().value()), std::vector<std::string>>));
  // A named StatusOr still gives references, so reads do not copy.
  EXPECT_TRUE((std::is_same_v<decltype(*std::declval<SO&>()), std::vector<std::string>&>));
  EXPECT_TRUE(
      (std::is_same_v<decltype(*std::declval<const SO&>()), const std::vector<std::string>&>));
}

TEST(StatusOrTest, RangeForOverATemporaryIteratesLiveValues) {
  std::string joined;
  for (const std::string& name : *Names()) joined += name + ",";
  EXPECT_EQ(joined, "alpha,beta,gamma,");
}

TEST(StatusOrTest, ErrorKeepsItsStatus) {
  StatusOr<int> bad = InvalidArgument("units: 0 is out of range [1, 4096]");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "units: 0 is out of range [1, 4096]");
}

}  // namespace
}  // namespace hpsweep::status_test
