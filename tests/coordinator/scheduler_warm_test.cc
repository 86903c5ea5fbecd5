// Warm start (coordinator/scheduler.h, "Warm start"): a bayes sweep that names other sweeps in
// warm_start.sweeps proposes from their finished trials as history, from its first trial on and
// after a restart; a sweep that is not there, ranks by another metric, or trains other data is
// refused at submit; the key is checked where the file is parsed.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sampler.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_warm_test {
namespace {

constexpr double kLease = 30;

// A bayes sweep over two continuous axes; `extra` is appended (a warm_start key).
std::string Yaml(const std::string& name, int seed, const std::string& extra = "",
                 const std::string& metric = "val_accuracy") {
  return "name: " + name + "\nmethod: bayes\nmax_trials: 12\nseed: " + std::to_string(seed) +
         "\nbayes: {n_startup_trials: 10}\nmetric: {name: " + metric +
         ", goal: " + (metric == "val_loss" ? "minimize" : "maximize") +
         "}\nfixed:\n  cell: lstm\n  epochs: 1\n  units: 8\nparameters:\n"
         "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n"
         "  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n" +
         extra;
}

// A one-epoch completion whose value depends on the point (best near learning_rate 0.01).
Completion CompletionFor(const LeaseGrant& g) {
  const double lr = std::stod(g.trial.params.at("learning_rate"));
  const double dropout = std::stod(g.trial.params.at("dropout").substr(1));  // "[0.25]"
  const double v = 0.95 - 0.05 * std::fabs(std::log10(lr) + 2) - 0.1 * dropout;
  Completion c;
  EpochReport e;
  e.epoch = 1;
  e.train_loss = 0.5;
  e.train_accuracy = v;
  e.val_loss = 1 - v;
  e.val_accuracy = v;
  e.seconds = 1;
  c.history = {e};
  c.seconds = 1;
  c.weights_epoch = 1;
  return c;
}

class SchedulerWarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(":memory:");
    ASSERT_NE(storage_, nullptr);
    Start();
  }
  void Start() {  // (again: a restart over the same storage)
    sched_.reset();
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
    auto w = sched_->RegisterWorker("w1", 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    worker_ = *w;
  }
  StatusOr<int64_t> Submit(const std::string& yaml) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, "w.yaml");
    if (!spec.ok()) return spec.status();
    return sched_->Submit(*spec, {}, yaml, "w.yaml");
  }
  std::optional<LeaseGrant> Lease() {
    auto g = sched_->Lease(worker_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }
  // Trains every trial of the sweep in turn (only it runs).
  void RunAll() {
    while (std::optional<LeaseGrant> g = Lease()) {
      ASSERT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
    }
  }
  // The first proposal of the sweep in `yaml` with the finished trials of sweep `from` as its
  // history (renumbered as the scheduler does), made by the sampler with no scheduler at all.
  TrialSpec FirstProposal(const std::string& yaml, int64_t from, bool with_history) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, "w.yaml");
    EXPECT_TRUE(spec.ok());
    auto sampler = MakeSampler(*spec, "w.yaml");
    EXPECT_TRUE(sampler.ok());
    StatusOr<std::vector<TrialRow>> stored = storage_->LoadTrials(from);
    EXPECT_TRUE(stored.ok());
    std::vector<TrialRow> rows;
    for (TrialRow t : *stored) {
      t.number -= kWarmNumberStride;
      if (with_history) rows.push_back(t);
    }
    std::vector<const TrialRow*> ptrs;
    for (const TrialRow& t : rows) ptrs.push_back(&t);
    StatusOr<TrialSpec> t = (*sampler)->Propose(1, ptrs);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : TrialSpec();
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t worker_ = 0;
};

// Sweep "b" names sweep "a": its first trial is TPE's proposal from a's 12 finished trials (not
// a random start-up draw), and so it is after a restart between the submit and the first lease.
TEST_F(SchedulerWarmTest, TheFirstTrialIsProposedFromTheNamedSweepsTrials) {
  StatusOr<int64_t> a = Submit(Yaml("a", 5));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  RunAll();
  for (const bool restart : {false, true}) {
    SCOPED_TRACE(restart ? "restarted" : "live");
    // By name after a restart, by id live.
    const std::string named = restart ? "a" : std::to_string(*a);
    const std::string yaml = Yaml(restart ? "c" : "b", 9, "warm_start: {sweeps: [" + named + "]}\n");
    StatusOr<int64_t> b = Submit(yaml);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    if (restart) Start();
    std::optional<LeaseGrant> g = Lease();
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->trial.number, 1);
    const TrialSpec warm = FirstProposal(yaml, *a, true);
    const TrialSpec cold = FirstProposal(yaml, *a, false);
    EXPECT_EQ(g->trial.params, warm.params);
    const std::vector<SweepCounts> counts = sched_->Counts(*b);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].warm_start,
              "12 finished trials from sweep " + std::to_string(*a) + " (#1-#12)");
    EXPECT_NE(warm.params, cold.params);  // (so the check above tells them apart)
    // Finish this sweep so the next one leases alone.
    ASSERT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
    RunAll();
  }
}

// Refused at submit, naming the key and the reason; nothing is stored.
TEST_F(SchedulerWarmTest, ASweepThatIsNotThereOrDoesNotMatchIsRefused) {
  ASSERT_TRUE(Submit(Yaml("a", 5)).ok());
  ASSERT_TRUE(Submit(Yaml("lossy", 5, "", "val_loss")).ok());
  struct Case {
    std::string extra, metric, want;
  };
  const std::vector<Case> cases = {
      {"warm_start: {sweeps: [nope]}\n", "val_accuracy", "no sweep 'nope' before this one"},
      {"warm_start: {sweeps: [99]}\n", "val_accuracy", "no sweep '99'"},
      {"warm_start: {sweeps: [lossy]}\n", "val_accuracy", "ranks by val_loss (minimize)"},
      {"warm_start: {sweeps: [a]}\n", "val_loss", "ranks by val_accuracy (maximize)"},
  };
  StatusOr<std::vector<SweepRow>> before = storage_->LoadSweeps();
  ASSERT_TRUE(before.ok());
  for (const Case& c : cases) {
    StatusOr<int64_t> b = Submit(Yaml("b", 9, c.extra, c.metric));
    ASSERT_FALSE(b.ok()) << c.extra;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(b.status().message().find("w.yaml:14: key 'warm_start.sweeps': "), std::string::npos)
        << b.status().message();
    EXPECT_NE(b.status().message().find(c.want), std::string::npos) << b.status().message();
  }
  StatusOr<std::vector<SweepRow>> after = storage_->LoadSweeps();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());
}

// The key as the parser checks it: file:line:key and the limit.
TEST(WarmStartParseTest, BadKeysAreRefusedWithTheirLine) {
  const std::string base =
      "name: b\nmethod: bayes\nmax_trials: 5\nparameters:\n"
      "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n";
  std::string many = "[";
  for (int i = 1; i <= 17; ++i) many += (i > 1 ? ", " : "") + std::to_string(i);
  many += "]";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"warm_start: [a]\n", "t.yaml:6: key 'warm_start': expected a mapping"},
      {"warm_start: {sweep: [a]}\n", "warm_start"},
      {"warm_start: {sweeps: []}\n", "expected a list of 1 to 16 sweep ids or names, got 0 items"},
      {"warm_start: {sweeps: " + many + "}\n", "got 17 items"},
      {"warm_start: {sweeps: [a, a]}\n", "'a' is named twice"},
      {"warm_start: {sweeps: ['a b']}\n", "expected a sweep id or a sweep name"},
      {"warm_start: {sweeps: [[1]]}\n", "expected a sweep id or a sweep name"},
  };
  for (const auto& [extra, want] : cases) {
    StatusOr<SweepSpec> spec = ParseSweep(base + extra, "t.yaml");
    ASSERT_FALSE(spec.ok()) << extra;
    EXPECT_NE(spec.status().message().find(want), std::string::npos)
        << extra << " -> " << spec.status().message();
  }
  StatusOr<SweepSpec> grid = ParseSweep(
      "name: g\nmethod: grid\nparameters:\n  units: {values: [8, 16]}\nwarm_start: {sweeps: [a]}\n",
      "g.yaml");
  ASSERT_FALSE(grid.ok());
  EXPECT_NE(grid.status().message().find("g.yaml:5: key 'warm_start' (history for the TPE "
                                         "sampler) needs method: bayes"),
            std::string::npos)
      << grid.status().message();
  StatusOr<SweepSpec> ok = ParseSweep(base + "warm_start: {sweeps: [3, lstm-units]}\n", "t.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->warm_start, (std::vector<std::string>{"3", "lstm-units"}));
}

}  // namespace
}  // namespace hpsweep::scheduler_warm_test
