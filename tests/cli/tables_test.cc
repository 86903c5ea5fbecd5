// What the commands print. The progress lines `run` writes to a log: one whenever the number of finished trials changes,
// however close together two trials finish (a 2-trial run that finished inside one second once
// logged no "1/2" line).
#include "cli/tables.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace hpsweep::tables_test {
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

// RFC 4180 quoting, and no formula for a spreadsheet to run (OWASP's CSV injection advice).
TEST(CsvCellTest, QuotesAsRfc4180AndDefusesFormulas) {
  EXPECT_EQ(CsvCell("lstm"), "lstm");
  EXPECT_EQ(CsvCell(""), "");
  EXPECT_EQ(CsvCell("[64, 32]"), "\"[64, 32]\"");
  EXPECT_EQ(CsvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvCell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvCell("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(CsvCell("+1+2"), "\"'+1+2\"");
  EXPECT_EQ(CsvCell("@SUM(A1)"), "\"'@SUM(A1)\"");
  EXPECT_EQ(CsvCell("-1+2"), "\"'-1+2\"");
  EXPECT_EQ(CsvCell("\tcmd"), "\"'\tcmd\"");
  // Numbers stay numbers.
  EXPECT_EQ(CsvCell("-0.5"), "-0.5");
  EXPECT_EQ(CsvCell("+3"), "+3");
  EXPECT_EQ(CsvCell("1e-4"), "1e-4");
}

TEST(CsvCellTest, LeaderboardCsvQuotesWorkerNamesAndParams) {
  v1::GetLeaderboardResponse lb;
  lb.set_metric_name("val_accuracy");
  lb.set_maximize(true);
  lb.add_axes("units");
  lb.add_axes("note");
  v1::LeaderboardRow* r = lb.add_rows();
  r->set_rank(1);
  r->set_trial_id(7);
  r->set_number(1);
  (*r->mutable_params())["units"] = "32";
  (*r->mutable_params())["note"] = "a \"b\", c";
  r->set_worker("=HYPERLINK(\"http://evil\")");
  r->set_val_accuracy(0.5);
  r->set_test_accuracy(0.4);
  ::testing::internal::CaptureStdout();
  PrintLeaderboard(lb, "csv");
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("\"a \"\"b\"\", c\""), std::string::npos) << out;
  EXPECT_NE(out.find(",\"'=HYPERLINK(\"\"http://evil\"\")\","), std::string::npos) << out;
  EXPECT_EQ(out.find(",=HYPERLINK"), std::string::npos) << out;
}

// Every format says which epoch a trial's test accuracy (and model) come from (keep: best or
// last): `from ep` in the table ("-" when not known), weights_epoch in CSV and JSON.
TEST(LeaderboardTest, ShowsTheEpochTheTestComesFrom) {
  v1::GetLeaderboardResponse lb;
  lb.set_metric_name("val_accuracy");
  lb.set_maximize(true);
  for (int i = 1; i <= 2; ++i) {
    v1::LeaderboardRow* r = lb.add_rows();
    r->set_rank(i);
    r->set_trial_id(10 + i);
    r->set_number(i);
    r->set_best_epoch(3);
    r->set_val_accuracy(0.9);
    r->set_test_accuracy(0.875);
    r->set_epochs(5);
    r->set_weights_epoch(i == 1 ? 3 : 0);  // the second: from an older coordinator
    r->set_status(v1::COMPLETED);
  }
  auto print = [&](const std::string& format) {
    ::testing::internal::CaptureStdout();
    PrintLeaderboard(lb, format);
    return ::testing::internal::GetCapturedStdout();
  };
  const std::string table = print("table");
  EXPECT_NE(table.find("test acc  from ep  epochs"), std::string::npos) << table;
  EXPECT_NE(table.find("0.8750    3        5"), std::string::npos) << table;
  EXPECT_NE(table.find("0.8750    -        5"), std::string::npos) << table;
  const std::string csv = print("csv");
  EXPECT_NE(csv.find(",val_accuracy,test_accuracy,weights_epoch,epochs,"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",0.9,0.875,3,5,"), std::string::npos) << csv;
  const nlohmann::json j = nlohmann::json::parse(print("json"));
  EXPECT_EQ(j["rows"][0]["weights_epoch"], 3) << j.dump();
  EXPECT_EQ(j["rows"][1]["weights_epoch"], 0) << j.dump();
}

// A sweep of two objectives and a constraint: the table says how it is ranked and shows the
// front ("infeasible" for a trial that breaks a constraint) and the second objective; CSV and
// JSON carry front, feasible and each objective's value.
TEST(LeaderboardTest, SeveralObjectivesShowTheFront) {
  v1::GetLeaderboardResponse lb;
  lb.set_metric_name("val_accuracy");
  lb.set_maximize(true);
  lb.add_objectives("val_accuracy");
  lb.add_objectives_maximize(true);
  lb.add_objectives("param_count");
  lb.add_objectives_maximize(false);
  lb.set_constraints("param_count <= 30000");
  const double acc[] = {0.9, 0.8, 0.95};
  const double size[] = {24458, 1274, 294410};
  for (int i = 0; i < 3; ++i) {
    v1::LeaderboardRow* r = lb.add_rows();
    r->set_rank(i + 1);
    r->set_number(i + 1);
    r->set_val_accuracy(acc[i]);
    r->set_metric_value(acc[i]);
    r->set_front(1);
    r->set_infeasible(i == 2);
    r->add_objective_values(acc[i]);
    r->add_objective_values(size[i]);
    r->set_status(v1::COMPLETED);
  }
  auto print = [&](const std::string& format) {
    ::testing::internal::CaptureStdout();
    PrintLeaderboard(lb, format);
    return ::testing::internal::GetCapturedStdout();
  };
  const std::string table = print("table");
  EXPECT_NE(table.find("by front of val_accuracy (max), param_count (min)"), std::string::npos)
      << table;
  EXPECT_NE(table.find("constraints: param_count <= 30000"), std::string::npos) << table;
  EXPECT_NE(table.find("rank  trial  front       param_count"), std::string::npos) << table;
  EXPECT_NE(table.find("#3     infeasible  294410"), std::string::npos) << table;
  EXPECT_NE(table.find("#2     1           1274"), std::string::npos) << table;
  const std::string csv = print("csv");
  EXPECT_NE(csv.find("rank,trial_id,number,front,feasible,param_count,"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",3,1,false,294410,"), std::string::npos) << csv;
  const nlohmann::json j = nlohmann::json::parse(print("json"));
  EXPECT_EQ(j["objectives"][1]["name"], "param_count") << j.dump();
  EXPECT_EQ(j["objectives"][1]["goal"], "minimize") << j.dump();
  EXPECT_EQ(j["rows"][1]["front"], 1) << j.dump();
  EXPECT_EQ(j["rows"][2]["feasible"], false) << j.dump();
  EXPECT_EQ(j["rows"][1]["param_count"], 1274) << j.dump();
  EXPECT_EQ(j["constraints"], "param_count <= 30000") << j.dump();
}

}  // namespace
}  // namespace hpsweep::tables_test
