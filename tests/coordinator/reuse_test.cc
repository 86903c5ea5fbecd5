// Tests for reusing finished identical trials (coordinator/scheduler.h, "Reuse"): the identity key
// (TrialIdentityKey), and a sweep submitted with reuse whose trials identical to completed ones
// of an earlier sweep are completed by copy where they would be leased, not trained; without
// reuse nothing is copied, and FindIdenticalFinished counts what would be.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"

namespace hpsweep::reuse_test {
namespace {

class FakeClock : public Clock {
 public:
  double Now() override { return now_; }
  void Advance(double s) { now_ += s; }

 private:
  double now_ = 1000;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/reuse_test.XXXXXX";
    char* d = mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A grid sweep over `units`; `extra` adds top-level text (a data section, a seed).
std::string Yaml(const std::string& name, const std::string& units, const std::string& extra = "") {
  return "name: " + name + "\nmethod: grid\n" + extra +
         "fixed: {cell: lstm, epochs: 3}\nparameters:\n  units: {values: [" + units + "]}\n";
}

struct Parsed {
  SweepSpec spec;
  std::vector<TrialSpec> trials;
};

Parsed Parse(const std::string& yaml) {
  Parsed p;
  StatusOr<SweepSpec> spec = ParseSweep(yaml, "test.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  if (!spec.ok()) return p;
  p.spec = *spec;
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(p.spec, "test.yaml");
  EXPECT_TRUE(trials.ok()) << trials.status().ToString();
  if (trials.ok()) p.trials = *trials;
  return p;
}

std::string KeyOf(const std::string& yaml, int trial = 0) {
  Parsed p = Parse(yaml);
  if (p.trials.size() <= static_cast<size_t>(trial)) return "";
  return TrialIdentityKey(p.trials[trial].params, SweepDataIdentity(p.spec));
}

// ---- The identity key ----

TEST(TrialIdentityKeyTest, SameTrialSameKeyWhateverTheOrderOrWhereAValueIsSet) {
  const std::string a = KeyOf(Yaml("a", "32"));
  ASSERT_EQ(a.size(), 64u);  // sha256, hex
  // Keys in another order, another name, the swept value fixed instead: the same trial.
  EXPECT_EQ(KeyOf("name: other\nmethod: grid\nfixed: {epochs: 3, cell: lstm}\n"
                  "parameters:\n  units: {values: [32]}\n"),
            a);
  EXPECT_EQ(KeyOf("name: b\nmethod: grid\nfixed: {epochs: 3, units: 32}\n"
                  "parameters:\n  cell: {values: [lstm]}\n"),
            a);
  // The label names a list item; it does not train anything.
  std::map<std::string, std::string> params = Parse(Yaml("a", "32")).trials[0].params;
  std::map<std::string, std::string> labelled = params;
  labelled[kLabelKey] = "A1";
  EXPECT_EQ(TrialIdentityKey(labelled, "mnist:mnist"), TrialIdentityKey(params, "mnist:mnist"));
}

TEST(TrialIdentityKeyTest, AnyDecidingFieldChangesTheKey) {
  const Parsed p = Parse(Yaml("a", "32"));
  ASSERT_EQ(p.trials.size(), 1u);
  const std::map<std::string, std::string>& params = p.trials[0].params;
  const std::string data = SweepDataIdentity(p.spec);
  EXPECT_EQ(data, "mnist:mnist");
  const std::string key = TrialIdentityKey(params, data);
  // Every param (swept or fixed: every config key is there) decides.
  for (const char* k : {"cell", "units", "layers", "learning_rate", "batch_size", "epochs", "seed",
                        "validation_split", "train_limit", "optimizer", "dropout"}) {
    ASSERT_TRUE(params.count(k)) << k << " is not in a trial's params";
    std::map<std::string, std::string> changed = params;
    changed[k] += "1";
    EXPECT_NE(TrialIdentityKey(changed, data), key) << k;
    std::map<std::string, std::string> dropped = params;
    dropped.erase(k);
    if (params.at(k) == GetKey(TrialConfig(), k)) {  // at its default it trains as its absence
      EXPECT_EQ(TrialIdentityKey(dropped, data), key) << k;
    } else {
      EXPECT_NE(TrialIdentityKey(dropped, data), key) << k;
    }
  }
  // A trial stored before a key existed matches one that carries the key at its default (the
  // training keys clipnorm, lr_schedule... came later), and not one that sets it.
  std::map<std::string, std::string> older = params;
  older.erase("clipnorm");
  older.erase("lr_schedule");
  EXPECT_EQ(TrialIdentityKey(older, data), key);
  std::map<std::string, std::string> clipped = params;
  clipped["clipnorm"] = "1";
  EXPECT_NE(TrialIdentityKey(clipped, data), key);
  // The same for keep and early stopping's keys (they came later still): at their defaults
  // (keep best, early_stopping false, patience 0, min_delta 0, restore_best_weights false) they
  // are absent; set off them, another trial.
  std::map<std::string, std::string> defaults = older;
  for (const char* k : {"keep", "early_stopping", "patience", "min_delta", "restore_best_weights"}) {
    defaults[k] = GetKey(TrialConfig(), k);
  }
  EXPECT_EQ(defaults.at("keep"), "best");
  EXPECT_EQ(TrialIdentityKey(defaults, data), key);
  for (const auto& [k, v] : std::map<std::string, std::string>{{"keep", "last"},
                                                                 {"early_stopping", "true"},
                                                                 {"patience", "3"},
                                                                 {"min_delta", "0.01"},
                                                                 {"restore_best_weights", "true"}}) {
    std::map<std::string, std::string> set = params;
    set[k] = v;
    EXPECT_NE(TrialIdentityKey(set, data), key) << k;
  }
  // So does one stored before bidirectional came: it was a unidirectional model.
  std::map<std::string, std::string> before_bidirectional = params;
  ASSERT_EQ(before_bidirectional.erase("bidirectional"), 1u);
  EXPECT_EQ(TrialIdentityKey(before_bidirectional, data), key);
  std::map<std::string, std::string> bidirectional = params;
  bidirectional["bidirectional"] = "true";
  EXPECT_NE(TrialIdentityKey(bidirectional, data), key);
  // The data set, the data seed, the train limit and the split, from the file.
  EXPECT_NE(TrialIdentityKey(params, "mnist:fashion"), key);
  EXPECT_NE(TrialIdentityKey(params, "idx"), key);
  EXPECT_NE(KeyOf(Yaml("a", "32", "data: {dataset: fashion}\n")), key);
  EXPECT_NE(KeyOf(Yaml("a", "32", "data: {seed: 7}\n")), key);
  EXPECT_NE(KeyOf(Yaml("a", "32", "data: {train_limit: 1000}\n")), key);
  EXPECT_NE(KeyOf(Yaml("a", "32", "data: {validation_split: 0.1}\n")), key);
  EXPECT_EQ(KeyOf(Yaml("a", "32", "data: {dataset: mnist}\n")), key);
  // Unknown data: no identity (nothing matches it).
  EXPECT_EQ(TrialIdentityKey(params, ""), "");
  // No two different maps spell the same canonical text.
  EXPECT_NE(TrialIdentityKey({{"a", "b=c"}}, data), TrialIdentityKey({{"a=b", "c"}}, data));
  EXPECT_NE(TrialIdentityKey({{"a", "b\n1:c=d"}}, data),
            TrialIdentityKey({{"a", "b"}, {"c", "d"}}, data));
}

TEST(TrialIdentityKeyTest, OwnDataIsNamedByContentNotByPath) {
  std::map<std::string, std::string> params = Parse(Yaml("a", "32")).trials[0].params;
  params["data.format"] = "csv";
  params["data.train"] = "/a/train.csv";
  params["data.test"] = "/a/test.csv";
  params["data.sha256"] = std::string(64, 'a');
  const std::string key = TrialIdentityKey(params, "csv");
  std::map<std::string, std::string> moved = params;
  moved["data.train"] = "/b/train.csv";
  moved["data.test"] = "/b/test.csv";
  EXPECT_EQ(TrialIdentityKey(moved, "csv"), key);
  std::map<std::string, std::string> other = params;
  other["data.sha256"] = std::string(64, 'b');
  EXPECT_NE(TrialIdentityKey(other, "csv"), key);
  // Without a sha256 the path is all that names the data: it decides.
  params.erase("data.sha256");
  moved.erase("data.sha256");
  EXPECT_NE(TrialIdentityKey(moved, "csv"), TrialIdentityKey(params, "csv"));
}

// ---- The scheduler ----

EpochReport Epoch(int epoch, double val_accuracy) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = 1.0 / (epoch + 1);
  r.train_accuracy = 0.5 + 0.01 * epoch;
  r.val_loss = 1 - val_accuracy;
  r.val_accuracy = val_accuracy;
  r.seconds = 1.25 * epoch;
  return r;
}

// A distinct result for each units value, so that a copy of the wrong trial shows.
Completion ResultFor(int units) {
  Completion c;
  const double base = 0.5 + 0.01 * units;
  c.history = {Epoch(1, base), Epoch(2, base + 0.02), Epoch(3, base + 0.01)};
  c.test_accuracy = 0.5;
  c.test_loss = 0.25 + units;
  c.seconds = 10 + units;
  c.confusion.assign(100, 0);
  for (int i = 0; i < 10; ++i) {
    c.confusion[i * 11] = 50;
    c.confusion[i * 10 + (i + 1) % 10] = 50;
  }
  c.model = "model of units " + std::to_string(units) + std::string("\0\xff", 2);
  return c;
}

class ReuseTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(":memory:"); }

  void Open(const std::string& path) {
    sched_.reset();
    storage_.reset();
    StatusOr<std::unique_ptr<Storage>> s = OpenSqliteStorage(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    storage_ = std::move(s).value();
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_);
    ASSERT_TRUE(sched_->Load().ok());
    StatusOr<int64_t> w = sched_->RegisterWorker("w1", 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    worker_ = *w;
  }

  int64_t Submit(const std::string& yaml, bool reuse) {
    Parsed p = Parse(yaml);
    StatusOr<int64_t> id = sched_->Submit(p.spec, p.trials, yaml, "test.yaml", reuse);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  std::optional<LeaseGrant> Lease() {
    StatusOr<std::optional<LeaseGrant>> g = sched_->Lease(worker_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }

  // Leases and completes every queued trial with ResultFor(units); returns the units trained.
  std::vector<int> TrainAll() {
    std::vector<int> trained;
    for (std::optional<LeaseGrant> g = Lease(); g.has_value(); g = Lease()) {
      const int units = std::stoi(g->trial.params.at("units"));
      trained.push_back(units);
      Status s = sched_->Complete(g->lease_id, ResultFor(units));
      EXPECT_TRUE(s.ok()) << s.ToString();
      clock_.Advance(1);
    }
    return trained;
  }

  std::map<int, TrialRow> TrialsByUnits(int64_t sweep_id) {
    StatusOr<std::vector<TrialRow>> rows = storage_->LoadTrials(sweep_id);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::map<int, TrialRow> out;
    if (rows.ok()) {
      for (const TrialRow& t : *rows) out[std::stoi(t.params.at("units"))] = t;
    }
    return out;
  }

  std::vector<EpochRow> Epochs(int64_t trial_id) {
    StatusOr<std::vector<EpochRow>> e = storage_->LoadEpochs(trial_id);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::vector<EpochRow>{};
  }

  // `copy` holds the result of `original`: metrics, epochs, confusion, model; marked as a copy
  // and charged to no worker.
  void ExpectCopyOf(const TrialRow& copy, const TrialRow& original) {
    EXPECT_EQ(copy.status, TrialStatus::kCompleted);
    // ... and the worker that trained it, whose token vouched for the result.
    ASSERT_FALSE(original.worker_name.empty());
    EXPECT_EQ(copy.reused_from, "sweep " + std::to_string(original.sweep_id) + " #" +
                                    std::to_string(original.number) + " (worker " +
                                    original.worker_name + ")");
    EXPECT_EQ(copy.attempts, 0);
    EXPECT_EQ(copy.worker_name, "");
    EXPECT_EQ(copy.best_val_accuracy, original.best_val_accuracy);
    EXPECT_EQ(copy.best_val_loss, original.best_val_loss);
    EXPECT_EQ(copy.best_epoch, original.best_epoch);
    EXPECT_EQ(copy.epochs_run, original.epochs_run);
    EXPECT_EQ(copy.test_accuracy, original.test_accuracy);
    EXPECT_EQ(copy.test_loss, original.test_loss);
    EXPECT_EQ(copy.seconds, original.seconds);
    EXPECT_EQ(copy.confusion, original.confusion);
    std::vector<EpochRow> a = Epochs(copy.id), b = Epochs(original.id);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].epoch, b[i].epoch);
      EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy);
      EXPECT_EQ(a[i].val_loss, b[i].val_loss);
      EXPECT_EQ(a[i].train_loss, b[i].train_loss);
      EXPECT_EQ(a[i].seconds, b[i].seconds);
    }
    StatusOr<std::string> ma = sched_->GetModel(copy.id), mb = sched_->GetModel(original.id);
    ASSERT_TRUE(ma.ok()) << ma.status().ToString();
    ASSERT_TRUE(mb.ok()) << mb.status().ToString();
    EXPECT_EQ(*ma, *mb);
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t worker_ = 0;
};

TEST_F(ReuseTest, IdenticalTrialsAreCopiedNotTrainedOthersTrain) {
  const int64_t first = Submit(Yaml("s", "1, 2, 3"), false);
  EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2, 3}));
  // The edited file: one axis value dropped, one added.
  const std::string edited = Yaml("s", "2, 3, 4");
  Parsed p = Parse(edited);
  IdenticalFinished same = sched_->FindIdenticalFinished(p.spec, p.trials);
  EXPECT_EQ(same.trials, 2);
  EXPECT_EQ(same.sweeps, std::vector<int64_t>{first});

  const int64_t second = Submit(edited, true);
  // Only units 4 reaches the worker; 2 and 3 are completed on the way.
  EXPECT_EQ(TrainAll(), std::vector<int>{4});
  std::map<int, TrialRow> was = TrialsByUnits(first), now = TrialsByUnits(second);
  ASSERT_EQ(now.size(), 3u);
  ExpectCopyOf(now[2], was[2]);
  ExpectCopyOf(now[3], was[3]);
  EXPECT_EQ(now[4].reused_from, "");
  EXPECT_EQ(now[4].attempts, 1);
  EXPECT_EQ(now[4].test_loss, ResultFor(4).test_loss);
  std::vector<SweepCounts> c = sched_->Counts(second);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].completed, 3);
  EXPECT_EQ(c[0].sweep.state, SweepState::kCompleted);
  EXPECT_TRUE(c[0].sweep.reuse);
  // The worker delivered 4 results (3 + 1), none for the copies.
  double now_s = 0;
  std::vector<WorkerView> workers = sched_->ListWorkers(&now_s);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].worker.trials_done, 4);
  // The export says where each copy came from.
  StatusOr<std::string> exported = sched_->ExportJson(second);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  nlohmann::json j = nlohmann::json::parse(*exported);
  int marked = 0;
  for (const auto& t : j["trials"]) marked += t["reused_from"].get<std::string>().empty() ? 0 : 1;
  EXPECT_EQ(marked, 2);

  // A third run copies from the original (one that trained), not from a copy.
  const int64_t third = Submit(Yaml("s", "3"), true);
  EXPECT_EQ(TrainAll(), std::vector<int>{});
  ExpectCopyOf(TrialsByUnits(third)[3], was[3]);
}

TEST_F(ReuseTest, WithoutReuseNothingIsCopiedAndTheCountIsReported) {
  const int64_t first = Submit(Yaml("s", "1, 2"), false);
  EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2}));
  const std::string again = Yaml("s", "1, 2");
  Parsed p = Parse(again);
  IdenticalFinished same = sched_->FindIdenticalFinished(p.spec, p.trials);
  EXPECT_EQ(same.trials, 2);
  EXPECT_EQ(same.sweeps, std::vector<int64_t>{first});
  const int64_t second = Submit(again, false);
  EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2}));
  for (const auto& [units, t] : TrialsByUnits(second)) {
    EXPECT_EQ(t.reused_from, "") << units;
    EXPECT_EQ(t.attempts, 1) << units;
  }
  // The sweep's own trials do not count as twins of themselves.
  EXPECT_EQ(sched_->FindIdenticalFinished(p.spec, p.trials, second).sweeps,
            std::vector<int64_t>{first});
}

TEST_F(ReuseTest, OtherDataOrSeedOrUnfinishedTrialsAreNotCopied) {
  Submit(Yaml("s", "1, 2"), false);
  // Trial units 2 is left running: not finished, no twin.
  std::optional<LeaseGrant> g = Lease();
  ASSERT_TRUE(g.has_value());
  ASSERT_TRUE(sched_->Complete(g->lease_id, ResultFor(1)).ok());
  std::optional<LeaseGrant> running = Lease();
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->trial.params.at("units"), "2");

  const int64_t other_data = Submit(Yaml("s", "1", "data: {dataset: fashion}\n"), true);
  const int64_t other_seed = Submit(Yaml("s", "1", "data: {seed: 7}\n"), true);
  const int64_t unfinished = Submit(Yaml("s", "2"), true);
  std::map<int64_t, int> leased;
  for (std::optional<LeaseGrant> l = Lease(); l.has_value(); l = Lease()) {
    ++leased[l->trial.sweep_id];
  }
  EXPECT_EQ(leased[other_data], 1);
  EXPECT_EQ(leased[other_seed], 1);
  EXPECT_EQ(leased[unfinished], 1);
}

// `reuse: true` in the sweep file does what --reuse does; anything but true or false is refused,
// naming the file, line and key.
TEST_F(ReuseTest, ReuseKeyInTheSweepFile) {
  StatusOr<SweepSpec> off = ParseSweep(Yaml("s", "1"), "s.yaml");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->reuse);
  StatusOr<SweepSpec> bad = ParseSweep(Yaml("s", "1", "reuse: yes\n"), "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("s.yaml:3: key 'reuse': expected true or false, got 'yes'"),
            std::string::npos)
      << bad.status().message();

  const int64_t first = Submit(Yaml("s", "1, 2"), false);
  EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2}));
  const std::string edited = Yaml("s", "2, 3", "reuse: true\n");
  EXPECT_TRUE(Parse(edited).spec.reuse);
  const int64_t second = Submit(edited, /*reuse=*/false);
  EXPECT_EQ(TrainAll(), std::vector<int>{3});
  ExpectCopyOf(TrialsByUnits(second)[2], TrialsByUnits(first)[2]);
  // ... and false is the default.
  const int64_t third = Submit(Yaml("s", "2", "reuse: false\n"), false);
  EXPECT_EQ(TrainAll(), std::vector<int>{2});
  EXPECT_EQ(TrialsByUnits(third)[2].reused_from, "");
}

// The flag is stored with the sweep: a restarted coordinator (its data identity read back from the
// stored file) still copies.
TEST_F(ReuseTest, ReuseSurvivesARestart) {
  TempDir dir;
  Open(dir.File("reuse.db"));
  const int64_t first = Submit(Yaml("s", "1, 2"), false);
  EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2}));
  const int64_t second = Submit(Yaml("s", "2, 5"), true);
  Open(dir.File("reuse.db"));
  EXPECT_EQ(TrainAll(), std::vector<int>{5});
  ExpectCopyOf(TrialsByUnits(second)[2], TrialsByUnits(first)[2]);
}

}  // namespace
}  // namespace hpsweep::reuse_test
