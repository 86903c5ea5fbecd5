// Tests of int_log_uniform and q (a step) in sweep files (search/sweep_file.h, "Distributions"):
// what is refused, naming the file, line and key (Optuna's rules); the snap rule; random draws
// and bayes (TPE) proposals land on the grid; a stepped space is finite; and the candidates a
// bayes sampler passes over are counted on its proposals.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "search/sampler.h"
#include "search/sweep_file.h"

namespace hpsweep::steps_test {
namespace {

const char kFile[] = "steps.yaml";
const std::string kHead = "name: x\nmethod: random\nmax_trials: 5\nparameters:\n";  // axis: line 5

void ExpectRefused(const std::string& axis, const std::vector<std::string>& parts) {
  const std::string yaml = kHead + axis;
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  ASSERT_FALSE(spec.ok()) << "parsed, but should not:\n" << yaml;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = spec.status().message();
  EXPECT_NE(m.find(std::string(kFile) + ":5:"), std::string::npos) << m;
  for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m;
}

SweepSpec MustParse(const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  return spec.ok() ? *spec : SweepSpec();
}

TEST(StepsTest, RefusedAsOptunaRefusesThem) {
  ExpectRefused("  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 0.1, q: 0.01}\n",
                {"key 'learning_rate'", "not taken with log_uniform"});
  ExpectRefused("  units: {distribution: int_log_uniform, min: 8, max: 256, q: 2}\n",
                {"key 'units'", "int_log_uniform takes q: 1 only"});
  ExpectRefused("  units: {distribution: int_log_uniform, min: 0, max: 256}\n",
                {"key 'units'", "int_log_uniform needs min >= 1"});
  ExpectRefused("  units: {distribution: int_log_uniform, min: 1.5, max: 256}\n",
                {"key 'units'", "int_log_uniform needs an integer min"});
  ExpectRefused("  learning_rate: {distribution: uniform, min: 0.001, max: 0.01, q: 0.004}\n",
                {"key 'learning_rate'", "must be a multiple of q (0.004)"});
  ExpectRefused("  units: {distribution: int_uniform, min: 8, max: 100, q: 8}\n",
                {"key 'units'", "must be a multiple of q (8)"});
  ExpectRefused("  units: {distribution: int_uniform, min: 8, max: 64, q: 1.5}\n",
                {"key 'units'", "int_uniform needs an integer q"});
  for (const char* q : {"0", "-1", "abc", ".nan", ".inf"}) {
    ExpectRefused(std::string("  units: {distribution: int_uniform, min: 8, max: 64, q: ") + q +
                      "}\n",
                  {"key 'units'", "q must be a number > 0"});
  }
  ExpectRefused("  learning_rate: {distribution: uniform, min: 0.001, max: 1, q: 1.0e-12}\n",
                {"key 'learning_rate'", "more than 1e9 steps"});
  ExpectRefused("  units: {values: [8, 16], q: 8}\n", {"key 'units'", "not both"});
  ExpectRefused("  units: {min: 8, max: 64, q: 8}\n", {"key 'units'", "need a distribution"});
  ExpectRefused("  units: {distribution: int_log_uniforn, min: 8, max: 64}\n",
                {"key 'units'", "int_log_uniform", "did you mean 'int_log_uniform'"});
  ExpectRefused("  units: {distribution: int_uniform, min: 8, max: 64, step: 8}\n",
                {"units", "step"});
  // The engine's bounds hold for every point: layers is 0..16.
  ExpectRefused("  layers: {distribution: int_log_uniform, min: 1, max: 64}\n", {"layers"});
  // Grids take no distributions, stepped or not.
  StatusOr<SweepSpec> grid = ParseSweep(
      "name: x\nparameters:\n  units: {distribution: int_uniform, min: 8, max: 64, q: 8}\n", kFile);
  ASSERT_FALSE(grid.ok());
  EXPECT_NE(grid.status().message().find("use method: random"), std::string::npos);
}

// quarantine_after (coordinator/scheduler.h, "Quarantine"): 0..100, refused with file:line:key.
TEST(StepsTest, QuarantineAfterIsChecked) {
  const std::string head = "name: x\nmethod: random\nmax_trials: 5\n";
  const std::string axis = "parameters:\n  units: {distribution: int_uniform, min: 8, max: 64}\n";
  EXPECT_EQ(MustParse(head + axis).quarantine_after, -1);  // not set: the coordinator's
  EXPECT_EQ(MustParse(head + "quarantine_after: 0\n" + axis).quarantine_after, 0);
  EXPECT_EQ(MustParse(head + "quarantine_after: 100\n" + axis).quarantine_after, 100);
  for (const char* bad : {"101", "-1", "abc", "2.5", "[3]", "99999999999999999999"}) {
    StatusOr<SweepSpec> spec =
        ParseSweep(head + "quarantine_after: " + bad + "\n" + axis, kFile);
    ASSERT_FALSE(spec.ok()) << bad;
    const std::string& m = spec.status().message();
    EXPECT_NE(m.find(std::string(kFile) + ":4:"), std::string::npos) << m;
    EXPECT_NE(m.find("quarantine_after"), std::string::npos) << m;
  }
  StatusOr<SweepSpec> typo = ParseSweep(head + "quarantine_afer: 3\n" + axis, kFile);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("quarantine_after"), std::string::npos)
      << typo.status().message();  // did you mean
}

TEST(StepsTest, SnapsAsOptuna) {
  ParameterSpec p;
  p.distribution = Distribution::kUniform;
  p.min = 0.1;
  p.max = 0.9;
  p.q = 0.2;
  EXPECT_NEAR(SnapToStep(p, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(SnapToStep(p, 0.25), 0.3, 1e-12);  // low + round((x - low) / q) * q
  EXPECT_NEAR(SnapToStep(p, 0.19), 0.1, 1e-12);
  EXPECT_NEAR(SnapToStep(p, 0.95), 0.9, 1e-12);  // within [min, max]
  EXPECT_EQ(DistributionPoints(p), 5u);
  EXPECT_EQ(DistributionText(p, 0.51), "0.5");
  EXPECT_EQ(PointText(p, 4), "0.9");
  p.distribution = Distribution::kIntUniform;
  p.min = 8;
  p.max = 64;
  p.q = 8;
  EXPECT_EQ(DistributionText(p, 13), "16");
  EXPECT_EQ(DistributionText(p, 11.9), "8");
  EXPECT_EQ(DistributionPoints(p), 8u);
  p.distribution = Distribution::kIntLogUniform;
  p.min = 1;
  p.max = 100;
  p.q = 0;
  EXPECT_EQ(DistributionText(p, 0.6), "1");
  EXPECT_EQ(DistributionText(p, 99.7), "100");
  EXPECT_EQ(DistributionPoints(p), 100u);
  p.distribution = Distribution::kUniform;
  p.q = 0;
  EXPECT_EQ(DistributionPoints(p), 0u);  // continuous
}

// A space of every stepped kind: units on 8..256 by 8, batch_size log-uniform integers,
// learning_rate on 0.001..0.1 by 0.001, recurrent_dropout on 0..0.5 by 0.1.
std::string SteppedYaml(const std::string& method, int max_trials) {
  return "name: steps\nmethod: " + method + "\nmax_trials: " + std::to_string(max_trials) +
         "\nseed: 3\n" + (method == "bayes" ? "bayes: {n_startup_trials: 4}\n" : "") +
         "fixed: {epochs: 1}\nparameters:\n"
         "  units: {distribution: int_uniform, min: 8, max: 256, q: 8}\n"
         "  batch_size: {distribution: int_log_uniform, min: 16, max: 512, q: 1}\n"
         "  learning_rate: {distribution: uniform, min: 0.001, max: 0.1, q: 0.001}\n"
         "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5, q: 0.1}\n";
}

void ExpectOnTheGrid(const std::map<std::string, std::string>& params) {
  const int units = std::stoi(params.at("units"));
  EXPECT_EQ(units % 8, 0) << units;
  EXPECT_GE(units, 8);
  EXPECT_LE(units, 256);
  const std::string batch = params.at("batch_size");
  EXPECT_EQ(batch.find('.'), std::string::npos) << batch;
  EXPECT_GE(std::stoi(batch), 16);
  EXPECT_LE(std::stoi(batch), 512);
  const double lr = std::stod(params.at("learning_rate"));
  EXPECT_NEAR(lr * 1000, std::round(lr * 1000), 1e-6) << lr;
  EXPECT_GE(lr, 0.001 - 1e-12);
  EXPECT_LE(lr, 0.1 + 1e-12);
  const double rd = std::stod(params.at("recurrent_dropout"));
  EXPECT_NEAR(rd * 10, std::round(rd * 10), 1e-6) << rd;
}

TEST(StepsTest, RandomDrawsLandOnTheGrid) {
  const SweepSpec spec = MustParse(SteppedYaml("random", 60));
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, kFile);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 60u);
  std::set<int> batches;
  for (const TrialSpec& t : *trials) {
    ExpectOnTheGrid(t.params);
    batches.insert(std::stoi(t.params.at("batch_size")));
  }
  // Log-uniform: about as many draws under 90 (the geometric middle) as over it.
  int small = 0;
  for (const TrialSpec& t : *trials) small += std::stoi(t.params.at("batch_size")) < 90;
  EXPECT_GT(small, 15);
  EXPECT_LT(small, 45);
}

// A stepped space is finite: a random sweep larger than it has one trial per point.
TEST(StepsTest, AStepMakesTheSpaceFinite) {
  const SweepSpec spec = MustParse(
      "name: s\nmethod: random\nmax_trials: 50\nparameters:\n"
      "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5, q: 0.1}\n"
      "  layers: {distribution: int_log_uniform, min: 1, max: 2}\n");
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, kFile);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  EXPECT_EQ(trials->size(), 12u);  // 6 x 2
  std::set<std::string> seen;
  for (const TrialSpec& t : *trials) {
    seen.insert(t.params.at("recurrent_dropout") + "/" + t.params.at("layers"));
  }
  EXPECT_EQ(seen.size(), 12u);
  const SweepSpec bayes = MustParse(
      "name: s\nmethod: bayes\nmax_trials: 50\nparameters:\n"
      "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5, q: 0.1}\n"
      "  layers: {distribution: int_log_uniform, min: 1, max: 2}\n");
  StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(bayes, kFile, SweepLimits());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->planned(), 12);
}

// TPE proposes on the grid too, after its random start (the model's proposals), and counts the
// candidates it passed over: on a 2-point space most of the later ones were tried already.
TEST(StepsTest, BayesProposalsLandOnTheGrid) {
  const SweepSpec spec = MustParse(SteppedYaml("bayes", 30));
  StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(spec, kFile, SweepLimits());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  for (int n = 1; n <= 30; ++n) {
    StatusOr<TrialSpec> t = (*s)->Propose(n, ptrs);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ExpectOnTheGrid(t->params);
    TrialRow r;
    r.number = n;
    r.params = t->params;
    r.status = TrialStatus::kCompleted;
    r.best_epoch = 1;
    // Best near units 96, learning rate 0.01.
    const double u = (std::stod(t->params.at("units")) - 96) / 64;
    const double l = std::log10(std::stod(t->params.at("learning_rate")) / 0.01);
    r.best_val_accuracy = 0.5 * std::exp(-u * u) + 0.5 * std::exp(-l * l);
    r.best_val_loss = 1 - r.best_val_accuracy;
    rows.push_back(r);
    ptrs.push_back(&rows.back());
  }
  const SweepSpec tiny = MustParse(
      "name: t\nmethod: bayes\nmax_trials: 2\nbayes: {n_startup_trials: 1}\nparameters:\n"
      "  layers: {distribution: int_log_uniform, min: 1, max: 2}\n");
  StatusOr<std::unique_ptr<Sampler>> ts = MakeSampler(tiny, kFile, SweepLimits());
  ASSERT_TRUE(ts.ok()) << ts.status().ToString();
  StatusOr<TrialSpec> first = (*ts)->Propose(1, {});
  ASSERT_TRUE(first.ok());
  TrialRow done;
  done.number = 1;
  done.params = first->params;
  done.status = TrialStatus::kCompleted;
  done.best_epoch = 1;
  done.best_val_accuracy = 0.9;
  StatusOr<TrialSpec> second = (*ts)->Propose(2, {&done});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->params.at("layers"), first->params.at("layers"));
  EXPECT_GT(second->passed_over_tried, 0);  // the tried point came up among the candidates
  EXPECT_EQ(second->passed_over_invalid, 0);
}

// Candidates the checks refuse are counted as invalid: with a small model-size limit, most draws
// of units are too big.
TEST(StepsTest, InvalidCandidatesAreCounted) {
  const SweepSpec spec = MustParse(
      "name: t\nmethod: bayes\nmax_trials: 10\nbayes: {n_startup_trials: 10}\nfixed: {epochs: 1}\n"
      "parameters:\n  units: {distribution: int_uniform, min: 8, max: 4096, q: 8}\n");
  SweepLimits limits;
  limits.max_params = 1000000;  // most of 8..4096 is over it (units about 480 and more)
  StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(spec, kFile, limits);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  int invalid = 0;
  for (int n = 1; n <= 5; ++n) {
    StatusOr<TrialSpec> t = (*s)->Propose(n, {});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    invalid += t->passed_over_invalid;
  }
  EXPECT_GT(invalid, 5);  // most draws are too big
}

}  // namespace
}  // namespace hpsweep::steps_test
