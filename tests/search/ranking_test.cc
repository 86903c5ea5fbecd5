// Tests for search/ranking.h and its sweep-file keys: fronts, crowding distance, constraints,
// the one-metric order kept as Objective's, the param_count constraint never proposed (grid,
// random, bayes), TPE's multi-objective split, the sweep-file refusals, and the scheduler's
// views of a two-objective sweep (leaderboard fronts, status' front size, restart).
#include "search/ranking.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "coordinator/views.h"
#include "search/domain.h"
#include "search/sampler.h"
#include "search/sweep_file.h"

namespace hpsweep::ranking_test {
namespace {

// A finished trial with val_accuracy `acc`, `units` LSTM units and `seconds` of training.
TrialRow Done(int number, double acc, int units, double seconds = 1) {
  TrialRow t;
  t.number = number;
  t.status = TrialStatus::kCompleted;
  t.best_val_accuracy = acc;
  t.best_val_loss = 1 - acc;
  t.epochs_run = 1;
  t.seconds = seconds;
  t.params = {{"cell", "lstm"}, {"units", std::to_string(units)}, {"layers", "1"}};
  return t;
}

std::vector<int> Order(const SweepRanking& r, const std::vector<TrialRow>& rows) {
  std::vector<int> n;
  for (const SweepRanking::Place& p : r.Rank(rows)) n.push_back(rows[p.index].number);
  return n;
}

SweepRanking AccuracyAndSize(std::vector<ConstraintSpec> constraints = {}) {
  return SweepRanking({{"val_accuracy", true}, {"param_count", false}}, std::move(constraints));
}

TEST(RankingTest, ParamCountIsTheEnginesCount) {
  // LSTM(8) on 28 features: 4*8*(28+8+1) = 1184, then Dense(10): 8*10+10 = 90.
  EXPECT_EQ(ParamCountOfParams({{"cell", "lstm"}, {"units", "8"}}), 1184 + 90);
  EXPECT_EQ(ParamCountOfParams({{"units", "8"}}), -1);  // not an engine model (a program's)
  EXPECT_EQ(ParamCountOfParams({{"cell", "lstm"}, {"units", "x"}}), -1);
}

TEST(RankingTest, FrontsThenCrowding) {
  // Accuracy up, size down. #1 (0.9, 64) #2 (0.8, 16) #3 (0.7, 8) are not dominated; #4 (0.85,
  // 128) is dominated by #1 only; #5 (0.6, 32) by #2 and #3.
  std::vector<TrialRow> rows = {Done(1, 0.9, 64), Done(2, 0.8, 16), Done(3, 0.7, 8),
                                Done(4, 0.85, 128), Done(5, 0.6, 32)};
  const SweepRanking r = AccuracyAndSize();
  ASSERT_TRUE(r.pareto());
  const std::vector<SweepRanking::Place> places = r.Rank(rows);
  ASSERT_EQ(places.size(), 5u);
  std::vector<int> front(6);
  for (const auto& p : places) front[rows[p.index].number] = p.front;
  EXPECT_EQ(front[1], 1);
  EXPECT_EQ(front[2], 1);
  EXPECT_EQ(front[3], 1);
  EXPECT_EQ(front[4], 2);
  EXPECT_EQ(front[5], 2);
  // Within front 1 the ends (#1 and #3, infinite crowding) come before the middle #2.
  EXPECT_EQ(Order(r, rows), (std::vector<int>{1, 3, 2, 4, 5}));
}

TEST(RankingTest, TheSamplersOrderWithinAFrontIsByHypervolumeContribution) {
  // One front: #1 the smallest model that learns little, #2 the knee, #3 the most accurate and
  // largest. Crowding puts the ends first; the hypervolume each adds puts the knee first
  // (reference 10% beyond the worst: #1 adds (0.3-0.26)*(90000-1000)... far less than #2).
  std::vector<TrialRow> rows = {Done(1, 0.30, 1), Done(2, 0.90, 16), Done(3, 0.92, 256),
                                Done(4, 0.50, 64)};  // #4: dominated by #2
  const SweepRanking r = AccuracyAndSize();
  EXPECT_EQ(Order(r, rows), (std::vector<int>{1, 3, 2, 4}));
  std::vector<const TrialRow*> p;
  for (const TrialRow& t : rows) p.push_back(&t);
  std::vector<int> by_contribution;
  for (const auto& place : r.RankByContribution(p)) by_contribution.push_back(rows[place.index].number);
  EXPECT_EQ(by_contribution, (std::vector<int>{2, 3, 1, 4}));
  // With one objective (or more than two) it is Rank's order.
  const SweepRanking one("val_accuracy", true);
  std::vector<int> plain;
  for (const auto& place : one.RankByContribution(p)) plain.push_back(rows[place.index].number);
  EXPECT_EQ(plain, (std::vector<int>{3, 2, 4, 1}));
}

TEST(RankingTest, OneObjectiveIsObjectivesOrder) {
  std::vector<TrialRow> rows = {Done(1, 0.8, 8), Done(2, 0.9, 8), Done(3, 0.8, 8),
                                Done(4, -1, 8)};  // #4: no value, left out
  rows[3].best_val_loss = -1;
  const SweepRanking r("val_accuracy", true);
  EXPECT_FALSE(r.ranked_by_fronts());
  EXPECT_EQ(Order(r, rows), (std::vector<int>{2, 1, 3}));
  const SweepRanking loss("val_loss", false);
  EXPECT_EQ(Order(loss, rows), (std::vector<int>{2, 1, 3}));
}

TEST(RankingTest, InfeasibleTrialsRankLastBySmallerViolation) {
  // epoch_seconds at most 2: #1 (the most accurate) breaks it by 3, #2 by 1.
  std::vector<TrialRow> rows = {Done(1, 0.95, 64, 5), Done(2, 0.9, 64, 3), Done(3, 0.5, 64, 1),
                                Done(4, 0.6, 64, 2)};
  const SweepRanking r({{"val_accuracy", true}}, {{"epoch_seconds", -INFINITY, 2}});
  EXPECT_TRUE(r.ranked_by_fronts());
  EXPECT_FALSE(r.pareto());
  EXPECT_EQ(Order(r, rows), (std::vector<int>{4, 3, 2, 1}));
  EXPECT_DOUBLE_EQ(r.Violation(rows[0]), 1.5);  // (5 - 2) / 2
  EXPECT_EQ(r.Violation(rows[3]), 0);
  for (const auto& p : r.Rank(rows)) {
    EXPECT_EQ(p.feasible, rows[p.index].number >= 3) << "trial #" << rows[p.index].number;
  }
  // A constraint not measured yet (a running trial's seconds) holds.
  TrialRow running = Done(5, 0.99, 64, 9);
  running.status = TrialStatus::kRunning;
  EXPECT_EQ(r.Violation(running), 0);
  EXPECT_EQ(r.ConstraintsText(), "epoch_seconds <= 2");
}

TEST(RankingTest, ATrialLackingAnObjectiveGoesAfterTheFronts) {
  std::vector<TrialRow> rows = {Done(1, 0.9, 64), Done(2, 0.95, 8)};
  rows[1].params.erase("cell");  // no param_count
  const SweepRanking r = AccuracyAndSize();
  const auto places = r.Rank(rows);
  ASSERT_EQ(places.size(), 2u);
  EXPECT_EQ(rows[places[0].index].number, 1);
  EXPECT_EQ(places[1].front, 0);
  EXPECT_TRUE(std::isnan(r.ValuesOf(rows[1])[1]));
}

TEST(RankingTest, MeasuresOfATrial) {
  const SweepRanking r({{"val_accuracy", true}, {"train_seconds", false}}, {});
  TrialRow t = Done(1, 0.9, 8, 6);
  t.epochs_run = 3;
  EXPECT_EQ(r.MeasureOf("train_seconds", t), 6);
  EXPECT_EQ(r.MeasureOf("epoch_seconds", t), 2);
  EXPECT_EQ(r.MeasureOf("val_loss", t), t.best_val_loss);
  t.final_metrics["latency_ms"] = 3.5;
  EXPECT_EQ(r.MeasureOf("latency_ms", t), 3.5);
  EXPECT_TRUE(std::isnan(r.MeasureOf("test_accuracy", t)));  // no test pass
  t.status = TrialStatus::kRunning;
  EXPECT_TRUE(std::isnan(r.MeasureOf("train_seconds", t)));  // not finished
}

const char kTwoObjectives[] =
    "name: mo\nmethod: grid\n"
    "metric:\n  - {name: val_accuracy, goal: maximize}\n  - {name: param_count}\n"
    "fixed: {cell: lstm, epochs: 1}\nparameters:\n  units: {values: [8, 64, 256]}\n";

TEST(RankingSweepFileTest, MetricListAndConstraints) {
  auto spec = ParseSweep(std::string(kTwoObjectives) + "constraints: {param_count: {max: 20000}, "
                                                       "epoch_seconds: {min: 0, max: 5}}\n",
                         "mo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->metric, "val_accuracy");
  ASSERT_EQ(spec->objectives.size(), 2u);
  EXPECT_EQ(spec->objectives[1].name, "param_count");
  EXPECT_FALSE(spec->objectives[1].maximize);  // a size is minimised by default
  ASSERT_EQ(spec->constraints.size(), 2u);
  EXPECT_EQ(spec->constraints[0].max, 20000);
  EXPECT_EQ(RankingOfSpec(*spec).DisplayName(), "val_accuracy (max), param_count (min)");
}

TEST(RankingSweepFileTest, Refusals) {
  struct Case {
    std::string yaml, want;
  };
  const std::string base = "name: mo\nmethod: grid\nfixed: {cell: lstm, epochs: 1}\n"
                           "parameters:\n  units: {values: [8, 64]}\n";
  const std::vector<Case> cases = {
      {"metric: [{name: val_accuracy}, {name: param_cont}]\n", "did you mean 'param_count'?"},
      {"metric: [{name: val_accuracy}, {name: val_accuracy}]\n", "already an objective"},
      {"metric: [{name: val_accuracy}]\n", "a list of 2 to 4"},
      {"metric: [{name: val_accuracy}, {name: val_loss, goal: maximize}]\n",
       "val_loss should be minimized"},
      {"metric: [{name: val_accuracy}, {name: test_mse}]\n", "regression metric"},
      {"metric: [{name: val_accuracy}, 3]\n", "expected a mapping"},
      {"constraints: {param_cuont: {max: 5}}\n", "did you mean 'param_count'?"},
      {"constraints: {param_count: {max: 5, min: 9}}\n", "min is above max"},
      {"constraints: {param_count: {max: lots}}\n", "expected a finite number"},
      {"constraints: {param_count: {}}\n", "give min, max or both"},
      {"constraints: {val_mae: {max: 1}}\n", "regression metric"},
  };
  for (const Case& c : cases) {
    auto spec = ParseSweep(base + c.yaml, "mo.yaml");
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << c.yaml << " -> " << spec.status().message();
    EXPECT_NE(spec.status().message().find("mo.yaml:"), std::string::npos)
        << spec.status().message();
  }
  // A program's objectives are its own metrics (goal needed), and param_count is not its.
  const std::string program = "name: p\nprogram: train\nmethod: grid\nfixed: {epochs: 1}\n"
                              "parameters:\n  lr: {values: [0.1, 0.2]}\n";
  EXPECT_TRUE(ParseSweep(program + "metric: [{name: f1, goal: maximize}, {name: latency, goal: "
                                   "minimize}]\n", "p.yaml").ok());
  auto no_goal = ParseSweep(program + "metric: [{name: f1, goal: maximize}, {name: latency}]\n",
                            "p.yaml");
  EXPECT_FALSE(no_goal.ok());
  auto size = ParseSweep(program + "metric: [{name: f1, goal: maximize}, {name: param_count}]\n",
                         "p.yaml");
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("engine model"), std::string::npos);
  auto unmeasured = ParseSweep(program + "metric: {name: f1, goal: maximize}\n"
                                         "constraints: {latency: {max: 3}}\n", "p.yaml");
  ASSERT_FALSE(unmeasured.ok());
  EXPECT_NE(unmeasured.status().message().find("never measures latency"), std::string::npos);
}

TEST(RankingSweepFileTest, AParamCountConstraintLeavesPointsOut) {
  // LSTM(8): 1,274 parameters; LSTM(64): 24,458; LSTM(256): 294,410.
  auto spec = ParseSweep(std::string(kTwoObjectives) + "constraints: {param_count: {max: 30000}}\n",
                         "mo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto grid = ExpandSweep(*spec, "mo.yaml");
  ASSERT_TRUE(grid.ok()) << grid.status().ToString();
  ASSERT_EQ(grid->size(), 2u);
  EXPECT_EQ((*grid)[0].params.at("units"), "8");
  EXPECT_EQ((*grid)[1].params.at("units"), "64");
  EXPECT_EQ((*grid)[1].number, 2);
  // Random draws on until it has max_trials points inside.
  auto random = ParseSweep(
      "name: r\nmethod: random\nmax_trials: 12\nseed: 4\nfixed: {cell: lstm, epochs: 1}\n"
      "parameters:\n  units: {distribution: int_uniform, min: 8, max: 256}\n"
      "constraints: {param_count: {max: 30000}}\n", "r.yaml");
  ASSERT_TRUE(random.ok()) << random.status().ToString();
  auto drawn = ExpandSweep(*random, "r.yaml");
  ASSERT_TRUE(drawn.ok()) << drawn.status().ToString();
  EXPECT_EQ(drawn->size(), 12u);
  for (const TrialSpec& t : *drawn) EXPECT_LE(ParamCount(t.config), 30000) << t.number;
  // No point inside: refused, naming the key.
  auto none = ParseSweep(std::string(kTwoObjectives) + "constraints: {param_count: {max: 10}}\n",
                         "mo.yaml");
  ASSERT_TRUE(none.ok());
  auto refused = ExpandSweep(*none, "mo.yaml");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("constraints.param_count"), std::string::npos);
}

TEST(RankingSamplerTest, BayesNeverProposesABrokenParamCount) {
  auto spec = ParseSweep(
      "name: b\nmethod: bayes\nmax_trials: 40\nseed: 2\nbayes: {n_startup_trials: 4}\n"
      "metric: [{name: val_accuracy}, {name: param_count}]\n"
      "fixed: {cell: lstm, epochs: 1}\n"
      "parameters:\n  units: {distribution: int_uniform, min: 8, max: 256}\n"
      "constraints: {param_count: {max: 30000}}\n", "b.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto sampler = MakeSampler(*spec, "b.yaml");
  ASSERT_TRUE(sampler.ok()) << sampler.status().ToString();
  std::vector<TrialRow> rows;
  for (int n = 1; n <= 20; ++n) {
    std::vector<const TrialRow*> history;
    for (const TrialRow& t : rows) history.push_back(&t);
    auto t = (*sampler)->Propose(n, history);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_LE(ParamCount(t->config), 30000) << "trial " << n;
    // Accuracy grows with width: the front is every trial, so the split must use it.
    const int units = std::stoi(t->params.at("units"));
    TrialRow row = Done(n, 0.5 + units / 1000.0, units);
    row.params = t->params;
    rows.push_back(row);
  }
}

// A finite bayes space plans one trial per valid point. With a param_count constraint the
// product (6) is over max_trials (5) while only 4 points hold it: it plans 4, not 5 (a fifth
// trial would train a tried point again).
TEST(RankingSamplerTest, AConstrainedFiniteSpacePlansItsValidPoints) {
  auto spec = ParseSweep(
      "name: f\nmethod: bayes\nmax_trials: 5\nseed: 2\n"
      "metric: [{name: val_accuracy}, {name: param_count}]\n"
      "fixed: {cell: lstm, epochs: 1}\n"
      "parameters:\n  units: {values: [8, 64, 256]}\n  batch_size: {values: [32, 64]}\n"
      "constraints: {param_count: {max: 30000}}\n", "f.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto sampler = MakeSampler(*spec, "f.yaml");
  ASSERT_TRUE(sampler.ok()) << sampler.status().ToString();
  EXPECT_EQ((*sampler)->planned(), 4);
}

TEST(RankingSamplerTest, TheSplitFollowsTheFrontNotTheFirstObjective) {
  // Two objectives, accuracy and training time, over one categorical axis. The trials of
  // "fast" have a little less accuracy but a tenth of the time: with the first objective alone
  // TPE's good group is all "slow", with the fronts it holds "fast" too, so "fast" is proposed.
  const std::string head =
      "name: s\nmethod: bayes\nmax_trials: 100\nseed: 5\nbayes: {n_startup_trials: 2}\n"
      "fixed: {cell: lstm, epochs: 1}\n"
      "parameters:\n  optimizer: {values: [adam, sgd]}\n  units: {values: [8, 9, 10, 11, 12, "
      "13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]}\n";
  auto single = ParseSweep(head + "metric: {name: val_accuracy}\n", "s.yaml");
  auto multi =
      ParseSweep(head + "metric: [{name: val_accuracy}, {name: train_seconds}]\n", "s.yaml");
  ASSERT_TRUE(single.ok() && multi.ok());
  std::vector<TrialRow> rows;
  for (int n = 1; n <= 20; ++n) {
    const bool fast = n % 2 == 0;
    TrialRow t = Done(n, fast ? 0.8 + n / 1000.0 : 0.9 + n / 1000.0, 8 + n, fast ? 1 : 10);
    t.params["optimizer"] = fast ? "sgd" : "adam";
    // the params a proposal carries, so the history's points are this space's
    auto built = BuildTrial(*single, n, {t.params["optimizer"], std::to_string(8 + n)}, "s.yaml");
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    t.params = built->params;
    rows.push_back(t);
  }
  std::vector<const TrialRow*> history;
  for (const TrialRow& t : rows) history.push_back(&t);
  auto count_sgd = [&](const SweepSpec& spec) {
    auto sampler = MakeSampler(spec, "s.yaml");
    EXPECT_TRUE(sampler.ok());
    int sgd = 0;
    for (int n = 21; n <= 60; ++n) {
      auto t = (*sampler)->Propose(n, history);
      EXPECT_TRUE(t.ok());
      if (t.ok() && t->params.at("optimizer") == "sgd") ++sgd;
    }
    return sgd;
  };
  const int sgd_single = count_sgd(*single);
  const int sgd_multi = count_sgd(*multi);
  EXPECT_LT(sgd_single, 10);
  EXPECT_GT(sgd_multi, sgd_single + 5);
}

class FixedClock : public Clock {
 public:
  double Now() override { return 1000; }
};

TEST(RankingSchedulerTest, LeaderboardAndStatusShowTheFront) {
  auto st = OpenSqliteStorage(":memory:");
  ASSERT_TRUE(st.ok());
  std::unique_ptr<Storage> storage = std::move(st).value();
  FixedClock clock;
  auto sched = std::make_unique<Scheduler>(storage.get(), &clock);
  const std::string yaml = kTwoObjectives;
  auto spec = ParseSweep(yaml, "mo.yaml");
  ASSERT_TRUE(spec.ok());
  auto trials = ExpandSweep(*spec, "mo.yaml");
  ASSERT_TRUE(trials.ok());
  auto id = sched->Submit(*spec, *trials, yaml, "mo.yaml");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto w = sched->RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  // units 8, 64, 256 reach 0.80, 0.90, 0.85: #3 is bigger and worse than #2, so dominated.
  for (double acc : {0.80, 0.90, 0.85}) {
    auto g = sched->Lease(*w);
    ASSERT_TRUE(g.ok() && g->has_value());
    Completion c;
    EpochReport e;
    e.epoch = 1;
    e.val_accuracy = acc;
    e.val_loss = 1 - acc;
    e.seconds = 1;
    c.history = {e};
    c.test_accuracy = acc;
    c.test_loss = 1 - acc;
    ASSERT_TRUE(sched->Complete((*g)->lease_id, c).ok());
  }
  for (int restart = 0; restart < 2; ++restart) {
    if (restart) {  // a restarted coordinator reads the objectives from the stored file
      sched = std::make_unique<Scheduler>(storage.get(), &clock);
      ASSERT_TRUE(sched->Load().ok());
    }
    SweepRow sw;
    auto rows = sched->Leaderboard(*id, 0, &sw);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    const v1::GetLeaderboardResponse lb = LeaderboardProto(sw, *rows);
    ASSERT_EQ(lb.objectives_size(), 2);
    EXPECT_EQ(lb.objectives(1), "param_count");
    EXPECT_FALSE(lb.objectives_maximize(1));
    ASSERT_EQ(lb.rows_size(), 3);
    EXPECT_EQ(lb.rows(2).number(), 3);
    EXPECT_EQ(lb.rows(2).front(), 2);
    EXPECT_EQ(lb.rows(0).front(), 1);
    EXPECT_EQ(lb.rows(1).front(), 1);
    ASSERT_EQ(lb.rows(2).objective_values_size(), 2);
    EXPECT_EQ(lb.rows(2).objective_values(1), 294410);
    auto counts = sched->Counts(*id);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].front_size, 2) << "restart " << restart;
    EXPECT_EQ(counts[0].objectives, "val_accuracy (max), param_count (min)");
    EXPECT_DOUBLE_EQ(counts[0].best, 0.90);
  }
}

}  // namespace
}  // namespace hpsweep::ranking_test
