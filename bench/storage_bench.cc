// Prints how fast the SQLite storage commits: transactions per second for one UpdateTrial per
// commit, and rows per second when 8 updates share one commit (the scheduler's group commit), with
// synchronous=NORMAL (WAL: no fsync per commit) and FULL (an fsync per commit). Each figure is the
// median of 3 runs on a fresh temporary file database.
//
//   hpsweep_storage_bench [dir]    # dir: where the temporary database lives (default $TMPDIR or
//                                  # /tmp); put it on the disk the coordinator will use.
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/cpu_info.h"
#include "coordinator/store/storage.h"

namespace {

using hpsweep::Status;
using hpsweep::Storage;
using hpsweep::TrialRow;

constexpr int kTrials = 1000;
constexpr double kSecondsPerRun = 0.6;

bool Check(const Status& st, const char* what) {
  if (!st.ok()) std::fprintf(stderr, "%s: %s\n", what, st.ToString().c_str());
  return st.ok();
}

// One run: a fresh database with kTrials trials, then transactions of `batch` updates for about
// kSecondsPerRun. Returns rows updated per second, or -1 on error.
double Run(const std::string& dir, bool sync_full, int batch) {
  const std::string path = dir + "/bench.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  hpsweep::StatusOr<std::unique_ptr<Storage>> opened =
      hpsweep::OpenSqliteStorage(path, hpsweep::StorageOptions{sync_full});
  if (!Check(opened.status(), "open")) return -1;
  Storage& db = **opened;

  std::vector<TrialRow> trials(kTrials);
  if (!Check(db.Begin(), "begin")) return -1;
  hpsweep::SweepRow sweep;
  sweep.name = "bench";
  hpsweep::StatusOr<int64_t> sweep_id = db.InsertSweep(sweep);
  if (!Check(sweep_id.status(), "insert sweep")) return -1;
  for (int i = 0; i < kTrials; ++i) {
    TrialRow& t = trials[i];
    t.sweep_id = *sweep_id;
    t.number = i + 1;
    t.params = {{"cell", "lstm"}, {"units", "128"}, {"learning_rate", "0.001"}, {"epochs", "5"}};
    hpsweep::StatusOr<int64_t> id = db.InsertTrial(t);
    if (!Check(id.status(), "insert trial")) return -1;
    t.id = *id;
  }
  if (!Check(db.Commit(), "commit")) return -1;

  // What a progress report writes: the trial's running metrics and lease deadline.
  int64_t rows = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < kSecondsPerRun) {
    if (!Check(db.Begin(), "begin")) return -1;
    for (int b = 0; b < batch; ++b, ++rows) {
      TrialRow& t = trials[rows % kTrials];
      t.status = hpsweep::TrialStatus::kRunning;
      t.epochs_run += 1;
      t.best_val_accuracy = 0.9 + 1e-6 * static_cast<double>(rows % 1000);
      t.best_val_loss = 0.1;
      t.lease_deadline = 1.7e9 + static_cast<double>(rows);
      if (!Check(db.UpdateTrial(t), "update")) return -1;
    }
    if (!Check(db.Commit(), "commit")) return -1;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return static_cast<double>(rows) / elapsed;
}

double Median3(const std::string& dir, bool sync_full, int batch) {
  std::vector<double> r;
  for (int i = 0; i < 3; ++i) r.push_back(Run(dir, sync_full, batch));
  std::sort(r.begin(), r.end());
  return r[0] < 0 ? -1 : r[1];
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  std::string tmpl = base + "/hpsweep_storage_bench.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror(tmpl.c_str());
    return 1;
  }
  const std::string dir = tmpl;
  std::printf("cpu: %s\n", hpsweep::CpuSummary().c_str());
  std::printf("SQLite %s, WAL, database in %s, median of 3 runs of %.1f s\n", sqlite3_libversion(),
              dir.c_str(), kSecondsPerRun);
  std::printf("%-12s %12s %12s %12s\n", "synchronous", "rows/commit", "commits/s", "rows/s");
  int rc = 0;
  for (bool full : {false, true}) {
    for (int batch : {1, 8}) {
      double rows_per_s = Median3(dir, full, batch);
      if (rows_per_s < 0) {
        rc = 1;
        continue;
      }
      std::printf("%-12s %12d %12.0f %12.0f\n", full ? "FULL" : "NORMAL", batch, rows_per_s / batch,
                  rows_per_s);
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}
