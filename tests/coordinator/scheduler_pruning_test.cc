// Tests of early stopping through coordinator/scheduler.h: a sweep with `early_terminate` gets
// its pruner's decisions on Report (STOP as ReportAction::kPrune), pruned trials end `pruned`
// with their epochs so far (by completion, Fail or lease expiry), counts and exports show them,
// a minimised val_loss prunes the high losses, and a coordinator restarted in the middle of a
// sweep makes the same decisions as one that ran through.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_pruning_test {
namespace {

constexpr double kLease = 30;

// n trials (units 1..n) of `epochs` epochs, with the given early_terminate.
std::string SweepYaml(int n, int epochs, const std::string& metric, const std::string& early) {
  std::string values;
  for (int i = 1; i <= n; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  return "name: prune\nmethod: grid\nmetric: {name: " + metric + "}\nearly_terminate: " + early +
         "\nfixed: {cell: lstm, epochs: " + std::to_string(epochs) +
         "}\nparameters:\n  units: {values: [" + values + "]}\n";
}

int64_t MustSubmit(Scheduler& s, const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, "prune.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  if (!spec.ok()) return 0;
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, "prune.yaml");
  EXPECT_TRUE(trials.ok()) << trials.status().ToString();
  if (!trials.ok()) return 0;
  StatusOr<int64_t> id = s.Submit(*spec, *trials, yaml, "prune.yaml");
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : 0;
}

EpochReport Epoch(int epoch, double val_loss, double val_accuracy) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = val_loss;
  r.train_accuracy = val_accuracy;
  r.val_loss = val_loss;
  r.val_accuracy = val_accuracy;
  r.seconds = 1;
  return r;
}

const char* Name(ReportAction a) {
  return a == ReportAction::kContinue ? "continue" : a == ReportAction::kStop ? "stop" : "prune";
}

// A scheduler on a database file that a test can restart (a new Scheduler on a reopened file).
class Harness {
 public:
  explicit Harness(const std::string& path) : path_(path) { Start(); }
  void Start() {
    sched_.reset();
    storage_ = MustOpen(path_);
    ASSERT_NE(storage_, nullptr);
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
    StatusOr<int64_t> w = sched_->RegisterWorker("w", 1);
    ASSERT_TRUE(w.ok());
    worker_ = *w;
  }
  void Restart() {
    sched_.reset();
    storage_.reset();
    Start();
  }
  // Leases the next trial; returns its lease id (empty if none).
  std::string Lease() {
    clock_.Advance(0.5);
    StatusOr<std::optional<LeaseGrant>> g = sched_->Lease(worker_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (!g.ok() || !g->has_value()) return "";
    return (*g)->lease_id;
  }
  std::string Report(const std::string& lease, const EpochReport& r) {
    clock_.Advance(1);
    double deadline = 0;
    StatusOr<ReportAction> a = sched_->Report(lease, r, &deadline);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? Name(*a) : "error";
  }
  Scheduler& sched() { return *sched_; }
  Storage* storage() { return storage_.get(); }
  FakeClock& clock() { return clock_; }

 private:
  std::string path_;
  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t worker_ = 0;
};

TrialRow StoredTrial(Storage* storage, int number) {
  StatusOr<std::vector<TrialRow>> trials = storage->LoadTrials(0);
  EXPECT_TRUE(trials.ok());
  if (trials.ok()) {
    for (const TrialRow& t : *trials) {
      if (t.number == number) return t;
    }
  }
  ADD_FAILURE() << "no trial #" << number;
  return {};
}

Completion Stopped(const std::vector<EpochReport>& history) {
  Completion c;
  c.history = history;
  c.stopped = true;
  c.seconds = 3;
  return c;
}

// val_loss, minimised, hyperband eta 3, rungs at epochs 1 and 3 of 9. At rung 1: #1 0.30
// continues (first), #2 0.20 continues (0.30 is worse), #3 0.50 is pruned (two better, k = 1).
TEST(SchedulerPruningTest, MinimisedValLossPrunesTheHighLossAndEndsPruned) {
  TempDir dir;
  Harness h(dir.File("p.db"));
  const int64_t sweep =
      MustSubmit(h.sched(), SweepYaml(3, 9, "val_loss", "{type: hyperband, min_iter: 1, eta: 3}"));
  const std::string l1 = h.Lease(), l2 = h.Lease(), l3 = h.Lease();
  EXPECT_EQ(h.Report(l1, Epoch(1, 0.30, 0.9)), "continue");
  EXPECT_EQ(h.Report(l2, Epoch(1, 0.20, 0.8)), "continue");
  // The best accuracy, the worst loss: pruned, the sweep minimises val_loss.
  EXPECT_EQ(h.Report(l3, Epoch(1, 0.50, 0.99)), "prune");
  EXPECT_EQ(h.Report(l3, EpochReport{}), "prune");           // every later heartbeat says STOP too
  EXPECT_EQ(h.Report(l1, Epoch(2, 0.25, 0.9)), "continue");  // epoch 2: no rung

  Status s = h.sched().Complete(l3, Stopped({Epoch(1, 0.50, 0.99)}));
  ASSERT_TRUE(s.ok()) << s.ToString();
  const TrialRow t3 = StoredTrial(h.storage(), 3);
  EXPECT_EQ(t3.status, TrialStatus::kPruned);
  EXPECT_EQ(t3.epochs_run, 1);  // its metrics so far are kept
  EXPECT_DOUBLE_EQ(t3.best_val_loss, 0.50);
  EXPECT_EQ(t3.test_accuracy, -1);  // not tested
  std::vector<SweepCounts> c = h.sched().Counts(sweep);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].pruned, 1);
  EXPECT_EQ(c[0].stopped, 0);
  EXPECT_EQ(c[0].running, 2);
  EXPECT_EQ(c[0].early_terminate, "hyperband (min_iter 1, eta 3, s 1)");
  // A retried completion changes nothing.
  EXPECT_TRUE(h.sched().Complete(l3, Stopped({Epoch(1, 0.50, 0.99)})).ok());
  EXPECT_EQ(StoredTrial(h.storage(), 3).status, TrialStatus::kPruned);

  StatusOr<std::string> ex = h.sched().ExportJson(sweep);
  ASSERT_TRUE(ex.ok());
  nlohmann::json j = nlohmann::json::parse(*ex);
  EXPECT_EQ(j["sweep"]["early_terminate"], "hyperband (min_iter 1, eta 3, s 1)");
  EXPECT_EQ(j["trials"][2]["status"], "pruned");
  EXPECT_EQ(j["trials"][2]["epochs_run"], 1);
  EXPECT_EQ(j["trials"][2]["epochs"].size(), 1u);
  // The leaderboard keeps the pruned trial, ranked by its loss.
  SweepRow resolved;
  StatusOr<std::vector<TrialRow>> lb = h.sched().Leaderboard(sweep, 0, &resolved);
  ASSERT_TRUE(lb.ok());
  ASSERT_EQ(lb->size(), 3u);
  EXPECT_EQ((*lb)[2].number, 3);
  EXPECT_EQ((*lb)[2].status, TrialStatus::kPruned);
}

// A pruned trial whose worker fails, or goes silent, ends pruned too (not queued again, not
// failed): it has its metrics so far and should not run again.
TEST(SchedulerPruningTest, FailOrExpiryOfAPrunedTrialEndsPruned) {
  TempDir dir;
  Harness h(dir.File("p.db"));
  MustSubmit(h.sched(), SweepYaml(3, 9, "val_accuracy", "{type: hyperband, min_iter: 1, eta: 3}"));
  const std::string l1 = h.Lease(), l2 = h.Lease(), l3 = h.Lease();
  EXPECT_EQ(h.Report(l1, Epoch(1, 0.3, 0.9)), "continue");
  EXPECT_EQ(h.Report(l2, Epoch(1, 0.3, 0.5)), "prune");
  EXPECT_EQ(h.Report(l3, Epoch(1, 0.3, 0.4)), "prune");
  ASSERT_TRUE(h.sched().Fail(l2, "killed", false).ok());
  EXPECT_EQ(StoredTrial(h.storage(), 2).status, TrialStatus::kPruned);
  EXPECT_EQ(h.Report(l1, EpochReport{}), "continue");  // keeps #1's lease alive
  h.clock().Advance(kLease - 1);
  EXPECT_EQ(h.Report(l1, EpochReport{}), "continue");
  h.clock().Advance(5);  // #3's lease has expired, #1's not
  StatusOr<int> n = h.sched().ExpireLeases();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(StoredTrial(h.storage(), 3).status, TrialStatus::kPruned);
  EXPECT_EQ(StoredTrial(h.storage(), 3).epochs_run, 1);
}

// Without early_terminate nothing is pruned, however bad a trial.
TEST(SchedulerPruningTest, NoEarlyTerminateNoPruning) {
  TempDir dir;
  Harness h(dir.File("p.db"));
  const std::string yaml =
      "name: plain\nmethod: grid\nfixed: {epochs: 9}\nparameters:\n  units: {values: [1, 2]}\n";
  MustSubmit(h.sched(), yaml);
  const std::string l1 = h.Lease(), l2 = h.Lease();
  EXPECT_EQ(h.Report(l1, Epoch(1, 0.3, 0.9)), "continue");
  EXPECT_EQ(h.Report(l2, Epoch(1, 0.3, 0.1)), "continue");
}

// One script of leases, reports and completions for 6 trials of a val_loss hyperband sweep
// (eta 3, rungs 1 and 3 of 9), run straight through or with a coordinator restart after step
// `restart_at`. Returns every answer in order and the trials' final statuses.
std::vector<std::string> RunScript(
    const std::string& path, int restart_at,
    const std::string& early = "{type: hyperband, min_iter: 1, eta: 3}") {
  Harness h(path);
  MustSubmit(h.sched(), SweepYaml(6, 9, "val_loss", early));
  std::vector<std::string> lease(7);
  for (int i = 1; i <= 6; ++i) lease[i] = h.Lease();
  std::vector<std::string> out;
  int step = 0;
  auto report = [&](int trial, int epoch, double loss) {
    out.push_back("#" + std::to_string(trial) + "@" + std::to_string(epoch) + " " +
                  h.Report(lease[trial], Epoch(epoch, loss, 1 - loss)));
    if (++step == restart_at) h.Restart();
  };
  // Rung 1 (k = max(1, n/3)): #1 .40 c; #2 .50 p (1 better); #3 .30 c; #4 .35 p (#3 better);
  // #5 .45 p; #6 .20 c (n=6, k=2, none better).
  report(1, 1, 0.40);
  report(2, 1, 0.50);
  report(3, 1, 0.30);
  report(4, 1, 0.35);
  report(5, 1, 0.45);
  report(6, 1, 0.20);
  // Heartbeats of pruned trials whose completion has not arrived: still STOP.
  out.push_back("#4 heartbeat " + h.Report(lease[4], EpochReport{}));
  if (++step == restart_at) h.Restart();
  // Epoch 2 is no rung; rung 3: #1 .30 c (first); #3 .25 c (n=2, k=1; none better); #6 .28
  // p (n=3, k=1; #3's .25 better).
  report(1, 2, 0.35);
  report(3, 2, 0.28);
  report(6, 2, 0.25);
  report(1, 3, 0.30);
  report(3, 3, 0.25);
  report(6, 3, 0.28);
  // The stopped completions come in: pruned ones end pruned.
  const double losses[7][4] = {
      {0}, {0}, {0, 0.50}, {0}, {0, 0.35}, {0, 0.45}, {0, 0.20, 0.25, 0.28}};
  for (int t : {2, 4, 5, 6}) {
    std::vector<EpochReport> history;
    const int epochs = t == 6 ? 3 : 1;
    for (int e = 1; e <= epochs; ++e) history.push_back(Epoch(e, losses[t][e], 1 - losses[t][e]));
    Status s = h.sched().Complete(lease[t], Stopped(history));
    out.push_back("#" + std::to_string(t) + " complete " + (s.ok() ? "ok" : s.ToString()));
  }
  for (int t = 1; t <= 6; ++t) {
    out.push_back("#" + std::to_string(t) + " " +
                  TrialStatusName(StoredTrial(h.storage(), t).status));
  }
  return out;
}

TEST(SchedulerPruningTest, RestartInTheMiddleMakesTheSameDecisions) {
  TempDir dir;
  const std::vector<std::string> straight = RunScript(dir.File("straight.db"), -1);
  // The hand-worked expectations of the script.
  const std::vector<std::string> expected = {
      "#1@1 continue",  "#2@1 prune",         "#3@1 continue", "#4@1 prune",     "#5@1 prune",
      "#6@1 continue",  "#4 heartbeat prune", "#1@2 continue", "#3@2 continue",  "#6@2 continue",
      "#1@3 continue",  "#3@3 continue",      "#6@3 prune",    "#2 complete ok", "#4 complete ok",
      "#5 complete ok", "#6 complete ok",     "#1 running",    "#2 pruned",      "#3 running",
      "#4 pruned",      "#5 pruned",          "#6 pruned"};
  EXPECT_EQ(straight, expected);
  // Restarts at every point of the script: the pruned trials whose STOP was already answered
  // (their completion still to come) are re-derived from the stored epochs, and later rungs
  // see the same records.
  for (int at = 1; at <= 13; ++at) {
    const std::vector<std::string> restarted =
        RunScript(dir.File("restart" + std::to_string(at) + ".db"), at);
    EXPECT_EQ(restarted, straight) << "restart after step " << at;
  }
}

// The same script under the median rule (no warmup, 2 others at least), worked by hand: at epoch
// 1, #3 (.30) sees .40 .50 (median .45: better, goes on), #4 (.35) sees .40 .50 .30 (median .40:
// goes on), #5 (.45) sees .40 .50 .30 .35 (median .375: worse, pruned), #6 (.20) goes on. At
// epochs 2 and 3 every trial's best so far beats the median of those before it (or has fewer
// than 2 before it). A restart at any step changes none of it.
TEST(SchedulerPruningTest, MedianRestartInTheMiddleMakesTheSameDecisions) {
  TempDir dir;
  const std::string median = "{type: median, warmup: 0, min_trials: 2}";
  const std::vector<std::string> straight = RunScript(dir.File("straight.db"), -1, median);
  const std::vector<std::string> expected = {"#1@1 continue",
                                             "#2@1 continue",
                                             "#3@1 continue",
                                             "#4@1 continue",
                                             "#5@1 prune",
                                             "#6@1 continue",
                                             "#4 heartbeat continue",
                                             "#1@2 continue",
                                             "#3@2 continue",
                                             "#6@2 continue",
                                             "#1@3 continue",
                                             "#3@3 continue",
                                             "#6@3 continue",
                                             "#2 complete ok",
                                             "#4 complete ok",
                                             "#5 complete ok",
                                             "#6 complete ok",
                                             "#1 running",
                                             "#2 stopped",
                                             "#3 running",
                                             "#4 stopped",
                                             "#5 pruned",
                                             "#6 stopped"};
  EXPECT_EQ(straight, expected);
  for (int at = 1; at <= 13; ++at) {
    EXPECT_EQ(RunScript(dir.File("m" + std::to_string(at) + ".db"), at, median), straight)
        << "restart after step " << at;
  }
}

// A completion's history replaces the epochs reported on the way, but keeps their recorded_at:
// it orders the rungs. Here #1 completes after #2 was pruned at rung 1 (because #1 was there
// before it). Had #1's epoch 1 been re-stamped at its completion, a restarted coordinator would
// see #2 as the first at the rung and let it go on.
TEST(SchedulerPruningTest, CompletionKeepsTheReportedEpochsOrderAcrossARestart) {
  TempDir dir;
  Harness h(dir.File("p.db"));
  MustSubmit(h.sched(), SweepYaml(2, 9, "val_accuracy", "{type: hyperband, min_iter: 1, eta: 3}"));
  const std::string l1 = h.Lease(), l2 = h.Lease();
  EXPECT_EQ(h.Report(l1, Epoch(1, 0.3, 0.9)), "continue");
  EXPECT_EQ(h.Report(l2, Epoch(1, 0.3, 0.5)), "prune");
  const TrialRow t1 = StoredTrial(h.storage(), 1);
  StatusOr<std::vector<EpochRow>> before = h.storage()->LoadEpochs(t1.id);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  h.clock().Advance(10);
  Completion full;
  for (int e = 1; e <= 9; ++e) full.history.push_back(Epoch(e, 0.3, 0.9));
  full.test_accuracy = 0.9;
  full.test_loss = 0.3;
  ASSERT_TRUE(h.sched().Complete(l1, full).ok());
  StatusOr<std::vector<EpochRow>> after = h.storage()->LoadEpochs(t1.id);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 9u);
  EXPECT_EQ((*after)[0].recorded_at, (*before)[0].recorded_at);  // reported: kept
  EXPECT_GT((*after)[1].recorded_at, (*before)[0].recorded_at);  // new: now
  h.Restart();
  EXPECT_EQ(h.Report(l2, EpochReport{}), "prune");
  ASSERT_TRUE(h.sched().Complete(l2, Stopped({Epoch(1, 0.3, 0.5)})).ok());
  EXPECT_EQ(StoredTrial(h.storage(), 2).status, TrialStatus::kPruned);
  EXPECT_EQ(StoredTrial(h.storage(), 1).status, TrialStatus::kCompleted);
}

}  // namespace
}  // namespace hpsweep::scheduler_pruning_test
