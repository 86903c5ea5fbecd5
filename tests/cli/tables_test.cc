// The progress lines `run` writes to a log: one whenever the number of finished trials changes,
// however close together two trials finish (a 2-trial run that finished inside one second once
// logged no "1/2" line).
#include "cli/tables.h"

#include <gtest/gtest.h>

#include <string>

namespace hpsweep {
namespace {

int CountLines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

TEST(ProgressPrinterTest, LogGetsALineForEveryFinishedCountItSees) {
  ::testing::internal::CaptureStderr();
  ProgressPrinter progress;  // stderr is not a terminal while captured
  progress.Show({"[two] 0/2 trials done"}, 0.0, false, 0);
  progress.Show({"[two] 0/2 trials done"}, 0.1, false, 0);  // nothing new: no line
  progress.Show({"[two] 1/2 trials done"}, 0.3, false, 1);  // 0.3 s later: a line all the same
  progress.Show({"[two] 2/2 trials done"}, 0.5, true, 2);
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(text.find("[two] 1/2 trials done\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[two] 2/2 trials done\n"), std::string::npos) << text;
  EXPECT_EQ(CountLines(text), 3) << text;
}

TEST(ProgressPrinterTest, LogWithoutNewsGetsALineEveryTenSeconds) {
  ::testing::internal::CaptureStderr();
  ProgressPrinter progress;
  for (int i = 0; i <= 25; ++i) progress.Show({"[s] 0/9 trials done"}, i, false, 0);
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(CountLines(text), 3) << text;  // at 0, 10 and 20 s
}

}  // namespace
}  // namespace hpsweep
