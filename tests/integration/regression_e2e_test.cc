// End to end with real processes (README.md, "Regression"): `hpsweep run` of a small regression
// sweep file (task: regression on a CSV whose two first columns are targets) with two workers;
// the leaderboard ranks its trials by val_mse, lowest first; export holds val_mse and val_mae
// per epoch and test_mse and test_mae per trial; and `predict --csv` prints the best trial's
// predicted values, one line a row.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::regression_e2e_test {
namespace {

using json = nlohmann::json;

// Rows y1,y2,x1..x6: y1 = half the sum of the 6 values, y2 = the last one, plus a little noise.
void WriteCsv(const std::string& path, int rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::ofstream out(path);
  out << "sum,last,x1,x2,x3,x4,x5,x6\n";
  for (int i = 0; i < rows; ++i) {
    float x[6], sum = 0;
    for (float& v : x) sum += (v = u(rng));
    out << 0.5f * sum + 0.05f * u(rng) << "," << x[5] + 0.05f * u(rng);
    for (float v : x) out << "," << v;
    out << "\n";
  }
}

class RegressionE2ETest : public E2ETest {
 protected:
  RegressionE2ETest() : E2ETest("reg_e2e") {}
};

TEST_F(RegressionE2ETest, RunRanksByValMseAndPredictPrintsValues) {
  if (IsSkipped()) return;
  WriteCsv(P("train.csv"), 300, 1);
  WriteCsv(P("test.csv"), 40, 2);
  const std::string file = P("reg.yaml");
  std::ofstream(file) << R"(name: reg-e2e
data: {format: csv, train: train.csv, test: test.csv, sequence_length: 6, targets: 2,
       validation_split: 0.2, seed: 3}
fixed: {task: regression, cell: lstm, epochs: 3, batch_size: 16, learning_rate: 0.01}
parameters:
  units: {values: [1, 12]}
  loss: {values: [mse, huber]}
)";
  std::string out;
  const int code = RunCli(
      {"run", file, "--workers", "2", "--db", db_, "--data-dir", MnistDir()}, &out, 180);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("4/4 trials done"), std::string::npos) << out;
  EXPECT_NE(out.find("val_mse"), std::string::npos) << out;

  // The leaderboard: by val_mse, lowest first; no accuracy columns.
  std::string lb_text;
  ASSERT_EQ(RunCli({"leaderboard", "--db", db_, "--format", "json"}, &lb_text), 0) << lb_text;
  const json lb = json::parse(lb_text.substr(lb_text.find('{')));
  EXPECT_EQ(lb["metric"], "val_mse") << lb.dump();
  EXPECT_EQ(lb["goal"], "minimize") << lb.dump();
  ASSERT_EQ(lb["rows"].size(), 4u) << lb.dump();
  double previous = -1;
  for (const json& r : lb["rows"]) {
    ASSERT_TRUE(r["val_mse"].is_number()) << r.dump();
    const double v = r["val_mse"].get<double>();
    EXPECT_GE(v, previous) << lb.dump();
    previous = v;
    EXPECT_TRUE(r["val_accuracy"].is_null()) << r.dump();
    EXPECT_TRUE(r["test_accuracy"].is_null()) << r.dump();
    EXPECT_TRUE(r["test_mse"].is_number()) << r.dump();
    EXPECT_TRUE(r["test_mae"].is_number()) << r.dump();
  }
  // 12 units learn the targets (variance about 0.67 on average) far better than 1 unit.
  EXPECT_EQ(lb["rows"][0]["params"]["units"], 12) << lb.dump();
  EXPECT_LT(lb["rows"][0]["val_mse"].get<double>(), 0.3) << lb.dump();
  std::string table;
  ASSERT_EQ(RunCli({"leaderboard", "--db", db_}, &table), 0);
  EXPECT_NE(table.find("val_mse"), std::string::npos) << table;
  EXPECT_EQ(table.find("val acc"), std::string::npos) << table;
  EXPECT_NE(table.find("test mse"), std::string::npos) << table;
  std::string csv;
  ASSERT_EQ(RunCli({"leaderboard", "--db", db_, "--format", "csv"}, &csv), 0);
  EXPECT_NE(csv.find(",val_mse,val_accuracy,test_accuracy,test_mse,test_mae,weights_epoch"),
            std::string::npos)
      << csv;

  // The export: each epoch's val_mse and val_mae, each trial's test_mse and test_mae.
  std::string ex_text;
  ASSERT_EQ(RunCli({"export", "--db", db_}, &ex_text), 0) << ex_text;
  const json ex = json::parse(ex_text.substr(ex_text.find('{')));
  ASSERT_EQ(ex["trials"].size(), 4u);
  for (const json& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["params"]["task"], "regression") << t.dump();
    ASSERT_EQ(t["epochs"].size(), 3u) << t.dump();
    for (const json& e : t["epochs"]) {
      EXPECT_TRUE(e["val_mse"].is_number()) << e.dump();
      EXPECT_TRUE(e["val_mae"].is_number()) << e.dump();
      EXPECT_TRUE(e["val_accuracy"].is_null()) << e.dump();
    }
    EXPECT_TRUE(t["final_metrics"]["test_mse"].is_number()) << t.dump();
    EXPECT_TRUE(t["final_metrics"]["test_mae"].is_number()) << t.dump();
    EXPECT_FALSE(t.contains("confusion_matrix")) << t.dump();
    // The trial's value is its best epoch's val_mse (keep: best tests that epoch).
    double best = 1e9;
    for (const json& e : t["epochs"]) best = std::min(best, e["val_mse"].get<double>());
    EXPECT_DOUBLE_EQ(t["metric_value"].get<double>(), best) << t.dump();
    EXPECT_EQ(t["epochs"][t["weights_epoch"].get<int>() - 1]["val_mse"].get<double>(), best);
  }

  std::string ex_csv;
  ASSERT_EQ(RunCli({"export", "--db", db_, "--format", "csv"}, &ex_csv), 0) << ex_csv;
  EXPECT_NE(ex_csv.find(",worker,val_mse,val_mae,test_mse,test_mae\n"), std::string::npos)
      << ex_csv;

  // predict --csv with the best trial's model: one line of 2 values per row.
  std::string pred;
  ASSERT_EQ(RunCli({"predict", "--trial", "best", "--db", db_, "--csv", P("test.csv")}, &pred),
            0)
      << pred;
  std::istringstream lines(pred);
  std::string line;
  int rows = 0, summaries = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("mse: ", 0) == 0) {  // the summary of rows with targets (stderr)
      EXPECT_NE(line.find("(40 rows with targets)"), std::string::npos) << line;
      ++summaries;
      continue;
    }
    if (line.rfind("hpsweep: using trial", 0) == 0) continue;  // which trial best is (stderr)
    std::istringstream fields(line);
    std::string a, b, extra;
    ASSERT_TRUE(std::getline(fields, a, ',') && std::getline(fields, b, ',')) << line;
    EXPECT_FALSE(std::getline(fields, extra, ',')) << line;
    EXPECT_TRUE(std::isfinite(std::stod(a)) && std::isfinite(std::stod(b))) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 40) << pred;
  EXPECT_EQ(summaries, 1) << pred;
  std::string pj;
  ASSERT_EQ(RunCli({"predict", "--trial", "best", "--db", db_, "--csv", P("test.csv"), "--json"},
                   &pj),
            0)
      << pj;
  const json pjson = json::parse(pj.substr(pj.find('[')));
  ASSERT_EQ(pjson.size(), 40u);
  EXPECT_EQ(pjson[0]["input"], P("test.csv") + ":2");  // line 1 is the header
  EXPECT_EQ(pjson[0]["values"].size(), 2u);
  EXPECT_TRUE(pjson[0]["values"][0].is_number());
  EXPECT_EQ(pjson[0]["targets"].size(), 2u);
}

TEST_F(RegressionE2ETest, TrainPrintsMseAndMaeAndSavesAModelPredictReads) {
  if (IsSkipped()) return;
  WriteCsv(P("train.csv"), 200, 1);
  WriteCsv(P("test.csv"), 20, 2);
  const std::vector<std::string> common = {
      "train",        "--task",          "regression", "--data-format", "csv",
      "--train-file", P("train.csv"),    "--test-file", P("test.csv"),  "--sequence-length",
      "6",            "--targets",       "2",          "--units",       "4",
      "--epochs",     "2",               "--validation-split", "0.2"};
  std::string out;
  std::vector<std::string> args = common;
  for (const char* a : {"--json", "--loss", "mae", "--save"}) args.push_back(a);
  args.push_back(P("m.hpsm"));
  ASSERT_EQ(RunCli(args, &out), 0) << out;
  const json j = json::parse(out.substr(out.find('{')));
  ASSERT_EQ(j["history"].size(), 2u) << j.dump();
  EXPECT_TRUE(j["history"][1]["val_mse"].is_number()) << j.dump();
  EXPECT_DOUBLE_EQ(j["history"][1]["val_loss"].get<double>(),
                   j["history"][1]["val_mae"].get<double>());  // loss: mae
  EXPECT_TRUE(j["test_mse"].is_number()) << j.dump();
  EXPECT_FALSE(j.contains("test_accuracy")) << j.dump();
  EXPECT_EQ(j["config"]["task"], "regression") << j.dump();
  // The text form, and the saved model's predictions of rows without their targets.
  ASSERT_EQ(RunCli(common, &out), 0) << out;
  EXPECT_NE(out.find("- val_mse: "), std::string::npos) << out;
  EXPECT_NE(out.find("test_mse: "), std::string::npos) << out;
  std::ofstream(P("rows.csv")) << "1,2,3,4,5,6\n0,0,0,0,0,1\n";
  ASSERT_EQ(RunCli({"predict", "--model", P("m.hpsm"), "--csv", P("rows.csv")}, &out), 0) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), ','), 2) << out;
  // Refused: a regression model of digit images, idx data, targets without the task.
  EXPECT_EQ(RunCli({"predict", "--model", P("m.hpsm"), "--idx", P("x")}, &out), 2);
  EXPECT_NE(out.find("a regression model reads --csv rows"), std::string::npos) << out;
  EXPECT_EQ(RunCli({"train", "--task", "regression", "--data-format", "idx", "--data-path", "x"},
                   &out),
            2);
  EXPECT_NE(out.find("--task regression reads real-valued targets from csv data"),
            std::string::npos)
      << out;
  EXPECT_EQ(RunCli({"train", "--targets", "2", "--data-format", "csv", "--train-file",
                    P("train.csv"), "--test-file", P("test.csv")},
                   &out),
            2);
  EXPECT_NE(out.find("--targets is for --task regression"), std::string::npos) << out;
}

TEST_F(RegressionE2ETest, SweepFileRefusalsNameFileLineAndKey) {
  if (IsSkipped()) return;
  WriteCsv(P("train.csv"), 20, 1);
  WriteCsv(P("test.csv"), 10, 2);
  const std::string file = P("bad.yaml");
  std::ofstream(file) << R"(name: reg-bad
data: {format: csv, train: train.csv, test: test.csv, sequence_length: 6, targets: 2}
metric: {name: val_accuracy}
fixed: {task: regression, cell: lstm, epochs: 1}
)";
  std::string out;
  EXPECT_NE(RunCli({"run", file, "--workers", "1", "--db", db_, "--data-dir", MnistDir()}, &out),
            0);
  EXPECT_NE(out.find("bad.yaml:3: key 'metric.name': val_accuracy is not measured for task: "
                     "regression"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("did you mean 'val_mse'?"), std::string::npos) << out;
}

}  // namespace
}  // namespace hpsweep::regression_e2e_test
