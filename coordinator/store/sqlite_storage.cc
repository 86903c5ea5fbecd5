// SqliteStorage's statements (coordinator/store/sqlite_storage.h): the statement cache, errors as
// Status, and every query behind Storage's writes and reads.
//
// Every statement is prepared once and cached by its SQL text; each use binds, steps and resets it
// (a ScopedStmt does the reset and clears the bindings, so no bound pointer outlives a call).
// Every SQLite error becomes a Status whose message names the database path and SQLite's errmsg.
#include "coordinator/store/sqlite_storage.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/utf8.h"
#include "search/objective.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;

}  // namespace

double ColumnReal(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(s, i);
}

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
  "best_epoch, epochs_run, test_accuracy, test_loss, seconds, error, confusion, reused_from, "  \
  "metric_value, final_metrics, weights_epoch, stopped_epoch, schedule"

Status SqliteStorage::Error(int rc, const std::string& what) const {
  std::string msg = path_ + ": " + what + ": " + sqlite3_errmsg(db_);
  const int primary = rc & 0xff;
  const bool io = primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_READONLY ||
                  primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_NOLFS;
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

// ---- Writes ----

StatusOr<int64_t> SqliteStorage::InsertSweep(const SweepRow& r) {
  const std::string what = "inserting sweep '" + r.name + "'";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT INTO sweeps (id, name, description, file_name, yaml, state, metric, maximize, "
      "max_attempts, total, created_at, finished_at, reuse, program, max_trial_seconds, seed, "
      "quarantine_after, max_trials) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.IdOrNull(r.id).Text(r.name).Text(r.description).Text(r.file_name).Text(r.yaml).Text(SweepStateName(r.state));
  b.Text(r.metric).Int(r.maximize ? 1 : 0).Int(r.max_attempts).Int(r.total).Real(r.created_at);
  b.Real(r.finished_at).Int(r.reuse ? 1 : 0).Text(r.program).Real(r.max_trial_seconds);
  b.Int(static_cast<int64_t>(r.seed)).Int(r.quarantine_after).Int(r.max_trials);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status SqliteStorage::UpdateSweepState(int64_t sweep_id, SweepState state,
                                       double finished_at) {
  const std::string what = "updating sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s =
      Prepare("UPDATE sweeps SET state = ?, finished_at = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(SweepStateName(state)).Real(finished_at).Int(sweep_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

Status SqliteStorage::ExtendSweep(int64_t sweep_id, int max_trials, int total) {
  const std::string what = "extending sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "UPDATE sweeps SET max_trials = ?, total = ?, state = 'running', finished_at = 0 "
      "WHERE id = ?",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(max_trials).Int(total).Int(sweep_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

namespace {

// JSON text of named metrics ({} when none). Names are checked where they arrive (UTF-8);
// values finite.
std::string MetricsJson(const std::map<std::string, double>& metrics) {
  json m = json::object();
  for (const auto& [k, v] : metrics) m[k] = v;
  return m.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Named metrics back from their JSON text; anything that is not a finite number is left out.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  json m = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!m.is_object()) return out;
  for (const auto& [k, v] : m.items()) {
    if (v.is_number() && std::isfinite(v.get<double>())) out[k] = v.get<double>();
  }
  return out;
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

}  // namespace

StatusOr<int64_t> SqliteStorage::InsertTrial(const TrialRow& r) {
  const std::string what =
      "inserting trial " + std::to_string(r.number) + " of sweep " + std::to_string(r.sweep_id);
  std::string params, confusion;
  Status st = TrialJson(r, &params, &confusion);
  if (!st.ok()) return Status(st.code(), path_ + ": " + what + ": " + st.message());
  StatusOr<sqlite3_stmt*> s = Prepare("INSERT INTO trials (" HPSWEEP_TRIAL_COLUMNS
                                      ") "
                                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.IdOrNull(r.id).Int(r.sweep_id).Int(r.number).Text(params).Text(TrialStatusName(r.status));
  b.Int(r.attempts).Text(r.lease_id).Real(r.lease_deadline).Int(r.worker_id).Text(r.worker_name);
  b.Real(r.created_at).Real(r.started_at).Real(r.finished_at).Real(r.best_val_accuracy);
  b.Real(r.best_val_loss).Int(r.best_epoch).Int(r.epochs_run).Real(r.test_accuracy);
  b.Real(r.test_loss).Real(r.seconds).Text(r.error).Text(confusion).Text(r.reused_from);
  const std::string final_metrics = MetricsJson(r.final_metrics);
  b.Real(r.metric_value).Text(final_metrics).Int(r.weights_epoch).Int(r.stopped_epoch);
  b.Text(r.schedule);
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
      "seconds = ?, error = ?, confusion = ?, reused_from = ?, metric_value = ?, "
      "final_metrics = ?, weights_epoch = ?, stopped_epoch = ? WHERE id = ?",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(TrialStatusName(r.status)).Int(r.attempts).Text(r.lease_id);
  b.Real(r.lease_deadline).Int(r.worker_id).Text(r.worker_name).Real(r.started_at);
  b.Real(r.finished_at).Real(r.best_val_accuracy).Real(r.best_val_loss).Int(r.best_epoch);
  b.Int(r.epochs_run).Real(r.test_accuracy).Real(r.test_loss).Real(r.seconds).Text(r.error);
  const std::string final_metrics = MetricsJson(r.final_metrics);
  b.Text(confusion).Text(r.reused_from).Real(r.metric_value).Text(final_metrics);
  b.Int(r.weights_epoch).Int(r.stopped_epoch).Int(r.id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

Status SqliteStorage::PutEpoch(const EpochRow& r) {
  const std::string what =
      "writing epoch " + std::to_string(r.epoch) + " of trial " + std::to_string(r.trial_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT OR REPLACE INTO epochs (trial_id, epoch, train_loss, train_accuracy, val_loss, "
      "val_accuracy, seconds, recorded_at, metrics, lr) VALUES (?,?,?,?,?,?,?,?,?,?)",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(r.trial_id).Int(r.epoch).Real(r.train_loss).Real(r.train_accuracy).Real(r.val_loss);
  const std::string metrics = MetricsJson(r.metrics);
  b.Real(r.val_accuracy).Real(r.seconds).Real(r.recorded_at).Text(metrics).Real(r.lr);
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
  return SelectById<AttemptRow>(
      "SELECT trial_id, attempt, worker_id, worker_name, started_at, ended_at, "
      "resumed_from_epoch FROM attempts WHERE trial_id = ? ORDER BY id",
      trial_id, "loading the attempts of trial " + std::to_string(trial_id), [](sqlite3_stmt* s) {
        AttemptRow r;
        r.trial_id = sqlite3_column_int64(s, 0);
        r.attempt = sqlite3_column_int(s, 1);
        r.worker_id = sqlite3_column_int64(s, 2);
        r.worker_name = ToValidUtf8(ColumnText(s, 3));
        r.started_at = ColumnReal(s, 4);
        r.ended_at = ColumnReal(s, 5);
        if (std::isnan(r.ended_at)) r.ended_at = 0;
        r.resumed_from_epoch = sqlite3_column_int(s, 6);
        return r;
      });
}

StatusOr<WorkerRow> SqliteStorage::UpsertWorker(const WorkerRow& w, double now) {
  const std::string what = "registering worker '" + w.name + "'";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "INSERT INTO workers (name, threads, first_seen, last_seen, host, job_id, programs, bf16, "
      "fingerprint) VALUES (?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT (name) DO UPDATE SET threads = excluded.threads, last_seen = "
      "excluded.last_seen, "
      "host = excluded.host, job_id = excluded.job_id, programs = excluded.programs, "
      "bf16 = excluded.bf16 "
      "RETURNING id, first_seen, trials_done, trials_failed, fingerprint, quarantine, "
      "quarantined_at",
      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  std::string programs;
  for (const std::string& name : w.programs) programs += (programs.empty() ? "" : ",") + name;
  b.Text(w.name).Int(w.threads).Real(now).Real(now).Text(w.host).Text(w.job_id).Text(programs);
  b.Int(w.bf16 ? 1 : 0).Text(w.fingerprint);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  int rc = sqlite3_step(*s);
  if (rc != SQLITE_ROW) return Error(rc, what);
  WorkerRow row = w;
  row.id = sqlite3_column_int64(*s, 0);
  row.first_seen = ColumnReal(*s, 1);
  row.last_seen = now;
  row.trials_done = sqlite3_column_int(*s, 2);
  row.trials_failed = sqlite3_column_int(*s, 3);
  row.fingerprint = ColumnText(*s, 4);
  row.quarantine = ColumnText(*s, 5);
  row.quarantined_at = ColumnReal(*s, 6);
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

Status SqliteStorage::UpdateWorkerHealth(int64_t worker_id, const std::string& fingerprint,
                                        const std::string& quarantine, double quarantined_at) {
  const std::string what = "updating the quarantine of worker " + std::to_string(worker_id);
  StatusOr<sqlite3_stmt*> s = Prepare(
      "UPDATE workers SET fingerprint = ?, quarantine = ?, quarantined_at = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Text(fingerprint).Text(quarantine).Real(quarantined_at).Int(worker_id);
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
Status SqliteStorage::SetPopulationEpoch(int64_t sweep_id, int epoch) {
  const std::string what = "setting the population epoch of sweep " + std::to_string(sweep_id);
  StatusOr<sqlite3_stmt*> s = Prepare("UPDATE sweeps SET pbt_epoch = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(epoch).Int(sweep_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

Status SqliteStorage::SetTrialParams(int64_t trial_id,
                                     const std::map<std::string, std::string>& params,
                                     const std::string& schedule) {
  const std::string what = "setting the params of trial " + std::to_string(trial_id);
  StatusOr<sqlite3_stmt*> s =
      Prepare("UPDATE trials SET params = ?, schedule = ? WHERE id = ?", what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  TrialRow row;
  row.params = params;
  std::string text, confusion;
  HPSWEEP_RETURN_IF_ERROR(TrialJson(row, &text, &confusion));
  b.Text(text).Text(schedule).Int(trial_id);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  HPSWEEP_RETURN_IF_ERROR(StepDone(*s, what));
  return ExpectChanged(what);
}

StatusOr<std::vector<SweepRow>> SqliteStorage::LoadSweeps() {
  const std::string what = "loading sweeps";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT id, name, description, file_name, yaml, state, metric, maximize, max_attempts, "
      "total, created_at, finished_at, reuse, program, max_trial_seconds, seed, quarantine_after, "
      "max_trials, pbt_epoch FROM sweeps ORDER BY id",
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
    const std::string state = ColumnText(*s, 5);
    if (!ParseSweepState(state, &r.state)) {
      return DataLoss(path_ + ": sweep " + std::to_string(r.id) + ": unknown state '" + state + "'");
    }
    r.metric = ColumnText(*s, 6);
    r.maximize = sqlite3_column_int64(*s, 7) != 0;
    r.max_attempts = sqlite3_column_int(*s, 8);
    r.total = sqlite3_column_int(*s, 9);
    r.created_at = ColumnReal(*s, 10);
    r.finished_at = ColumnReal(*s, 11);
    r.reuse = sqlite3_column_int64(*s, 12) != 0;
    r.program = ColumnText(*s, 13);
    r.max_trial_seconds = ColumnReal(*s, 14);
    r.seed = static_cast<uint64_t>(sqlite3_column_int64(*s, 15));
    r.quarantine_after = sqlite3_column_int(*s, 16);
    r.max_trials = sqlite3_column_int(*s, 17);
    r.pbt_epoch = sqlite3_column_int(*s, 18);
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
  t->metric_value = ColumnReal(s, 23);
  t->final_metrics = ParseMetrics(ColumnText(s, 24));
  t->weights_epoch = sqlite3_column_int(s, 25);
  t->stopped_epoch = sqlite3_column_int(s, 26);
  t->schedule = ColumnText(s, 27);
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

StatusOr<std::vector<TrialRow>> SqliteStorage::LoadTrialsAfter(int64_t sweep_id,
                                                               int after_number, int limit) {
  const std::string what = "loading the trials of sweep " + std::to_string(sweep_id) +
                           " after #" + std::to_string(after_number);
  StatusOr<sqlite3_stmt*> s = Prepare("SELECT " HPSWEEP_TRIAL_COLUMNS
                                      " FROM trials WHERE sweep_id = ? AND number > ?"
                                      " ORDER BY number LIMIT ?",
                                      what);
  if (!s.ok()) return s.status();
  ScopedStmt stmt(*s);
  Binder b(*s);
  b.Int(sweep_id);
  b.Int(after_number);
  b.Int(limit);
  if (b.rc() != SQLITE_OK) return BindError(b, what);
  return ReadTrials(*s, what);
}

StatusOr<std::vector<EpochRow>> SqliteStorage::LoadEpochs(int64_t trial_id) {
  return SelectById<EpochRow>(
      "SELECT trial_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds, "
      "recorded_at, metrics, lr FROM epochs WHERE trial_id = ? ORDER BY epoch",
      trial_id, "loading the epochs of trial " + std::to_string(trial_id), [](sqlite3_stmt* s) {
        EpochRow r;
        r.trial_id = sqlite3_column_int64(s, 0);
        r.epoch = sqlite3_column_int(s, 1);
        r.train_loss = ColumnReal(s, 2);
        r.train_accuracy = ColumnReal(s, 3);
        r.val_loss = ColumnReal(s, 4);
        r.val_accuracy = ColumnReal(s, 5);
        r.seconds = ColumnReal(s, 6);
        r.recorded_at = ColumnReal(s, 7);
        r.metrics = ParseMetrics(ColumnText(s, 8));
        r.lr = ColumnReal(s, 9);  // NULL (an older row, a program's epoch): NaN
        return r;
      });
}

StatusOr<std::vector<WorkerRow>> SqliteStorage::LoadWorkers() {
  const std::string what = "loading workers";
  StatusOr<sqlite3_stmt*> s = Prepare(
      "SELECT id, name, threads, first_seen, last_seen, host, job_id, trials_done, "
      "trials_failed, programs, bf16, fingerprint, quarantine, quarantined_at FROM workers "
      "ORDER BY id",
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
    const std::string programs = ColumnText(*s, 9);
    for (size_t at = 0; at < programs.size();) {
      size_t comma = programs.find(',', at);
      if (comma == std::string::npos) comma = programs.size();
      if (comma > at) r.programs.push_back(programs.substr(at, comma - at));
      at = comma + 1;
    }
    r.bf16 = sqlite3_column_int(*s, 10) != 0;
    r.fingerprint = ColumnText(*s, 11);
    r.quarantine = ColumnText(*s, 12);
    r.quarantined_at = ColumnReal(*s, 13);
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
  // Any other name: a program's metric (search/objective.h), in metric_value, which may be any
  // finite number (NULL: none).
  static const char* const kNamedMax =
      "SELECT " HPSWEEP_TRIAL_COLUMNS " FROM trials WHERE sweep_id = ? AND metric_value IS NOT "
      "NULL ORDER BY metric_value DESC, number ASC LIMIT ?";
  static const char* const kNamedMin =
      "SELECT " HPSWEEP_TRIAL_COLUMNS " FROM trials WHERE sweep_id = ? AND metric_value IS NOT "
      "NULL ORDER BY metric_value ASC, number ASC LIMIT ?";
  const char* sql = nullptr;
  for (const Query& q : kQueries) {
    if (metric == q.metric) sql = maximize ? q.max_sql : q.min_sql;
  }
  if (sql == nullptr && IsMetricName(metric)) sql = maximize ? kNamedMax : kNamedMin;
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

}  // namespace hpsweep
