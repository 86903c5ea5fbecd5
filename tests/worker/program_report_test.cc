// worker/program_report.h: report lines checked one by one and as a stream (cut anywhere, a
// partial last line, blank lines, nothing after the final line, the 64 KiB bound).
#include "worker/program_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hpsweep::program_report_test {
namespace {

std::string ErrorOf(std::string_view line, int next_epoch = 1, int max_epoch = 10) {
  StatusOr<ReportLine> r = ParseReportLine(line, 7, next_epoch, max_epoch);
  return r.ok() ? "" : r.status().message();
}

TEST(ProgramReportTest, EpochAndFinalLines) {
  StatusOr<ReportLine> r = ParseReportLine(R"({"epoch": 3, "val_f1": 0.5, "loss": 2})", 1, 3, 9);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, ReportLine::Kind::kEpoch);
  EXPECT_EQ(r->epoch.epoch, 3);
  EXPECT_EQ(r->epoch.metrics, (std::map<std::string, double>{{"val_f1", 0.5}, {"loss", 2}}));
  r = ParseReportLine("{\"test_f1\": 0.75}\r", 1, 3, 9);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, ReportLine::Kind::kFinal);
  EXPECT_EQ(r->epoch.metrics.at("test_f1"), 0.75);
  r = ParseReportLine(" \t\r", 1, 3, 9);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ReportLine::Kind::kBlank);
}

TEST(ProgramReportTest, BadLinesNameTheLineAndQuoteItsStart) {
  EXPECT_EQ(ErrorOf(R"({"epoch": 1, "x": NaN})"), R"(report line 7: not JSON: {"epoch": 1, "x": NaN})");
  EXPECT_EQ(ErrorOf("[1, 2]"), "report line 7: not a JSON object: [1, 2]");
  EXPECT_EQ(ErrorOf(R"({"epoch": 2})"), R"(report line 7: epoch 2 out of order (expected 1): {"epoch": 2})");
  EXPECT_EQ(ErrorOf(R"({"epoch": 11})", 11), R"(report line 7: epoch 11 is past the trial's epochs (10): {"epoch": 11})");
  EXPECT_NE(ErrorOf(R"({"epoch": 1.0})").find("\"epoch\" is not an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": true})").find("\"epoch\" is not an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 18446744073709551615})").find("past the trial's epochs"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "a": {"b": 1}})").find("\"a\" is nested"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "a": [1]})").find("\"a\" is nested"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "a": "1"})").find("metric \"a\" is not a number"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "a": false})").find("is not a number"), std::string::npos);
  // Past the largest double: nlohmann::json refuses it as it parses.
  EXPECT_EQ(ErrorOf(R"({"epoch": 1, "a": 1e999})").rfind("report line 7: not JSON", 0), 0u);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "1a": 1})").find("bad metric name \"1a\""), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "a b": 1})").find("bad metric name"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"epoch": 1, "": 1})").find("bad metric name"), std::string::npos);
  EXPECT_EQ(ErrorOf(std::string("{\"\xff\": 1}")), "report line 7: invalid UTF-8: {\"\\xff\": 1}");
  std::string many = "{\"epoch\": 1";
  for (int i = 0; i < 65; ++i) many += ", \"m" + std::to_string(i) + "\": 1";
  EXPECT_NE(ErrorOf(many + "}").find("more than 64 metrics"), std::string::npos);
  EXPECT_TRUE(IsMetricName(std::string(64, 'a')));
  EXPECT_FALSE(IsMetricName(std::string(65, 'a')));
  EXPECT_TRUE(IsMetricName("_val.f1-x9"));
}

TEST(ProgramReportTest, QuotesAreShortAndValidUtf8) {
  // 59 ASCII bytes then a 3-byte character across the 60-byte cut: it is left out whole.
  const std::string line = "{" + std::string(58, ' ') + "\xE2\x82\xAC" + std::string(100, 'x');
  const std::string e = ErrorOf(line);
  EXPECT_EQ(e, "report line 7: not JSON: {" + std::string(58, ' ') + "...");
}

TEST(ProgramReportTest, ReaderCutsLinesAnywhere) {
  ReportReader reader(2, 5);
  const std::string stream =
      "{\"epoch\": 3, \"a\": 1}\n\n  \n{\"epoch\": 4, \"a\": 2}\r\n{\"b\": 3}";
  std::vector<ReportLine> lines;
  for (char c : stream) ASSERT_TRUE(reader.Add(std::string_view(&c, 1), &lines).ok());
  ASSERT_EQ(lines.size(), 2u);
  ASSERT_TRUE(reader.Finish(&lines).ok());  // the last line has no newline: still a line
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].epoch.epoch, 3);
  EXPECT_EQ(lines[1].epoch.metrics.at("a"), 2);
  EXPECT_EQ(lines[2].kind, ReportLine::Kind::kFinal);
  EXPECT_EQ(reader.lines_read(), 5);
}

TEST(ProgramReportTest, NothingAfterTheFinalLine) {
  ReportReader reader(0, 0);
  std::vector<ReportLine> lines;
  Status s = reader.Add("{\"epoch\": 1}\n{\"f\": 1}\n\n{\"epoch\": 2}\n", &lines);
  EXPECT_EQ(s.message(), "report line 4: a line after the final line");
  EXPECT_EQ(lines.size(), 2u);
  // Once failed, it stays failed and reads nothing.
  EXPECT_EQ(reader.Add("{\"epoch\": 2}\n", &lines).message(), s.message());
  EXPECT_EQ(reader.Finish(&lines).message(), s.message());
}

TEST(ProgramReportTest, LongLinesAreRefusedWithoutBeingKept) {
  ReportReader reader(0, 0);
  std::vector<ReportLine> lines;
  const std::string chunk(1 << 20, 'x');
  Status s = reader.Add(chunk, &lines);
  EXPECT_EQ(s.message().rfind("report line 1: longer than 65536 bytes: xxx", 0), 0u) << s.message();
  // Exactly 65536 bytes is a line (a blank one here), one more is not.
  ReportReader blank(0, 0);
  EXPECT_TRUE(blank.Add(std::string(65536, ' ') + "\n", &lines).ok());
  EXPECT_NE(blank.Add(std::string(65537, ' '), &lines).message().find("longer than"),
            std::string::npos);
  ReportReader split(0, 0);
  EXPECT_TRUE(split.Add(std::string(40000, ' '), &lines).ok());
  EXPECT_NE(split.Add(std::string(40000, ' '), &lines).message().find("report line 1: longer"),
            std::string::npos);
}

TEST(ProgramReportTest, DefaultEpochLimit) {
  ReportReader reader(kMaxProgramEpochs - 1, 0);
  std::vector<ReportLine> lines;
  EXPECT_TRUE(reader.Add("{\"epoch\": 100000}\n", &lines).ok());
  EXPECT_NE(reader.Add("{\"epoch\": 100001}\n", &lines).message().find("past the trial's epochs"),
            std::string::npos);
}

}  // namespace
}  // namespace hpsweep::program_report_test
