// SQLite implementation of Storage (raw sqlite3 C API) and the fault-injecting wrapper.
//
// Every statement is prepared once and cached by its SQL text; each use binds, steps and resets it
// (a ScopedStmt does the reset and clears the bindings, so no bound pointer outlives a call).
// Every SQLite error becomes a Status whose message names the database path and SQLite's errmsg.
//
// Schema versions: the schema_version table holds one row; migrations kMigrations[i] takes the
// database from version i to i + 1 inside one BEGIN IMMEDIATE transaction, so a crash mid-way
// leaves the old version intact and two processes opening a new file do not both migrate it.
//
// REAL columns are nullable on purpose: SQLite stores a NaN as NULL (a diverged trial's loss is
// NaN), and NULL is read back as NaN, so a NaN round-trips instead of failing a NOT NULL check.
#include "coordinator/storage.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hpsweep {

const char* TrialStatusName(TrialStatus s) {
  switch (s) {
    case TrialStatus::kQueued: return "queued";
    case TrialStatus::kRunning: return "running";
    case TrialStatus::kCompleted: return "completed";
    case TrialStatus::kFailed: return "failed";
    case TrialStatus::kStopped: return "stopped";
    case TrialStatus::kPruned: return "pruned";
  }
  return "unknown";
}

bool ParseTrialStatus(const std::string& name, TrialStatus* out) {
  static const std::pair<const char*, TrialStatus> kNames[] = {
      {"queued", TrialStatus::kQueued},       {"running", TrialStatus::kRunning},
      {"completed", TrialStatus::kCompleted}, {"failed", TrialStatus::kFailed},
      {"stopped", TrialStatus::kStopped},     {"pruned", TrialStatus::kPruned},
  };
  for (const auto& [n, s] : kNames) {
    if (name == n) {
      *out = s;
      return true;
    }
  }
  return false;
}

namespace {

using json = nlohmann::json;

// The schema version this code writes. kMigrations[v] upgrades version v to v + 1.
constexpr int kSchemaVersion = 5;

// Tables without IF NOT EXISTS on purpose: a migration applied twice fails loudly. Migrations run
// with foreign keys off (SQLite's procedure for rebuilding a table that others reference).
const char* const kMigrations[kSchemaVersion] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE sweeps (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  file_name    TEXT NOT NULL DEFAULT '',
  yaml         TEXT NOT NULL DEFAULT '',
  state        TEXT NOT NULL DEFAULT 'running',
  metric       TEXT NOT NULL DEFAULT 'val_accuracy',
  maximize     INTEGER NOT NULL DEFAULT 1,
  max_attempts INTEGER NOT NULL DEFAULT 3,
  total        INTEGER NOT NULL DEFAULT 0,
  created_at   REAL,
  finished_at  REAL
);
CREATE TABLE trials (
  id                INTEGER PRIMARY KEY,
  sweep_id          INTEGER NOT NULL REFERENCES sweeps(id),
  number            INTEGER NOT NULL,
  params            TEXT NOT NULL DEFAULT '{}',
  status            TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_id          TEXT NOT NULL DEFAULT '',
  lease_deadline    REAL,
  worker_id         INTEGER NOT NULL DEFAULT 0,
  worker_name       TEXT NOT NULL DEFAULT '',
  created_at        REAL,
  started_at        REAL,
  finished_at       REAL,
  best_val_accuracy REAL,
  best_val_loss     REAL,
  best_epoch        INTEGER NOT NULL DEFAULT 0,
  epochs_run        INTEGER NOT NULL DEFAULT 0,
  test_accuracy     REAL,
  test_loss         REAL,
  seconds           REAL,
  error             TEXT NOT NULL DEFAULT '',
  confusion         TEXT NOT NULL DEFAULT '[]',
  UNIQUE (sweep_id, number)
);
CREATE INDEX trials_by_status ON trials(sweep_id, status);
CREATE INDEX trials_by_val_accuracy ON trials(sweep_id, best_val_accuracy);
CREATE TABLE epochs (
  trial_id       INTEGER NOT NULL REFERENCES trials(id),
  epoch          INTEGER NOT NULL,
  train_loss     REAL,
  train_accuracy REAL,
  val_loss       REAL,
  val_accuracy   REAL,
  seconds        REAL,
  recorded_at    REAL,
  PRIMARY KEY (trial_id, epoch)
);
CREATE TABLE workers (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  threads    INTEGER NOT NULL DEFAULT 0,
  first_seen REAL,
  last_seen  REAL
);
CREATE TABLE artifacts (
  trial_id   INTEGER NOT NULL REFERENCES trials(id),
  kind       TEXT NOT NULL,
  bytes      BLOB NOT NULL,
  created_at REAL,
  PRIMARY KEY (trial_id, kind)
);
)sql",
    // 1 -> 2: one row per lease of a trial (resuming trials: where each attempt started from).
    R"sql(
CREATE TABLE attempts (
  id                 INTEGER PRIMARY KEY,
  trial_id           INTEGER NOT NULL REFERENCES trials(id),
  attempt            INTEGER NOT NULL,
  worker_id          INTEGER NOT NULL DEFAULT 0,
  worker_name        TEXT NOT NULL DEFAULT '',
  started_at         REAL,
  ended_at           REAL,
  resumed_from_epoch INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attempts_by_trial ON attempts(trial_id);
)sql",
    // 2 -> 3: where each worker runs and what it did, for `hpsweep workers`.
    R"sql(
ALTER TABLE workers ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN trials_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN trials_failed INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3 -> 4: trial status 'pruned' (stopped early by the sweep's early_terminate). SQLite cannot
    // change a CHECK constraint in place: the table is rebuilt, same columns in the same order.
    R"sql(
CREATE TABLE trials_v2 (
  id                INTEGER PRIMARY KEY,
  sweep_id          INTEGER NOT NULL REFERENCES sweeps(id),
  number            INTEGER NOT NULL,
  params            TEXT NOT NULL DEFAULT '{}',
  status            TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped',
                                      'pruned')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_id          TEXT NOT NULL DEFAULT '',
  lease_deadline    REAL,
  worker_id         INTEGER NOT NULL DEFAULT 0,
  worker_name       TEXT NOT NULL DEFAULT '',
  created_at        REAL,
  started_at        REAL,
  finished_at       REAL,
  best_val_accuracy REAL,
  best_val_loss     REAL,
  best_epoch        INTEGER NOT NULL DEFAULT 0,
  epochs_run        INTEGER NOT NULL DEFAULT 0,
  test_accuracy     REAL,
  test_loss         REAL,
  seconds           REAL,
  error             TEXT NOT NULL DEFAULT '',
  confusion         TEXT NOT NULL DEFAULT '[]',
  UNIQUE (sweep_id, number)
);
INSERT INTO trials_v2 SELECT * FROM trials;
DROP TABLE trials;
ALTER TABLE trials_v2 RENAME TO trials;
CREATE INDEX trials_by_status ON trials(sweep_id, status);
CREATE INDEX trials_by_val_accuracy ON trials(sweep_id, best_val_accuracy);
)sql",
    // 4 -> 5: reusing finished identical trials (scheduler.h, "Reuse"): a sweep submitted with
    // reuse, and where a trial's copied result came from ("sweep 3 #2"; '' when it trained).
    R"sql(
ALTER TABLE sweeps ADD COLUMN reuse INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN reused_from TEXT NOT NULL DEFAULT '';
)sql",
};

// Tables an hpsweep database at kSchemaVersion must have.
const char* const kTables[] = {"schema_version", "sweeps",    "trials",  "epochs",
                               "workers",        "artifacts", "attempts"};

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

double ColumnReal(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(s, i);
}

// Text as stored, with any byte sequence that is not UTF-8 replaced by U+FFFD: an old database
// (or one edited by hand) may hold such bytes, and every reader after this (nlohmann::json's
// dump, protobuf string fields) refuses them.
std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (p == nullptr) return std::string();
  return ToValidUtf8(std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s, i)));
}

std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);  // after column_blob, as the docs require
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

// Maps an SQLite result code (primary or extended) to a status code.
StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB: return StatusCode::kInvalidArgument;
    case SQLITE_CORRUPT: return StatusCode::kDataLoss;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOLFS: return StatusCode::kIoError;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return StatusCode::kAlreadyExists;
      }
      return StatusCode::kInvalidArgument;  // a foreign key, NOT NULL or CHECK violation
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH: return StatusCode::kInvalidArgument;
    default: return StatusCode::kInternal;
  }
}

// Columns of trials, in the order ReadTrial expects them.
#define HPSWEEP_TRIAL_COLUMNS                                                             \
  "id, sweep_id, number, params, status, attempts, lease_id, lease_deadline, worker_id, " \
  "worker_name, created_at, started_at, finished_at, best_val_accuracy, best_val_loss, "  \
  "best_epoch, epochs_run, test_accuracy, test_loss, seconds, error, confusion, reused_from"

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
  Status UpdateSweepState(int64_t sweep_id, const std::string& state, double finished_at) override;
  StatusOr<int64_t> InsertTrial(const TrialRow& trial) override;
  Status UpdateTrial(const TrialRow& trial) override;
  Status PutEpoch(const EpochRow& epoch) override;
  Status DeleteEpochs(int64_t trial_id) override;
  StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) override;
  Status TouchWorker(int64_t worker_id, double now) override;
  Status AddWorkerTrials(int64_t worker_id, int done, int failed) override;
  Status PutArtifact(int64_t trial_id, const std::string& kind, const std::string& bytes) override;
  StatusOr<std::string> GetArtifact(int64_t trial_id, const std::string& kind) override;
  StatusOr<std::vector<SweepRow>> LoadSweeps() override;
  StatusOr<std::vector<TrialRow>> LoadTrials(int64_t sweep_id) override;
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
  Status Error(int rc, const std::string& what) const {
    std::string msg = path_ + ": " + what + ": " + sqlite3_errmsg(db_);
    const int primary = rc & 0xff;
    const bool io = primary == SQLITE_FULL || primary == SQLITE_IOERR ||
                    primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN ||
                    primary == SQLITE_PERM || primary == SQLITE_NOLFS;
    if (io) {
      const int e = sqlite3_system_errno(db_);
      if (e != 0) msg += std::string(" (") + std::strerror(e) + ")";
      // EFBIG reads as "disk I/O error" or "database or disk is full": name the likely cause.
      struct rlimit fsize;
      if ((primary == SQLITE_FULL || primary == SQLITE_IOERR) &&
          getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY) {
        msg += "; this process may not write files over " + std::to_string(fsize.rlim_cur) +
               " bytes (ulimit -f)";
      }
      if (failures_++ == 0 && log_write_errors_) {
        std::fprintf(stderr,
                     "hpsweep: storage: %s; nothing more can be stored until this is fixed "
                     "(what is already stored is kept)\n",
                     msg.c_str());
      }
    }
    return Status(CodeFor(rc), msg);
  }
  Status BindError(const Binder& b, const std::string& what) const {
    return Status(CodeFor(b.rc()), path_ + ": " + what + ": binding parameter " +
                                       std::to_string(b.index()) + ": " + sqlite3_errstr(b.rc()));
  }
  // The cached prepared statement for sql (prepared on first use).
  StatusOr<sqlite3_stmt*> Prepare(const char* sql, const std::string& what);
  // Runs a statement that returns no rows (after binding); errors name `what`.
  Status StepDone(sqlite3_stmt* s, const std::string& what);
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

StatusOr<sqlite3_stmt*> SqliteStorage::Prepare(const char* sql, const std::string& what) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    return Error(rc, what + ": preparing \"" + sql + "\"");
  }
  stmts_.emplace(sql, s);
  return s;
}

Status SqliteStorage::StepDone(sqlite3_stmt* s, const std::string& what) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return Status::Ok();
}

Status SqliteStorage::Exec(const char* sql, const std::string& what) {
  StatusOr<sqlite3_stmt*> s = Prepare(sql, what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  return StepDone(stmt.get(), what);
}

// Why a file's folder matters: SQLite keeps path-wal and path-shm beside the database.
std::string FolderNote(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (access(dir.c_str(), W_OK) == 0) return "";
  return "; its folder " + dir + " is not writable for this user, and SQLite needs to create " +
         path + "-wal and " + path + "-shm beside it";
}

Status SqliteStorage::Unreadable(const Status& st) const {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:  // SQLITE_NOTADB
      return InvalidArgument(path_ + ": not an SQLite file, not an hpsweep database (" +
                             st.message() + "); remove it or pick another --db");
    case StatusCode::kDataLoss:  // SQLITE_CORRUPT
      return DataLoss(path_ + ": a damaged SQLite database (" + st.message() +
                      "); restore it from a backup or pick another --db");
    case StatusCode::kIoError: return IoError(st.message() + FolderNote(path_));
    default: return st;
  }
}

StatusOr<int> SqliteStorage::ReadSchemaVersion() {
  StatusOr<sqlite3_stmt*> s =
      Prepare("SELECT count(*), max(version) FROM schema_version", "reading schema_version");
  if (!s.ok()) {
    if (s.status().code() != StatusCode::kInternal) return s.status();
    // SQLITE_ERROR here is "no such column": someone else's table of that name.
    return InvalidArgument(path_ + ": not an hpsweep database (unreadable schema_version: " +
                           s.status().message() + ")");
  }
  ScopedStmt stmt(*s);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return Error(rc, "reading schema_version");
  int64_t rows = sqlite3_column_int64(stmt.get(), 0);
  if (rows == 0) return 0;
  if (rows != 1 || sqlite3_column_type(stmt.get(), 1) != SQLITE_INTEGER) {
    return DataLoss(path_ + ": schema_version must hold one integer row, found " +
                    std::to_string(rows) + " rows");
  }
  return static_cast<int>(sqlite3_column_int64(stmt.get(), 1));
}

Status SqliteStorage::Init(const StorageOptions& options, bool creating) {
  sqlite3_extended_result_codes(db_, 1);
  // busy_timeout=5000 (the C API form of the pragma): wait out another connection's lock.
  int rc = sqlite3_busy_timeout(db_, 5000);
  if (rc != SQLITE_OK) return Error(rc, "setting busy_timeout");

  // Look before touching anything: switching a stranger's database to WAL would change its file.
  // This is also the first read, where a file that is not SQLite at all shows up (SQLITE_NOTADB).
  std::vector<std::string> tables;
  {
    StatusOr<sqlite3_stmt*> s = Prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name",
        "reading the schema");
    if (!s.ok()) return Unreadable(s.status());
    ScopedStmt stmt(*s);
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) tables.push_back(ColumnText(*s, 0));
    if (rc != SQLITE_DONE) return Unreadable(Error(rc, "reading the schema"));
  }
  if (tables.empty() && !creating) {
    return InvalidArgument(path_ +
                           ": an SQLite database with no tables, not an hpsweep database; "
                           "remove it or pick another --db");
  }
  if (!creating && sqlite3_db_readonly(db_, "main") == 1) {
    return IoError(path_ +
                   ": read-only for this user, and the coordinator must write its database; "
                   "change its permissions or pick another --db");
  }
  bool has_version = false;
  for (const std::string& t : tables) has_version |= (t == "schema_version");
  if (!tables.empty() && !has_version) {
    std::string list;
    for (const std::string& t : tables) list += (list.empty() ? "" : ", ") + t;
    return InvalidArgument(path_ + ": another program's SQLite database (tables " + list +
                           ", no schema_version), not an hpsweep database; pick another --db");
  }
  if (has_version) {
    StatusOr<int> version = ReadSchemaVersion();
    if (!version.ok()) return version.status();
    if (*version > kSchemaVersion) {
      return FailedPrecondition(path_ + ": schema version " + std::to_string(*version) +
                                " was written by a newer hpsweep (this one reads up to " +
                                std::to_string(kSchemaVersion) + ")");
    }
    if (*version == 0 && tables.size() > 1) {
      return InvalidArgument(path_ + ": not an hpsweep database (schema_version is empty but " +
                             "other tables exist)");
    }
  }

  if (path_ != ":memory:" && !path_.empty()) {
    StatusOr<sqlite3_stmt*> s = Prepare("PRAGMA journal_mode=WAL", "setting journal_mode=WAL");
    if (!s.ok()) return s.status();
    ScopedStmt stmt(*s);
    rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_ROW) return Unreadable(Error(rc, "setting journal_mode=WAL"));
    std::string mode = ColumnText(stmt.get(), 0);
    if (mode != "wal") {
      return IoError(path_ + ": could not switch to WAL journal mode (SQLite kept '" + mode +
                     "'; WAL needs a local file system with shared-memory support)");
    }
  }
  HPSWEEP_RETURN_IF_ERROR(
      Exec(options.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
           "setting synchronous"));
  // A checkpoint copies the WAL back into the database file inside a commit. Every 10,000 pages
  // (about 40 MB of WAL) rather than SQLite's 1,000: consecutive commits rewrite the same few
  // pages, so a longer interval copies each page once for many commits (+15-20% lease throughput
  // in bench/lease_bench.cc).
  HPSWEEP_RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=10000", "setting wal_autocheckpoint"));
  // Foreign keys go on after the migrations (see kMigrations).
  HPSWEEP_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=OFF", "setting foreign_keys"));
  HPSWEEP_RETURN_IF_ERROR(Migrate());
  HPSWEEP_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON", "setting foreign_keys"));
  // From now on a failure is news for the operator; before, it is the caller's refusal to open.
  log_write_errors_ = options.log_write_errors;
  failures_ = 0;
  return Status::Ok();
}

Status SqliteStorage::Migrate() {
  // IMMEDIATE: the write lock is taken now, so the version read below cannot go stale.
  HPSWEEP_RETURN_IF_ERROR(Begin());
  auto fail = [this](Status st) {
    Rollback();
    return st;
  };
  Status st = Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                   "creating schema_version");
  if (!st.ok()) return fail(st);
  StatusOr<int> version = ReadSchemaVersion();
  if (!version.ok()) return fail(version.status());
  if (*version > kSchemaVersion) {
    return fail(FailedPrecondition(path_ + ": schema version " + std::to_string(*version) +
                                   " was written by a newer hpsweep (this one reads up to " +
                                   std::to_string(kSchemaVersion) + ")"));
  }
  if (*version < kSchemaVersion) {
    for (int v = *version; v < kSchemaVersion; ++v) {
      char* err = nullptr;
      int rc = sqlite3_exec(db_, kMigrations[v], nullptr, nullptr, &err);
      if (rc != SQLITE_OK) {
        std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        return fail(Status(CodeFor(rc), path_ + ": migrating schema version " + std::to_string(v) +
                                            " to " + std::to_string(v + 1) + ": " + msg));
      }
    }
    st = Exec("DELETE FROM schema_version", "writing schema_version");
    if (!st.ok()) return fail(st);
    StatusOr<sqlite3_stmt*> s =
        Prepare("INSERT INTO schema_version (version) VALUES (?)", "writing schema_version");
    if (!s.ok()) return fail(s.status());
    ScopedStmt stmt(*s);
    sqlite3_bind_int(stmt.get(), 1, kSchemaVersion);
    st = StepDone(stmt.get(), "writing schema_version");
    if (!st.ok()) return fail(st);
  }
  // A database that claims the current version must have every table.
  {
    StatusOr<sqlite3_stmt*> s =
        Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", "checking tables");
    if (!s.ok()) return fail(s.status());
    for (const char* table : kTables) {
      ScopedStmt stmt(*s);
      sqlite3_bind_text(stmt.get(), 1, table, -1, SQLITE_STATIC);
      int rc = sqlite3_step(stmt.get());
      if (rc == SQLITE_DONE) {
        return fail(InvalidArgument(path_ + ": not an hpsweep database (schema version " +
                                    std::to_string(*version) + " but no table " + table + ")"));
      }
      if (rc != SQLITE_ROW) return fail(Error(rc, "checking tables"));
    }
  }
  return Commit();
}

// ---- Writes ----

StatusOr<int64_t> SqliteStorage::InsertSweep(const SweepRow& r) {
  const std::string what = "inserting sweep '" + r.name + "'";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT INTO sweeps (id, name, description, file_name, yaml, state, metric, maximize, "
      "max_attempts, total, created_at, finished_at, reuse) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.IdOrNull(r.id).Text(r.name).Text(r.description).Text(r.file_name).Text(r.yaml).Text(r.state);
  b.Text(r.metric).Int(r.maximize ? 1 : 0).Int(r.max_attempts).Int(r.total).Real(r.created_at);
  b.Real(r.finished_at).Int(r.reuse ? 1 : 0);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status SqliteStorage::UpdateSweepState(int64_t sweep_id, const std::string& state,
                                       double finished_at) {
  const std::string what = "updating sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s =
      Prepare("UPDATE sweeps SET state = ?, finished_at = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(state).Real(finished_at).Int(sweep_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

// JSON text of a trial's params and confusion matrix. json::dump throws on invalid UTF-8.
Status TrialJson(const TrialRow& t, std::string* params, std::string* confusion) {
  try {
    json p = json::object();
    for (const auto& [k, v] : t.params) p[k] = v;
    *params = p.dump();
    *confusion = json(t.confusion).dump();
  } catch (const json::exception& e) {
    return InvalidArgument("trial " + std::to_string(t.number) +
                           ": params are not valid UTF-8: " + e.what());
  }
  return Status::Ok();
}

StatusOr<int64_t> SqliteStorage::InsertTrial(const TrialRow& r) {
  const std::string what =
      "inserting trial " + std::to_string(r.number) + " of sweep " + std::to_string(r.sweep_id);
  std::string params, confusion;
  Status st = TrialJson(r, &params, &confusion);
  if (!st.ok()) return Status(st.code(), path_ + ": " + what + ": " + st.message());
  StatusOr<sqlite3_stmt*> s = Prepare("INSERT INTO trials (" HPSWEEP_TRIAL_COLUMNS
                                      ") "
                                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.IdOrNull(r.id).Int(r.sweep_id).Int(r.number).Text(params).Text(TrialStatusName(r.status));
  b.Int(r.attempts).Text(r.lease_id).Real(r.lease_deadline).Int(r.worker_id).Text(r.worker_name);
  b.Real(r.created_at).Real(r.started_at).Real(r.finished_at).Real(r.best_val_accuracy);
  b.Real(r.best_val_loss).Int(r.best_epoch).Int(r.epochs_run).Real(r.test_accuracy);
  b.Real(r.test_loss).Real(r.seconds).Text(r.error).Text(confusion).Text(r.reused_from);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

// Mutable: everything but id, sweep_id, number, params and created_at (a trial's identity and
// birth). Params are not rewritten: they never change, and serialising them on every lease and
// report was a third of the cost of an update.
Status SqliteStorage::UpdateTrial(const TrialRow& r) {
  const std::string what = "updating trial " + std::to_string(r.id);
  const std::string confusion = r.confusion.empty() ? "[]" : json(r.confusion).dump();
  StatusOr<sqlite3_stmt*> s = Prepare(
      "UPDATE trials SET status = ?, attempts = ?, lease_id = ?, lease_deadline = ?, "
      "worker_id = ?, worker_name = ?, started_at = ?, finished_at = ?, best_val_accuracy = ?, "
      "best_val_loss = ?, best_epoch = ?, epochs_run = ?, test_accuracy = ?, test_loss = ?, "
      "seconds = ?, error = ?, confusion = ?, reused_from = ? WHERE id = ?",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(TrialStatusName(r.status)).Int(r.attempts).Text(r.lease_id);
  b.Real(r.lease_deadline).Int(r.worker_id).Text(r.worker_name).Real(r.started_at);
  b.Real(r.finished_at).Real(r.best_val_accuracy).Real(r.best_val_loss).Int(r.best_epoch);
  b.Int(r.epochs_run).Real(r.test_accuracy).Real(r.test_loss).Real(r.seconds).Text(r.error);
  b.Text(confusion).Text(r.reused_from).Int(r.id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

Status SqliteStorage::PutEpoch(const EpochRow& r) {
  const std::string what =
      "writing epoch " + std::to_string(r.epoch) + " of trial " + std::to_string(r.trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT OR REPLACE INTO epochs (trial_id, epoch, train_loss, train_accuracy, val_loss, "
      "val_accuracy, seconds, recorded_at) VALUES (?,?,?,?,?,?,?,?)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(r.trial_id).Int(r.epoch).Real(r.train_loss).Real(r.train_accuracy).Real(r.val_loss);
  b.Real(r.val_accuracy).Real(r.seconds).Real(r.recorded_at);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

Status SqliteStorage::DeleteEpochs(int64_t trial_id) {
  const std::string what = "deleting the epochs of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare("DELETE FROM epochs WHERE trial_id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

// ---- Attempts and resumed trials ----

Status SqliteStorage::DeleteEpochsAfter(int64_t trial_id, int epoch) {
  const std::string what = "deleting the epochs after " + std::to_string(epoch) + " of trial " +
                           std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare("DELETE FROM epochs WHERE trial_id = ? AND epoch > ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id).Int(epoch);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

Status SqliteStorage::InsertAttempt(const AttemptRow& r) {
  const std::string what =
      "writing attempt " + std::to_string(r.attempt) + " of trial " + std::to_string(r.trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT INTO attempts (trial_id, attempt, worker_id, worker_name, started_at, ended_at, "
      "resumed_from_epoch) VALUES (?,?,?,?,?,?,?)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(r.trial_id).Int(r.attempt).Int(r.worker_id).Text(r.worker_name).Real(r.started_at);
  b.Real(r.ended_at).Int(r.resumed_from_epoch);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

Status SqliteStorage::EndAttempt(int64_t trial_id, double ended_at) {
  const std::string what = "ending the attempt of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "UPDATE attempts SET ended_at = ? WHERE trial_id = ? AND (ended_at IS NULL OR ended_at = 0)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Real(ended_at).Int(trial_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);  // (no open attempt: nothing to end, not an error)
}

StatusOr<std::vector<AttemptRow>> SqliteStorage::LoadAttempts(int64_t trial_id) {
  const std::string what = "loading the attempts of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT trial_id, attempt, worker_id, worker_name, started_at, ended_at, "
      "resumed_from_epoch FROM attempts WHERE trial_id = ? ORDER BY id",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  std::vector<AttemptRow> rows;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    AttemptRow r;
    r.trial_id = sqlite3_column_int64(*s, 0);
    r.attempt = sqlite3_column_int(*s, 1);
    r.worker_id = sqlite3_column_int64(*s, 2);
    r.worker_name = ToValidUtf8(ColumnText(*s, 3));
    r.started_at = ColumnReal(*s, 4);
    r.ended_at = ColumnReal(*s, 5);
    if (std::isnan(r.ended_at)) r.ended_at = 0;
    r.resumed_from_epoch = sqlite3_column_int(*s, 6);
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return rows;
}

StatusOr<WorkerRow> SqliteStorage::UpsertWorker(const WorkerRow& w, double now) {
  const std::string what = "registering worker '" + w.name + "'";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT INTO workers (name, threads, first_seen, last_seen, host, job_id) "
      "VALUES (?,?,?,?,?,?) "
      "ON CONFLICT (name) DO UPDATE SET threads = excluded.threads, last_seen = "
      "excluded.last_seen, "
      "host = excluded.host, job_id = excluded.job_id "
      "RETURNING id, first_seen, trials_done, trials_failed",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(w.name).Int(w.threads).Real(now).Real(now).Text(w.host).Text(w.job_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  int rc = sqlite3_step(*s);
  if (rc != SQLITE_ROW) return Error(rc, what);
  WorkerRow row = w;
  row.id = sqlite3_column_int64(*s, 0);
  row.first_seen = ColumnReal(*s, 1);
  row.last_seen = now;
  row.trials_done = sqlite3_column_int(*s, 2);
  row.trials_failed = sqlite3_column_int(*s, 3);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));  // RETURNING: run to completion
  return row;
}

Status SqliteStorage::TouchWorker(int64_t worker_id, double now) {
  const std::string what = "touching worker " + std::to_string(worker_id);
  StatusOr<sqlite3_stmt*> s = Prepare("UPDATE workers SET last_seen = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Real(now).Int(worker_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

Status SqliteStorage::AddWorkerTrials(int64_t worker_id, int done, int failed) {
  const std::string what = "counting the trials of worker " + std::to_string(worker_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "UPDATE workers SET trials_done = trials_done + ?, trials_failed = trials_failed + ? "
      "WHERE id = ?",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(done).Int(failed).Int(worker_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

Status SqliteStorage::PutArtifact(int64_t trial_id, const std::string& kind,
                                  const std::string& bytes) {
  const std::string what = "writing artifact '" + kind + "' of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT OR REPLACE INTO artifacts (trial_id, kind, bytes, created_at) "
      "VALUES (?, ?, ?, (julianday('now') - 2440587.5) * 86400.0)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id).Text(kind).Blob(bytes);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return StepDone(*s, what);
}

// ---- Reads ----

StatusOr<std::string> SqliteStorage::GetArtifact(int64_t trial_id, const std::string& kind) {
  const std::string what = "reading artifact '" + kind + "' of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s =
      Prepare("SELECT bytes FROM artifacts WHERE trial_id = ? AND kind = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id).Text(kind);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  int rc = sqlite3_step(*s);
  if (rc == SQLITE_DONE) {
    return NotFound(path_ + ": no artifact '" + kind + "' for trial " + std::to_string(trial_id));
  }
  if (rc != SQLITE_ROW) return Error(rc, what);
  return ColumnBlob(*s, 0);
}

StatusOr<std::vector<SweepRow>> SqliteStorage::LoadSweeps() {
  const std::string what = "loading sweeps";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT id, name, description, file_name, yaml, state, metric, maximize, max_attempts, "
      "total, created_at, finished_at, reuse FROM sweeps ORDER BY id",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  std::vector<SweepRow> rows;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    SweepRow r;
    r.id = sqlite3_column_int64(*s, 0);
    r.name = ColumnText(*s, 1);
    r.description = ColumnText(*s, 2);
    r.file_name = ColumnText(*s, 3);
    r.yaml = ColumnText(*s, 4);
    r.state = ColumnText(*s, 5);
    r.metric = ColumnText(*s, 6);
    r.maximize = sqlite3_column_int64(*s, 7) != 0;
    r.max_attempts = sqlite3_column_int(*s, 8);
    r.total = sqlite3_column_int(*s, 9);
    r.created_at = ColumnReal(*s, 10);
    r.finished_at = ColumnReal(*s, 11);
    r.reuse = sqlite3_column_int64(*s, 12) != 0;
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return rows;
}

Status SqliteStorage::ReadTrial(sqlite3_stmt* s, TrialRow* t) const {
  t->id = sqlite3_column_int64(s, 0);
  t->sweep_id = sqlite3_column_int64(s, 1);
  t->number = sqlite3_column_int(s, 2);
  const std::string where = path_ + ": trial " + std::to_string(t->id);
  std::string params = ColumnText(s, 3);
  std::string status = ColumnText(s, 4);
  if (!ParseTrialStatus(status, &t->status)) {
    return DataLoss(where + ": unknown status '" + status + "'");
  }
  t->attempts = sqlite3_column_int(s, 5);
  t->lease_id = ColumnText(s, 6);
  t->lease_deadline = ColumnReal(s, 7);
  t->worker_id = sqlite3_column_int64(s, 8);
  t->worker_name = ColumnText(s, 9);
  t->created_at = ColumnReal(s, 10);
  t->started_at = ColumnReal(s, 11);
  t->finished_at = ColumnReal(s, 12);
  t->best_val_accuracy = ColumnReal(s, 13);
  t->best_val_loss = ColumnReal(s, 14);
  t->best_epoch = sqlite3_column_int(s, 15);
  t->epochs_run = sqlite3_column_int(s, 16);
  t->test_accuracy = ColumnReal(s, 17);
  t->test_loss = ColumnReal(s, 18);
  t->seconds = ColumnReal(s, 19);
  t->error = ColumnText(s, 20);
  std::string confusion = ColumnText(s, 21);
  t->reused_from = ColumnText(s, 22);
  try {
    json p = json::parse(params);
    if (!p.is_object()) return DataLoss(where + ": params is not a JSON object: " + params);
    t->params.clear();
    for (const auto& [k, v] : p.items())
      t->params[k] = v.is_string() ? v.get<std::string>() : v.dump();
  } catch (const json::exception& e) {
    return DataLoss(where + ": params is not valid JSON: " + e.what());
  }
  try {
    t->confusion = json::parse(confusion).get<std::vector<int64_t>>();
  } catch (const json::exception& e) {
    return DataLoss(where + ": confusion is not a JSON array of integers: " + e.what());
  }
  return Status::Ok();
}

StatusOr<std::vector<TrialRow>> SqliteStorage::ReadTrials(sqlite3_stmt* s,
                                                          const std::string& what) {
  std::vector<TrialRow> rows;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    TrialRow t;
    HPSWEEP_RETURN_IF_ERROR(ReadTrial(s, &t));
    rows.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return rows;
}

StatusOr<std::vector<TrialRow>> SqliteStorage::LoadTrials(int64_t sweep_id) {
  const std::string what = "loading the trials of sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s =
      sweep_id == 0
          ? Prepare("SELECT " HPSWEEP_TRIAL_COLUMNS " FROM trials ORDER BY sweep_id, number", what)
          : Prepare("SELECT " HPSWEEP_TRIAL_COLUMNS
                    " FROM trials WHERE sweep_id = ? ORDER BY number",
                    what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  if (sweep_id != 0) {
    Binder b(*s);
    b.Int(sweep_id);
    if (b.rc() != SQLITE_OK) return BindError(b, what);
  }
  return ReadTrials(*s, what);
}

StatusOr<std::vector<EpochRow>> SqliteStorage::LoadEpochs(int64_t trial_id) {
  const std::string what = "loading the epochs of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT trial_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds, "
      "recorded_at FROM epochs WHERE trial_id = ? ORDER BY epoch",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(trial_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  std::vector<EpochRow> rows;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    EpochRow r;
    r.trial_id = sqlite3_column_int64(*s, 0);
    r.epoch = sqlite3_column_int(*s, 1);
    r.train_loss = ColumnReal(*s, 2);
    r.train_accuracy = ColumnReal(*s, 3);
    r.val_loss = ColumnReal(*s, 4);
    r.val_accuracy = ColumnReal(*s, 5);
    r.seconds = ColumnReal(*s, 6);
    r.recorded_at = ColumnReal(*s, 7);
    rows.push_back(r);
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return rows;
}

StatusOr<std::vector<WorkerRow>> SqliteStorage::LoadWorkers() {
  const std::string what = "loading workers";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT id, name, threads, first_seen, last_seen, host, job_id, trials_done, "
      "trials_failed FROM workers ORDER BY id",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  std::vector<WorkerRow> rows;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    WorkerRow r;
    r.id = sqlite3_column_int64(*s, 0);
    r.name = ColumnText(*s, 1);
    r.threads = sqlite3_column_int(*s, 2);
    r.first_seen = ColumnReal(*s, 3);
    r.last_seen = ColumnReal(*s, 4);
    r.host = ColumnText(*s, 5);
    r.job_id = ColumnText(*s, 6);
    r.trials_done = sqlite3_column_int(*s, 7);
    r.trials_failed = sqlite3_column_int(*s, 8);
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return rows;
}

// The metric picks the column (val_accuracy, val_loss, test_accuracy, test_loss) and maximize the
// direction; -1 (and NULL, a NaN) mean "not measured" and are left out. Each (column, direction)
// is its own cached statement; LIMIT is bound (-1: no limit).
StatusOr<std::vector<TrialRow>> SqliteStorage::Leaderboard(int64_t sweep_id,
                                                           const std::string& metric, bool maximize,
                                                           int top) {
#define HPSWEEP_LEADERBOARD(column, dir)                                        \
  "SELECT " HPSWEEP_TRIAL_COLUMNS " FROM trials WHERE sweep_id = ? AND " column \
  " >= 0 "                                                                      \
  "ORDER BY " column " " dir ", number ASC LIMIT ?"
  struct Query {
    const char* metric;
    const char* max_sql;
    const char* min_sql;
  };
  static const Query kQueries[] = {
      {"val_accuracy", HPSWEEP_LEADERBOARD("best_val_accuracy", "DESC"),
       HPSWEEP_LEADERBOARD("best_val_accuracy", "ASC")},
      {"val_loss", HPSWEEP_LEADERBOARD("best_val_loss", "DESC"),
       HPSWEEP_LEADERBOARD("best_val_loss", "ASC")},
      {"test_accuracy", HPSWEEP_LEADERBOARD("test_accuracy", "DESC"),
       HPSWEEP_LEADERBOARD("test_accuracy", "ASC")},
      {"test_loss", HPSWEEP_LEADERBOARD("test_loss", "DESC"),
       HPSWEEP_LEADERBOARD("test_loss", "ASC")},
  };
#undef HPSWEEP_LEADERBOARD
  const char* sql = nullptr;
  for (const Query& q : kQueries) {
    if (metric == q.metric) sql = maximize ? q.max_sql : q.min_sql;
  }
  if (sql == nullptr) {
    return InvalidArgument(path_ + ": leaderboard: unknown metric '" + metric +
                           "' (val_accuracy, val_loss, test_accuracy or test_loss)");
  }
  const std::string what = "leaderboard of sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s = Prepare(sql, what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(sweep_id).Int(top > 0 ? top : -1);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return ReadTrials(*s, what);
}

StatusOr<std::string> SqliteStorage::IntegrityCheck() {
  const std::string what = "integrity check";
  StatusOr<sqlite3_stmt*> s = Prepare("PRAGMA integrity_check", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  std::string report;
  int rc;
  while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
    if (!report.empty()) report += '\n';
    report += ColumnText(*s, 0);
  }
  if (rc != SQLITE_DONE) return Error(rc, what);
  return report;
}

#undef HPSWEEP_TRIAL_COLUMNS

}  // namespace

namespace {

const char kRemoveHint[] = "; remove it or pick another --db";
const char kRestoreHint[] = "; restore it from a backup or pick another --db";

uint32_t BigEndian(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

// " (beside it, path-wal holds N bytes ...)" when a non-empty write-ahead log is there.
std::string WalNote(const std::string& path) {
  struct stat st;
  if (stat((path + "-wal").c_str(), &st) != 0 || st.st_size == 0) return "";
  return " (beside it, " + path + "-wal holds " + std::to_string(st.st_size) +
         " bytes: recent writes of the database that was there; keep both files to recover it)";
}

// What an existing file is, read before SQLite touches it (SQLite takes an empty or short file
// for a new database and writes a schema into it). Ok: it looks like an SQLite database.
Status CheckExistingFile(const std::string& path, const struct stat& st) {
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(path + ": a folder, not an hpsweep database; pick another --db");
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + ": not a regular file, not an hpsweep database" + kRemoveHint);
  }
  const int64_t size = st.st_size;
  if (size == 0) {
    return InvalidArgument(path + ": an empty file, not an hpsweep database" + WalNote(path) +
                           kRemoveHint);
  }
  std::string head(100, '\0');
  {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError(path + ": cannot read: " + std::strerror(errno));
    const ssize_t n = pread(fd, &head[0], head.size(), 0);
    const int e = errno;
    close(fd);
    if (n < 0) return IoError(path + ": cannot read: " + std::strerror(e));
    head.resize(static_cast<size_t>(n));
  }
  static const char kMagic[] = "SQLite format 3";  // and its '\0': 16 bytes
  if (head.size() < sizeof(kMagic) || head.compare(0, sizeof(kMagic), kMagic, sizeof(kMagic))) {
    return InvalidArgument(path + ": not an SQLite file (" + std::to_string(size) +
                           " bytes), not an hpsweep database" + kRemoveHint);
  }
  const std::string damaged = path + ": a damaged SQLite database: ";
  if (size < 100) {
    return DataLoss(damaged + "truncated to " + std::to_string(size) +
                    " bytes, shorter than its 100-byte header" + WalNote(path) + kRestoreHint);
  }
  uint32_t page = BigEndian(head, 16, 2);
  if (page == 1) page = 65536;
  if (page < 512 || (page & (page - 1)) != 0) {
    return DataLoss(damaged + "its header names a page size of " + std::to_string(page) + " bytes" +
                    kRestoreHint);
  }
  if (size % page != 0) {
    return DataLoss(damaged + std::to_string(size) + " bytes is not a whole number of its " +
                    std::to_string(page) + "-byte pages (truncated?)" + WalNote(path) +
                    kRestoreHint);
  }
  // The page count in the header is valid when its change counter matches (SQLite 3.7.0+).
  // Not checked while a WAL is there: a checkpoint cut short writes page 1 (and its count)
  // before the pages after it, and SQLite completes it from the WAL.
  const uint32_t pages = BigEndian(head, 28, 4);
  if (pages > 0 && BigEndian(head, 24, 4) == BigEndian(head, 92, 4) &&
      size < static_cast<int64_t>(pages) * page && WalNote(path).empty()) {
    return DataLoss(damaged + "truncated to " + std::to_string(size) + " bytes, its header says " +
                    std::to_string(pages) + " pages of " + std::to_string(page) + " bytes" +
                    WalNote(path) + kRestoreHint);
  }
  return Status::Ok();
}

// Opens file (messages name `path`) and runs Init.
StatusOr<std::unique_ptr<SqliteStorage>> OpenFile(const std::string& path, const std::string& file,
                                                  const StorageOptions& options, bool creating) {
  sqlite3* db = nullptr;
  // NOMUTEX: the caller serialises every call (see storage.h), so SQLite's own mutex is waste.
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (creating ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(CodeFor(rc), path + (creating ? ": cannot create: " : ": cannot open: ") + msg +
                                   FolderNote(path));
  }
  auto storage = std::make_unique<SqliteStorage>(path, db);
  HPSWEEP_RETURN_IF_ERROR(storage->Init(options, creating));
  return storage;
}

void RemoveWithSideFiles(const std::string& file) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) unlink((file + suffix).c_str());
}

// A new database at path, which does not exist: made complete under a temporary name, closed
// (which checkpoints and removes its -wal), then hard-linked into place. link() fails if path
// appeared meanwhile, so two processes creating the same path both end up opening one database,
// and a crash leaves either nothing at path or a whole database, never an empty file.
Status CreateDatabase(const std::string& path, const StorageOptions& options) {
  const std::string tmp = path + ".new." + std::to_string(getpid());
  RemoveWithSideFiles(tmp);
  {
    auto made = OpenFile(path, tmp, options, /*creating=*/true);
    if (!made.ok()) {
      RemoveWithSideFiles(tmp);
      return made.status();
    }
  }
  struct stat st;
  if (stat((tmp + "-wal").c_str(), &st) == 0 && st.st_size > 0) {
    RemoveWithSideFiles(tmp);
    return IoError(path +
                   ": cannot create: SQLite left the write-ahead log of the new database "
                   "behind on close");
  }
  if (link(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    RemoveWithSideFiles(tmp);
    if (e == EEXIST) return Status::Ok();  // another process made it first: open theirs
    return IoError(path + ": cannot create: " + std::strerror(e));
  }
  RemoveWithSideFiles(tmp);
  // The new name must survive a power loss as the commits after it will.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path,
                                                     const StorageOptions& options) {
  if (path.empty() || path == ":memory:") {
    auto memory = OpenFile(":memory:", ":memory:", options, /*creating=*/true);
    if (!memory.ok()) return memory.status();
    return std::unique_ptr<Storage>(std::move(*memory));
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return IoError(path + ": cannot open: " + std::strerror(errno));
    // A log without its database: starting afresh would throw those writes away.
    struct stat wal;
    if (stat((path + "-wal").c_str(), &wal) == 0 && wal.st_size > 0) {
      return FailedPrecondition(path + ": no such file, but " + path + "-wal (" +
                                std::to_string(wal.st_size) +
                                " bytes) is there: the write-ahead log of a database that was "
                                "moved or deleted; restore " +
                                path + ", or remove " + path + "-wal to start a new database");
    }
    HPSWEEP_RETURN_IF_ERROR(CreateDatabase(path, options));
    if (stat(path.c_str(), &st) != 0) {
      return IoError(path + ": cannot open the new database: " + std::strerror(errno));
    }
  }
  HPSWEEP_RETURN_IF_ERROR(CheckExistingFile(path, st));
  auto storage = OpenFile(path, path, options, /*creating=*/false);
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<Storage>(std::move(*storage));
}

// ---- FaultInjectingStorage ----

FaultInjectingStorage::FaultInjectingStorage(std::unique_ptr<Storage> inner)
    : inner_(std::move(inner)) {}

void FaultInjectingStorage::FailAfter(int n) { fail_after_ = calls_ + (n < 0 ? 0 : n); }
void FaultInjectingStorage::FailCommits(bool fail) { fail_commits_ = fail; }
void FaultInjectingStorage::Heal() {
  fail_after_ = -1;
  fail_commits_ = false;
}

Status FaultInjectingStorage::Check() {
  ++calls_;
  if (fail_after_ >= 0 && calls_ > fail_after_) {
    return IoError("injected fault (call " + std::to_string(calls_) + ", failing after " +
                   std::to_string(fail_after_) + ")");
  }
  return Status::Ok();
}

Status FaultInjectingStorage::Begin() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->Begin();
}

// A failed commit rolls back, as SqliteStorage's does.
Status FaultInjectingStorage::Commit() {
  Status st = Check();
  if (st.ok() && fail_commits_) st = IoError("injected commit fault (rolled back)");
  if (!st.ok()) {
    inner_->Rollback();
    return st;
  }
  return inner_->Commit();
}

// Not counted and never failed: a caller must always be able to clean up.
void FaultInjectingStorage::Rollback() { inner_->Rollback(); }

StatusOr<int64_t> FaultInjectingStorage::InsertSweep(const SweepRow& sweep) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertSweep(sweep);
}
Status FaultInjectingStorage::UpdateSweepState(int64_t sweep_id, const std::string& state,
                                               double finished_at) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpdateSweepState(sweep_id, state, finished_at);
}
StatusOr<int64_t> FaultInjectingStorage::InsertTrial(const TrialRow& trial) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertTrial(trial);
}
Status FaultInjectingStorage::UpdateTrial(const TrialRow& trial) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpdateTrial(trial);
}
Status FaultInjectingStorage::PutEpoch(const EpochRow& epoch) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->PutEpoch(epoch);
}
Status FaultInjectingStorage::DeleteEpochs(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->DeleteEpochs(trial_id);
}
StatusOr<WorkerRow> FaultInjectingStorage::UpsertWorker(const WorkerRow& worker, double now) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpsertWorker(worker, now);
}
Status FaultInjectingStorage::AddWorkerTrials(int64_t worker_id, int done, int failed) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->AddWorkerTrials(worker_id, done, failed);
}
Status FaultInjectingStorage::TouchWorker(int64_t worker_id, double now) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->TouchWorker(worker_id, now);
}
Status FaultInjectingStorage::PutArtifact(int64_t trial_id, const std::string& kind,
                                          const std::string& bytes) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->PutArtifact(trial_id, kind, bytes);
}
StatusOr<std::string> FaultInjectingStorage::GetArtifact(int64_t trial_id,
                                                         const std::string& kind) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->GetArtifact(trial_id, kind);
}
StatusOr<std::vector<SweepRow>> FaultInjectingStorage::LoadSweeps() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadSweeps();
}
StatusOr<std::vector<TrialRow>> FaultInjectingStorage::LoadTrials(int64_t sweep_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadTrials(sweep_id);
}
StatusOr<std::vector<EpochRow>> FaultInjectingStorage::LoadEpochs(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadEpochs(trial_id);
}
StatusOr<std::vector<WorkerRow>> FaultInjectingStorage::LoadWorkers() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadWorkers();
}
StatusOr<std::vector<TrialRow>> FaultInjectingStorage::Leaderboard(int64_t sweep_id,
                                                                   const std::string& metric,
                                                                   bool maximize, int top) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->Leaderboard(sweep_id, metric, maximize, top);
}
StatusOr<std::string> FaultInjectingStorage::IntegrityCheck() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->IntegrityCheck();
}

Status FaultInjectingStorage::DeleteEpochsAfter(int64_t trial_id, int epoch) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->DeleteEpochsAfter(trial_id, epoch);
}
Status FaultInjectingStorage::InsertAttempt(const AttemptRow& attempt) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertAttempt(attempt);
}
Status FaultInjectingStorage::EndAttempt(int64_t trial_id, double ended_at) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->EndAttempt(trial_id, ended_at);
}
StatusOr<std::vector<AttemptRow>> FaultInjectingStorage::LoadAttempts(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadAttempts(trial_id);
}

}  // namespace hpsweep
