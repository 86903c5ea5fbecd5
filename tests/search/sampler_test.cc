// Tests for search/sampler.h and the scheduler's samplers, on synthetic objectives without
// training (results are fed in directly): the plans of grid/random/list equal ExpandSweep's; TPE
// beats random by a margin a sign test says cannot be chance (both metric directions); proposals
// are a function of the stored trials (a restart changes nothing); the constant liar keeps two
// running trials apart; concurrent workers share max_trials exactly; limits are respected.
#include "search/sampler.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/gp.h"
#include "search/sweep_file.h"
#include "engine/tensor.h"
#include "testing/fault_injecting_storage.h"

namespace hpsweep::sampler_test {
namespace {

constexpr char kFile[] = "synth.yaml";

class FakeClock : public Clock {
 public:
  double Now() override { return now_.load(); }
  void Advance(double s) { now_.store(now_.load() + s); }

 private:
  std::atomic<double> now_{1000};
};

SweepSpec MustParse(const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  return spec.ok() ? *spec : SweepSpec();
}

std::unique_ptr<Sampler> MustSampler(const SweepSpec& spec,
                                     const SweepLimits& limits = SweepLimits()) {
  StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(spec, kFile, limits);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Six mixed axes: two categorical, two integer, one log-scale, one float. Known optimum (value 1):
// cell gru, activation tanh, units 96, layers 2, learning_rate 3e-3, recurrent_dropout 0.1.
std::string SynthYaml(const std::string& method, uint64_t seed, int max_trials,
                      const std::string& metric = "val_accuracy",
                      const std::string& goal = "maximize") {
  return "name: synth\nmethod: " + method + "\nmax_trials: " + std::to_string(max_trials) +
         "\nseed: " + std::to_string(seed) + "\nmetric: {name: " + metric + ", goal: " + goal +
         "}\nfixed: {epochs: 1}\nparameters:\n"
         "  cell: {values: [lstm, gru, simple_rnn]}\n"
         "  activation: {values: [relu, tanh]}\n"
         "  units: {distribution: int_uniform, min: 8, max: 256}\n"
         "  layers: {distribution: int_uniform, min: 1, max: 4}\n"
         "  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0}\n"
         "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5}\n";
}

double Synth(const std::map<std::string, std::string>& p) {
  const double lr = std::stod(p.at("learning_rate"));
  const double units = std::stod(p.at("units"));
  const double rd = std::stod(p.at("recurrent_dropout"));
  const double l = (std::log10(lr) - std::log10(3e-3)) / 0.6;
  const double u = (units - 96) / 50;
  double f = 0.4 * std::exp(-l * l) + 0.2 * std::exp(-u * u);
  f += p.at("cell") == "gru" ? 0.15 : p.at("cell") == "lstm" ? 0.08 : 0;
  f += p.at("activation") == "tanh" ? 0.05 : 0;
  f += p.at("layers") == "2" ? 0.1 : 0;
  f += 0.1 * (1 - std::fabs(rd - 0.1) / 0.4);
  return f;
}

// A bayes sweep over a 12-point space of values lists (cell x activation x units).
std::string SmallSpaceYaml(const std::string& name, int max_trials, int seed, int startup) {
  return "name: " + name + "\nmethod: bayes\nmax_trials: " + std::to_string(max_trials) +
         "\nseed: " + std::to_string(seed) + "\nbayes: {n_startup_trials: " +
         std::to_string(startup) +
         "}\nparameters:\n  cell: {values: [lstm, gru, simple_rnn]}\n"
         "  activation: {values: [relu, tanh]}\n  units: {values: [32, 64]}\n";
}

// A value on that space, best at (gru, tanh, 64).
double SmallSpaceValue(const std::map<std::string, std::string>& p) {
  return (p.at("cell") == "gru" ? 0.5 : 0.1) + (p.at("activation") == "tanh" ? 0.3 : 0) +
         (p.at("units") == "64" ? 0.1 : 0);
}

// A completed trial whose result is `f` under the sweep's metric.
TrialRow Completed(const TrialSpec& t, const std::string& metric, double f) {
  TrialRow r;
  r.number = t.number;
  r.params = t.params;
  r.status = TrialStatus::kCompleted;
  r.best_epoch = 1;
  r.best_val_accuracy = metric == "val_accuracy" ? f : 0.5;
  r.best_val_loss = metric == "val_loss" ? 1 - f : 0.5;
  return r;
}

// What a test sees of each proposal: its number, the trial and the trials completed before it.
using SeeProposal =
    std::function<void(int, const TrialSpec&, const std::vector<const TrialRow*>&)>;

// Runs a sampler for its planned trials, each completed with Synth at once (`see` shown each
// first); the best value.
double BestOf(Sampler* s, const std::string& metric, int trials, const SeeProposal& see = nullptr) {
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  double best = -1;
  for (int n = 1; n <= trials && !s->Exhausted(n - 1); ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, ptrs);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (!t.ok()) return best;
    if (see) see(n, *t, ptrs);
    const double f = Synth(t->params);
    best = std::max(best, f);
    rows.push_back(Completed(*t, metric, f));
    ptrs.push_back(&rows.back());
  }
  return best;
}

// P(X >= wins) for X ~ Binomial(n, 1/2): the one-sided sign test.
double SignTestP(int wins, int n) {
  double p = 0;
  for (int k = wins; k <= n; ++k) {
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) -
                  n * std::log(2.0));
  }
  return p;
}

// Sampler `a` (the sweep file of (method, extra lines)) against `b` over seeds 1..seeds, each
// for `trials` trials of Synth: a must win by a margin a sign test says cannot be chance.
void ExpectAhead(const std::string& metric, const std::string& goal, int seeds, int trials,
                 const std::pair<std::string, std::string>& a,
                 const std::pair<std::string, std::string>& b) {
  int wins = 0, losses = 0;
  double a_sum = 0, b_sum = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    std::unique_ptr<Sampler> sa =
        MustSampler(MustParse(SynthYaml(a.first, seed, trials, metric, goal) + a.second));
    std::unique_ptr<Sampler> sb =
        MustSampler(MustParse(SynthYaml(b.first, seed, trials, metric, goal) + b.second));
    ASSERT_TRUE(sa && sb);
    ASSERT_EQ(sa->planned(), trials);
    const double va = BestOf(sa.get(), metric, trials);
    const double vb = BestOf(sb.get(), metric, trials);
    a_sum += va;
    b_sum += vb;
    wins += va > vb;
    losses += va < vb;
  }
  auto name = [](const std::pair<std::string, std::string>& s) {
    return s.first + (s.second.empty() ? "" : " " + s.second.substr(0, s.second.size() - 1));
  };
  const std::string what = name(a) + " against " + name(b);
  const double p = SignTestP(wins, wins + losses);
  std::printf("%s, %s: won %d, lost %d; mean best %.4f vs %.4f; p=%.3g\n", metric.c_str(),
              what.c_str(), wins, losses, a_sum / seeds, b_sum / seeds, p);
  EXPECT_LT(p, 1e-3) << metric << " (" << goal << "), " << what << ": won " << wins << ", lost "
                     << losses << " of " << seeds << " seeds; mean best " << a_sum / seeds
                     << " vs " << b_sum / seeds;
}

void ExpectTpeBeatsRandom(const std::string& metric, const std::string& goal) {
  ExpectAhead(metric, goal, 30, 60, {"bayes", "bayes: {model: tpe}\n"}, {"random", ""});
}

TEST(TpeSamplerTest, BeatsRandomOnMixedSpaceMaximizing) {
  ExpectTpeBeatsRandom("val_accuracy", "maximize");
}

// The default model (a Gaussian process after the start-up, search/gp.h) against model: tpe on
// the mixed space, 40 trials, in both directions.
void ExpectGpAheadOfTpe(const std::string& metric, const std::string& goal) {
  ExpectAhead(metric, goal, 20, 40, {"bayes", ""}, {"bayes", "bayes: {model: tpe}\n"});
}

TEST(GpSamplerTest, AheadOfTpeAt40TrialsMaximizing) {
  ExpectGpAheadOfTpe("val_accuracy", "maximize");
}

TEST(GpSamplerTest, AheadOfTpeAt40TrialsMinimizing) {
  ExpectGpAheadOfTpe("val_loss", "minimize");
}

// The default sampler on Synth, seeds 1 to 5, 40 trials each: `see` is shown each proposal after
// the start-up (trial numbers 11 to 40) with its seed.
void EachProposalAfterStartup(const std::function<void(uint64_t, int, const TrialSpec&,
                                                       const std::vector<const TrialRow*>&)>& see) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::unique_ptr<Sampler> s = MustSampler(MustParse(SynthYaml("bayes", seed, 40)));
    ASSERT_NE(s, nullptr);
    BestOf(s.get(), "val_accuracy", 40,
           [&](int n, const TrialSpec& t, const std::vector<const TrialRow*>& done) {
             if (n > 10) see(seed, n, t, done);
           });
  }
}

// Every kElsewhereEvery-th trial after the start-up is the GP's best candidate outside the best
// trial's cell of categorical values (cell, activation), where expected improvement alone stays.
TEST(GpSamplerTest, EveryFifthProposalLeavesTheBestCell) {
  int turns = 0, plain_stayed = 0;
  EachProposalAfterStartup(
      [&](uint64_t seed, int n, const TrialSpec& t, const std::vector<const TrialRow*>& done) {
        const TrialRow* best = done[0];
        for (const TrialRow* r : done) {
          if (r->best_val_accuracy > best->best_val_accuracy) best = r;
        }
        const bool same = t.params.at("cell") == best->params.at("cell") &&
                          t.params.at("activation") == best->params.at("activation");
        if (n % gp::kElsewhereEvery == 0) {
          ++turns;
          EXPECT_FALSE(same) << "seed " << seed << ", trial " << n;
        } else {
          plain_stayed += same;
        }
      });
  EXPECT_EQ(turns, 30);
  EXPECT_GE(plain_stayed, 90);  // (of 120 plain proposals: EI stays in the best cell)
}

// No proposal after the start-up is within gp::kMinDistance of an earlier trial in its cell of
// categorical values, in the GP's unit cube (units 7.5..256.5 and layers 0.5..4.5 linear, the
// learning rate's log, recurrent_dropout 0..0.5). Expected improvement alone proposed the best
// trials' neighbourhoods again: 64 of these 150 proposals were that near.
TEST(GpSamplerTest, ProposalsKeepTheirDistanceFromEarlierTrials) {
  auto unit = [](const std::map<std::string, std::string>& p) {
    return std::vector<double>{(std::stod(p.at("units")) - 7.5) / 249,
                               (std::stod(p.at("layers")) - 0.5) / 4,
                               (std::log(std::stod(p.at("learning_rate"))) - std::log(1e-5)) /
                                   (std::log(1.0) - std::log(1e-5)),
                               std::stod(p.at("recurrent_dropout")) / 0.5};
  };
  int proposals = 0, near = 0;
  EachProposalAfterStartup(
      [&](uint64_t seed, int n, const TrialSpec& t, const std::vector<const TrialRow*>& done) {
        ++proposals;
        const std::vector<double> u = unit(t.params);
        double closest = 1e9;
        for (const TrialRow* r : done) {
          if (r->params.at("cell") != t.params.at("cell") ||
              r->params.at("activation") != t.params.at("activation")) {
            continue;
          }
          const std::vector<double> v = unit(r->params);
          double d2 = 0;
          for (size_t a = 0; a < u.size(); ++a) d2 += (u[a] - v[a]) * (u[a] - v[a]);
          closest = std::min(closest, std::sqrt(d2));
        }
        // (1e-9: the parameters are printed with enough digits to give the point back)
        near += closest < gp::kMinDistance - 1e-9;
        EXPECT_GE(closest, gp::kMinDistance - 1e-9) << "seed " << seed << ", trial " << n;
      });
  EXPECT_EQ(proposals, 150);
  EXPECT_EQ(near, 0);
}

// model: gp where one GP cannot model the sweep is refused naming file:line; auto takes TPE
// there, and with a pruner, whose work estimate is then TPE's.
TEST(GpSamplerTest, ModelGpWhereItCannotModelIsRefusedAndAutoTakesTpe) {
  const std::string conditional =
      "name: c\nmethod: bayes\nmax_trials: 20\nbayes: {model: gp}\nfixed: {epochs: 1}\n"
      "parameters:\n  optimizer: {values: [adam, sgd]}\n"
      "  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n";
  StatusOr<std::unique_ptr<Sampler>> s = MakeSampler(MustParse(conditional), kFile);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("synth.yaml:4: bayes.model: gp"), std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("conditional parameters"), std::string::npos);
  const std::string pareto = SynthYaml("bayes", 1, 20) +
                             "bayes: {model: gp}\nmetric:\n  - {name: val_accuracy, goal: "
                             "maximize}\n  - {name: param_count, goal: minimize}\n";
  std::string one_metric = pareto;
  one_metric.erase(one_metric.find("metric: {"), one_metric.find("}\nfixed") + 2 -
                                                    one_metric.find("metric: {"));
  s = MakeSampler(MustParse(one_metric), kFile);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("several objectives or constraints"), std::string::npos)
      << s.status().ToString();
  // auto: a GP's work estimate without a pruner (a proposal at 40 trials is costly enough to be
  // made outside the scheduler's lock), TPE's with one, and with conditions.
  std::unique_ptr<Sampler> gp = MustSampler(MustParse(SynthYaml("bayes", 1, 60)));
  std::unique_ptr<Sampler> tpe =
      MustSampler(MustParse(SynthYaml("bayes", 1, 60) + "bayes: {model: tpe}\n"));
  std::string median = SynthYaml("bayes", 1, 60) + "early_terminate: {type: median}\n";
  median.replace(median.find("epochs: 1"), 9, "epochs: 3");
  std::unique_ptr<Sampler> pruned = MustSampler(MustParse(median));
  std::unique_ptr<Sampler> when =
      MustSampler(MustParse(std::string(conditional).replace(conditional.find("gp"), 2, "auto")));
  ASSERT_TRUE(gp && tpe && pruned && when);
  EXPECT_GT(gp->ProposalWork(40), kMaxProposalWorkLocked);
  EXPECT_NE(gp->ProposalWork(40), tpe->ProposalWork(40));
  EXPECT_EQ(pruned->ProposalWork(40), tpe->ProposalWork(40));
  EXPECT_EQ(when->ProposalWork(40), 24 * 40 * 2);
  // Past kMaxGpHistory finished trials auto and gp are TPE again.
  std::unique_ptr<Sampler> gp_only =
      MustSampler(MustParse(SynthYaml("bayes", 1, 60) + "bayes: {model: gp}\n"));
  ASSERT_NE(gp_only, nullptr);
  EXPECT_EQ(gp_only->ProposalWork(40), gp->ProposalWork(40));
  EXPECT_EQ(gp->ProposalWork(5000), tpe->ProposalWork(5000));
  EXPECT_EQ(gp_only->ProposalWork(5000), tpe->ProposalWork(5000));
}

// The direction comes from the sweep's Objective: on a minimised metric TPE must still head for
// the optimum (a sampler that ranked by the raw value would head for the worst point).
TEST(TpeSamplerTest, BeatsRandomOnMixedSpaceMinimizing) {
  ExpectTpeBeatsRandom("val_loss", "minimize");
}

TEST(TpeSamplerTest, ProposalsStayInTheSpaceAndStartRandom) {
  SweepSpec spec = MustParse(SynthYaml("bayes", 3, 40));
  std::unique_ptr<Sampler> s = MustSampler(spec);
  ASSERT_NE(s, nullptr);
  int seen = 0;
  BestOf(s.get(), "val_accuracy", 40,
         [&](int n, const TrialSpec& t, const std::vector<const TrialRow*>&) {
           ++seen;
           EXPECT_EQ(t.number, n);
           const int units = std::stoi(t.params.at("units"));
           EXPECT_GE(units, 8);
           EXPECT_LE(units, 256);
           const double lr = std::stod(t.params.at("learning_rate"));
           EXPECT_GE(lr, 1e-5);
           EXPECT_LE(lr, 1.0);
           const double rd = std::stod(t.params.at("recurrent_dropout"));
           EXPECT_GE(rd, 0);
           EXPECT_LE(rd, 0.5);
           EXPECT_EQ(t.params.at("epochs"), "1");  // fixed keys applied
         });
  EXPECT_EQ(seen, 40);
  EXPECT_TRUE(s->Exhausted(40));
  EXPECT_FALSE(s->Exhausted(39));
}

// The start-up (search/startup.h): its 10 trials take each tenth of every numeric axis once (a
// Latin hypercube) and pair every activation with every optimizer, each layers value with both
// activations; a plain hypercube leaves some such pair untried in about a quarter of the seeds.
TEST(TpeSamplerTest, StartUpCoversEveryStratumAndPairsEveryValue) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string yaml =
        "name: start\nmethod: bayes\nmax_trials: 40\nseed: " + std::to_string(seed) +
        "\nparameters:\n"
        "  units: {distribution: int_uniform, min: 32, max: 256}\n"
        "  activation: {values: [tanh, relu]}\n"
        "  optimizer: {values: [adam, rmsprop, sgd]}\n"
        "  batch_size: {values: [32, 64, 128]}\n"
        "  layers: {distribution: int_uniform, min: 1, max: 3}\n"
        "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 0.1}\n";
    std::unique_ptr<Sampler> s = MustSampler(MustParse(yaml));
    ASSERT_NE(s, nullptr);
    std::set<int> lr_tenths;
    std::set<std::pair<std::string, std::string>> act_opt, act_layers;
    for (int n = 1; n <= 10; ++n) {
      StatusOr<TrialSpec> t = s->Propose(n, {});
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      const double lr = std::stod(t->params.at("learning_rate"));
      lr_tenths.insert(static_cast<int>(std::floor((std::log10(lr) + 4) / 3 * 10)));
      act_opt.insert({t->params.at("activation"), t->params.at("optimizer")});
      act_layers.insert({t->params.at("activation"), t->params.at("layers")});
    }
    EXPECT_EQ(lr_tenths.size(), 10u) << "seed " << seed;
    EXPECT_EQ(act_opt.size(), 6u) << "seed " << seed;
    EXPECT_EQ(act_layers.size(), 6u) << "seed " << seed;
  }
}

// The same stored trials give the same proposal: randomness comes from (seed, number) only.
TEST(TpeSamplerTest, ProposalIsAFunctionOfTheHistory) {
  SweepSpec spec = MustParse(SynthYaml("bayes", 5, 30));
  std::unique_ptr<Sampler> a = MustSampler(spec), b = MustSampler(spec);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  for (int n = 1; n <= 30; ++n) {
    StatusOr<TrialSpec> x = a->Propose(n, ptrs);
    StatusOr<TrialSpec> y = b->Propose(n, ptrs);
    StatusOr<TrialSpec> again = a->Propose(n, ptrs);
    ASSERT_TRUE(x.ok() && y.ok() && again.ok());
    EXPECT_EQ(x->params, y->params) << "trial " << n;
    EXPECT_EQ(x->params, again->params) << "trial " << n;
    rows.push_back(Completed(*x, "val_accuracy", Synth(x->params)));
    ptrs.push_back(&rows.back());
  }
}

// Constant liar: with a trial running at the point TPE likes best, the next proposal differs.
TEST(TpeSamplerTest, RunningTrialsSteerTheNextProposalAway) {
  std::unique_ptr<Sampler> s = MustSampler(MustParse(SmallSpaceYaml("liar", 100, 4, 5)));
  ASSERT_NE(s, nullptr);
  const auto value = SmallSpaceValue;
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  for (int n = 1; n <= 40; ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, ptrs);
    ASSERT_TRUE(t.ok());
    rows.push_back(Completed(*t, "val_accuracy", value(t->params)));
    ptrs.push_back(&rows.back());
  }
  int differ = 0;
  for (int n = 41; n <= 60; n += 2) {  // two leases in a row, both still running
    StatusOr<TrialSpec> first = s->Propose(n, ptrs);
    ASSERT_TRUE(first.ok());
    TrialRow running;
    running.number = n;
    running.params = first->params;
    running.status = TrialStatus::kRunning;
    rows.push_back(running);
    ptrs.push_back(&rows.back());
    StatusOr<TrialSpec> second = s->Propose(n + 1, ptrs);
    ASSERT_TRUE(second.ok());
    EXPECT_NE(first->params, second->params) << "trials " << n << " and " << n + 1;
    differ += first->params != second->params;
    rows.back().status = TrialStatus::kCompleted;
    rows.back().best_val_accuracy = value(first->params);
    rows.push_back(Completed(*second, "val_accuracy", value(second->params)));
    ptrs.push_back(&rows.back());
  }
  EXPECT_EQ(differ, 10);
}

// Candidates over the sweep's limits are passed over: no proposal breaks them.
// Pruned trials are evidence, as in Optuna: ranked after every completed trial, so a point
// pruned again and again lands among the bad ones, however high its value when it was stopped.
// Ignoring them (as before) left that point with the prior's share of the good estimator and
// made TPE propose it about a fifth of the time.
TEST(TpeSamplerTest, PrunedTrialsCountAgainstTheirPoint) {
  const std::string yaml =
      "name: pruned\nmethod: bayes\nmax_trials: 1000\nseed: 3\nbayes: {n_startup_trials: 10}\n"
      "parameters:\n  cell: {values: [lstm, gru, simple_rnn]}\n"
      "  units: {values: [16, 32, 64, 128, 256]}\n"
      "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n";
  std::unique_ptr<Sampler> s = MustSampler(MustParse(yaml));
  ASSERT_NE(s, nullptr);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  int number = 0;
  auto add = [&](const std::string& units, TrialStatus status, double value, int epochs) {
    TrialRow r;
    r.number = ++number;
    r.params = {{"cell", "lstm"}, {"units", units},
                {"learning_rate", std::to_string(1e-3 * (1 + number % 7))}};
    r.status = status;
    r.best_epoch = 1;
    r.epochs_run = epochs;
    r.best_val_accuracy = value;
    rows.push_back(r);
    ptrs.push_back(&rows.back());
  };
  for (int i = 0; i < 10; ++i) add("64", TrialStatus::kCompleted, 0.5 + 0.01 * i, 3);
  for (int i = 0; i < 20; ++i) add("256", TrialStatus::kPruned, 0.95, 1);
  int pruned_point = 0;
  for (int n = number + 1; n <= number + 100; ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, ptrs);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    pruned_point += t->params.at("units") == "256";
  }
  EXPECT_LE(pruned_point, 5) << "of 100 proposals went to the point pruned 20 times";
}

// A finite space's points are each proposed once before any is repeated: with the sweep's one
// seed a repeated point trains the same model again. So a finite space smaller than max_trials
// plans one trial per point (12 here, not 30). Proposed past that anyway, a point repeats.
TEST(TpeSamplerTest, TriedPointsAreNotProposedAgainWhileOthersRemain) {
  std::unique_ptr<Sampler> s = MustSampler(MustParse(SmallSpaceYaml("finite", 30, 5, 4)));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->planned(), 12);  // not max_trials 30: each point once
  const auto value = SmallSpaceValue;
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  std::set<std::map<std::string, std::string>> seen;
  for (int n = 1; n <= 12; ++n) {  // the space has 12 points
    StatusOr<TrialSpec> t = s->Propose(n, ptrs);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_TRUE(seen.insert(t->params).second) << "trial " << n << " repeats a tried point";
    const bool pruned = n % 3 == 0;  // pruned points are tried points too
    rows.push_back(Completed(*t, "val_accuracy", value(t->params)));
    if (pruned) rows.back().status = TrialStatus::kPruned;
    ptrs.push_back(&rows.back());
  }
  EXPECT_EQ(seen.size(), 12u);
  StatusOr<TrialSpec> more = s->Propose(13, ptrs);  // all tried: a repeat, not an error
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ(seen.count(more->params), 1u);
}

TEST(TpeSamplerTest, ProposalsRespectLimits) {
  SweepSpec spec = MustParse(
      "name: big\nmethod: bayes\nmax_trials: 40\nseed: 2\nbayes: {n_startup_trials: 5}\n"
      "fixed: {cell: lstm}\nparameters:\n  units: {distribution: int_uniform, min: 8, max: 4096}\n"
      "  layers: {distribution: int_uniform, min: 1, max: 8}\n");
  SweepLimits limits;
  limits.max_params = 2'000'000;
  std::unique_ptr<Sampler> s = MustSampler(spec, limits);
  ASSERT_NE(s, nullptr);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  for (int n = 1; n <= 40; ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, ptrs);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_LE(ParamCount(t->config), limits.max_params) << "trial " << n;
    // Bigger is better here, so TPE presses against the limit.
    rows.push_back(Completed(*t, "val_accuracy",
                             std::min(1.0, ParamCount(t->config) / double(limits.max_params))));
    ptrs.push_back(&rows.back());
  }
}

// Bounded work: only the latest kMaxSamplerHistory completed trials count, so older ones change
// nothing.
TEST(TpeSamplerTest, HistoryIsCappedToTheLatestTrials) {
  SweepSpec spec = MustParse(SynthYaml("bayes", 9, 2000));
  std::unique_ptr<Sampler> s = MustSampler(spec);
  ASSERT_NE(s, nullptr);
  Rng rng(5);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> all, latest;
  const int n = kMaxSamplerHistory + 300;
  for (int i = 1; i <= n; ++i) {
    TrialSpec t;
    t.number = i;
    t.params = {{"cell", rng.Below(2) ? "lstm" : "gru"},
                {"activation", rng.Below(2) ? "relu" : "tanh"},
                {"units", std::to_string(8 + rng.Below(249))},
                {"layers", std::to_string(1 + rng.Below(4))},
                {"learning_rate", DrawText(std::exp(rng.Uniform(std::log(1e-5), 0)), 1e-5, 1)},
                {"recurrent_dropout", DrawText(rng.Uniform(0, 0.5), 0, 0.5)}};
    // The old trials are the best by far: counted, they would be the good group.
    rows.push_back(Completed(t, "val_accuracy", i <= 300 ? 0.99 : 0.5 * Synth(t.params)));
    all.push_back(&rows.back());
    if (i > 300) latest.push_back(&rows.back());
  }
  StatusOr<TrialSpec> a = s->Propose(n + 1, all);
  StatusOr<TrialSpec> b = s->Propose(n + 1, latest);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->params, b->params);
}

// The cap counts trials whose points the space holds: the newest trials with a value it cannot
// hold (as after an edited sweep file) are passed over and older ones fill the model, so a
// proposal equals one made from the held trials alone.
TEST(TpeSamplerTest, HistoryCapCountsOnlyTrialsTheSpaceHolds) {
  SweepSpec spec = MustParse(SynthYaml("bayes", 9, 2000));
  std::unique_ptr<Sampler> s = MustSampler(spec);
  ASSERT_NE(s, nullptr);
  Rng rng(6);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> all, held;
  const int n = kMaxSamplerHistory + 300;
  for (int i = 1; i <= n; ++i) {
    TrialSpec t;
    t.number = i;
    const bool foreign = i > kMaxSamplerHistory;  // the newest 300: a cell this space lacks
    t.params = {{"cell", foreign ? "transformer" : rng.Below(2) ? "lstm" : "gru"},
                {"activation", rng.Below(2) ? "relu" : "tanh"},
                {"units", std::to_string(8 + rng.Below(249))},
                {"layers", std::to_string(1 + rng.Below(4))},
                {"learning_rate", DrawText(std::exp(rng.Uniform(std::log(1e-5), 0)), 1e-5, 1)},
                {"recurrent_dropout", DrawText(rng.Uniform(0, 0.5), 0, 0.5)}};
    // The oldest are the best: left out by a cap taken before the foreign ones are passed
    // over, they would not be the good group.
    rows.push_back(Completed(t, "val_accuracy", i <= 30 ? 0.99 : 0.5 * Synth(t.params)));
    all.push_back(&rows.back());
    if (!foreign) held.push_back(&rows.back());
  }
  StatusOr<TrialSpec> a = s->Propose(n + 1, all);
  StatusOr<TrialSpec> b = s->Propose(n + 1, held);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->params, b->params);
}

// dropout is list-valued: a trial stores its drawn value as "[0.25]". Such trials were passed
// over as points the space cannot hold, so a bayes sweep over dropout never left its random
// start-up. Its trials now count: the proposal differs from the start-up draw of no history.
TEST(TpeSamplerTest, TrialsOfAListValuedKeyCount) {
  const std::string yaml =
      "name: d\nmethod: bayes\nmax_trials: 50\nseed: 3\nbayes: {n_startup_trials: 5}\n"
      "fixed: {epochs: 1, units: 8}\nparameters:\n"
      "  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n"
      "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n";
  SweepSpec spec = MustParse(yaml);
  std::unique_ptr<Sampler> s = MustSampler(spec);
  ASSERT_NE(s, nullptr);
  std::deque<TrialRow> rows;
  std::vector<const TrialRow*> ptrs;
  for (int n = 1; n <= 20; ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, {});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ASSERT_EQ(t->params.at("dropout").front(), '[') << t->params.at("dropout");
    const double d = std::stod(t->params.at("dropout").substr(1));
    rows.push_back(Completed(*t, "val_accuracy", 1 - std::fabs(d - 0.1)));
    ptrs.push_back(&rows.back());
  }
  StatusOr<TrialSpec> learned = s->Propose(21, ptrs);
  StatusOr<TrialSpec> startup = s->Propose(21, {});
  ASSERT_TRUE(learned.ok() && startup.ok());
  EXPECT_NE(learned->params, startup->params);
}

// ---- Plans: today's methods, unchanged ----

void ExpectPlanIsExpansion(const std::string& yaml) {
  SCOPED_TRACE(yaml);
  SweepSpec spec = MustParse(yaml);
  StatusOr<std::vector<TrialSpec>> want = ExpandSweep(spec, kFile);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::unique_ptr<Sampler> s = MustSampler(spec);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->needs_history());
  ASSERT_EQ(s->planned(), static_cast<int>(want->size()));
  for (size_t i = 0; i < want->size(); ++i) {
    StatusOr<TrialSpec> t = s->Propose(static_cast<int>(i) + 1, {});
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->number, (*want)[i].number);
    EXPECT_EQ(t->params, (*want)[i].params);
    EXPECT_EQ(t->label, (*want)[i].label);
  }
  EXPECT_TRUE(s->Exhausted(s->planned()));
}

TEST(PlanSamplerTest, GridRandomAndListKeepTheirOrderAndValues) {
  ExpectPlanIsExpansion(
      "name: g\nmethod: grid\nparameters:\n  units: {values: [32, 64]}\n"
      "  activation: {values: [tanh, relu]}\n  layers: {values: [1, 2, 3]}\n");
  ExpectPlanIsExpansion(SynthYaml("random", 7, 25));
  ExpectPlanIsExpansion(
      "name: l\nmethod: list\ntrials:\n  - {label: A1, cell: lstm}\n  - {label: B2, cell: gru}\n"
      "parameters:\n  units: {values: [8, 16]}\n");
  // Random with values from a small space: cut short when exhausted, as ExpandSweep does.
  ExpectPlanIsExpansion(
      "name: tiny\nmethod: random\nmax_trials: 10\nparameters:\n  units: {values: [8, 16, 32]}\n");
}

// Pinned values of today's random expansion (seed 7): a sampler must not change them.
TEST(PlanSamplerTest, RandomValuesArePinned) {
  SweepSpec spec = MustParse(
      "name: r\nmethod: random\nmax_trials: 3\nseed: 7\nparameters:\n"
      "  units: {distribution: int_uniform, min: 8, max: 256}\n"
      "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}\n");
  StatusOr<std::vector<TrialSpec>> want = ExpandSweep(spec, kFile);
  ASSERT_TRUE(want.ok());
  std::unique_ptr<Sampler> s = MustSampler(spec);
  for (int n = 1; n <= 3; ++n) {
    StatusOr<TrialSpec> t = s->Propose(n, {});
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->params.at("units"), (*want)[n - 1].params.at("units"));
    EXPECT_EQ(t->params.at("learning_rate"), (*want)[n - 1].params.at("learning_rate"));
  }
}

// ---- The scheduler with a bayes sweep ----

std::string BayesYaml(int max_trials, int startup = 4) {
  return "name: sched-bayes\nmethod: bayes\nmax_trials: " + std::to_string(max_trials) +
         "\nseed: 11\nbayes: {n_startup_trials: " + std::to_string(startup) +
         "}\nfixed: {epochs: 1}\nparameters:\n"
         "  cell: {values: [lstm, gru, simple_rnn]}\n"
         "  activation: {values: [relu, tanh]}\n"
         "  units: {distribution: int_uniform, min: 8, max: 256}\n"
         "  layers: {distribution: int_uniform, min: 1, max: 4}\n"
         "  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0}\n"
         "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5}\n";
}

std::unique_ptr<Storage> MustOpen() {
  StatusOr<std::unique_ptr<Storage>> s = OpenSqliteStorage(":memory:");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

int64_t MustSubmit(Scheduler& s, const std::string& yaml) {
  SweepSpec spec = MustParse(yaml);
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, kFile);
  EXPECT_TRUE(trials.ok()) << trials.status().ToString();
  if (!trials.ok()) return 0;
  StatusOr<int64_t> id = s.Submit(spec, *trials, yaml, kFile);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : 0;
}

Completion Result(const TrialRow& t) {
  Completion c;
  EpochReport e;
  e.epoch = 1;
  e.train_loss = 0.5;
  e.train_accuracy = 0.5;
  e.val_accuracy = Synth(t.params);
  e.val_loss = 1 - e.val_accuracy;
  e.seconds = 1;
  c.history = {e};
  c.seconds = 1;
  return c;
}

SweepCounts CountsOf(Scheduler& s, int64_t sweep) {
  std::vector<SweepCounts> c = s.Counts(sweep);
  EXPECT_EQ(c.size(), 1u);
  return c.empty() ? SweepCounts() : c[0];
}

// Leases trials of the sweep in the pattern (k leases, then k completions), returning the
// proposals by number. restart_after: a new Scheduler over the same storage after that many
// trials were leased (two of them still running).
std::map<int, std::map<std::string, std::string>> RunSweep(int max_trials, int restart_after) {
  std::map<int, std::map<std::string, std::string>> out;
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  auto sched = std::make_unique<Scheduler>(storage.get(), &clock);
  EXPECT_TRUE(sched->Load().ok());
  const int64_t sweep = MustSubmit(*sched, BayesYaml(max_trials));
  StatusOr<int64_t> worker = sched->RegisterWorker("w", 1);
  EXPECT_TRUE(worker.ok());
  std::vector<LeaseGrant> running;
  int leased = 0;
  for (;;) {
    if (leased == restart_after) {
      sched.reset();
      sched = std::make_unique<Scheduler>(storage.get(), &clock);
      EXPECT_TRUE(sched->Load().ok());
      worker = sched->RegisterWorker("w", 1);
      EXPECT_TRUE(worker.ok());
    }
    clock.Advance(1);
    StatusOr<std::optional<LeaseGrant>> g = sched->Lease(*worker);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (!g.ok() || !g->has_value()) break;
    ++leased;
    out[(*g)->trial.number] = (*g)->trial.params;
    running.push_back(**g);
    if (running.size() == 2) {  // two run at once: the second proposal saw the first running
      for (const LeaseGrant& r : running) {
        Status st = sched->Complete(r.lease_id, Result(r.trial));
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
      running.clear();
    }
  }
  for (const LeaseGrant& r : running)
    EXPECT_TRUE(sched->Complete(r.lease_id, Result(r.trial)).ok());
  SweepCounts c = CountsOf(*sched, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_EQ(c.completed, max_trials);
  EXPECT_EQ(c.unproposed, 0);
  EXPECT_EQ(c.sweep.total, max_trials);
  return out;
}

TEST(SchedulerSamplerTest, RestartProposesTheSameTrials) {
  const auto plain = RunSweep(16, -1);
  ASSERT_EQ(plain.size(), 16u);
  for (int k : {3, 7, 11}) {  // in the startup phase, and past it (k odd: one trial running)
    const auto restarted = RunSweep(16, k);
    EXPECT_EQ(restarted, plain) << "restart after " << k << " leases";
  }
}

// A sweep whose sampler cannot be made again after a restart (here: a coordinator whose model
// limit refuses the file's models) finishes with the trials it has, once none runs: it was left
// running, and `hpsweep run` waited on it for ever.
TEST(SchedulerSamplerTest, ASweepWithNoSamplerAfterARestartFinishes) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  auto s = std::make_unique<Scheduler>(storage.get(), &clock);
  ASSERT_TRUE(s->Load().ok());
  const int64_t sweep = MustSubmit(*s, BayesYaml(5));
  StatusOr<int64_t> w = s->RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  StatusOr<std::optional<LeaseGrant>> g = s->Lease(*w);
  ASSERT_TRUE(g.ok() && g->has_value());
  ASSERT_TRUE(s->Complete((*g)->lease_id, Result((*g)->trial)).ok());
  EXPECT_EQ(CountsOf(*s, sweep).sweep.state, SweepState::kRunning);
  SchedulerOptions small;
  small.sweep_limits.max_params = 10;  // no model of the file fits: no sampler
  s = std::make_unique<Scheduler>(storage.get(), &clock, small);
  ASSERT_TRUE(s->Load().ok());  // (a reader: changes nothing)
  EXPECT_EQ(CountsOf(*s, sweep).sweep.state, SweepState::kRunning);
  ASSERT_TRUE(s->FinishStrandedSweeps().ok());  // (the coordinator's)
  const SweepCounts c = CountsOf(*s, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_EQ(c.completed, 1);
}

TEST(SchedulerSamplerTest, SubmitStoresNoTrialsAndCountsShowThePlan) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, BayesYaml(5));
  StatusOr<std::vector<TrialRow>> rows = storage->LoadTrials(0);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kRunning);
  EXPECT_EQ(c.sweep.total, 5);
  EXPECT_EQ(c.unproposed, 5);
  EXPECT_EQ(c.queued, 0);

  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  StatusOr<std::optional<LeaseGrant>> g = s.Lease(*w);
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->trial.number, 1);
  // Stored (committed) with its lease.
  rows = storage->LoadTrials(0);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, (*g)->trial.id);
  EXPECT_EQ((*rows)[0].status, TrialStatus::kRunning);
  EXPECT_EQ((*rows)[0].params, (*g)->trial.params);
  c = CountsOf(s, sweep);
  EXPECT_EQ(c.unproposed, 4);
  EXPECT_EQ(c.running, 1);

  // Cancel: nothing more is proposed.
  ASSERT_TRUE(s.Cancel(sweep).ok());
  c = CountsOf(s, sweep);
  EXPECT_EQ(c.unproposed, 0);
  g = s.Lease(*w);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
}

// A bayes sweep whose finite space has fewer valid points than max_trials: its total is the
// number of valid points (a point over the model-size limit is not one), each is trained once,
// and the sweep completes. It used to train trials 5 to 7 as repeats of earlier points.
TEST(SchedulerSamplerTest, FiniteSpaceSmallerThanMaxTrialsTrainsEachPointOnce) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  SchedulerOptions options;
  options.sweep_limits.max_params = 200000;  // units 2048: about 17M parameters; 8 and 16 fit
  Scheduler s(storage.get(), &clock, options);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(
      s, "name: small\nmethod: bayes\nmax_trials: 7\nbayes: {n_startup_trials: 1}\n"
         "fixed: {epochs: 1, cell: lstm}\nparameters:\n  units: {values: [8, 16, 2048]}\n"
         "  batch_size: {values: [16, 64]}\n");
  EXPECT_EQ(CountsOf(s, sweep).sweep.total, 4);
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  std::set<std::map<std::string, std::string>> seen;
  for (int n = 1; n <= 4; ++n) {
    StatusOr<std::optional<LeaseGrant>> g = s.Lease(*w);
    ASSERT_TRUE(g.ok() && g->has_value()) << "trial " << n;
    EXPECT_NE((*g)->trial.params.at("units"), "2048");
    EXPECT_TRUE(seen.insert((*g)->trial.params).second) << "trial " << n << " repeats a point";
    ASSERT_TRUE(s.Complete((*g)->lease_id, Result((*g)->trial)).ok());
  }
  StatusOr<std::optional<LeaseGrant>> more = s.Lease(*w);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(more->has_value());
  EXPECT_EQ(CountsOf(s, sweep).sweep.state, SweepState::kCompleted);
}

// A grid sweep and a bayes sweep take turns, as two grid sweeps do.
TEST(SchedulerSamplerTest, SweepsTakeTurnsWithASampler) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t grid = MustSubmit(
      s, "name: g\nmethod: grid\nfixed: {epochs: 1}\nparameters:\n  units: {values: [1, 2, 3]}\n");
  const int64_t bayes = MustSubmit(s, BayesYaml(3));
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  std::vector<int64_t> order;
  for (int i = 0; i < 6; ++i) {
    StatusOr<std::optional<LeaseGrant>> g = s.Lease(*w);
    ASSERT_TRUE(g.ok() && g->has_value());
    order.push_back((*g)->trial.sweep_id);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{grid, bayes, grid, bayes, grid, bayes}));
  StatusOr<std::optional<LeaseGrant>> g = s.Lease(*w);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
}

// Constant liar through the scheduler: two leases in a row, both running, differ.
TEST(SchedulerSamplerTest, TwoRunningLeasesGetDifferentPoints) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  MustSubmit(s,
             "name: two\nmethod: bayes\nmax_trials: 30\nseed: 3\nbayes: {n_startup_trials: 3}\n"
             "fixed: {epochs: 1}\nparameters:\n  cell: {values: [lstm, gru]}\n"
             "  activation: {values: [relu, tanh]}\n");
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  for (int round = 0; round < 2; ++round) {  // the space's 4 points (its total: not 30)
    StatusOr<std::optional<LeaseGrant>> a = s.Lease(*w);
    StatusOr<std::optional<LeaseGrant>> b = s.Lease(*w);
    ASSERT_TRUE(a.ok() && a->has_value() && b.ok() && b->has_value());
    EXPECT_NE((*a)->trial.params, (*b)->trial.params) << "round " << round;
    Completion ca = Result((*a)->trial), cb = Result((*b)->trial);
    // gru/tanh is best, so without the liar both would go there.
    ca.history[0].val_accuracy = (*a)->trial.params.at("cell") == "gru" ? 0.9 : 0.2;
    cb.history[0].val_accuracy = (*b)->trial.params.at("cell") == "gru" ? 0.9 : 0.2;
    ASSERT_TRUE(s.Complete((*a)->lease_id, ca).ok());
    ASSERT_TRUE(s.Complete((*b)->lease_id, cb).ok());
  }
  StatusOr<std::optional<LeaseGrant>> more = s.Lease(*w);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(more->has_value());
}

// Workers leasing at once (sync and async paths): every trial number once, exactly max_trials.
// Two workers ask at once while a GP sweep's proposal (always made outside the lock) is being
// computed: the second waits for the first's trial to be leased and prepares the one after it,
// instead of coming back empty (its worker would wait retry_after_seconds for nothing).
TEST(SchedulerSamplerTest, TwoLeasesDuringAProposalBothGetATrial) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  MustSubmit(s, BayesYaml(10, 2));
  StatusOr<int64_t> w1 = s.RegisterWorker("w1", 1);
  StatusOr<int64_t> w2 = s.RegisterWorker("w2", 1);
  ASSERT_TRUE(w1.ok() && w2.ok());
  std::atomic<int> proposals{0};
  s.SetProposeHookForTesting([&] {
    ++proposals;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  });
  StatusOr<std::optional<LeaseGrant>> first = Status::Ok();
  std::thread a([&] { first = s.Lease(*w1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // (a is proposing)
  StatusOr<std::optional<LeaseGrant>> second = s.Lease(*w2);
  a.join();
  s.SetProposeHookForTesting(nullptr);
  ASSERT_TRUE(first.ok() && second.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ(std::set<int>({(*first)->trial.number, (*second)->trial.number}),
            std::set<int>({1, 2}));
  EXPECT_EQ(proposals.load(), 2);
}

TEST(SchedulerSamplerTest, ConcurrentWorkersShareMaxTrialsExactly) {
  constexpr int kMax = 48, kThreads = 6;
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, BayesYaml(kMax, 6));
  std::mutex mu;
  std::vector<int> numbers;
  std::set<int64_t> ids;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      StatusOr<int64_t> w = s.RegisterWorker("w" + std::to_string(i), 1);
      ASSERT_TRUE(w.ok());
      std::optional<LeaseGrant> g;
      auto lease_async = [&](const std::string& lease, const Completion& c) {
        std::promise<StatusOr<std::optional<LeaseGrant>>> p;
        auto done = [&p](StatusOr<std::optional<LeaseGrant>> r) { p.set_value(std::move(r)); };
        if (lease.empty()) {
          s.LeaseAsync(*w, done);
        } else {
          s.CompleteAndLeaseAsync(lease, c, *w, done);
        }
        return p.get_future().get();
      };
      StatusOr<std::optional<LeaseGrant>> r = i % 2 ? lease_async("", Completion()) : s.Lease(*w);
      for (;;) {
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (!r->has_value()) return;
        g = **r;
        {
          std::lock_guard<std::mutex> lock(mu);
          numbers.push_back(g->trial.number);
          ids.insert(g->trial.id);
        }
        if (i % 2) {
          // A next lease with the result has no trial when a costly proposal (a GP's) is not
          // ready: the worker then asks with LeaseTrial, which prepares it.
          r = lease_async(g->lease_id, Result(g->trial));
          if (r.ok() && !r->has_value()) r = lease_async("", Completion());
        } else {
          ASSERT_TRUE(s.Complete(g->lease_id, Result(g->trial)).ok());
          r = s.Lease(*w);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::sort(numbers.begin(), numbers.end());
  ASSERT_EQ(numbers.size(), static_cast<size_t>(kMax));
  for (int n = 1; n <= kMax; ++n) EXPECT_EQ(numbers[n - 1], n);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kMax));
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.completed, kMax);
  EXPECT_EQ(c.unproposed, 0);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  StatusOr<std::vector<TrialRow>> rows = storage->LoadTrials(0);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), static_cast<size_t>(kMax));
}

// A failed commit of a lease that proposed: nothing stays, and the same trial is proposed again.
TEST(SchedulerSamplerTest, FailedCommitOfAProposalIsRedone) {
  auto inner = MustOpen();
  auto* faulty = new FaultInjectingStorage(std::move(inner));
  std::unique_ptr<Storage> owned(faulty);
  FakeClock clock;
  Scheduler s(faulty, &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, BayesYaml(4));
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  faulty->FailCommits(true);
  StatusOr<std::optional<LeaseGrant>> g = s.Lease(*w);
  EXPECT_FALSE(g.ok());
  faulty->Heal();
  EXPECT_EQ(CountsOf(s, sweep).unproposed, 4);
  StatusOr<std::vector<TrialRow>> rows = faulty->LoadTrials(0);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  g = s.Lease(*w);
  ASSERT_TRUE(g.ok() && g->has_value()) << g.status().ToString();
  EXPECT_EQ((*g)->trial.number, 1);
  EXPECT_EQ(CountsOf(s, sweep).unproposed, 3);
}

// ---- The scheduler with plans (grid, random, list): proposed at lease time too ----

constexpr char kGridYaml[] =
    "name: lazy-grid\nmethod: grid\nmax_attempts: 2\nfixed: {epochs: 1}\nparameters:\n"
    "  units: {values: [8, 16, 32]}\n  activation: {values: [tanh, relu]}\n";

std::vector<TrialSpec> MustExpand(const std::string& yaml) {
  StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(MustParse(yaml), kFile);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : std::vector<TrialSpec>();
}

size_t StoredTrials(Storage* storage) {
  StatusOr<std::vector<TrialRow>> rows = storage->LoadTrials(0);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? rows->size() : 0;
}

std::optional<LeaseGrant> LeaseOrNone(Scheduler& s, int64_t worker) {
  StatusOr<std::optional<LeaseGrant>> g = s.Lease(worker);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? *g : std::nullopt;
}

// Leases every trial of `yaml` (completing each), restarting the scheduler after restart_after
// leases (-1: never; one trial is then running across the restart). Returns the leased trials
// in lease order.
std::vector<TrialRow> RunPlan(const std::string& yaml, int restart_after) {
  std::vector<TrialRow> out;
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  auto sched = std::make_unique<Scheduler>(storage.get(), &clock);
  EXPECT_TRUE(sched->Load().ok());
  const int64_t sweep = MustSubmit(*sched, yaml);
  EXPECT_EQ(StoredTrials(storage.get()), 0u) << "Submit stored trials";
  StatusOr<int64_t> worker = sched->RegisterWorker("w", 1);
  EXPECT_TRUE(worker.ok());
  std::optional<LeaseGrant> running;
  for (int leased = 0;; ++leased) {
    if (leased == restart_after) {
      sched.reset();
      sched = std::make_unique<Scheduler>(storage.get(), &clock);
      EXPECT_TRUE(sched->Load().ok());
      worker = sched->RegisterWorker("w", 1);
      EXPECT_TRUE(worker.ok());
    }
    clock.Advance(1);
    std::optional<LeaseGrant> g = LeaseOrNone(*sched, *worker);
    if (running) {
      EXPECT_TRUE(sched->Complete(running->lease_id, Result(running->trial)).ok());
    }
    running.reset();
    if (!g) break;
    EXPECT_EQ(StoredTrials(storage.get()), static_cast<size_t>(leased + 1));
    out.push_back(g->trial);
    running = g;
  }
  SweepCounts c = CountsOf(*sched, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_EQ(c.completed, static_cast<int>(out.size()));
  EXPECT_EQ(c.unproposed, 0);
  EXPECT_GT(c.sweep.finished_at, 0);
  return out;
}

void ExpectLeasedAsExpanded(const std::string& yaml, int restart_after) {
  SCOPED_TRACE(yaml + "restart after " + std::to_string(restart_after) + " leases");
  const std::vector<TrialSpec> plan = MustExpand(yaml);
  const std::vector<TrialRow> leased = RunPlan(yaml, restart_after);
  ASSERT_EQ(leased.size(), plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(leased[i].number, plan[i].number);
    EXPECT_EQ(leased[i].params, plan[i].params) << "trial " << plan[i].number;
  }
}

// A grid, random or list sweep stores no trial at submit; its trials appear as they are leased,
// in ExpandSweep's order with ExpandSweep's values (a random sweep's draws unchanged), and a
// restart part-way proposes the same next trials.
TEST(SchedulerPlanTest, TrialsAppearAsLeasedInExpansionOrderAcrossRestarts) {
  const std::string list =
      "name: l\nmethod: list\nfixed: {epochs: 1}\ntrials:\n  - {label: A1, cell: lstm}\n"
      "  - {label: B2, cell: gru}\nparameters:\n  units: {values: [8, 16]}\n";
  for (const std::string& yaml : {std::string(kGridYaml), SynthYaml("random", 7, 9), list}) {
    for (int restart_after : {-1, 1, 3}) ExpectLeasedAsExpanded(yaml, restart_after);
  }
}

// Restart mid-grid: the rebuilt sampler's next trial is the one the first scheduler would have
// proposed, and the running trial is not proposed again.
TEST(SchedulerPlanTest, RestartMidGridProposesTheSameNextTrial) {
  const std::vector<TrialSpec> plan = MustExpand(kGridYaml);
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  int64_t sweep = 0;
  {
    Scheduler s(storage.get(), &clock);
    ASSERT_TRUE(s.Load().ok());
    sweep = MustSubmit(s, kGridYaml);
    StatusOr<int64_t> w = s.RegisterWorker("w", 1);
    ASSERT_TRUE(w.ok());
    std::optional<LeaseGrant> a = LeaseOrNone(s, *w);
    std::optional<LeaseGrant> b = LeaseOrNone(s, *w);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(s.Complete(a->lease_id, Result(a->trial)).ok());
  }
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.queued, 0);
  EXPECT_EQ(c.unproposed, static_cast<int>(plan.size()) - 2);
  StatusOr<int64_t> w = s.RegisterWorker("w2", 1);
  ASSERT_TRUE(w.ok());
  std::optional<LeaseGrant> next = LeaseOrNone(s, *w);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->trial.number, 3);
  EXPECT_EQ(next->trial.params, plan[2].params);
  EXPECT_EQ(StoredTrials(storage.get()), 3u);
}

// Cancel mid-grid: no trial is left queued, nothing more is proposed (the unproposed ones never
// exist, and count as stopped: the counts still add up to the total), and the sweep ends
// cancelled once its running trial ends.
TEST(SchedulerPlanTest, CancelMidGridLeavesNothingQueued) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, kGridYaml);
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  std::optional<LeaseGrant> done = LeaseOrNone(s, *w);
  std::optional<LeaseGrant> running = LeaseOrNone(s, *w);
  ASSERT_TRUE(done && running);
  ASSERT_TRUE(s.Complete(done->lease_id, Result(done->trial)).ok());
  StatusOr<int> n = s.Cancel(sweep);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 5);  // the running trial is told to stop; 4 of 6 will never be proposed
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCancelled);
  EXPECT_EQ(c.queued, 0);
  EXPECT_EQ(c.unproposed, 0);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.stopped, 4);
  EXPECT_FALSE(LeaseOrNone(s, *w));
  EXPECT_EQ(StoredTrials(storage.get()), 2u);

  Completion stopped = Result(running->trial);
  stopped.stopped = true;
  ASSERT_TRUE(s.Complete(running->lease_id, stopped).ok());
  c = CountsOf(s, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCancelled);
  EXPECT_GT(c.sweep.finished_at, 0);
  EXPECT_EQ(c.stopped, 5);
  EXPECT_EQ(c.completed + c.stopped, c.sweep.total);
  EXPECT_EQ(c.queued + c.running + c.unproposed, 0);

  // A restart does not bring the plan back.
  Scheduler again(storage.get(), &clock);
  ASSERT_TRUE(again.Load().ok());
  StatusOr<int64_t> w2 = again.RegisterWorker("w", 1);
  ASSERT_TRUE(w2.ok());
  EXPECT_FALSE(LeaseOrNone(again, *w2));
  EXPECT_EQ(CountsOf(again, sweep).unproposed, 0);
  EXPECT_EQ(CountsOf(again, sweep).stopped, 5);
}

// Two workers leasing in turn get different trials, each proposed once.
TEST(SchedulerPlanTest, TwoWorkersGetDifferentTrials) {
  const std::vector<TrialSpec> plan = MustExpand(kGridYaml);
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  MustSubmit(s, kGridYaml);
  StatusOr<int64_t> a = s.RegisterWorker("a", 1);
  StatusOr<int64_t> b = s.RegisterWorker("b", 1);
  ASSERT_TRUE(a.ok() && b.ok());
  std::set<int> numbers;
  std::set<int64_t> ids;
  for (size_t i = 0; i < plan.size(); ++i) {
    std::optional<LeaseGrant> g = LeaseOrNone(s, i % 2 ? *b : *a);
    ASSERT_TRUE(g);
    EXPECT_TRUE(numbers.insert(g->trial.number).second) << "trial " << g->trial.number;
    EXPECT_TRUE(ids.insert(g->trial.id).second);
    EXPECT_EQ(g->trial.params, plan[g->trial.number - 1].params);
  }
  EXPECT_EQ(numbers.size(), plan.size());
  EXPECT_FALSE(LeaseOrNone(s, *a));
  EXPECT_FALSE(LeaseOrNone(s, *b));
}

// The asynchronous lease path (the RPC edge) writes a proposed trial once, as leased: storage
// has it running under its lease once the grant is answered, and a completion after it works.
TEST(SchedulerPlanTest, AsyncLeaseStoresTheProposedTrialAsLeased) {
  const std::vector<TrialSpec> plan = MustExpand(kGridYaml);
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  Scheduler s(storage.get(), &clock);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, kGridYaml);
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  // Leases, completing the previous grant (if any) in the same call.
  auto lease_async = [&](const std::optional<LeaseGrant>& previous) {
    std::promise<StatusOr<std::optional<LeaseGrant>>> p;
    auto done = [&p](StatusOr<std::optional<LeaseGrant>> r) { p.set_value(std::move(r)); };
    if (!previous) {
      s.LeaseAsync(*w, done);
    } else {
      s.CompleteAndLeaseAsync(previous->lease_id, Result(previous->trial), *w, done);
    }
    return p.get_future().get();
  };
  std::optional<LeaseGrant> lease;
  for (size_t i = 0; i < plan.size(); ++i) {
    StatusOr<std::optional<LeaseGrant>> g = lease_async(lease);
    ASSERT_TRUE(g.ok() && g->has_value()) << g.status().ToString();
    const LeaseGrant& grant = **g;
    EXPECT_EQ(grant.trial.number, static_cast<int>(i) + 1);
    EXPECT_EQ(grant.trial.params, plan[i].params);
    StatusOr<std::vector<TrialRow>> rows = storage->LoadTrials(sweep);
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), i + 1);
    const TrialRow& row = rows->back();
    EXPECT_EQ(row.id, grant.trial.id);
    EXPECT_EQ(row.status, TrialStatus::kRunning);
    EXPECT_EQ(row.lease_id, grant.lease_id);
    EXPECT_EQ(row.attempts, 1);
    EXPECT_EQ(row.params, plan[i].params);
    lease = grant;
  }
  StatusOr<std::optional<LeaseGrant>> last = lease_async(lease);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->has_value());
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.completed, static_cast<int>(plan.size()));
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
}

// An expired lease puts its trial back (max_attempts 2): it is leased again before the next
// trial is proposed, and fails for good after its last attempt; the sweep still completes.
TEST(SchedulerPlanTest, RetriesComeBeforeNewProposals) {
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  SchedulerOptions options;
  options.lease_seconds = 10;
  Scheduler s(storage.get(), &clock, options);
  ASSERT_TRUE(s.Load().ok());
  const int64_t sweep = MustSubmit(s, kGridYaml);
  StatusOr<int64_t> w = s.RegisterWorker("w", 1);
  ASSERT_TRUE(w.ok());
  std::optional<LeaseGrant> first = LeaseOrNone(s, *w);
  ASSERT_TRUE(first);
  clock.Advance(11);
  std::optional<LeaseGrant> again = LeaseOrNone(s, *w);  // (expires the first lease)
  ASSERT_TRUE(again);
  EXPECT_EQ(again->trial.id, first->trial.id);
  EXPECT_EQ(again->trial.attempts, 2);
  EXPECT_EQ(StoredTrials(storage.get()), 1u);
  clock.Advance(11);
  std::optional<LeaseGrant> second = LeaseOrNone(s, *w);  // trial 1 failed for good
  ASSERT_TRUE(second);
  EXPECT_EQ(second->trial.number, 2);
  SweepCounts c = CountsOf(s, sweep);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.unproposed, 4);
  for (std::optional<LeaseGrant> g = second; g; g = LeaseOrNone(s, *w)) {
    ASSERT_TRUE(s.Complete(g->lease_id, Result(g->trial)).ok());
  }
  c = CountsOf(s, sweep);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_EQ(c.completed, 5);
  EXPECT_EQ(c.failed, 1);
}

// A plan of the sweep's own data: proposals carry AttachSweepData's params (paths, sha256), after
// a restart too: before the first trial the files are read again; after it, the params are those
// stored, even if a file changed since (a sweep keeps the data it was submitted with).
// A sweep of its own data (CSV), grid or bayes: every leased trial carries the data's params as
// submitted (paths, sha256), across restarts before and after the first trial, and after the
// files changed (the submitted sha256 stays, so workers refuse the changed files). Bayes
// proposals once went out without them, and workers trained on MNIST instead.
void ExpectOwnDataParamsSurviveARestart(const std::string& method) {
  SCOPED_TRACE(method);
  std::string dir = ::testing::TempDir() + "/sampler_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  write("train.csv", "0,1,2,3,4\n1,4,3,2,1\n");
  write("test.csv", "1,1,1,1,1\n");
  const std::string yaml =
      "name: own\n" + method +
      "\ndata: {format: csv, train: train.csv, test: test.csv, sequence_length: 2}\n"
      "fixed: {epochs: 1}\nparameters:\n  units: {values: [8, 16, 32]}\n";
  const std::string file = write("s.yaml", yaml);
  StatusOr<SweepSpec> spec = ParseSweep(yaml, file);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(*spec, file);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(AttachSweepData(*spec, file, &*plan).ok());
  StatusOr<SweepData> data = PrepareSweepData(*spec, file);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->params.count("data.sha256"), 1u);
  ASSERT_EQ(data->classes, 2);  // (labels 0 and 1: not MNIST's 10)
  auto data_params = [](const std::map<std::string, std::string>& params) {
    std::map<std::string, std::string> d;
    for (const auto& [k, v] : params) {
      if (k.rfind(kDataParamPrefix, 0) == 0) d[k] = v;
    }
    return d;
  };

  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  auto restart = [&](std::unique_ptr<Scheduler>* s, int64_t* worker) {
    s->reset();
    *s = std::make_unique<Scheduler>(storage.get(), &clock);
    ASSERT_TRUE((*s)->Load().ok());
    StatusOr<int64_t> w = (*s)->RegisterWorker("w", 1);
    ASSERT_TRUE(w.ok());
    *worker = *w;
  };
  std::unique_ptr<Scheduler> s;
  int64_t worker = 0;
  restart(&s, &worker);
  StatusOr<int64_t> sweep = s->Submit(*spec, *plan, yaml, file);
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  restart(&s, &worker);  // before any trial: the files are read again
  std::optional<LeaseGrant> g = LeaseOrNone(*s, worker);
  ASSERT_TRUE(g);
  EXPECT_EQ(data_params(g->trial.params), data->params);
  if (!plan->empty()) {
    EXPECT_EQ(g->trial.params, (*plan)[0].params);
  }
  ASSERT_TRUE(s->Complete(g->lease_id, Result(g->trial)).ok());
  write("test.csv", "0,1,1,1,1\n");  // another data set now
  restart(&s, &worker);
  for (int n = 2; n <= 3; ++n) {
    g = LeaseOrNone(*s, worker);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->trial.number, n);
    EXPECT_EQ(data_params(g->trial.params), data->params) << "trial " << n;
    if (!plan->empty()) {
      EXPECT_EQ(g->trial.params, (*plan)[n - 1].params) << "trial " << n;
    }
    ASSERT_TRUE(s->Complete(g->lease_id, Result(g->trial)).ok());
  }
  EXPECT_FALSE(LeaseOrNone(*s, worker));
  s.reset();
  std::filesystem::remove_all(dir);
}

TEST(SchedulerPlanTest, OwnDataParamsSurviveARestart) {
  ExpectOwnDataParamsSurviveARestart("method: grid");
}

TEST(SchedulerSamplerTest, BayesProposalsCarryTheSweepsOwnData) {
  ExpectOwnDataParamsSurviveARestart("method: bayes\nmax_trials: 3\nbayes: {n_startup_trials: 1}");
}

// ---- A bayes space no model of which fits ----

// Every point over --max-model-params: refused when the sampler is made (so at submit), naming
// the limit and the smallest model; with room for the smallest one it is accepted.
TEST(TpeSamplerTest, SpaceWhollyOverTheModelSizeLimitIsRefused) {
  const std::string yaml =
      "name: huge\nmethod: bayes\nmax_trials: 10\nfixed: {epochs: 1}\nparameters:\n"
      "  cell: {values: [lstm, gru]}\n"
      "  units: {distribution: int_uniform, min: 512, max: 4096}\n"
      "  layers: {distribution: int_uniform, min: 2, max: 8}\n"
      "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}\n";
  const SweepSpec spec = MustParse(yaml);
  // The smallest model: gru, 512 units, 2 layers.
  StatusOr<TrialSpec> smallest =
      BuildTrial(spec, 1, {"gru", "512", "2", "0.001"}, kFile, SweepLimits());
  ASSERT_TRUE(smallest.ok()) << smallest.status().ToString();
  const int64_t min_params = ParamCount(smallest->config);
  SweepLimits limits;
  limits.max_params = min_params - 1;
  StatusOr<std::unique_ptr<Sampler>> refused = MakeSampler(spec, kFile, limits);
  ASSERT_FALSE(refused.ok());
  const std::string& m = refused.status().message();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.rfind(std::string(kFile) + ":5: parameters: ", 0), 0u) << m;
  EXPECT_NE(m.find(std::to_string(limits.max_params)), std::string::npos) << m;
  EXPECT_NE(m.find("--max-model-params"), std::string::npos) << m;
  EXPECT_NE(m.find("smallest has " + std::to_string(min_params)), std::string::npos) << m;
  EXPECT_NE(m.find("cell=gru, units=512, layers=2"), std::string::npos) << m;

  limits.max_params = min_params;
  EXPECT_TRUE(MakeSampler(spec, kFile, limits).ok());

  // Through the scheduler: refused at submit, nothing stored.
  std::unique_ptr<Storage> storage = MustOpen();
  FakeClock clock;
  SchedulerOptions options;
  options.sweep_limits.max_params = min_params - 1;
  Scheduler s(storage.get(), &clock, options);
  ASSERT_TRUE(s.Load().ok());
  StatusOr<int64_t> id = s.Submit(spec, {}, yaml, kFile);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("--max-model-params"), std::string::npos);
  EXPECT_TRUE(s.Counts(0).empty());
  StatusOr<std::vector<SweepRow>> sweeps = storage->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  EXPECT_TRUE(sweeps->empty());
}

}  // namespace
}  // namespace hpsweep::sampler_test
