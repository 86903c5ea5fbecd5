// Tests for sweeps of a program (search/sweep_file.h, "A program sweep"; docs/programs.md): free
// parameter names with values kept as written, any metric with its goal, max_trial_seconds, each
// method expanding to exactly the file's keys, and every refusal naming the file, line and key.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "search/objective.h"
#include "search/sweep_file.h"

namespace hpsweep::program_sweep_test {
namespace {

constexpr char kFile[] = "prog.yaml";

StatusOr<PreparedSweep> Prepare(const std::string& body) {
  return PrepareSweep("name: p\nprogram: torch-lstm\n" + body, kFile);
}

// The message of a refused sweep (empty when it was not refused).
std::string Refusal(const std::string& body) {
  auto p = Prepare(body);
  return p.ok() ? "" : p.status().message();
}

TEST(ProgramSweepTest, TheIssuesExampleParsesWithFreeKeysAsWritten) {
  auto p = Prepare(R"(method: bayes
metric: {name: val_f1, goal: maximize}
max_trials: 60
max_trial_seconds: 600
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
fixed: {epochs: 9}
parameters:
  hidden: {values: [32, 64, 128]}
  lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  optimizer: {values: [adam, sgd]}
)");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->spec.program, "torch-lstm");
  EXPECT_EQ(p->spec.metric, "val_f1");
  EXPECT_TRUE(p->spec.maximize);
  EXPECT_EQ(p->spec.max_trial_seconds, 600);
  EXPECT_TRUE(p->trials.empty());  // bayes proposes them
  EXPECT_TRUE(Objective(p->spec.metric, true).Named());
}

TEST(ProgramSweepTest, AGridsTrialsAreTheFixedKeysAndAxesAndNothingElse) {
  auto p = Prepare(R"(metric: {name: loss, goal: minimize}
fixed: {epochs: 3, model: "resnet-18", dropout: 0.5, amp: true}
parameters:
  lr: {values: [0.1, 1e-3]}
  units: {values: [7, abc]}
)");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->trials.size(), 4u);
  EXPECT_EQ(p->trials[1].params,
            (std::map<std::string, std::string>{{"amp", "true"},
                                                {"dropout", "0.5"},
                                                {"epochs", "3"},
                                                {"lr", "0.1"},
                                                {"model", "resnet-18"},
                                                {"units", "abc"}}));  // the engine's units check
  EXPECT_EQ(p->trials[2].params.at("lr"), "1e-3");  // as written
  EXPECT_EQ(ProgramEpochs(p->trials[0].params), 3);
  EXPECT_FALSE(p->spec.maximize);
}

TEST(ProgramSweepTest, RandomAndListSweepsExpandTheirOwnKeys) {
  auto random = Prepare(R"(method: random
max_trials: 5
metric: {name: acc, goal: maximize}
parameters:
  lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  depth: {distribution: int_uniform, min: 1, max: 3}
)");
  ASSERT_TRUE(random.ok()) << random.status().ToString();
  ASSERT_EQ(random->trials.size(), 5u);
  for (const TrialSpec& t : random->trials) {
    EXPECT_EQ(t.params.size(), 2u);
    const int depth = std::stoi(t.params.at("depth"));
    EXPECT_TRUE(depth >= 1 && depth <= 3) << depth;
  }
  auto list = Prepare(R"(method: list
metric: {name: acc, goal: maximize}
trials:
  - {label: small, width: 16}
  - {label: big, width: 512}
)");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->trials.size(), 2u);
  EXPECT_EQ(list->trials[1].params.at("width"), "512");
  EXPECT_EQ(list->trials[1].params.at(kLabelKey), "big");
}

TEST(ProgramSweepTest, RefusalsNameTheLineAndKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"metric: {name: f1}\n", "prog.yaml:3: key 'metric.goal'"},
      {"metric: {name: 'bad name', goal: maximize}\n", "key 'metric.name'"},
      {"fixed: {epochs: 0}\n", "key 'epochs': expected an integer in [1, 10000]"},
      {"fixed: {epochs: 2.5}\n", "key 'epochs'"},
      {"fixed: {dims: [1, 2]}\n", "a program parameter takes a single value"},
      {"fixed: {2bad: 1}\n", "a program parameter's name"},
      {"fixed: {x: " + std::string(300, 'a') + "}\n", "at most 256 bytes"},
      {"data: {dataset: mnist}\n", "prog.yaml:3: key 'data'"},
      {"reuse: true\n", "key 'reuse': not for a sweep of a program"},
      {"max_trial_seconds: -1\n", "key 'max_trial_seconds'"},
      {"early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
       "parameters:\n  x: {values: [1]}\n",
       "the first rung (epoch 1) is not below the trials' epochs (1)"},
  };
  for (const auto& [body, want] : cases) {
    const std::string got = Refusal(body);
    EXPECT_NE(got.find(want), std::string::npos) << body << "\n  got: " << got;
  }
  auto bad_name = PrepareSweep("name: p\nprogram: ../bin/sh\n", kFile);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("prog.yaml:2: key 'program'"), std::string::npos)
      << bad_name.status().message();
  // An engine sweep may not set max_trial_seconds, and keeps its checks.
  auto engine = PrepareSweep("name: e\nmax_trial_seconds: 5\n", kFile);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("only for a sweep of a program"), std::string::npos);
  auto unknown = PrepareSweep("name: e\nfixed: {hidden: 3}\n", kFile);
  EXPECT_FALSE(unknown.ok());
}

TEST(ProgramSweepTest, NamesOfProgramsAndMetrics) {
  EXPECT_TRUE(IsProgramName("torch-lstm.v2_1"));
  EXPECT_FALSE(IsProgramName(".."));
  EXPECT_FALSE(IsProgramName("a/b"));
  EXPECT_FALSE(IsProgramName(std::string(65, 'a')));
  EXPECT_TRUE(IsMetricName("val_f1"));
  EXPECT_TRUE(IsMetricName("loss.top-1"));
  EXPECT_FALSE(IsMetricName("1loss"));
  EXPECT_FALSE(IsMetricName("a b"));
  EXPECT_EQ(ProgramEpochs({{"epochs", "12"}}), 12);
  EXPECT_EQ(ProgramEpochs({}), 1);
}

}  // namespace
}  // namespace hpsweep::program_sweep_test
