// Tests for coordinator/store/storage.h: the SQLite storage on ":memory:" and on a file, and the
// fault-injecting wrapper.
#include "coordinator/store/storage.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "testing/big_sweep.h"
#include "testing/fault_injecting_storage.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::storage_test {
namespace {

// Runs sql on a plain sqlite3 connection to path; returns the first column of every row.
std::vector<std::string> RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  auto cb = [](void* v, int n, char** cols, char**) {
    static_cast<std::vector<std::string>*>(v)->push_back(n > 0 && cols[0] ? cols[0] : "NULL");
    return 0;
  };
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), cb, &out, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  return out;
}

SweepRow MakeSweep(const std::string& name) {
  SweepRow s;
  s.name = name;
  s.description = "Effect of \"LSTM\" width — ünïcode";
  s.file_name = "sweeps/" + name + ".yaml";
  s.yaml = "name: " + name + "\nparameters:\n  units: {values: [32, 48]}\n";
  s.state = SweepState::kRunning;
  s.metric = "val_loss";
  s.maximize = false;
  s.max_attempts = 5;
  s.total = 48;
  s.created_at = 1700000000.125;
  s.finished_at = 0;
  return s;
}

// A trial with every field set to something other than its default.
TrialRow MakeTrial(int64_t sweep_id, int number) {
  TrialRow t;
  t.sweep_id = sweep_id;
  t.number = number;
  t.params = {{"units", std::to_string(16 * number)},
              {"learning_rate", "0.001"},
              {"layers", "[64, 32]"},
              {"quote\"key", "back\\slash\nnewline"},
              {"empty", ""},
              {"ünï", "cödé"}};
  t.status = TrialStatus::kRunning;
  t.attempts = 2;
  t.lease_id = "lease-" + std::to_string(number);
  t.lease_deadline = 1700000100.5;
  t.worker_id = 7;
  t.worker_name = "host-a/0";
  t.created_at = 1700000000.25;
  t.started_at = 1700000001.75;
  t.finished_at = 1700000099.0625;
  t.best_val_accuracy = 0.9871;
  t.best_val_loss = 0.0423;
  t.best_epoch = 4;
  t.epochs_run = 5;
  t.test_accuracy = 0.9855;
  t.test_loss = 0.0456;
  t.seconds = 97.3125;
  t.error = "attempt 1: worker lost";
  for (int i = 0; i < 100; ++i) t.confusion.push_back(i % 11 == 0 ? 980 + i : i);
  t.confusion[99] = int64_t{1} << 40;  // beyond 32 bits
  t.weights_epoch = 5;  // (= epochs_run: what the version-7 migration gives a tested trial)
  t.stopped_epoch = 5;
  return t;
}

void ExpectSweepEq(const SweepRow& a, const SweepRow& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.file_name, b.file_name);
  EXPECT_EQ(a.yaml, b.yaml);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.metric, b.metric);
  EXPECT_EQ(a.maximize, b.maximize);
  EXPECT_EQ(a.max_attempts, b.max_attempts);
  EXPECT_EQ(a.total, b.total);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.reuse, b.reuse);
  EXPECT_EQ(a.quarantine_after, b.quarantine_after);
  EXPECT_EQ(a.max_trials, b.max_trials);
}

void ExpectTrialEq(const TrialRow& a, const TrialRow& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.sweep_id, b.sweep_id);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.lease_id, b.lease_id);
  EXPECT_EQ(a.lease_deadline, b.lease_deadline);
  EXPECT_EQ(a.worker_id, b.worker_id);
  EXPECT_EQ(a.worker_name, b.worker_name);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.best_val_accuracy, b.best_val_accuracy);
  EXPECT_EQ(a.best_val_loss, b.best_val_loss);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  EXPECT_EQ(a.epochs_run, b.epochs_run);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  EXPECT_EQ(a.test_loss, b.test_loss);
  EXPECT_EQ(a.seconds, b.seconds);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.reused_from, b.reused_from);
  EXPECT_EQ(a.weights_epoch, b.weights_epoch);
  EXPECT_EQ(a.stopped_epoch, b.stopped_epoch);
}

void ExpectEpochEq(const EpochRow& a, const EpochRow& b) {
  EXPECT_EQ(a.trial_id, b.trial_id);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.train_loss, b.train_loss);
  EXPECT_EQ(a.train_accuracy, b.train_accuracy);
  EXPECT_EQ(a.val_loss, b.val_loss);
  EXPECT_EQ(a.val_accuracy, b.val_accuracy);
  EXPECT_EQ(a.seconds, b.seconds);
  EXPECT_EQ(a.recorded_at, b.recorded_at);
  if (std::isnan(a.lr) || std::isnan(b.lr)) {
    EXPECT_TRUE(std::isnan(a.lr) && std::isnan(b.lr)) << a.lr << " vs " << b.lr;
  } else {
    EXPECT_EQ(a.lr, b.lr);
  }
}

EpochRow MakeEpoch(int64_t trial_id, int epoch) {
  EpochRow e;
  e.trial_id = trial_id;
  e.epoch = epoch;
  e.train_loss = 1.0 / epoch;
  e.train_accuracy = 0.9 + 0.01 * epoch;
  e.val_loss = 1.5 / epoch;
  e.val_accuracy = 0.85 + 0.02 * epoch;
  e.seconds = 12.5 * epoch;
  e.recorded_at = 1700000000.0 + epoch;
  e.lr = 0.001 / epoch;
  return e;
}

std::vector<int> Numbers(const std::vector<TrialRow>& rows) {
  std::vector<int> n;
  for (const TrialRow& r : rows) n.push_back(r.number);
  return n;
}

TEST(TrialStatusTest, NamesRoundTrip) {
  for (TrialStatus s : {TrialStatus::kQueued, TrialStatus::kRunning, TrialStatus::kCompleted,
                        TrialStatus::kFailed, TrialStatus::kStopped, TrialStatus::kPruned}) {
    TrialStatus parsed = TrialStatus::kQueued;
    ASSERT_TRUE(ParseTrialStatus(TrialStatusName(s), &parsed)) << TrialStatusName(s);
    EXPECT_EQ(parsed, s);
  }
  EXPECT_STREQ(TrialStatusName(TrialStatus::kCompleted), "completed");
  TrialStatus out = TrialStatus::kFailed;
  EXPECT_FALSE(ParseTrialStatus("Running", &out));
  EXPECT_FALSE(ParseTrialStatus("", &out));
  EXPECT_EQ(out, TrialStatus::kFailed);  // untouched on failure
}

// Every behaviour on both an in-memory and a file database.
class StorageTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    path_ = GetParam() ? dir_.File("test.db") : ":memory:";
    db_ = MustOpen(path_);
    ASSERT_NE(db_, nullptr);
  }
  // A sweep with trials 1..n (every field set); returns the sweep id.
  int64_t SweepWithTrials(int n, std::vector<int64_t>* ids = nullptr) {
    StatusOr<int64_t> sweep = db_->InsertSweep(MakeSweep("s"));
    EXPECT_TRUE(sweep.ok()) << sweep.status().ToString();
    for (int i = 1; i <= n; ++i) {
      StatusOr<int64_t> id = db_->InsertTrial(MakeTrial(*sweep, i));
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      if (ids != nullptr && id.ok()) ids->push_back(*id);
    }
    return *sweep;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Storage> db_;
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, StorageTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "File" : "Memory";
                         });

TEST_P(StorageTest, SweepRoundTrip) {
  SweepRow a = MakeSweep("alpha");
  SweepRow b = MakeSweep("beta");
  b.state = SweepState::kCompleted;
  b.metric = "val_accuracy";
  b.maximize = true;
  b.finished_at = 1700009999.5;
  b.description = "";
  StatusOr<int64_t> ida = db_->InsertSweep(a);
  StatusOr<int64_t> idb = db_->InsertSweep(b);
  ASSERT_TRUE(ida.ok()) << ida.status().ToString();
  ASSERT_TRUE(idb.ok()) << idb.status().ToString();
  EXPECT_NE(*ida, *idb);
  a.id = *ida;
  b.id = *idb;
  StatusOr<std::vector<SweepRow>> rows = db_->LoadSweeps();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  ExpectSweepEq((*rows)[0], a);
  ExpectSweepEq((*rows)[1], b);

  ASSERT_TRUE(db_->UpdateSweepState(a.id, SweepState::kCancelled, 1700001234.5).ok());
  rows = db_->LoadSweeps();
  ASSERT_TRUE(rows.ok());
  a.state = SweepState::kCancelled;
  a.finished_at = 1700001234.5;
  ExpectSweepEq((*rows)[0], a);
  ExpectSweepEq((*rows)[1], b);

  Status missing = db_->UpdateSweepState(999, SweepState::kCompleted, 1);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
}

TEST_P(StorageTest, TrialRoundTripEveryField) {
  int64_t sweep = SweepWithTrials(0);
  int64_t other = *db_->InsertSweep(MakeSweep("other"));
  TrialRow full = MakeTrial(sweep, 2);
  TrialRow plain;  // defaults: no params, no confusion, no metrics
  plain.sweep_id = sweep;
  plain.number = 1;
  TrialRow elsewhere = MakeTrial(other, 1);
  elsewhere.status = TrialStatus::kStopped;
  for (TrialRow* t : {&full, &plain, &elsewhere}) {
    StatusOr<int64_t> id = db_->InsertTrial(*t);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    t->id = *id;
  }

  StatusOr<std::vector<TrialRow>> rows = db_->LoadTrials(sweep);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  ExpectTrialEq((*rows)[0], plain);  // by number
  ExpectTrialEq((*rows)[1], full);
  EXPECT_EQ((*rows)[1].params.at("quote\"key"), "back\\slash\nnewline");
  EXPECT_EQ((*rows)[1].confusion.size(), 100u);

  rows = db_->LoadTrials(0);  // every sweep, by sweep then number
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  ExpectTrialEq((*rows)[0], plain);
  ExpectTrialEq((*rows)[1], full);
  ExpectTrialEq((*rows)[2], elsewhere);

  rows = db_->LoadTrials(12345);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
}

TEST_P(StorageTest, TrialConstraints) {
  int64_t sweep = SweepWithTrials(1);
  StatusOr<int64_t> dup = db_->InsertTrial(MakeTrial(sweep, 1));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists) << dup.status().ToString();
  EXPECT_NE(dup.status().message().find(path_), std::string::npos) << dup.status().message();
  EXPECT_NE(dup.status().message().find("UNIQUE"), std::string::npos) << dup.status().message();

  // foreign_keys=ON: a trial of a sweep that does not exist is refused.
  StatusOr<int64_t> orphan = db_->InsertTrial(MakeTrial(sweep + 100, 1));
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.status().message().find("FOREIGN KEY"), std::string::npos)
      << orphan.status().message();
  EXPECT_FALSE(db_->PutEpoch(MakeEpoch(4242, 1)).ok());
  EXPECT_FALSE(db_->PutArtifact(4242, "model", "x").ok());
}

TEST_P(StorageTest, UpdateTrialLeavesParamsAsInserted) {
  std::vector<int64_t> ids;
  int64_t sweep = SweepWithTrials(1, &ids);
  TrialRow t = MakeTrial(sweep, 1);
  t.id = ids[0];
  const auto inserted = t.params;
  t.params = {{"units", "999"}};
  ASSERT_TRUE(db_->UpdateTrial(t).ok());
  StatusOr<std::vector<TrialRow>> rows = db_->LoadTrials(sweep);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].params, inserted);
}

TEST_P(StorageTest, UpdateTrialChangesEveryMutableColumn) {
  std::vector<int64_t> ids;
  int64_t sweep = SweepWithTrials(2, &ids);
  TrialRow before = MakeTrial(sweep, 2);
  before.id = ids[1];

  TrialRow t = MakeTrial(sweep, 1);
  t.id = ids[0];
  t.status = TrialStatus::kCompleted;  // params stay: they are fixed when the trial is inserted
  t.attempts = 3;
  t.lease_id = "";
  t.lease_deadline = 0;
  t.worker_id = 9;
  t.worker_name = "host-b/3";
  t.started_at = 1700000200.5;
  t.finished_at = 1700000300.25;
  t.best_val_accuracy = 0.99125;
  t.best_val_loss = 0.03125;
  t.best_epoch = 9;
  t.epochs_run = 10;
  t.test_accuracy = 0.990234375;
  t.test_loss = 0.0341796875;
  t.seconds = 123.5;
  t.error = "";
  t.confusion.assign(100, 7);
  ASSERT_TRUE(db_->UpdateTrial(t).ok());

  StatusOr<std::vector<TrialRow>> rows = db_->LoadTrials(sweep);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  ExpectTrialEq((*rows)[0], t);
  ExpectTrialEq((*rows)[1], before);  // the other row is untouched

  // Back to queued with everything cleared, as a re-leased trial is.
  TrialRow cleared;
  cleared.id = t.id;
  cleared.sweep_id = t.sweep_id;
  cleared.number = t.number;
  cleared.created_at = t.created_at;
  cleared.params = t.params;
  ASSERT_TRUE(db_->UpdateTrial(cleared).ok());
  rows = db_->LoadTrials(sweep);
  ASSERT_TRUE(rows.ok());
  ExpectTrialEq((*rows)[0], cleared);

  TrialRow missing = t;
  missing.id = 777;
  EXPECT_EQ(db_->UpdateTrial(missing).code(), StatusCode::kNotFound);
}

TEST_P(StorageTest, EpochsPutReplaceDelete) {
  std::vector<int64_t> ids;
  SweepWithTrials(2, &ids);
  for (int e : {3, 1, 2}) ASSERT_TRUE(db_->PutEpoch(MakeEpoch(ids[0], e)).ok());
  ASSERT_TRUE(db_->PutEpoch(MakeEpoch(ids[1], 1)).ok());

  StatusOr<std::vector<EpochRow>> rows = db_->LoadEpochs(ids[0]);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  for (int e = 1; e <= 3; ++e) ExpectEpochEq((*rows)[e - 1], MakeEpoch(ids[0], e));

  // The same (trial, epoch) again replaces the row.
  EpochRow again = MakeEpoch(ids[0], 2);
  again.train_loss = 0.125;
  again.val_accuracy = 0.5;
  again.recorded_at = 1800000000.0;
  ASSERT_TRUE(db_->PutEpoch(again).ok());
  rows = db_->LoadEpochs(ids[0]);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  ExpectEpochEq((*rows)[1], again);

  // A diverged run: NaN and infinity survive the round trip.
  EpochRow nan = MakeEpoch(ids[0], 4);
  nan.train_loss = std::numeric_limits<double>::quiet_NaN();
  nan.val_loss = std::numeric_limits<double>::infinity();
  ASSERT_TRUE(db_->PutEpoch(nan).ok());
  rows = db_->LoadEpochs(ids[0]);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_TRUE(std::isnan((*rows)[3].train_loss));
  EXPECT_EQ((*rows)[3].val_loss, std::numeric_limits<double>::infinity());
  EXPECT_EQ((*rows)[3].val_accuracy, nan.val_accuracy);

  ASSERT_TRUE(db_->DeleteEpochs(ids[0]).ok());
  rows = db_->LoadEpochs(ids[0]);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  rows = db_->LoadEpochs(ids[1]);  // the other trial keeps its epochs
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  ExpectEpochEq((*rows)[0], MakeEpoch(ids[1], 1));
  EXPECT_TRUE(db_->DeleteEpochs(ids[0]).ok());  // nothing left to delete is fine
}

// A worker row as RegisterWorker makes it (host and job id empty unless given).
WorkerRow Worker(const std::string& name, int threads, const std::string& host = "",
                 const std::string& job_id = "") {
  WorkerRow w;
  w.name = name;
  w.threads = threads;
  w.host = host;
  w.job_id = job_id;
  return w;
}

TEST_P(StorageTest, UpsertWorkerKeepsIdAndUpdates) {
  StatusOr<WorkerRow> ra = db_->UpsertWorker(Worker("host-a", 4, "node1", "77_1"), 100.5);
  StatusOr<WorkerRow> rb = db_->UpsertWorker(Worker("host-b", 2), 101.5);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  const int64_t* a = &ra->id;
  const int64_t* b = &rb->id;
  EXPECT_NE(*a, *b);
  EXPECT_EQ(ra->first_seen, 100.5);
  EXPECT_EQ(ra->host, "node1");
  EXPECT_EQ(ra->job_id, "77_1");
  StatusOr<WorkerRow> a2 = db_->UpsertWorker(Worker("host-a", 8, "node2", "pod-x"), 200.25);
  ASSERT_TRUE(a2.ok()) << a2.status().ToString();
  EXPECT_EQ(a2->id, *a);
  EXPECT_EQ(a2->first_seen, 100.5);  // the row's, not this registration's

  ASSERT_TRUE(db_->TouchWorker(*b, 300.75).ok());
  EXPECT_EQ(db_->TouchWorker(*b + 100, 1).code(), StatusCode::kNotFound);
  ASSERT_TRUE(db_->AddWorkerTrials(*a, 2, 1).ok());
  ASSERT_TRUE(db_->AddWorkerTrials(*a, 1, 0).ok());
  EXPECT_TRUE(db_->AddWorkerTrials(*b + 100, 1, 0).ok());  // no row: nothing changes
  StatusOr<WorkerRow> a3 = db_->UpsertWorker(Worker("host-a", 8, "node2", "pod-x"), 200.25);
  ASSERT_TRUE(a3.ok());
  EXPECT_EQ(a3->trials_done, 3);  // what it did before, for the scheduler's memory
  EXPECT_EQ(a3->trials_failed, 1);

  StatusOr<std::vector<WorkerRow>> rows = db_->LoadWorkers();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  const WorkerRow& wa = (*rows)[0];
  const WorkerRow& wb = (*rows)[1];
  EXPECT_EQ(wa.id, *a);
  EXPECT_EQ(wa.name, "host-a");
  EXPECT_EQ(wa.threads, 8);
  EXPECT_EQ(wa.first_seen, 100.5);
  EXPECT_EQ(wa.last_seen, 200.25);
  EXPECT_EQ(wa.host, "node2");  // a worker that registers again says where it runs now
  EXPECT_EQ(wa.job_id, "pod-x");
  EXPECT_EQ(wa.trials_done, 3);  // kept across registrations
  EXPECT_EQ(wa.trials_failed, 1);
  EXPECT_EQ(wb.id, *b);
  EXPECT_EQ(wb.name, "host-b");
  EXPECT_EQ(wb.threads, 2);
  EXPECT_EQ(wb.first_seen, 101.5);
  EXPECT_EQ(wb.last_seen, 300.75);
}

TEST_P(StorageTest, ArtifactsRoundTrip) {
  std::vector<int64_t> ids;
  SweepWithTrials(2, &ids);
  std::string model(1 << 20, '\0');
  uint32_t x = 12345;
  for (char& c : model) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  model[0] = '\0';
  model[model.size() - 1] = '\0';
  ASSERT_TRUE(db_->PutArtifact(ids[0], "model", model).ok());
  ASSERT_TRUE(db_->PutArtifact(ids[0], "empty", "").ok());
  ASSERT_TRUE(db_->PutArtifact(ids[1], "model", std::string("a\0b", 3)).ok());

  StatusOr<std::string> got = db_->GetArtifact(ids[0], "model");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), model.size());
  EXPECT_TRUE(*got == model);
  got = db_->GetArtifact(ids[0], "empty");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
  got = db_->GetArtifact(ids[1], "model");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, std::string("a\0b", 3));

  // Insert or replace.
  ASSERT_TRUE(db_->PutArtifact(ids[0], "model", "v2").ok());
  got = db_->GetArtifact(ids[0], "model");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "v2");

  got = db_->GetArtifact(ids[0], "weights");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound) << got.status().ToString();
  EXPECT_NE(got.status().message().find("weights"), std::string::npos);
  EXPECT_EQ(db_->GetArtifact(999, "model").status().code(), StatusCode::kNotFound);
}

TEST_P(StorageTest, LeaderboardOrdersTiesTopAndMetrics) {
  int64_t sweep = *db_->InsertSweep(MakeSweep("lb"));
  int64_t other = *db_->InsertSweep(MakeSweep("other"));
  struct M {
    int number;
    double val_acc, val_loss, test_acc;
  };
  // Inserted out of number order so the tie-break is checked, not the insertion order.
  const M kTrials[] = {
      {5, 0.97, 0.08, 0.96},
      {1, 0.98, 0.05, 0.95},
      {3, 0.98, 0.04, 0.97},
      {2, 0.95, 0.04, -1},
      {4, -1, -1, -1},
      {6, 0.99, 0.09, 0.99},
      {7, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(), -1},
  };
  for (const M& m : kTrials) {
    TrialRow t = MakeTrial(sweep, m.number);
    t.best_val_accuracy = m.val_acc;
    t.best_val_loss = m.val_loss;
    t.test_accuracy = m.test_acc;
    ASSERT_TRUE(db_->InsertTrial(t).ok());
  }
  TrialRow best_elsewhere = MakeTrial(other, 1);
  best_elsewhere.best_val_accuracy = 1.0;
  ASSERT_TRUE(db_->InsertTrial(best_elsewhere).ok());

  auto board = [&](const std::string& metric, bool maximize, int top) {
    StatusOr<std::vector<TrialRow>> rows = db_->Leaderboard(sweep, metric, maximize, top);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? Numbers(*rows) : std::vector<int>{};
  };
  EXPECT_EQ(board("val_accuracy", true, 0), (std::vector<int>{6, 1, 3, 5, 2}));
  EXPECT_EQ(board("val_accuracy", true, 3), (std::vector<int>{6, 1, 3}));
  EXPECT_EQ(board("val_accuracy", true, 1), (std::vector<int>{6}));
  EXPECT_EQ(board("val_accuracy", true, 100), (std::vector<int>{6, 1, 3, 5, 2}));
  EXPECT_EQ(board("val_loss", false, 0), (std::vector<int>{2, 3, 1, 5, 6}));
  EXPECT_EQ(board("val_loss", false, 2), (std::vector<int>{2, 3}));
  EXPECT_EQ(board("test_accuracy", true, 0), (std::vector<int>{6, 3, 5, 1}));

  // Full rows come back, not just the ordering columns.
  StatusOr<std::vector<TrialRow>> rows = db_->Leaderboard(sweep, "val_accuracy", true, 1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  TrialRow expected = MakeTrial(sweep, 6);
  expected.id = (*rows)[0].id;
  expected.best_val_accuracy = 0.99;
  expected.best_val_loss = 0.09;
  expected.test_accuracy = 0.99;
  ExpectTrialEq((*rows)[0], expected);

  rows = db_->Leaderboard(sweep + 1000, "val_accuracy", true, 0);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  // Any metric name is a program's (metric_value); a name that cannot be one is refused.
  rows = db_->Leaderboard(sweep, "f1", true, 0);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());  // no trial has a value of it
  rows = db_->Leaderboard(sweep, "no such metric", true, 0);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StorageTest, RollbackDiscardsWrites) {
  int64_t sweep = SweepWithTrials(1);
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->InsertSweep(MakeSweep("discarded")).ok());
  ASSERT_TRUE(db_->InsertTrial(MakeTrial(sweep, 2)).ok());
  ASSERT_TRUE(db_->UpsertWorker(Worker("w", 1), 1).ok());
  db_->Rollback();
  EXPECT_EQ(db_->LoadSweeps()->size(), 1u);
  EXPECT_EQ(db_->LoadTrials(0)->size(), 1u);
  EXPECT_TRUE(db_->LoadWorkers()->empty());

  db_->Rollback();  // no transaction: harmless

  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->InsertTrial(MakeTrial(sweep, 2)).ok());
  ASSERT_TRUE(db_->PutEpoch(MakeEpoch(db_->LoadTrials(sweep)->back().id, 1)).ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_EQ(db_->LoadTrials(sweep)->size(), 2u);

  // A transaction inside a transaction is an error, not a silent nesting.
  ASSERT_TRUE(db_->Begin().ok());
  Status nested = db_->Begin();
  EXPECT_FALSE(nested.ok());
  EXPECT_NE(nested.message().find(path_), std::string::npos) << nested.message();
  db_->Rollback();
}

TEST_P(StorageTest, IntegrityCheckOk) {
  SweepWithTrials(3);
  StatusOr<std::string> report = db_->IntegrityCheck();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(*report, "ok");
}

// A sweep's state is one of three names; a database holding another (written by hand, or a
// newer version) is refused on load naming the sweep and the text, not read as running.
TEST(StorageFileTest, AnUnknownSweepStateIsRefusedOnLoad) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  int64_t id = 0;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    StatusOr<int64_t> made = db->InsertSweep(MakeSweep("s"));
    ASSERT_TRUE(made.ok());
    id = *made;
  }
  RawQuery(path, "UPDATE sweeps SET state = 'paused' WHERE id = " + std::to_string(id));
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  StatusOr<std::vector<SweepRow>> rows = db->LoadSweeps();
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(rows.status().message().find("sweep " + std::to_string(id) + ": unknown state 'paused'"),
            std::string::npos)
      << rows.status().ToString();
}

TEST(StorageFileTest, SurvivesReopenInWalModeWithoutRemigrating) {
  TempDir dir;
  const std::string path = dir.File("sweeps.db");
  SweepRow sweep = MakeSweep("persist");
  TrialRow trial;
  EpochRow epoch;
  int64_t worker = 0;
  std::string model(100000, '\0');
  for (size_t i = 0; i < model.size(); ++i) model[i] = static_cast<char>(i * 31);
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    sweep.id = *db->InsertSweep(sweep);
    trial = MakeTrial(sweep.id, 1);
    trial.id = *db->InsertTrial(trial);
    epoch = MakeEpoch(trial.id, 1);
    ASSERT_TRUE(db->PutEpoch(epoch).ok());
    worker = db->UpsertWorker(Worker("host-a", 4), 10.5)->id;
    ASSERT_TRUE(db->PutArtifact(trial.id, "model", model).ok());
    ASSERT_TRUE(db->Commit().ok());
    // An uncommitted transaction at close is lost, not half-applied.
    ASSERT_TRUE(db->Begin().ok());
    ASSERT_TRUE(db->InsertSweep(MakeSweep("never")).ok());
  }
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  const std::vector<std::string> schema =
      RawQuery(path, "SELECT name FROM sqlite_master ORDER BY name");

  for (int reopen = 0; reopen < 2; ++reopen) {
    std::unique_ptr<Storage> db = MustOpen(path, StorageOptions{/*sync_full=*/reopen == 1});
    ASSERT_NE(db, nullptr);
    StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
    ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
    ASSERT_EQ(sweeps->size(), 1u);
    ExpectSweepEq((*sweeps)[0], sweep);
    StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(0);
    ASSERT_TRUE(trials.ok());
    ASSERT_EQ(trials->size(), 1u);
    ExpectTrialEq((*trials)[0], trial);
    StatusOr<std::vector<EpochRow>> epochs = db->LoadEpochs(trial.id);
    ASSERT_TRUE(epochs.ok());
    ASSERT_EQ(epochs->size(), 1u);
    ExpectEpochEq((*epochs)[0], epoch);
    StatusOr<std::vector<WorkerRow>> workers = db->LoadWorkers();
    ASSERT_TRUE(workers.ok());
    ASSERT_EQ(workers->size(), 1u);
    EXPECT_EQ((*workers)[0].id, worker);
    StatusOr<std::string> got = db->GetArtifact(trial.id, "model");
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(*got == model);
    EXPECT_EQ(db->UpsertWorker(Worker("host-a", 4), 20)->id, worker);
    EXPECT_EQ(*db->IntegrityCheck(), "ok");
  }
  // Migrations are not applied again: one version row, the same schema objects.
  EXPECT_EQ(RawQuery(path, "SELECT count(*) || ':' || max(version) FROM schema_version"),
            std::vector<std::string>{"1:11"});
  EXPECT_EQ(RawQuery(path, "SELECT name FROM sqlite_master ORDER BY name"), schema);
  for (const char* t : {"sweeps", "trials", "epochs", "workers", "artifacts", "schema_version"}) {
    EXPECT_NE(std::find(schema.begin(), schema.end(), t), schema.end()) << t;
  }
}

// What a database before schema version 11 lacks: a member's schedule and a sweep's pbt_epoch
// (population-based training).
void DropVersionElevenColumns(const std::string& path) {
  RawQuery(path, "ALTER TABLE trials DROP COLUMN schedule");
  RawQuery(path, "ALTER TABLE sweeps DROP COLUMN pbt_epoch");
}

// What a database before schema version 10 lacks: a sweep's max_trials (hpsweep extend), and
// what version 11 added.
void DropVersionTenColumns(const std::string& path) {
  DropVersionElevenColumns(path);
  RawQuery(path, "ALTER TABLE sweeps DROP COLUMN max_trials");
}

// A database of schema version 10 is migrated at open: its trials have no schedule, its sweeps
// no population epoch; both are written and read back from then on.
TEST(StorageFileTest, VersionTenGainsSchedulesAndPopulationEpochs) {
  TempDir dir;
  const std::string path = dir.File("v10.db");
  int64_t sweep_id = 0, trial_id = 0;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    StatusOr<int64_t> s = db->InsertSweep(MakeSweep("old"));
    ASSERT_TRUE(s.ok());
    sweep_id = *s;
    TrialRow t;
    t.sweep_id = sweep_id;
    t.number = 1;
    t.params = {{"learning_rate", "0.01"}};
    StatusOr<int64_t> id = db->InsertTrial(t);
    ASSERT_TRUE(id.ok());
    trial_id = *id;
  }
  DropVersionElevenColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 10");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(sweep_id);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 1u);
  EXPECT_EQ((*trials)[0].schedule, "");
  ASSERT_TRUE(db->SetTrialParams(trial_id, {{"learning_rate", "0.012"}},
                                 R"([{"epoch":0},{"epoch":2,"from":3}])").ok());
  ASSERT_TRUE(db->SetPopulationEpoch(sweep_id, 4).ok());
  trials = db->LoadTrials(sweep_id);
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ((*trials)[0].params.at("learning_rate"), "0.012");
  EXPECT_EQ((*trials)[0].schedule, R"([{"epoch":0},{"epoch":2,"from":3}])");
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  EXPECT_EQ((*sweeps)[0].pbt_epoch, 4);
  EXPECT_EQ(db->SetPopulationEpoch(sweep_id + 99, 2).code(), StatusCode::kNotFound);
}

// A database of schema version 9 is migrated at open: its sweeps keep their file's max_trials
// (0), and ExtendSweep stores a larger one, the total, and running again, read back from then on.
TEST(StorageFileTest, VersionNineGainsExtendedMaxTrials) {
  TempDir dir;
  const std::string path = dir.File("v9.db");
  int64_t id = 0;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    SweepRow done = MakeSweep("old");
    done.state = SweepState::kCompleted;
    done.finished_at = 77;
    StatusOr<int64_t> inserted = db->InsertSweep(done);
    ASSERT_TRUE(inserted.ok());
    id = *inserted;
  }
  DropVersionTenColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 9");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].max_trials, 0);
  EXPECT_EQ((*sweeps)[0].state, SweepState::kCompleted);
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->ExtendSweep(id, 60, 55).ok());
  ASSERT_TRUE(db->Commit().ok());
  sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  EXPECT_EQ((*sweeps)[0].max_trials, 60);
  EXPECT_EQ((*sweeps)[0].total, 55);
  EXPECT_EQ((*sweeps)[0].state, SweepState::kRunning);
  EXPECT_EQ((*sweeps)[0].finished_at, 0);
  EXPECT_EQ(db->ExtendSweep(id + 100, 60, 60).code(), StatusCode::kNotFound);
  SweepRow set = MakeSweep("set");
  set.max_trials = 12;
  ASSERT_TRUE(db->InsertSweep(set).ok());
  sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 2u);
  EXPECT_EQ((*sweeps)[1].max_trials, 12);
  EXPECT_EQ(*db->IntegrityCheck(), "ok");
}

// What a database before schema version 9 lacks: quarantine (a worker's fingerprint, quarantine
// and quarantined_at; a sweep's quarantine_after) (and what version 10 added).
void DropVersionNineColumns(const std::string& path) {
  DropVersionTenColumns(path);
  RawQuery(path, "ALTER TABLE workers DROP COLUMN fingerprint");
  RawQuery(path, "ALTER TABLE workers DROP COLUMN quarantine");
  RawQuery(path, "ALTER TABLE workers DROP COLUMN quarantined_at");
  RawQuery(path, "ALTER TABLE sweeps DROP COLUMN quarantine_after");
}

// A database of schema version 8 is migrated at open: its workers are not quarantined and have no
// fingerprint, its sweeps take the coordinator's quarantine_after (-1); the new columns are
// written and read back from then on, and a registration keeps what UpdateWorkerHealth stored.
TEST(StorageFileTest, VersionEightGainsQuarantine) {
  TempDir dir;
  const std::string path = dir.File("v8.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->UpsertWorker(Worker("old", 2), 10).ok());
    ASSERT_TRUE(db->InsertSweep(MakeSweep("old")).ok());
  }
  DropVersionNineColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 8");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].quarantine_after, -1);
  StatusOr<std::vector<WorkerRow>> rows = db->LoadWorkers();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].quarantine, "");
  EXPECT_EQ((*rows)[0].fingerprint, "");
  const int64_t id = (*rows)[0].id;
  ASSERT_TRUE(db->Begin().ok());
  ASSERT_TRUE(db->UpdateWorkerHealth(id, "fp", "its last 3 attempts failed", 42).ok());
  ASSERT_TRUE(db->Commit().ok());
  WorkerRow again = Worker("old", 2);
  again.fingerprint = "other";  // (an update keeps the stored one: the scheduler compares)
  StatusOr<WorkerRow> stored = db->UpsertWorker(again, 50);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->fingerprint, "fp");
  EXPECT_EQ(stored->quarantine, "its last 3 attempts failed");
  EXPECT_EQ(stored->quarantined_at, 42);
  rows = db->LoadWorkers();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].quarantine, "its last 3 attempts failed");
  EXPECT_EQ((*rows)[0].quarantined_at, 42);
  EXPECT_EQ(db->UpdateWorkerHealth(id + 100, "", "", 0).code(), StatusCode::kNotFound);
  SweepRow set = MakeSweep("set");
  set.quarantine_after = 5;
  ASSERT_TRUE(db->InsertSweep(set).ok());
  sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 2u);
  EXPECT_EQ((*sweeps)[1].quarantine_after, 5);
}

// What a database before schema version 8 lacks: a worker's bf16 (and what version 9 added).
void DropVersionEightColumns(const std::string& path) {
  DropVersionNineColumns(path);
  RawQuery(path, "ALTER TABLE workers DROP COLUMN bf16");
}

// A database of schema version 7 is migrated at open: its workers say no bf16 (an older worker
// never said it had it), and a registration stores the flag from then on.
TEST(StorageFileTest, VersionSevenGainsWorkerBf16) {
  TempDir dir;
  const std::string path = dir.File("v7.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->UpsertWorker(Worker("old", 2), 10).ok());
  }
  DropVersionEightColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 7");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  WorkerRow fast = Worker("fast", 4);
  fast.bf16 = true;
  StatusOr<WorkerRow> stored = db->UpsertWorker(fast, 20);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(stored->bf16);
  StatusOr<std::vector<WorkerRow>> rows = db->LoadWorkers();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].name, "old");
  EXPECT_FALSE((*rows)[0].bf16);
  EXPECT_EQ((*rows)[1].name, "fast");
  EXPECT_TRUE((*rows)[1].bf16);
  // Registering again without it (the same name on another node) clears it.
  ASSERT_TRUE(db->UpsertWorker(Worker("fast", 4), 30).ok());
  rows = db->LoadWorkers();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_FALSE((*rows)[1].bf16);
}

// What a database before schema version 7 lacks: each epoch's lr, a trial's weights_epoch and
// stopped_epoch.
void DropVersionSevenColumns(const std::string& path) {
  DropVersionEightColumns(path);
  for (const char* c : {"epochs DROP COLUMN lr", "trials DROP COLUMN weights_epoch",
                        "trials DROP COLUMN stopped_epoch"}) {
    RawQuery(path, std::string("ALTER TABLE ") + c);
  }
}

// A database of schema version 6 is migrated at open: its epochs keep their rows with no lr
// (NULL, read as NaN), an engine trial that was tested says it tested its last epoch, one not
// tested and a program's say nothing (0); new rows store all three.
TEST(StorageFileTest, VersionSixGainsLrWeightsEpochAndStoppedEpoch) {
  TempDir dir;
  const std::string path = dir.File("v6.db");
  SweepRow engine = MakeSweep("engine"), program = MakeSweep("program");
  program.program = "train.py";
  TrialRow tested, untested, program_trial;
  EpochRow epoch;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    engine.id = *db->InsertSweep(engine);
    program.id = *db->InsertSweep(program);
    tested = MakeTrial(engine.id, 1);
    tested.id = *db->InsertTrial(tested);
    untested = MakeTrial(engine.id, 2);
    untested.test_accuracy = untested.test_loss = -1;
    untested.id = *db->InsertTrial(untested);
    program_trial = MakeTrial(program.id, 1);
    program_trial.id = *db->InsertTrial(program_trial);
    epoch = MakeEpoch(tested.id, 1);
    ASSERT_TRUE(db->PutEpoch(epoch).ok());
    ASSERT_TRUE(db->Commit().ok());
  }
  DropVersionSevenColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 6");
  ASSERT_EQ(RawQuery(path, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%weights_epoch%'"),
            std::vector<std::string>{"0"});

  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 3u);
  tested.stopped_epoch = untested.stopped_epoch = program_trial.stopped_epoch = 0;
  tested.weights_epoch = tested.epochs_run;  // before keep: best, the last epoch was tested
  untested.weights_epoch = program_trial.weights_epoch = 0;
  ExpectTrialEq((*trials)[0], tested);
  ExpectTrialEq((*trials)[1], untested);
  ExpectTrialEq((*trials)[2], program_trial);
  StatusOr<std::vector<EpochRow>> epochs = db->LoadEpochs(tested.id);
  ASSERT_TRUE(epochs.ok()) << epochs.status().ToString();
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_TRUE(std::isnan((*epochs)[0].lr));
  epoch.lr = std::numeric_limits<double>::quiet_NaN();
  ExpectEpochEq((*epochs)[0], epoch);

  // New rows: an epoch's lr, a trial's weights_epoch and stopped_epoch.
  ASSERT_TRUE(db->Begin().ok());
  EpochRow second = MakeEpoch(tested.id, 2);
  second.lr = 0.0125;
  ASSERT_TRUE(db->PutEpoch(second).ok());
  untested.weights_epoch = 2;
  untested.stopped_epoch = 3;
  ASSERT_TRUE(db->UpdateTrial(untested).ok());
  ASSERT_TRUE(db->Commit().ok());
  epochs = db->LoadEpochs(tested.id);
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[1].lr, 0.0125);
  trials = db->LoadTrials(engine.id);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[1].weights_epoch, 2);
  EXPECT_EQ((*trials)[1].stopped_epoch, 3);
  EXPECT_EQ(*db->IntegrityCheck(), "ok");
}

// What a database before schema version 6 lacks: program sweeps (docs/programs.md) (and what
// version 7 added).
void DropVersionSixColumns(const std::string& path) {
  DropVersionSevenColumns(path);
  RawQuery(path, "DROP INDEX trials_by_metric_value");
  for (const char* c : {"sweeps DROP COLUMN program", "sweeps DROP COLUMN max_trial_seconds",
                        "sweeps DROP COLUMN seed", "trials DROP COLUMN metric_value",
                        "trials DROP COLUMN final_metrics", "epochs DROP COLUMN metrics",
                        "workers DROP COLUMN programs"}) {
    RawQuery(path, std::string("ALTER TABLE ") + c);
  }
}

// What a database before schema version 5 lacks: the sweeps' reuse and the trials' reused_from
// (and what version 6 added).
void DropVersionFiveColumns(const std::string& path) {
  DropVersionSixColumns(path);
  RawQuery(path, "ALTER TABLE sweeps DROP COLUMN reuse");
  RawQuery(path, "ALTER TABLE trials DROP COLUMN reused_from");
}

// A database of schema version 4 (before reuse) is migrated at open: its sweeps and trials are
// kept, neither reusing nor reused, and a sweep's reuse and a trial's reused_from round-trip.
TEST(StorageFileTest, VersionFourGainsReuseAndReusedFrom) {
  TempDir dir;
  const std::string path = dir.File("v4.db");
  SweepRow sweep = MakeSweep("old");
  TrialRow trial;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    sweep.id = *db->InsertSweep(sweep);
    trial = MakeTrial(sweep.id, 1);
    trial.id = *db->InsertTrial(trial);
    ASSERT_TRUE(db->Commit().ok());
  }
  DropVersionFiveColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 4");
  trial.stopped_epoch = 0;  // (version 7's; weights_epoch becomes epochs_run again)
  ASSERT_EQ(RawQuery(path, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%reuse%'"),
            std::vector<std::string>{"0"});

  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
  ASSERT_EQ(sweeps->size(), 1u);
  ExpectSweepEq((*sweeps)[0], sweep);  // reuse false
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 1u);
  ExpectTrialEq((*trials)[0], trial);  // reused_from ""

  ASSERT_TRUE(db->Begin().ok());
  SweepRow again = MakeSweep("again");
  again.reuse = true;
  again.id = *db->InsertSweep(again);
  TrialRow copy = MakeTrial(again.id, 1);
  copy.reused_from = "sweep 1 #1";
  copy.id = *db->InsertTrial(copy);
  trial.reused_from = "sweep 9 #3";  // UpdateTrial writes it too
  ASSERT_TRUE(db->UpdateTrial(trial).ok());
  ASSERT_TRUE(db->Commit().ok());
  sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 2u);
  ExpectSweepEq((*sweeps)[1], again);
  trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 2u);
  ExpectTrialEq((*trials)[0], trial);
  ExpectTrialEq((*trials)[1], copy);
  EXPECT_EQ(*db->IntegrityCheck(), "ok");
}

// A database written by the version before trial status 'pruned' (schema 1: the trials' CHECK
// lists five statuses) is migrated at open: its rows are kept, and a pruned trial can be stored.
TEST(StorageFileTest, SchemaThreeMigratesToTakePrunedTrials) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  SweepRow sweep = MakeSweep("old");
  TrialRow trial;
  EpochRow epoch;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    sweep.id = *db->InsertSweep(sweep);
    trial = MakeTrial(sweep.id, 1);
    trial.id = *db->InsertTrial(trial);
    epoch = MakeEpoch(trial.id, 1);
    ASSERT_TRUE(db->PutEpoch(epoch).ok());
    ASSERT_TRUE(db->Commit().ok());
  }
  // Turn it into a schema-3 file: without the version-5 columns, the CHECK without 'pruned',
  // version 3.
  DropVersionFiveColumns(path);
  trial.stopped_epoch = 0;  // (version 7's; weights_epoch becomes epochs_run again)
  epoch.lr = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::string> sql =
      RawQuery(path, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trials'");
  ASSERT_EQ(sql.size(), 1u);
  std::string v1 = std::regex_replace(sql[0], std::regex(",\\s*'pruned'"), "");
  ASSERT_NE(v1, sql[0]);
  std::string quoted;
  for (char c : v1) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  RawQuery(path, "PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = '" + quoted +
                     "' WHERE type = 'table' AND name = 'trials'; PRAGMA writable_schema=OFF; "
                     "UPDATE schema_version SET version = 3");
  ASSERT_EQ(RawQuery(path, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%pruned%'"),
            std::vector<std::string>{"0"});

  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 1u);
  ExpectTrialEq((*trials)[0], trial);
  StatusOr<std::vector<EpochRow>> epochs = db->LoadEpochs(trial.id);
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 1u);
  ExpectEpochEq((*epochs)[0], epoch);
  trial.status = TrialStatus::kPruned;
  ASSERT_TRUE(db->Begin().ok());
  Status st = db->UpdateTrial(trial);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(db->Commit().ok());
  trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ((*trials)[0].status, TrialStatus::kPruned);
  EXPECT_EQ(*db->IntegrityCheck(), "ok");
  db.reset();
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  EXPECT_EQ(RawQuery(path, "PRAGMA foreign_key_check"), std::vector<std::string>{});
  // The indexes came back with the table.
  EXPECT_EQ(RawQuery(path,
                     "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trials' "
                     "AND name LIKE 'trials_by%' ORDER BY name"),
            (std::vector<std::string>{"trials_by_metric_value", "trials_by_status",
                                      "trials_by_val_accuracy"}));
}

TEST(StorageFileTest, TextFileIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  {
    std::ofstream f(path);
    f << "name: not a database\nthis is a plain text file that is long enough to have a header\n";
    for (int i = 0; i < 100; ++i) f << "line " << i << "\n";
  }
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInvalidArgument) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
  EXPECT_NE(db.status().message().find("not an hpsweep database"), std::string::npos)
      << db.status().message();
}

TEST(StorageFileTest, ForeignSqliteDatabaseIsRefusedAndLeftAlone) {
  TempDir dir;
  const std::string path = dir.File("other.db");
  RawQuery(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kInvalidArgument) << db.status().ToString();
  EXPECT_NE(db.status().message().find("not an hpsweep database"), std::string::npos)
      << db.status().message();
  EXPECT_NE(db.status().message().find("customers"), std::string::npos) << db.status().message();
  // Not switched to WAL, nothing created.
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), std::vector<std::string>{"delete"});
  EXPECT_EQ(RawQuery(path, "SELECT name FROM sqlite_master"),
            std::vector<std::string>{"customers"});
}

TEST(StorageFileTest, NewerSchemaVersionIsFailedPrecondition) {
  TempDir dir;
  const std::string path = dir.File("future.db");
  { ASSERT_NE(MustOpen(path), nullptr); }
  RawQuery(path, "UPDATE schema_version SET version = 99");
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kFailedPrecondition) << db.status().ToString();
  EXPECT_NE(db.status().message().find("written by a newer hpsweep"), std::string::npos)
      << db.status().message();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
  // Left as it was.
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"99"});
}

std::string FileBytes(const std::string& path);  // (below)

// read_only (`hpsweep dashboard --db`): reads, writes nothing (a write fails), sees another
// connection's commits, and refuses a missing file (not creating it) and an older schema (not
// migrating it).
TEST(StorageFileTest, ReadOnlyReadsBesideAWriterAndWritesNothing) {
  TempDir dir;
  const std::string path = dir.File("ro.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    ASSERT_TRUE(db->InsertSweep(MakeSweep("first")).ok());
    ASSERT_TRUE(db->Commit().ok());
  }
  const std::string bytes = FileBytes(path);
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  StorageOptions ro;
  ro.read_only = true;
  ro.log_write_errors = false;
  {
    StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path, ro);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    StatusOr<std::vector<SweepRow>> sweeps = (*db)->LoadSweeps();
    ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
    ASSERT_EQ(sweeps->size(), 1u);
    Status write = (*db)->Begin();
    if (write.ok()) {
      write = (*db)->InsertSweep(MakeSweep("never")).status();
      if (write.ok()) write = (*db)->Commit();
    }
    EXPECT_FALSE(write.ok());
    (*db)->Rollback();
  }
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_TRUE(FileBytes(path) == bytes) << "the file changed";

  // Beside a writer: its commits show in the next read.
  {
    std::unique_ptr<Storage> writer = MustOpen(path);
    ASSERT_NE(writer, nullptr);
    StatusOr<std::unique_ptr<Storage>> reader = OpenSqliteStorage(path, ro);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    ASSERT_TRUE(writer->Begin().ok());
    ASSERT_TRUE(writer->InsertSweep(MakeSweep("second")).ok());
    ASSERT_TRUE(writer->Commit().ok());
    StatusOr<std::vector<SweepRow>> sweeps = (*reader)->LoadSweeps();
    ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
    EXPECT_EQ(sweeps->size(), 2u);
  }

  const std::string missing = dir.File("none.db");
  StatusOr<std::unique_ptr<Storage>> none = OpenSqliteStorage(missing, ro);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound) << none.status().ToString();
  EXPECT_NE(none.status().message().find(missing), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(missing));

  RawQuery(path, "UPDATE schema_version SET version = 6");
  StatusOr<std::unique_ptr<Storage>> old = OpenSqliteStorage(path, ro);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kFailedPrecondition) << old.status().ToString();
  EXPECT_NE(old.status().message().find("older hpsweep"), std::string::npos)
      << old.status().message();
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"6"});
}

// The database and its write-ahead log hold live lease ids: owner only, whatever the umask.
TEST(StorageFileTest, NewDatabaseAndItsLogAreOwnerOnly) {
  TempDir dir;
  const std::string path = dir.File("private.db");
  const mode_t old_umask = umask(022);
  std::unique_ptr<Storage> db = MustOpen(path);
  umask(old_umask);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->InsertSweep(MakeSweep("s")).ok());
  for (const std::string& f : {path, path + "-wal", path + "-shm"}) {
    struct stat st;
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
}

// A trigger or a view planted in the database would run inside the coordinator on every write
// (a recursive trigger once spun it past SIGTERM): refused on open, before anything is written.
TEST(StorageFileTest, PlantedTriggersAndViewsAreRefused) {
  TempDir dir;
  for (const std::string& planted :
       {std::string("CREATE TRIGGER spin AFTER UPDATE ON trials BEGIN "
                    "UPDATE trials SET attempts = attempts + 1; END"),
        std::string("CREATE VIEW peek AS SELECT * FROM workers")}) {
    const std::string path = dir.File("planted.db");
    std::remove(path.c_str());
    { ASSERT_NE(MustOpen(path), nullptr); }
    RawQuery(path, planted);
    StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
    ASSERT_FALSE(db.ok()) << planted;
    EXPECT_EQ(db.status().code(), StatusCode::kInvalidArgument) << db.status().ToString();
    EXPECT_NE(db.status().message().find("which hpsweep never makes"), std::string::npos)
        << db.status().message();
    EXPECT_NE(db.status().message().find(planted.find("TRIGGER") != std::string::npos
                                             ? "trigger 'spin'"
                                             : "view 'peek'"),
              std::string::npos)
        << db.status().message();
  }
}

// A database of schema version 1 (before the attempts table) opens, migrates to the current version and
// keeps its rows; attempts can then be stored and read back.
TEST(StorageFileTest, VersionOneDatabaseGainsTheAttemptsTable) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  int64_t trial_id = 0;
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    SweepRow sweep;
    sweep.name = "old";
    StatusOr<int64_t> sweep_id = db->InsertSweep(sweep);
    ASSERT_TRUE(sweep_id.ok());
    TrialRow trial;
    trial.sweep_id = *sweep_id;
    trial.number = 1;
    StatusOr<int64_t> id = db->InsertTrial(trial);
    ASSERT_TRUE(id.ok());
    trial_id = *id;
    ASSERT_TRUE(db->Commit().ok());
  }
  // What version 1 had: no attempts table (nor its index), workers without host, job id and
  // counts (version 3); the trials' CHECK without 'pruned' (version 4) is rebuilt either way.
  DropVersionFiveColumns(path);
  RawQuery(path, "DROP TABLE attempts");
  for (const char* column : {"host", "job_id", "trials_done", "trials_failed"}) {
    RawQuery(path, std::string("ALTER TABLE workers DROP COLUMN ") + column);
  }
  RawQuery(path, "UPDATE schema_version SET version = 1");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(0);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 1u);
  ASSERT_TRUE(db->Begin().ok());
  AttemptRow a;
  a.trial_id = trial_id;
  a.attempt = 1;
  a.worker_name = "w";
  a.started_at = 5;
  a.resumed_from_epoch = 2;
  ASSERT_TRUE(db->InsertAttempt(a).ok());
  ASSERT_TRUE(db->EndAttempt(trial_id, 9).ok());
  ASSERT_TRUE(db->Commit().ok());
  StatusOr<std::vector<AttemptRow>> got = db->LoadAttempts(trial_id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].resumed_from_epoch, 2);
  EXPECT_EQ((*got)[0].ended_at, 9);
  EXPECT_EQ((*got)[0].worker_name, "w");
}

// A database of schema version 2 (before workers had a host, a job id and counts) is migrated
// at open, its workers kept.
TEST(StorageFileTest, VersionOneWorkersGainHostJobAndCounts) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Begin().ok());
    ASSERT_TRUE(db->UpsertWorker(Worker("old", 2, "h", "j"), 5).ok());
    ASSERT_TRUE(db->Commit().ok());
  }
  for (const char* column : {"host", "job_id", "trials_done", "trials_failed"}) {
    RawQuery(path, std::string("ALTER TABLE workers DROP COLUMN ") + column);
  }
  DropVersionFiveColumns(path);
  RawQuery(path, "UPDATE schema_version SET version = 2");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(RawQuery(path, "SELECT version FROM schema_version"), std::vector<std::string>{"11"});
  StatusOr<std::vector<WorkerRow>> rows = db->LoadWorkers();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].name, "old");
  EXPECT_EQ((*rows)[0].host, "");
  EXPECT_EQ((*rows)[0].trials_done, 0);
  ASSERT_TRUE(db->AddWorkerTrials((*rows)[0].id, 1, 0).ok());
}

TEST(StorageFileTest, UnopenablePathIsIoError) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/x.db");
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kIoError) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
}

// The whole file's bytes, to check that a refused file was left alone.
std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Refused with `code`, a message naming the path and containing `what`, and the file unchanged
// with no side file created.
void ExpectRefused(const std::string& path, StatusCode code, const std::string& what) {
  const std::string before = FileBytes(path);
  const bool had_wal = std::filesystem::exists(path + "-wal");
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok()) << path << " was opened (as a new database?)";
  EXPECT_EQ(db.status().code(), code) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
  EXPECT_NE(db.status().message().find(what), std::string::npos) << db.status().message();
  EXPECT_TRUE(FileBytes(path) == before) << path << " was changed";
  EXPECT_EQ(std::filesystem::exists(path + "-wal"), had_wal);
  EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
}

// A real, closed hpsweep database holding one sweep; returns its bytes.
std::string RealDatabaseBytes(const TempDir& dir) {
  const std::string path = dir.File("real.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    EXPECT_NE(db, nullptr);
    if (db == nullptr) return "";
    EXPECT_TRUE(db->InsertSweep(MakeSweep("real")).ok());
    for (int i = 1; i <= 50; ++i) {
      EXPECT_TRUE(db->InsertTrial(MakeTrial(1, i)).ok());
    }
  }
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));  // checkpointed and removed at close
  return FileBytes(path);
}

// Regression: SQLite takes an empty file for a new database, so an emptied hpsweep.db came back
// as a fresh, empty coordinator with no word said.
TEST(StorageFileTest, EmptyFileIsRefusedNotMadeANewDatabase) {
  TempDir dir;
  const std::string path = dir.File("empty.db");
  WriteBytes(path, "");
  ExpectRefused(path, StatusCode::kInvalidArgument,
                "an empty file, not an hpsweep database; remove it or pick another --db");
}

TEST(StorageFileTest, EmptyFileWithItsWalBesideIsRefusedAndTheWalKept) {
  TempDir dir;
  const std::string path = dir.File("x.db");
  WriteBytes(path, "");
  WriteBytes(path + "-wal", std::string(4096, 'w'));
  ExpectRefused(path, StatusCode::kInvalidArgument, "-wal holds 4096 bytes");
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 4096u);
}

TEST(StorageFileTest, WalWithoutItsDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("gone.db");
  WriteBytes(path + "-wal", std::string(4096, 'w'));
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kFailedPrecondition) << db.status().ToString();
  EXPECT_NE(db.status().message().find("write-ahead log of a database that was moved or deleted"),
            std::string::npos)
      << db.status().message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(StorageFileTest, ShortAndForeignFilesAreRefusedSayingWhatTheyAre) {
  TempDir dir;
  const std::string real = RealDatabaseBytes(dir);
  ASSERT_GT(real.size(), 3 * 4096u);
  struct Case {
    std::string name, bytes;
    StatusCode code;
    std::string what;
  };
  const std::vector<Case> cases = {
      {"header100.db", real.substr(0, 100), StatusCode::kDataLoss,
       "a damaged SQLite database: 100 bytes is not a whole number of its 4096-byte pages"},
      {"header50.db", real.substr(0, 50), StatusCode::kDataLoss, "truncated to 50 bytes"},
      {"pages2.db", real.substr(0, 8192), StatusCode::kDataLoss,
       "truncated to 8192 bytes, its header says"},
      {"odd5000.db", real.substr(0, 5000), StatusCode::kDataLoss, "not a whole number"},
      {"zeros100.db", std::string(100, '\0'), StatusCode::kInvalidArgument,
       "not an SQLite file (100 bytes), not an hpsweep database"},
      {"text.db", "hello\n", StatusCode::kInvalidArgument, "not an SQLite file (6 bytes)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.File(c.name);
    WriteBytes(path, c.bytes);
    ExpectRefused(path, c.code, c.what);
  }
  // The untouched copy still opens.
  const std::string whole = dir.File("whole.db");
  WriteBytes(whole, real);
  std::unique_ptr<Storage> db = MustOpen(whole);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->LoadTrials(0)->size(), 50u);
}

TEST(StorageFileTest, SqliteDatabaseWithoutTablesAndFolderAreRefused) {
  TempDir dir;
  const std::string path = dir.File("bare.db");
  RawQuery(path, "PRAGMA user_version = 7");  // a valid SQLite file with no table
  ASSERT_GT(std::filesystem::file_size(path), 0u);
  ExpectRefused(path, StatusCode::kInvalidArgument,
                "an SQLite database with no tables, not an hpsweep database");
  const std::string folder = dir.File("folder.db");
  std::filesystem::create_directory(folder);
  StatusOr<std::unique_ptr<Storage>> db = OpenSqliteStorage(folder);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("a folder, not an hpsweep database"), std::string::npos)
      << db.status().message();
}

TEST(StorageFileTest, NewDatabaseAppearsWholeAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("new.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    EXPECT_TRUE(db->InsertSweep(MakeSweep("x")).ok());
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.File(""))) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"new.db"});
  // And it opens again, as an existing database.
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->LoadSweeps()->size(), 1u);
}

// Runs fn in a child process (as user nobody when this one is root, whom permissions do not
// stop) and returns what it wrote to the pipe: the message of the Status it returned, or "OK".
std::string InChildAsNobody(const std::function<Status()>& fn) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    const Status st = fn();
    const std::string out = st.ok() ? "OK" : st.ToString();
    if (write(fds[1], out.data(), out.size()) < 0) _exit(4);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  return out;
}

TEST(StorageFileTest, ReadOnlyFileAndFolderAreRefusedSayingWhy) {
  TempDir dir;
  const std::string real = RealDatabaseBytes(dir);
  chmod(dir.File("").c_str(), 0777);  // nobody may enter and create side files
  // A database file nobody may write.
  const std::string ro_file = dir.File("ro.db");
  WriteBytes(ro_file, real);
  chmod(ro_file.c_str(), 0444);
  std::string got = InChildAsNobody([&] { return OpenSqliteStorage(ro_file).status(); });
  EXPECT_NE(got.find("read-only for this user"), std::string::npos) << got;
  EXPECT_NE(got.find(ro_file), std::string::npos) << got;
  // A writable database in a folder nobody may write: no room for -wal and -shm.
  const std::string ro_dir = dir.File("ro-dir");
  std::filesystem::create_directory(ro_dir);
  const std::string in_ro_dir = ro_dir + "/x.db";
  WriteBytes(in_ro_dir, real);
  chmod(in_ro_dir.c_str(), 0666);
  chmod(ro_dir.c_str(), 0555);
  got = InChildAsNobody([&] { return OpenSqliteStorage(in_ro_dir).status(); });
  EXPECT_NE(got.find("is not writable for this user"), std::string::npos) << got;
  // A new database in that folder.
  got = InChildAsNobody([&] { return OpenSqliteStorage(ro_dir + "/new.db").status(); });
  EXPECT_NE(got.find("cannot create"), std::string::npos) << got;
  EXPECT_NE(got.find("is not writable for this user"), std::string::npos) << got;
  chmod(ro_dir.c_str(), 0755);
  EXPECT_EQ(FileBytes(in_ro_dir), real);
  EXPECT_FALSE(std::filesystem::exists(ro_dir + "/new.db"));
}

// A write past the file-size limit fails as an error that says so (SIGXFSZ ignored, as the
// hpsweep binary does), and every commit before it is still there when the file is reopened.
TEST(StorageFileTest, WriteOverTheFileSizeLimitFailsCleanlyAndKeepsWhatWasCommitted) {
  TempDir dir;
  const std::string path = dir.File("small.db");
  { ASSERT_NE(MustOpen(path), nullptr); }
  int committed = 0;
  std::string failure;
  {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit limit = {256 * 1024, 256 * 1024};
      setrlimit(RLIMIT_FSIZE, &limit);
      StorageOptions options;
      options.log_write_errors = false;
      auto db = OpenSqliteStorage(path, options);
      std::string out = "open: " + db.status().ToString();
      if (db.ok()) {
        const std::string model(20000, 'm');
        int n = 0;
        Status st;
        for (; n < 1000 && st.ok(); ++n) {
          st = (*db)->Begin();
          if (!st.ok()) break;
          SweepRow sweep = MakeSweep("s" + std::to_string(n));
          sweep.yaml = model;
          StatusOr<int64_t> id = (*db)->InsertSweep(sweep);
          st = id.ok() ? (*db)->Commit() : id.status();
          if (!st.ok()) (*db)->Rollback();
        }
        out = std::to_string(n - 1) + "\n" + st.ToString();
      }
      if (write(fds[1], out.data(), out.size()) < 0) _exit(4);
      _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the child died (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
    const size_t nl = out.find('\n');
    ASSERT_NE(nl, std::string::npos) << out;
    committed = std::stoi(out.substr(0, nl));
    failure = out.substr(nl + 1);
  }
  EXPECT_GT(committed, 0);
  EXPECT_LT(committed, 999) << "the limit never bit";
  EXPECT_TRUE(failure.find("database or disk is full") != std::string::npos ||
              failure.find("disk I/O error") != std::string::npos)
      << failure;
  EXPECT_NE(failure.find("ulimit -f"), std::string::npos) << failure;
  EXPECT_NE(failure.find(path), std::string::npos) << failure;
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(*db->IntegrityCheck(), "ok");
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
  ASSERT_EQ(static_cast<int>(sweeps->size()), committed);
  for (int i = 0; i < committed; ++i) {
    EXPECT_EQ((*sweeps)[i].name, "s" + std::to_string(i));
    EXPECT_EQ((*sweeps)[i].yaml.size(), 20000u);
  }
}

// Text that is not UTF-8, in a row written before anything checked (or by hand), reads back with
// U+FFFD in place of each bad byte: every reader after storage can print and serialise it.
TEST(StorageFileTest, TextThatIsNotUtf8ReadsBackAsReplacementCharacters) {
  TempDir dir;
  const std::string path = dir.File("old.db");
  {
    std::unique_ptr<Storage> db = MustOpen(path);
    ASSERT_NE(db, nullptr);
    SweepRow sweep = MakeSweep("old");
    sweep.description = "bad \xff byte";
    ASSERT_TRUE(db->InsertSweep(sweep).ok());
    ASSERT_TRUE(db->InsertTrial(MakeTrial(1, 1)).ok());
  }
  // {"label":"a\xff"}: params as raw bytes, which TrialJson would refuse to write.
  RawQuery(path,
           "UPDATE trials SET params = CAST(X'7B226C6162656C223A2261FF227D' AS TEXT), "
           "error = CAST(X'6F6F7073FE' AS TEXT)");
  std::unique_ptr<Storage> db = MustOpen(path);
  ASSERT_NE(db, nullptr);
  StatusOr<std::vector<SweepRow>> sweeps = db->LoadSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status().ToString();
  EXPECT_EQ((*sweeps)[0].description, "bad \xEF\xBF\xBD byte");
  StatusOr<std::vector<TrialRow>> trials = db->LoadTrials(1);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  EXPECT_EQ((*trials)[0].params.at("label"), "a\xEF\xBF\xBD");
  EXPECT_EQ((*trials)[0].error, "oops\xEF\xBF\xBD");
}

TEST(ToValidUtf8Test, KeepsUtf8AndReplacesEachBadByte) {
  EXPECT_EQ(ToValidUtf8(""), "");
  EXPECT_EQ(ToValidUtf8("plain"), "plain");
  EXPECT_EQ(ToValidUtf8("\xc3\xbc \xe2\x80\x94 \xf0\x9f\x98\x80"),
            "\xc3\xbc \xe2\x80\x94 \xf0\x9f\x98\x80");
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ToValidUtf8("\xff"), r);
  EXPECT_EQ(ToValidUtf8("a\xffz"), "a" + r + "z");
  EXPECT_EQ(ToValidUtf8("\xc3"), r);                          // truncated sequence
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), r + r);                  // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), r + r + r);          // a surrogate
  EXPECT_EQ(ToValidUtf8("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
}

class FaultInjectingStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Storage> inner = MustOpen(":memory:");
    ASSERT_NE(inner, nullptr);
    db_ = std::make_unique<FaultInjectingStorage>(std::move(inner));
  }
  std::unique_ptr<FaultInjectingStorage> db_;
};

TEST_F(FaultInjectingStorageTest, ForwardsAndCounts) {
  StatusOr<int64_t> sweep = db_->InsertSweep(MakeSweep("s"));
  ASSERT_TRUE(sweep.ok());
  ASSERT_TRUE(db_->InsertTrial(MakeTrial(*sweep, 1)).ok());
  EXPECT_EQ(db_->LoadTrials(*sweep)->size(), 1u);
  EXPECT_EQ(*db_->IntegrityCheck(), "ok");
  EXPECT_EQ(db_->calls(), 4);
}

TEST_F(FaultInjectingStorageTest, FailAfterFailsCallNPlusOneUntilHeal) {
  ASSERT_TRUE(db_->LoadSweeps().ok());  // calls before FailAfter do not count against n
  db_->FailAfter(2);
  StatusOr<int64_t> sweep = db_->InsertSweep(MakeSweep("s"));
  ASSERT_TRUE(sweep.ok());
  ASSERT_TRUE(db_->UpsertWorker(Worker("w", 1), 1).ok());
  StatusOr<int64_t> third = db_->InsertTrial(MakeTrial(*sweep, 1));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kIoError);
  EXPECT_NE(third.status().message().find("injected fault"), std::string::npos)
      << third.status().message();
  EXPECT_EQ(db_->LoadSweeps().status().code(), StatusCode::kIoError);  // and it stays failing
  EXPECT_EQ(db_->Begin().code(), StatusCode::kIoError);
  EXPECT_EQ(db_->GetArtifact(1, "model").status().code(), StatusCode::kIoError);

  db_->Heal();
  ASSERT_TRUE(db_->InsertTrial(MakeTrial(*sweep, 1)).ok());
  StatusOr<std::vector<TrialRow>> trials = db_->LoadTrials(*sweep);
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ(trials->size(), 1u);

  db_->FailAfter(0);  // the very next call fails
  EXPECT_EQ(db_->LoadWorkers().status().code(), StatusCode::kIoError);
  db_->Heal();
}

TEST_F(FaultInjectingStorageTest, FailCommitsRollsBack) {
  ASSERT_TRUE(db_->InsertSweep(MakeSweep("kept")).ok());
  db_->FailCommits(true);
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->InsertSweep(MakeSweep("lost")).ok());
  ASSERT_TRUE(db_->UpsertWorker(Worker("w", 1), 1).ok());
  Status commit = db_->Commit();
  EXPECT_EQ(commit.code(), StatusCode::kIoError) << commit.ToString();
  StatusOr<std::vector<SweepRow>> sweeps = db_->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());  // reads still work
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].name, "kept");
  EXPECT_TRUE(db_->LoadWorkers()->empty());

  db_->Heal();
  ASSERT_TRUE(db_->Begin().ok());  // no transaction was left open
  ASSERT_TRUE(db_->InsertSweep(MakeSweep("second")).ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_EQ(db_->LoadSweeps()->size(), 2u);
}

TEST_F(FaultInjectingStorageTest, CommitFailingByCountRollsBackToo) {
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->InsertSweep(MakeSweep("lost")).ok());
  db_->FailAfter(0);
  EXPECT_EQ(db_->Commit().code(), StatusCode::kIoError);
  db_->Heal();
  EXPECT_TRUE(db_->LoadSweeps()->empty());
  EXPECT_TRUE(db_->Begin().ok());
  db_->Rollback();
}

// LoadTrialsAfter: the next trials by number, at most `limit`, from SQLite's query and from the
// default (LoadTrials filtered) that other storages inherit.
TEST(LoadTrialsAfterTest, GivesTheNextTrialsByNumber) {
  auto sqlite = MustOpen(":memory:");
  ASSERT_NE(sqlite, nullptr);
  StatusOr<int64_t> sweep = WriteBigSweep(sqlite.get(), 5, 1);
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  auto check = [&](Storage* db) {
    auto two = db->LoadTrialsAfter(*sweep, 2, 2);
    ASSERT_TRUE(two.ok()) << two.status().ToString();
    EXPECT_EQ(Numbers(*two), (std::vector<int>{3, 4}));
    auto rest = db->LoadTrialsAfter(*sweep, 3, 10);
    ASSERT_TRUE(rest.ok());
    EXPECT_EQ(Numbers(*rest), (std::vector<int>{4, 5}));
    auto none = db->LoadTrialsAfter(*sweep, 5, 10);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
    auto other = db->LoadTrialsAfter(*sweep + 1, 0, 10);
    ASSERT_TRUE(other.ok());
    EXPECT_TRUE(other->empty());
  };
  check(sqlite.get());
  FaultInjectingStorage wrapped(std::move(sqlite));  // inherits the default
  check(&wrapped);
}

// The number of an export's trial piece (ExportTrialText), read from its text: parsing a
// megabyte of JSON per trial in a test built without optimisation takes seconds.
int NumberOf(const std::string& piece) {
  const std::string key = "\n   \"number\": ";  // a trial's own key, at its indentation
  const size_t at = piece.find(key);
  return at == std::string::npos ? -1 : std::atoi(piece.c_str() + at + key.size());
}

// A big sweep's export in pages (Scheduler::ExportSweepPage): every page within its byte budget
// (or one trial, when one is bigger), every trial in exactly one page and in number order, and
// the pages joined are, byte for byte, the one-piece export in the format exports always had.
TEST(ExportPagesTest, BigSweepPagesAreBoundedCompleteAndJoinToTheWholeExport) {
  constexpr int kTrials = 20, kEpochs = 3000;
  constexpr size_t kBudget = 2u << 20;
  auto storage = MustOpen(":memory:");
  ASSERT_NE(storage, nullptr);
  StatusOr<int64_t> sweep = WriteBigSweep(storage.get(), kTrials, kEpochs);
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  FakeClock clock;
  Scheduler sched(storage.get(), &clock, SchedulerOptions());
  ASSERT_TRUE(sched.Load().ok());

  StatusOr<std::string> whole = sched.ExportJson(0);  // the latest: this one; its pages joined
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ASSERT_GT(whole->size(), 4 * kBudget);  // (the budget below must cut it)

  // A budget below one trial: one trial, whole, and a page in the text exports always had (the
  // whole object dumped with indent 1), which the joined pages are made of.
  StatusOr<ExportPage> first = sched.ExportSweepPage(*sweep, 0, 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->trials.size(), 1u);
  EXPECT_EQ(first->next_after, 1);
  const std::string first_text = first->Json();
  const nlohmann::json j = nlohmann::json::parse(first_text);
  EXPECT_EQ(first_text, j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  EXPECT_EQ(j["sweep"]["id"], *sweep);
  ASSERT_EQ(j["trials"][0]["epochs"].size(), static_cast<size_t>(kEpochs));
  EXPECT_EQ(j["trials"][0]["epochs"][kEpochs - 1]["epoch"], kEpochs);
  EXPECT_EQ(whole->compare(0, first->head.size(), first->head), 0);

  std::vector<int> numbers;
  std::string joined;
  ExportJoiner join;
  int after = 0, pages = 0;
  do {
    StatusOr<ExportPage> page = sched.ExportSweepPage(*sweep, after, kBudget);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_FALSE(page->trials.empty());
    ++pages;
    EXPECT_LE(page->Json().size(), kBudget);  // (each trial is well under it)
    for (const std::string& t : page->trials) numbers.push_back(NumberOf(t));
    if (page->next_after != 0) {
      EXPECT_EQ(page->next_after, numbers.back());
    }
    if (joined.empty()) joined = page->head;
    for (const std::string& t : page->trials) joined += join.Trial(t);
    after = page->next_after;
  } while (after != 0 && pages <= kTrials);
  joined += join.Tail();
  std::vector<int> expected;
  for (int n = 1; n <= kTrials; ++n) expected.push_back(n);
  EXPECT_EQ(numbers, expected);
  EXPECT_GE(pages, 4);
  EXPECT_TRUE(joined == *whole) << joined.size() << " bytes joined, " << whole->size() << " whole";

  // A trial at a time (max_trials 1, as the dashboard reads): the next page may be empty.
  for (int n : {kTrials - 1, kTrials}) {
    StatusOr<ExportPage> one = sched.ExportSweepPage(*sweep, n - 1, SIZE_MAX, 1);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->trials.size(), 1u);
    EXPECT_EQ(NumberOf(one->trials[0]), n);
    EXPECT_EQ(one->next_after, n);
  }
  StatusOr<ExportPage> end = sched.ExportSweepPage(*sweep, kTrials, SIZE_MAX, 1);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->trials.empty());
  EXPECT_EQ(end->next_after, 0);
  EXPECT_FALSE(sched.ExportSweepPage(*sweep + 1, 0, kBudget).ok());
}

}  // namespace
}  // namespace hpsweep::storage_test
