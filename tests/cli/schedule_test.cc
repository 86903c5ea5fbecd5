// `hpsweep train --schedule FILE` (cli/train_schedule.h): a schedule of two entries trains to the
// same history and test metrics, bit for bit, as the chained training done by hand through the
// engine API (pause after the second entry's epoch, resume under the changed learning_rate and
// dropout); the export's form ({"schedule": [...]}) and numbers as values read the same; the
// segment lines are printed; bad files are refused before any data are read, naming the file,
// the entry and the key.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/trainer.h"

namespace hpsweep::schedule_test {
namespace {

using json = nlohmann::json;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Result {
  int code = -1;
  std::string out, err;
};

// The model flags of every run here, and the same as config keys for the engine.
const std::vector<std::pair<std::string, std::string>> kKeys = {
    {"cell", "lstm"}, {"units", "8"},     {"epochs", "5"},         {"batch_size", "32"},
    {"seed", "3"},    {"dropout", "0.1"}, {"learning_rate", "0.01"}, {"validation_split", "0.2"}};

class ScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/schedule_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    WriteCsv("train.csv", 200, 1);
    WriteCsv("test.csv", 60, 2);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // label, then 10 steps x 2 features: feature 0 drifts at a rate set by the class (0..3).
  void WriteCsv(const std::string& name, int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> noise(-0.2f, 0.2f);
    std::ofstream out(dir_ + "/" + name);
    for (int i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % 4);
      out << c;
      for (int t = 0; t < 10; ++t) out << "," << 0.1f * c * t + noise(rng) << "," << noise(rng);
      out << "\n";
    }
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  // `hpsweep train` with kKeys, the CSV data and `args`.
  Result Train(const std::string& args) {
    std::string cmd = "cd " + Quote(dir_) + " && " + Quote(HPSWEEP_BIN) + " train";
    for (const auto& [k, v] : kKeys) {
      std::string flag = k;
      for (char& c : flag) c = c == '_' ? '-' : c;
      cmd += " --" + flag + " " + v;
    }
    cmd += " --data-format csv --train-file train.csv --test-file test.csv --sequence-length 10 " +
           args + " 2>" + Quote(dir_ + "/stderr.txt");
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(dir_ + "/stderr.txt");
    r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }

  std::string dir_;
};

// The same run by hand through the engine API: epochs 1-3 under learning_rate 0.01 and dropout
// 0.1, paused, then 4-5 under 0.02 and 0.3 from the checkpoint it handed over (in memory).
TrainResult ChainedByHand(const std::string& dir) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = dir + "/train.csv";
  spec.test_file = dir + "/test.csv";
  spec.sequence_length = 10;
  StatusOr<Mnist> data = LoadDataset(spec);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (!data.ok()) return {};
  TrialConfig first;
  for (const auto& [k, v] : kKeys) EXPECT_TRUE(ApplyKey(k, v, &first).ok()) << k;
  ShapeModelToData(*data, &first.model);
  TrialConfig second = first;
  EXPECT_TRUE(ApplyKey("learning_rate", "0.02", &second).ok());
  EXPECT_TRUE(ApplyKey("dropout", "0.3", &second).ok());

  std::optional<TrainCheckpoint> checkpoint;
  TrainOptions options;
  options.pause_after_epoch = 3;
  options.on_checkpoint = [&](const TrainCheckpoint& c) { checkpoint = c; };
  StatusOr<TrainResult> part = hpsweep::Train(first, *data, options);
  EXPECT_TRUE(part.ok() && part->paused && checkpoint && checkpoint->epoch == 3);
  if (!checkpoint) return {};
  TrainOptions rest;
  rest.resume = &*checkpoint;
  StatusOr<TrainResult> done = hpsweep::Train(second, *data, rest);
  EXPECT_TRUE(done.ok()) << done.status().ToString();
  return done.ok() ? std::move(*done) : TrainResult{};
}

void ExpectSameAsByHand(const TrainResult& want, const json& got) {
  ASSERT_EQ(got["history"].size(), want.history.size());
  for (size_t i = 0; i < want.history.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(got["history"][i]["train_loss"].get<double>(), want.history[i].train_loss);
    EXPECT_EQ(got["history"][i]["val_loss"].get<double>(), want.history[i].val_loss);
  }
  EXPECT_EQ(got["test_accuracy"].get<double>(), want.test.accuracy);
  EXPECT_EQ(got["test_loss"].get<double>(), want.test.loss);
}

TEST_F(ScheduleTest, TwoEntriesTrainAsTheChainedEngineRunsDo) {
  Write("schedule.json", R"([{"epoch": 0, "params": {"learning_rate": "0.01", "dropout": "0.1"}},
    {"epoch": 3, "from": 7, "params": {"learning_rate": "0.02", "dropout": "0.3"}}])");
  Result r = Train("--json --schedule schedule.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json got = json::parse(r.out);
  const TrainResult want = ChainedByHand(dir_);
  ExpectSameAsByHand(want, got);
  EXPECT_EQ(got["history"][3]["lr"].get<double>(), static_cast<double>(0.02f));
  EXPECT_EQ(got["config"]["dropout"].dump(), "[0.3]");  // the last segment's
  EXPECT_EQ(got["config"]["learning_rate"], 0.02);
  EXPECT_EQ(got["schedule"][1]["params"]["dropout"].dump(), "[0.3]");
  ASSERT_EQ(got["schedule"].size(), 2u);
  EXPECT_EQ(got["schedule"][1]["first_epoch"], 4);
  EXPECT_EQ(got["schedule"][1]["last_epoch"], 5);

  // Without the schedule the run is another one (the comparison above can tell).
  Result plain = Train("--json");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(json::parse(plain.out)["history"][3]["train_loss"].get<double>(),
            want.history[3].train_loss);

  // An export's trial, numbers for values: the same run; the text output has the segment lines.
  Write("export.json", R"({"number": 7, "params": {"units": "8"}, "schedule": [
    {"epoch": 0, "params": {"learning_rate": 0.01, "dropout": 0.1}},
    {"epoch": 3, "params": {"learning_rate": 0.02, "dropout": 0.3}}]})");
  Result exported = Train("--json --schedule export.json");
  ASSERT_EQ(exported.code, 0) << exported.err;
  ExpectSameAsByHand(want, json::parse(exported.out));
  Result text = Train("--schedule export.json");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("epoch 1-3: dropout [0.1], learning_rate 0.01\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("epoch 4-5: dropout [0.3], learning_rate 0.02\n"), std::string::npos)
      << text.out;
  EXPECT_LT(text.out.find("epoch 4-5:"), text.out.find("Epoch 4/5"));
}

TEST_F(ScheduleTest, BadFilesAreRefusedNamingTheProblem) {
  struct Case {
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {"[{\"epoch\": 0, ", "not valid JSON"},
      {"[]", "expected a list of 1 to 10000 entries"},
      {R"({"trials": []})", "(or an object with one under 'schedule')"},
      {R"([{"epoch": 1, "params": {}}])", "entry 1: epoch 1 (the first entry starts at epoch 0)"},
      {R"([{"epoch": 0, "params": {}}, {"epoch": 0, "params": {}}])", "entry 2: epoch 0 (epochs increase"},
      {R"([{"epoch": 0, "params": {}}, {"epoch": 5, "params": {}}])", "below the training's 5"},
      {R"([{"epoch": 0, "params": {}}, {"epoch": "2", "params": {}}])",
       "entry 2: expected {\"epoch\": N, \"params\": {...}}"},
      {R"([{"epoch": 0}])", "entry 1: expected {\"epoch\": N, \"params\""},
      {R"([{"epoch": 0, "params": {"learning_rat": "0.1"}}])",
       "entry 1: key 'learning_rat' cannot change during training"},
      {R"([{"epoch": 0, "params": {"units": "16"}}])", "entry 1: key 'units'"},
      {R"([{"epoch": 0, "params": {}}, {"epoch": 2, "params": {"dropout": "2"}}])",
       "entry 2, key 'dropout'"},
      {R"([{"epoch": 0, "params": {"dropout": true}}])", "a string, a number or a list of numbers"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Write("bad.json", c.text);
    Result r = Train("--schedule bad.json");
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Epoch 1/"), std::string::npos);  // refused before training
  }
  Write("typo.json", R"([{"epoch": 0, "params": {"learning_rat": "0.1"}}])");
  EXPECT_NE(Train("--schedule typo.json").err.find("did you mean 'learning_rate'?"),
            std::string::npos);
  Write("plateau.json", R"([{"epoch": 0, "params": {}},
    {"epoch": 2, "params": {"learning_rate": "0.05"}}])");
  Result plateau = Train("--lr-schedule reduce_on_plateau --schedule plateau.json");
  EXPECT_EQ(plateau.code, 2);
  EXPECT_NE(plateau.err.find("entry 2, key 'learning_rate': lr_schedule reduce_on_plateau"),
            std::string::npos)
      << plateau.err;
  Result missing = Train("--schedule no_such.json");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("no_such.json"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace hpsweep::schedule_test
