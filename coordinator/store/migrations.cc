// SqliteStorage's schema and how a database gets it (coordinator/store/sqlite_storage.h): Init's
// pragmas, the check that a file is an hpsweep database, and the migrations.
//
// Schema versions: the schema_version table holds one row; migrations kMigrations[i] takes the
// database from version i to i + 1 inside one BEGIN IMMEDIATE transaction, so a crash mid-way
// leaves the old version intact and two processes opening a new file do not both migrate it.
//
// REAL columns are nullable on purpose: SQLite stores a NaN as NULL (a diverged trial's loss is
// NaN), and NULL is read back as NaN, so a NaN round-trips instead of failing a NOT NULL check.
#include <string>
#include <vector>

#include "coordinator/store/sqlite_storage.h"

namespace hpsweep {

namespace {

// The schema version this code writes. kMigrations[v] upgrades version v to v + 1.
constexpr int kSchemaVersion = 11;

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
    // 5 -> 6: sweeps of the user's own program (docs/programs.md): the program's name and time
    // limit, a trial's value of a named metric and its final metrics, an epoch's named metrics.
    R"sql(
ALTER TABLE sweeps ADD COLUMN program TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN max_trial_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN seed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN metric_value REAL;
ALTER TABLE trials ADD COLUMN final_metrics TEXT NOT NULL DEFAULT '{}';
ALTER TABLE epochs ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workers ADD COLUMN programs TEXT NOT NULL DEFAULT '';
CREATE INDEX trials_by_metric_value ON trials(sweep_id, metric_value);
)sql",
    // 6 -> 7: each epoch's learning rate (NULL: not known), and which epoch a trial's test metrics
    // and model come from (keep: best or last) and where early stopping ended it. Every engine
    // trial tested before this version tested its last epoch: its weights_epoch says so.
    R"sql(
ALTER TABLE epochs ADD COLUMN lr REAL;
ALTER TABLE trials ADD COLUMN weights_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN stopped_epoch INTEGER NOT NULL DEFAULT 0;
UPDATE trials SET weights_epoch = epochs_run
  WHERE test_accuracy >= 0 AND sweep_id IN (SELECT id FROM sweeps WHERE program = '');
)sql",
    // 7 -> 8: whether a worker's CPU runs bf16 products (precision: bf16 trials go only there).
    R"sql(
ALTER TABLE workers ADD COLUMN bf16 INTEGER NOT NULL DEFAULT 0;
)sql",
    // 8 -> 9: quarantined workers (their last error and when; the fingerprint a new binary or
    // data changes, which lifts it) and each sweep's quarantine_after (-1: the coordinator's).
    R"sql(
ALTER TABLE workers ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN quarantine TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN quarantined_at REAL NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN quarantine_after INTEGER NOT NULL DEFAULT -1;
)sql",
    // 9 -> 10: a sweep's max_trials as `hpsweep extend` raised it (0: the file's).
    R"sql(
ALTER TABLE sweeps ADD COLUMN max_trials INTEGER NOT NULL DEFAULT 0;
)sql",
    // 10 -> 11: population-based training: a member's schedule and lineage (JSON, '' while its
    // params never changed) and the epoch after which a pbt sweep's population last decided.
    R"sql(
ALTER TABLE trials ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN pbt_epoch INTEGER NOT NULL DEFAULT 0;
)sql",
};

// Tables an hpsweep database at kSchemaVersion must have.
const char* const kTables[] = {"schema_version", "sweeps",    "trials",  "epochs",
                               "workers",        "artifacts", "attempts"};

}  // namespace

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
  // hpsweep makes no trigger and no view. One found here was put there by someone else, and its
  // code would run inside the coordinator on every write (a recursive trigger spins it).
  {
    StatusOr<sqlite3_stmt*> s = Prepare(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name",
        "reading the schema");
    if (!s.ok()) return Unreadable(s.status());
    ScopedStmt stmt(*s);
    std::string found;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      found += (found.empty() ? "" : ", ") + ColumnText(*s, 0) + " '" +
               EscapeText(ColumnText(*s, 1)).substr(0, 64) + "'";
    }
    if (rc != SQLITE_DONE) return Unreadable(Error(rc, "reading the schema"));
    if (!found.empty()) {
      return InvalidArgument(path_ + ": holds " + found +
                             ", which hpsweep never makes; refusing to run another program's "
                             "code in the coordinator (remove them, or pick another --db)");
    }
  }
  if (tables.empty() && !creating) {
    return InvalidArgument(path_ +
                           ": an SQLite database with no tables, not an hpsweep database; "
                           "remove it or pick another --db");
  }
  if (!creating && !options.read_only && sqlite3_db_readonly(db_, "main") == 1) {
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
  if (options.read_only) {
    // Read as it is: no WAL switch, no migration, nothing written (the journal mode is the
    // file's, WAL for every hpsweep database, so a writer elsewhere may go on).
    StatusOr<int> version = has_version ? ReadSchemaVersion() : StatusOr<int>(0);
    if (!version.ok()) return version.status();
    if (*version < kSchemaVersion) {
      return FailedPrecondition(
          path_ + ": schema version " + std::to_string(*version) +
          " of an older hpsweep, which this one must upgrade before reading it read-only; "
          "open it once with a command that may write it (e.g. `hpsweep status --db " + path_ +
          "`), or with the coordinator");
    }
    // Nor at close: the last connection to close would checkpoint the log into the file.
    rc = sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "setting no checkpoint on close");
    log_write_errors_ = options.log_write_errors;  // (a write here is a bug: say so)
    failures_ = 0;
    return Status::Ok();
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

}  // namespace hpsweep
