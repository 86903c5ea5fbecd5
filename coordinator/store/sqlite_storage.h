// SqliteStorage: the SQLite implementation of Storage (coordinator/store/storage.h), and the small
// sqlite3 helpers its files share. Internal to hpsweep_store: only storage.cc (opening a
// file), migrations.cc (schema and migrations) and sqlite_storage.cc (the queries) include it;
// everyone else goes through Storage and OpenSqliteStorage.
//
// Ownership: a SqliteStorage owns its sqlite3 connection and its cached prepared statements, and
// closes them when destroyed. Thread-safety: none; the caller serialises every call (storage.h).
#ifndef HPSWEEP_COORDINATOR_STORE_SQLITE_STORAGE_H_
#define HPSWEEP_COORDINATOR_STORE_SQLITE_STORAGE_H_

#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "coordinator/store/storage.h"
#include "base/status.h"

namespace hpsweep {

// Resets the statement and clears its bindings when the scope ends, whatever the outcome.
class ScopedStmt {
 public:
  explicit ScopedStmt(sqlite3_stmt* s) : s_(s) {}
  ~ScopedStmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  ScopedStmt(const ScopedStmt&) = delete;
  ScopedStmt& operator=(const ScopedStmt&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

// Binds parameters 1, 2, ... in order and remembers the first failure.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}
  Binder& Int(int64_t v) { return Done(sqlite3_bind_int64(s_, ++i_, v)); }
  Binder& Real(double v) { return Done(sqlite3_bind_double(s_, ++i_, v)); }  // NaN binds NULL
  Binder& Text(const char* v) {  // REQUIRES: v outlives the statement's use (a literal)
    return Done(sqlite3_bind_text(s_, ++i_, v, -1, SQLITE_STATIC));
  }
  Binder& Text(const std::string& v) {
    return Done(sqlite3_bind_text64(s_, ++i_, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  // A std::string's data() is never null, so an empty string binds a zero-length blob, not NULL.
  Binder& Blob(const std::string& v) {
    return Done(sqlite3_bind_blob64(s_, ++i_, v.data(), v.size(), SQLITE_STATIC));
  }
  Binder& IdOrNull(int64_t id) {  // 0: let SQLite choose the rowid
    return Done(id == 0 ? sqlite3_bind_null(s_, ++i_) : sqlite3_bind_int64(s_, ++i_, id));
  }
  int rc() const { return rc_; }
  int index() const { return i_; }

 private:
  Binder& Done(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int i_ = 0;
  int rc_ = SQLITE_OK;
};

// NULL reads as NaN (see migrations.cc: REAL columns are nullable on purpose).
double ColumnReal(sqlite3_stmt* s, int i);

// Text as stored, with any byte sequence that is not UTF-8 replaced by U+FFFD: an old database
// (or one edited by hand) may hold such bytes, and every reader after this (nlohmann::json's
// dump, protobuf string fields) refuses them.
std::string ColumnText(sqlite3_stmt* s, int i);

std::string ColumnBlob(sqlite3_stmt* s, int i);

// Maps an SQLite result code (primary or extended) to a status code.
StatusCode CodeFor(int rc);

// Why a file's folder matters: SQLite keeps path-wal and path-shm beside the database.
// "" when the folder is writable. Defined in storage.cc.
std::string FolderNote(const std::string& path);

// Storage on one SQLite database (a file, or ":memory:"), made only by OpenSqliteStorage
// (storage.cc). Init, Migrate and their checks are in migrations.cc; everything else in
// sqlite_storage.cc.
class SqliteStorage : public Storage {
 public:
  SqliteStorage(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteStorage() override {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);  // an open transaction is rolled back
  }
  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;

  // Pragmas, the hpsweep check and migrations. Called once by OpenSqliteStorage. creating: the
  // file is the new, empty one OpenSqliteStorage made; otherwise a database without tables is
  // refused (an hpsweep database is never left without its schema).
  Status Init(const StorageOptions& options, bool creating);

  Status Begin() override { return Exec("BEGIN IMMEDIATE", "begin"); }
  // On failure the transaction is rolled back: the caller never inherits a half-open one.
  Status Commit() override {
    Status st = Exec("COMMIT", "commit");
    if (!st.ok()) {
      Rollback();
    } else if (failures_ > 0) {
      if (log_write_errors_) {
        std::fprintf(stderr, "hpsweep: storage: %s: writes succeed again (after %d failed)\n",
                     path_.c_str(), failures_);
      }
      failures_ = 0;
    }
    return st;
  }
  void Rollback() override {
    if (sqlite3_get_autocommit(db_)) return;  // no transaction (or SQLite already rolled back)
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  StatusOr<int64_t> InsertSweep(const SweepRow& sweep) override;
  Status UpdateSweepState(int64_t sweep_id, SweepState state, double finished_at) override;
  Status ExtendSweep(int64_t sweep_id, int max_trials, int total) override;
  Status SetPopulationEpoch(int64_t sweep_id, int epoch) override;
  Status SetTrialParams(int64_t trial_id, const std::map<std::string, std::string>& params,
                        const std::string& schedule) override;
  StatusOr<int64_t> InsertTrial(const TrialRow& trial) override;
  Status UpdateTrial(const TrialRow& trial) override;
  Status PutEpoch(const EpochRow& epoch) override;
  Status DeleteEpochs(int64_t trial_id) override;
  StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) override;
  Status TouchWorker(int64_t worker_id, double now) override;
  Status AddWorkerTrials(int64_t worker_id, int done, int failed) override;
  Status UpdateWorkerHealth(int64_t worker_id, const std::string& fingerprint,
                            const std::string& quarantine, double quarantined_at) override;
  Status PutArtifact(int64_t trial_id, const std::string& kind, const std::string& bytes) override;
  StatusOr<std::string> GetArtifact(int64_t trial_id, const std::string& kind) override;
  StatusOr<std::vector<SweepRow>> LoadSweeps() override;
  StatusOr<std::vector<TrialRow>> LoadTrials(int64_t sweep_id) override;
  StatusOr<std::vector<TrialRow>> LoadTrialsAfter(int64_t sweep_id, int after_number,
                                                  int limit) override;
  StatusOr<std::vector<EpochRow>> LoadEpochs(int64_t trial_id) override;
  StatusOr<std::vector<WorkerRow>> LoadWorkers() override;
  StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, const std::string& metric,
                                              bool maximize, int top) override;
  StatusOr<std::string> IntegrityCheck() override;
  Status DeleteEpochsAfter(int64_t trial_id, int epoch) override;
  Status InsertAttempt(const AttemptRow& attempt) override;
  Status EndAttempt(int64_t trial_id, double ended_at) override;
  StatusOr<std::vector<AttemptRow>> LoadAttempts(int64_t trial_id) override;

 private:
  // "<path>: <what>: <errmsg>". rc is the code the failing call returned.
  // An I/O-class failure (disk full, file too large, read-only, I/O error) also says what the OS
  // said, and the first of a run of them is logged (see StorageOptions::log_write_errors).
  Status Error(int rc, const std::string& what) const;
  Status BindError(const Binder& b, const std::string& what) const {
    return Status(CodeFor(b.rc()), path_ + ": " + what + ": binding parameter " +
                                       std::to_string(b.index()) + ": " + sqlite3_errstr(b.rc()));
  }
  // The cached prepared statement for sql (prepared on first use).
  StatusOr<sqlite3_stmt*> Prepare(const char* sql, const std::string& what);
  // Runs a statement that returns no rows (after binding); errors name `what`.
  Status StepDone(sqlite3_stmt* s, const std::string& what);
  // Runs sql, whose one parameter is id, and reads each row it returns with read(stmt).
  template <typename Row, typename Read>
  StatusOr<std::vector<Row>> SelectById(const char* sql, int64_t id, const std::string& what,
                                        Read read) {
    StatusOr<sqlite3_stmt*> s = Prepare(sql, what);
    if (!s.ok()) return s.status();
    ScopedStmt stmt(*s);
    Binder b(*s);
    b.Int(id);
    if (b.rc() != SQLITE_OK) return BindError(b, what);
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(*s)) == SQLITE_ROW) rows.push_back(read(*s));
    if (rc != SQLITE_DONE) return Error(rc, what);
    return rows;
  }
  // Runs sql (no parameters, no rows) through the cache.
  Status Exec(const char* sql, const std::string& what);
  // NotFound unless the last statement changed a row.
  Status ExpectChanged(const std::string& what) const {
    if (sqlite3_changes(db_) > 0) return Status::Ok();
    return NotFound(path_ + ": " + what + ": no such row");
  }
  // An error from the first read of the file, said as what the file is.
  Status Unreadable(const Status& st) const;
  Status ReadTrial(sqlite3_stmt* s, TrialRow* t) const;
  StatusOr<std::vector<TrialRow>> ReadTrials(sqlite3_stmt* s, const std::string& what);
  StatusOr<int> ReadSchemaVersion();  // 0 when the table is empty
  Status Migrate();

  const std::string path_;
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
  bool log_write_errors_ = false;  // set at the end of Init
  mutable int failures_ = 0;       // I/O-class errors since the last successful commit
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_STORE_SQLITE_STORAGE_H_
