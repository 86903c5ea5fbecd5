#include "coordinator/scheduler.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "coordinator/params_json.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/csprng.h"
#include "engine/sha256.h"

namespace hpsweep {

namespace {

bool Terminal(TrialStatus s) {
  return s == TrialStatus::kCompleted || s == TrialStatus::kFailed || s == TrialStatus::kStopped ||
         s == TrialStatus::kPruned;
}

// A number as a message shows it: shortest round-trip form, "nan", "inf".
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// A lease id as a message may show it: short printable ASCII only, never a huge input.
std::string LeaseText(const std::string& lease_id) {
  if (lease_id.empty()) return "(empty)";
  bool plain = lease_id.size() <= kMaxLeaseIdBytes;
  for (char c : lease_id) plain = plain && c > ' ' && c < 0x7f && c != '\'' && c != '\\';
  if (!plain) return "(" + std::to_string(lease_id.size()) + " bytes)";
  return "'" + lease_id + "'";
}

// Where a message field is: "metrics" (index < 0) or "history[i]". Built only for a refusal.
struct Where {
  const char* name;
  int index;
  std::string Field(const char* field) const {
    return (index < 0 ? std::string(name) : std::string(name) + "[" + std::to_string(index) + "]") +
           "." + field;
  }
};

// InvalidArgument unless lo <= v <= hi (and v is finite).
Status CheckRange(const Where& where, const char* field, double v, double lo, double hi) {
  if (std::isfinite(v) && v >= lo && v <= hi) return Status::Ok();
  return InvalidArgument(where.Field(field) + " is " + Num(v) + "; it must be finite, in [" +
                         Num(lo) + ", " + Num(hi) + "]");
}

// The range checks of one epoch's metrics (epoch in 1..max_epochs).
Status CheckEpochMetrics(const Where& where, const EpochReport& r, int max_epochs) {
  if (r.epoch < 1 || r.epoch > max_epochs) {
    return InvalidArgument(where.Field("epoch") + " is " + std::to_string(r.epoch) +
                           "; it must be in [1, " + std::to_string(max_epochs) +
                           "] (the trial's epochs)");
  }
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_loss", r.train_loss, 0, HUGE_VAL));
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_loss", r.val_loss, 0, HUGE_VAL));
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_accuracy", r.train_accuracy, 0, 1));
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_accuracy", r.val_accuracy, 0, 1));
  return CheckRange(where, "seconds", r.seconds, 0, kMaxSeconds);
}

bool SameReport(const EpochReport& a, const EpochReport& b) {
  return a.epoch == b.epoch && a.train_loss == b.train_loss &&
         a.train_accuracy == b.train_accuracy && a.val_loss == b.val_loss &&
         a.val_accuracy == b.val_accuracy && a.seconds == b.seconds;
}

// A test metric: -1 (none) or in [lo, hi].
Status CheckTestMetric(const std::string& field, double v, double hi) {
  if (v == -1) return Status::Ok();
  if (std::isfinite(v) && v >= 0 && v <= hi) return Status::Ok();
  return InvalidArgument(field + " is " + Num(v) + "; it must be -1 (none) or finite, in [0, " +
                         Num(hi) + "]");
}

// Everything in a completion that can be checked without the scheduler's state but the trial's
// epochs param.
Status CheckCompletion(const Completion& c, int max_epochs) {
  const size_t n = c.history.size();
  if (n > static_cast<size_t>(max_epochs)) {
    return InvalidArgument("history has " + std::to_string(n) + " epochs; the trial has " +
                           std::to_string(max_epochs));
  }
  if (n < static_cast<size_t>(max_epochs) && !c.stopped) {
    return InvalidArgument("history has " + std::to_string(n) + " epochs of the trial's " +
                           std::to_string(max_epochs) + ", and the trial did not stop early");
  }
  for (size_t i = 0; i < n; ++i) {
    const Where where{"history", static_cast<int>(i)};
    if (c.history[i].epoch != static_cast<int>(i) + 1) {
      return InvalidArgument(where.Field("epoch") + " is " + std::to_string(c.history[i].epoch) +
                             "; the history must be epochs 1.." + std::to_string(n) + " in order");
    }
    HPSWEEP_RETURN_IF_ERROR(CheckEpochMetrics(where, c.history[i], max_epochs));
  }
  HPSWEEP_RETURN_IF_ERROR(CheckTestMetric("test_accuracy", c.test_accuracy, 1));
  HPSWEEP_RETURN_IF_ERROR(CheckTestMetric("test_loss", c.test_loss, HUGE_VAL));
  if (!(std::isfinite(c.seconds) && c.seconds >= 0 && c.seconds <= kMaxSeconds)) {
    return InvalidArgument("seconds is " + Num(c.seconds) + "; it must be finite, in [0, " +
                           Num(kMaxSeconds) + "]");
  }
  if (c.model.size() > kMaxModelBytes) {
    return InvalidArgument("model is " + std::to_string(c.model.size()) + " bytes; the limit is " +
                           std::to_string(kMaxModelBytes));
  }
  if (c.confusion.empty()) return Status::Ok();
  // MNIST's is 10 x 10; a sweep of its own data has one row per class (engine/dataset.h: at most
  // 256), so any square of 1..256 rows is accepted.
  constexpr size_t kMaxRows = 256;
  size_t k = 1;
  while (k * k < c.confusion.size() && k < kMaxRows) ++k;
  const size_t kCells = k * k;
  if (c.confusion.size() != kCells) {
    return InvalidArgument("confusion_matrix has " + std::to_string(c.confusion.size()) +
                           " cells; it must be empty or square (classes x classes, " +
                           std::to_string(kConfusionClasses) + "x" +
                           std::to_string(kConfusionClasses) + " for MNIST), at most " +
                           std::to_string(kMaxRows) + "x" + std::to_string(kMaxRows));
  }
  int64_t total = 0, trace = 0;
  for (size_t i = 0; i < kCells; ++i) {
    const int64_t v = c.confusion[i];
    if (v < 0 || v > kMaxConfusionTotal) {
      return InvalidArgument("confusion_matrix[" + std::to_string(i) + "] is " + std::to_string(v) +
                             "; it must be in [0, " + std::to_string(kMaxConfusionTotal) + "]");
    }
    total += v;  // (at most 65536 * 1e8: no overflow)
    if (i % (k + 1) == 0) trace += v;
  }
  if (total <= 0 || total > kMaxConfusionTotal) {
    return InvalidArgument("confusion_matrix counts " + std::to_string(total) +
                           " samples; it must count 1.." + std::to_string(kMaxConfusionTotal));
  }
  const double accuracy = static_cast<double>(trace) / static_cast<double>(total);
  if (!(std::fabs(accuracy - c.test_accuracy) <= kConfusionTolerance)) {
    return InvalidArgument("confusion_matrix says accuracy " + Num(accuracy) + " (" +
                           std::to_string(trace) + "/" + std::to_string(total) +
                           "), test_accuracy is " + Num(c.test_accuracy) +
                           "; they must agree within " + Num(kConfusionTolerance));
  }
  return Status::Ok();
}

// The trial's `epochs` param (validated when the sweep was submitted), or the engine's default.
int MaxEpochs(const TrialRow& t) {
  TrialConfig config;
  auto it = t.params.find("epochs");
  if (it != t.params.end() && !ApplyKey("epochs", it->second, &config).ok()) return kMaxEpochs;
  return config.train.epochs;
}

// Each lease of the trial, for the export: attempt, worker, started_at, ended_at (0 while it
// runs), resumed_from_epoch (0: from scratch).
StatusOr<nlohmann::json> AttemptsJson(Storage* storage, int64_t trial_id) {
  auto rows = storage->LoadAttempts(trial_id);
  if (!rows.ok()) return rows.status();
  nlohmann::json out = nlohmann::json::array();
  for (const AttemptRow& a : *rows) {
    out.push_back({{"attempt", a.attempt},
                   {"worker", a.worker_name},
                   {"started_at", a.started_at},
                   {"ended_at", a.ended_at},
                   {"resumed_from_epoch", a.resumed_from_epoch}});
  }
  return out;
}

}  // namespace

Status CheckText(std::string_view field, std::string_view value, size_t max_bytes, bool printable) {
  const std::string name(field);
  if (value.size() > max_bytes) {
    return InvalidArgument(name + " is " + std::to_string(value.size()) + " bytes; the limit is " +
                           std::to_string(max_bytes));
  }
  if (!IsValidUtf8(value)) return InvalidArgument(name + " is not valid UTF-8");
  if (printable) {
    for (size_t i = 0; i < value.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(value[i]);
      const bool c1 = c == 0xc2 && i + 1 < value.size() &&
                      static_cast<unsigned char>(value[i + 1]) < 0xa0;  // U+0080..U+009F
      if (c < 0x20 || c == 0x7f || c1) {
        return InvalidArgument(name + " has a control character at byte " + std::to_string(i) +
                               "; it must be printable");
      }
    }
  }
  return Status::Ok();
}

// Runs a storage write; a failure marks the change as failed (rolled back and reloaded by Mutate),
// whatever its status code.
#define HPSWEEP_WRITE(expr)         \
  do {                              \
    ::hpsweep::Status _ws = (expr); \
    if (!_ws.ok()) {                \
      write_failed_ = true;         \
      return _ws;                   \
    }                               \
  } while (0)

double SystemClock::Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string SweepDataIdentity(const SweepSpec& spec) {
  if (spec.data.format == DataFormat::kMnist) return "mnist:" + spec.dataset;
  return DataFormatName(spec.data.format);  // the trials' data.sha256 names the content
}

std::string TrialIdentityKey(const std::map<std::string, std::string>& params,
                             const std::string& data) {
  if (data.empty()) return "";
  const bool content_named = params.count(std::string(kDataParamPrefix) + "sha256") > 0;
  // Each text length-prefixed, so no choice of keys and values can make two different trials
  // spell the same canonical text. std::map iterates in key order: the order params were set in
  // does not matter.
  auto field = [](std::string* out, const std::string& text) {
    *out += std::to_string(text.size());
    *out += ':';
    *out += text;
  };
  std::string canon = "hpsweep trial identity 1\n";
  field(&canon, data);
  canon += '\n';
  for (const auto& [key, value] : params) {
    if (key == kLabelKey) continue;  // names the trial, does not train it
    if (content_named && (key == std::string(kDataParamPrefix) + "path" ||
                          key == std::string(kDataParamPrefix) + "train" ||
                          key == std::string(kDataParamPrefix) + "test")) {
      continue;  // where the files are: data.sha256 says what they hold
    }
    field(&canon, key);
    canon += '=';
    field(&canon, value);
    canon += '\n';
  }
  return Sha256Hex(canon);
}

Scheduler::Scheduler(Storage* storage, Clock* clock, SchedulerOptions options)
    : storage_(storage), clock_(clock), options_(options) {
  committer_ = std::thread([this] { CommitLoop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  commit_wanted_.notify_all();
  committer_.join();
}

Status Scheduler::Load() {
  std::unique_lock<std::mutex> lock(mu_);
  WaitStorageLocked(lock);
  return LoadLocked();
}

Status Scheduler::EnsureLoaded() {
  if (!needs_reload_) return Status::Ok();
  Status s = LoadLocked();
  if (!s.ok()) return Unavailable("storage unavailable, state not reloaded: " + s.message());
  return s;
}

Status Scheduler::LoadLocked() {
  // Read everything before touching the current state, so a failed read changes nothing.
  auto sweeps = storage_->LoadSweeps();
  if (!sweeps.ok()) return sweeps.status();
  auto trials = storage_->LoadTrials(0);
  if (!trials.ok()) return trials.status();
  auto workers = storage_->LoadWorkers();
  if (!workers.ok()) return workers.status();
  sweeps_.clear();
  trials_.clear();
  proposed_rows_.clear();
  max_trial_id_ = 0;
  queued_.clear();
  deadlines_.clear();
  leases_.clear();
  last_report_.clear();
  stop_requested_.clear();
  prune_requested_.clear();
  pruners_.clear();
  early_terminate_.clear();
  workers_.clear();
  worker_by_name_.clear();
  sweep_data_.clear();
  finished_.clear();
  finished_built_ = false;
  for (const SweepRow& s : *sweeps) sweeps_[s.id] = s;
  const double now = clock_->Now();
  std::set<int64_t> holding;  // workers with a running trial
  for (TrialRow& t : *trials) {
    // Workers get a full lease period after a restart to report again before their trials are
    // handed to someone else.
    if (t.status == TrialStatus::kRunning && t.lease_deadline < now + options_.lease_seconds) {
      t.lease_deadline = now + options_.lease_seconds;
    }
    const int64_t id = t.id;
    trials_[id] = std::move(t);
    Index(trials_[id]);
    const SweepRow& sw = sweeps_[trials_[id].sweep_id];
    if (trials_[id].status == TrialStatus::kRunning && sw.state == "cancelled") {
      stop_requested_.insert(id);
    }
    if (trials_[id].status == TrialStatus::kRunning) holding.insert(trials_[id].worker_id);
  }
  // Memory holds the workers heard from within a lease period, and those with a running trial:
  // like their leases, they get a full lease period from the restart to be heard from again.
  // The most recently seen first, up to max_workers.
  // Held is not alive: a holder silent since before the restart counts only once heard from.
  std::vector<WorkerRow> recent, gone;
  worker_grace_.clear();
  gone_workers_.clear();
  for (WorkerRow& w : *workers) {
    const bool heard = now - w.last_seen < options_.lease_seconds;
    if (heard || holding.count(w.id)) {
      if (holding.count(w.id)) worker_grace_[w.id] = now + options_.lease_seconds;
      recent.push_back(std::move(w));
    } else if (now - w.last_seen < options_.gone_worker_seconds) {
      gone.push_back(std::move(w));
    }
  }
  auto latest_first = [&holding](const WorkerRow& a, const WorkerRow& b) {
    if (holding.count(a.id) != holding.count(b.id)) return holding.count(a.id) > 0;
    return a.last_seen > b.last_seen;
  };
  std::sort(recent.begin(), recent.end(), latest_first);
  if (recent.size() > options_.max_workers) recent.resize(options_.max_workers);
  for (WorkerRow& w : recent) {
    worker_by_name_[w.name] = w.id;
    workers_[w.id] = std::move(w);
  }
  std::sort(gone.begin(), gone.end(), latest_first);
  if (gone.size() > kMaxGoneWorkersShown) gone.resize(kMaxGoneWorkersShown);
  for (WorkerRow& w : gone) gone_workers_[w.id] = std::move(w);
  worker_touched_.clear();
  LoadCheckpointsLocked();
  RebuildSamplersLocked();
  // Pruners of running sweeps, from their stored files and epochs. A failure here leaves the
  // scheduler needing a reload, as a failed read above would.
  for (const auto& [id, sw] : sweeps_) {
    Status rebuilt = RebuildPrunerLocked(sw);
    if (!rebuilt.ok()) {
      needs_reload_ = true;
      return rebuilt;
    }
  }
  needs_reload_ = false;
  ++version_;
  changed_.notify_all();
  return Status::Ok();
}

void Scheduler::Index(const TrialRow& t) {
  max_trial_id_ = std::max(max_trial_id_, t.id);
  if (t.status == TrialStatus::kQueued) queued_[t.sweep_id].insert(t.id);
  if (t.status == TrialStatus::kRunning) deadlines_.insert({t.lease_deadline, t.id});
  if (!t.lease_id.empty()) leases_[t.lease_id] = t.id;
}

void Scheduler::Unindex(const TrialRow& t) {
  auto q = queued_.find(t.sweep_id);
  if (q != queued_.end()) {
    q->second.erase(t.id);
    if (q->second.empty()) queued_.erase(q);
  }
  deadlines_.erase({t.lease_deadline, t.id});
}

Status Scheduler::EnsureTransaction() {
  if (txn_open_) return Status::Ok();
  HPSWEEP_WRITE(storage_->Begin());  // (a failed BEGIN counts as a failed write)
  txn_open_ = true;
  return Status::Ok();
}

Status Scheduler::Write(WriteFn write) {
  if (deferring_) {
    queued_writes_.push_back(std::move(write));
    return Status::Ok();
  }
  HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
  HPSWEEP_WRITE(write(storage_));
  return Status::Ok();
}

Status Scheduler::WriteTrial(TrialRow& t) {
  auto proposed = proposed_rows_.find(t.id);
  if (proposed != proposed_rows_.end()) {
    *proposed->second = t;  // its queued insert writes this (see proposed_rows_)
  } else {
    HPSWEEP_RETURN_IF_ERROR(Write([row = t](Storage* st) { return st->UpdateTrial(row); }));
  }
  Index(t);
  return Status::Ok();
}

void Scheduler::WaitStorageLocked(std::unique_lock<std::mutex>& lock) {
  ++storage_waiters_;
  storage_free_.wait(lock, [&] { return !committing_; });
  --storage_waiters_;
  commit_wanted_.notify_one();  // the commit thread held back for us
}

template <typename F>
Status Scheduler::Mutate(F&& change) {
  std::unique_lock<std::mutex> lock(mu_);
  WaitStorageLocked(lock);
  // Storage is ours until we unlock. Queued asynchronous writes go first, in our transaction.
  std::vector<WriteFn> writes;
  std::vector<std::pair<Status, DoneFn>> dones;
  writes.swap(queued_writes_);
  dones.swap(queued_done_);
  Status s = EnsureLoaded();
  write_failed_ = false;
  for (WriteFn& w : writes) {
    if (!s.ok()) break;
    s = Write(std::move(w));
  }
  if (s.ok()) s = change();
  proposed_rows_.clear();  // (empty: it is filled only while deferring_)
  Status failure = write_failed_ ? s : Status::Ok();
  const bool wrote = txn_open_;
  if (!write_failed_ && txn_open_) {
    failure = storage_->Commit();
    txn_open_ = false;
  }
  if (!failure.ok()) {
    DropUncommittedLocked(&dones);  // ours and the queued calls' changes
    s = failure;
  } else if (wrote) {
    ++version_;
    changed_.notify_all();
  }
  const std::vector<Event> events = TakeEventsLocked();  // (none if dropped)
  lock.unlock();
  Publish(events);  // (before answering: whoever waits on an answer finds its events logged)
  Answer(dones, failure);
  return s;
}

void Scheduler::DropUncommittedLocked(std::vector<std::pair<Status, DoneFn>>* dones) {
  storage_->Rollback();
  txn_open_ = false;
  // Changes still queued were made on top of the lost ones: they fail too.
  for (auto& d : queued_done_) dones->push_back(std::move(d));
  queued_done_.clear();
  queued_writes_.clear();
  pending_events_.clear();  // of the lost changes
  needs_reload_ = true;
  EnsureLoaded();  // (bumps version_); if storage is still failing, the next call tries again
}

void Scheduler::Answer(std::vector<std::pair<Status, DoneFn>>& dones, const Status& failure) {
  for (auto& [result, done] : dones) done(failure.ok() ? result : failure);
}

template <typename F>
void Scheduler::MutateAsync(F&& change, DoneFn done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (needs_reload_) {
    WaitStorageLocked(lock);
    Status loaded = EnsureLoaded();
    if (!loaded.ok()) {
      lock.unlock();
      return done(loaded);
    }
  }
  const size_t before = queued_writes_.size();
  deferring_ = true;
  Status s = change();
  proposed_rows_.clear();  // the rows their inserts write are final now
  deferring_ = false;
  if (queued_writes_.size() > before) {
    ++version_;
    changed_.notify_all();
  } else if (queued_done_.empty() && !committing_) {
    // Wrote nothing, and nothing it saw is waiting to be committed: answer now.
    const std::vector<Event> events = TakeEventsLocked();
    lock.unlock();
    Publish(events);
    return done(s);
  }
  queued_done_.emplace_back(std::move(s), std::move(done));
  commit_wanted_.notify_one();
}

void Scheduler::CommitLoop() {
  pthread_setname_np(pthread_self(), "hpsweep-commit");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    commit_wanted_.wait(
        lock, [&] { return stopping_ || (!queued_done_.empty() && storage_waiters_ == 0); });
    if (queued_done_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<WriteFn> writes;
    std::vector<std::pair<Status, DoneFn>> dones;
    std::vector<Event> events;
    writes.swap(queued_writes_);
    dones.swap(queued_done_);
    events.swap(pending_events_);
    committing_ = true;
    lock.unlock();
    // Storage is ours while committing_: everyone else waits in WaitStorageLocked.
    Status s = Status::Ok();
    if (!writes.empty()) {
      s = storage_->Begin();
      for (WriteFn& w : writes) {
        if (!s.ok()) break;
        s = w(storage_);
      }
      s = s.ok() ? storage_->Commit() : s;
    }
    writes.clear();  // (frees rows and model bytes before taking the lock)
    lock.lock();
    committing_ = false;
    if (!s.ok()) {
      DropUncommittedLocked(&dones);
      events.clear();
    }
    storage_free_.notify_all();
    lock.unlock();
    Publish(events);  // (before answering, as in Mutate)
    Answer(dones, s);
    lock.lock();
  }
}

StatusOr<int64_t> Scheduler::Submit(const SweepSpec& spec, const std::vector<TrialSpec>& trials,
                                    const std::string& yaml, const std::string& file_name,
                                    bool reuse) {
  // Every method has a sampler; no trial is stored here (see "Samplers" at the top). A plan is
  // the trials given (ExpandSweep's, with the sweep's data attached), not expanded again.
  std::unique_ptr<Sampler> sampler;
  if (spec.method == SweepMethod::kBayes) {
    // The sweep's own data, which every proposal carries as a plan's trials do (nothing for
    // MNIST): read and hashed here, at submit, as AttachSweepData does for a plan.
    StatusOr<SweepData> data = PrepareSweepData(spec, file_name);
    if (!data.ok()) return data.status();
    auto made = MakeSampler(spec, file_name, options_.sweep_limits, *data);
    if (!made.ok()) return made.status();
    sampler = std::move(*made);
  } else {
    // What storage would refuse when the trial is proposed is refused now, before anything is
    // stored: a trial that cannot be stored would fail every lease of the sweep.
    for (const TrialSpec& t : trials) {
      for (const auto& [key, value] : t.params) {
        if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
          return InvalidArgument(EscapeText(file_name) + ": trial " + std::to_string(t.number) +
                                 ": params are not valid UTF-8 (key '" + EscapeText(key) + "')");
        }
      }
    }
    sampler = MakePlanSampler(trials);
  }
  int64_t sweep_id = 0;
  Status s = Mutate([&]() -> Status {
    const double now = clock_->Now();
    SweepRow sw;
    sw.name = spec.name;
    sw.description = spec.description;
    sw.file_name = file_name;
    sw.yaml = yaml;
    sw.total = sampler->planned();
    sw.state = sw.total == 0 ? "completed" : "running";
    sw.metric = spec.metric;
    sw.maximize = spec.maximize;
    sw.max_attempts = spec.max_attempts;
    sw.created_at = now;
    sw.reuse = reuse || spec.reuse;  // --reuse, or `reuse: true` in the file
    HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
    auto id = storage_->InsertSweep(sw);
    HPSWEEP_WRITE(id.status());
    sw.id = *id;
    sweeps_[sw.id] = sw;
    sweep_data_[sw.id] = SweepDataIdentity(spec);
    EmitLocked(events::SweepSubmitted(sw, file_name));
    if (spec.early_terminate.type != EarlyTerminateSpec::Type::kNone) {
      early_terminate_[sw.id] = spec.early_terminate;
      if (sw.state == "running") {
        pruners_[sw.id] = MakePruner(spec.early_terminate, Objective(sw.metric, sw.maximize));
      }
    }
    if (sw.state == "running") samplers_[sw.id].sampler = std::move(sampler);
    sweep_id = sw.id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return sweep_id;
}

StatusOr<int64_t> Scheduler::RegisterWorker(const std::string& name, int threads,
                                            const std::string& host, const std::string& job_id) {
  if (name.empty()) return InvalidArgument("worker_name is empty");
  HPSWEEP_RETURN_IF_ERROR(CheckText("worker_name", name, kMaxWorkerNameBytes, true));
  HPSWEEP_RETURN_IF_ERROR(CheckText("host", host, kMaxWorkerHostBytes, true));
  HPSWEEP_RETURN_IF_ERROR(CheckText("job_id", job_id, kMaxWorkerJobIdBytes, true));
  if (threads < 0 || threads > kMaxWorkerThreads) {
    return InvalidArgument("threads is " + std::to_string(threads) + "; it must be in [0, " +
                           std::to_string(kMaxWorkerThreads) + "]");
  }
  int64_t worker_id = 0;
  Status s = Mutate([&]() -> Status {
    const double now = clock_->Now();
    PruneWorkersLocked(now);
    if (!worker_by_name_.count(name) && workers_.size() >= options_.max_workers) {
      return Unavailable(std::to_string(workers_.size()) +
                         " workers were heard from within a lease period; the limit is " +
                         std::to_string(options_.max_workers) + ": retry later");
    }
    HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
    WorkerRow row;
    row.name = name;
    row.threads = threads;
    row.host = host;
    row.job_id = job_id;
    auto stored = storage_->UpsertWorker(row, now);
    HPSWEEP_WRITE(stored.status());
    const bool joined = !worker_by_name_.count(name);
    workers_[stored->id] = *stored;  // (with what it did before, from its row)
    worker_by_name_[name] = stored->id;
    gone_workers_.erase(stored->id);
    worker_grace_.erase(stored->id);
    if (joined) EmitLocked(events::WorkerJoined(*stored));
    worker_id = stored->id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return worker_id;
}

void Scheduler::AppendError(TrialRow* t, const std::string& why) {
  static const char kDropped[] = "(earlier attempts dropped) ";
  std::string& e = t->error;
  e = e.empty() ? why : e + "; " + why;
  if (e.size() <= kMaxTrialErrorBytes) return;
  // Keep the latest: cut at the first attempt boundary that fits, else at a UTF-8 boundary.
  size_t cut = e.size() - (kMaxTrialErrorBytes - (sizeof(kDropped) - 1));
  const size_t boundary = e.find("; ", cut);
  if (boundary != std::string::npos) {
    cut = boundary + 2;
  } else {
    while (cut < e.size() && (static_cast<unsigned char>(e[cut]) & 0xc0) == 0x80) ++cut;
  }
  e = kDropped + e.substr(cut);
}

void Scheduler::PruneWorkersLocked(double now) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    auto grace = worker_grace_.find(it->first);
    const bool held = grace != worker_grace_.end() && now < grace->second;
    if (now - it->second.last_seen < options_.lease_seconds || held) {
      ++it;
      continue;
    }
    if (grace != worker_grace_.end()) worker_grace_.erase(grace);
    EmitLocked(events::WorkerGone(it->second, now - it->second.last_seen));
    worker_by_name_.erase(it->second.name);
    worker_touched_.erase(it->first);
    gone_workers_[it->first] = std::move(it->second);
    it = workers_.erase(it);
  }
  // Gone workers are shown for a while, the latest kMaxGoneWorkersShown.
  for (auto it = gone_workers_.begin(); it != gone_workers_.end();) {
    const bool old = now - it->second.last_seen >= options_.gone_worker_seconds;
    it = old ? gone_workers_.erase(it) : std::next(it);
  }
  if (gone_workers_.size() > kMaxGoneWorkersShown) {
    std::vector<std::pair<double, int64_t>> by_age;
    for (const auto& [id, w] : gone_workers_) by_age.push_back({w.last_seen, id});
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i + kMaxGoneWorkersShown < by_age.size(); ++i) {
      gone_workers_.erase(by_age[i].second);
    }
  }
}

Status Scheduler::ExpireLocked(double now, int* count) {
  while (!deadlines_.empty() && deadlines_.begin()->first < now) {
    TrialRow& t = trials_[deadlines_.begin()->second];
    Unindex(t);
    last_report_.erase(t.id);
    const SweepRow& sw = sweeps_[t.sweep_id];
    AppendError(&t, "attempt " + std::to_string(t.attempts) + ": lease expired (worker '" +
                        t.worker_name + "' stopped reporting)");
    HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t.worker_id, 0, 1));
    const TrialStatus outcome = prune_requested_.count(t.id) ? TrialStatus::kPruned
                                : sw.state == "cancelled" || stop_requested_.count(t.id)
                                    ? TrialStatus::kStopped
                                : t.attempts >= sw.max_attempts ? TrialStatus::kFailed
                                                                : TrialStatus::kQueued;
    EmitLocked(events::LeaseExpired(t, sw, outcome));
    // The lease stays the trial's last-granted one: its worker may still deliver a result.
    if (outcome == TrialStatus::kPruned || outcome == TrialStatus::kStopped) {
      HPSWEEP_RETURN_IF_ERROR(FinishTrial(t, outcome, now));
    } else if (outcome == TrialStatus::kFailed) {
      HPSWEEP_RETURN_IF_ERROR(FinishTrial(t, TrialStatus::kFailed, now));
    } else {
      t.status = TrialStatus::kQueued;
      t.lease_deadline = 0;
      HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(t, now));
      HPSWEEP_RETURN_IF_ERROR(WriteTrial(t));
    }
    ++*count;
  }
  return Status::Ok();
}

StatusOr<int> Scheduler::ExpireLeases() {
  int count = 0;
  Status s = Mutate([&]() {
    const double now = clock_->Now();
    // Leases first: a worker gone with an expired lease leaves with that failure counted.
    HPSWEEP_RETURN_IF_ERROR(ExpireLocked(now, &count));
    PruneWorkersLocked(now);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return count;
}

Status Scheduler::FinishTrial(TrialRow& t, TrialStatus status, double now) {
  Unindex(t);
  t.status = status;
  t.finished_at = now;
  stop_requested_.erase(t.id);
  DropCheckpointLocked(t.id);
  HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(t, now));
  prune_requested_.erase(t.id);
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(t));
  if (status == TrialStatus::kCompleted) IndexFinishedLocked(t);
  return MaybeFinishSweep(t.sweep_id, now);
}

Status Scheduler::MaybeFinishSweep(int64_t sweep_id, double now) {
  SweepRow& sw = sweeps_[sweep_id];
  if (queued_.count(sweep_id)) return Status::Ok();
  auto live = samplers_.find(sweep_id);
  if (live != samplers_.end() &&
      !live->second.sampler->Exhausted(static_cast<int>(live->second.trial_ids.size()))) {
    return Status::Ok();  // more trials to come
  }
  for (const auto& [deadline, id] : deadlines_) {
    if (trials_[id].sweep_id == sweep_id) return Status::Ok();
  }
  if (sw.finished_at > 0) return Status::Ok();
  if (sw.state == "running") sw.state = "completed";
  sw.finished_at = now;
  EmitLocked(SweepFinishedEvent(sw));
  pruners_.erase(sweep_id);  // (a restart makes pruners for running sweeps only, too)
  return Write([sweep_id, state = sw.state, now](Storage* st) {
    return st->UpdateSweepState(sweep_id, state, now);
  });
}

StatusOr<std::optional<LeaseGrant>> Scheduler::Lease(int64_t worker_id) {
  std::optional<LeaseGrant> grant;
  Status s = Mutate([&] { return LeaseLocked(worker_id, &grant); });
  if (!s.ok()) return s;
  return grant;
}

Status Scheduler::LeaseLocked(int64_t worker_id, std::optional<LeaseGrant>* grant) {
  const double now = clock_->Now();
  int expired = 0;
  HPSWEEP_RETURN_IF_ERROR(ExpireLocked(now, &expired));
  auto w = workers_.find(worker_id);
  if (w == workers_.end()) {
    return NotFound("worker " + std::to_string(worker_id) + " is not registered");
  }
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(worker_id, now));
next_trial:  // (after a trial completed by copy, below)
  auto it = queued_.end();
  if (lease_only_ != 0) {
    HPSWEEP_RETURN_IF_ERROR(ProposeForSweepLocked(lease_only_, now));
    it = queued_.find(lease_only_);
    if (it == queued_.end()) return Status::Ok();
  } else {
    if (!samplers_.empty()) HPSWEEP_RETURN_IF_ERROR(ProposeForTurnLocked(now));
    if (queued_.empty()) return Status::Ok();
    // Sweeps take turns: the first sweep after the one served last.
    it = queued_.upper_bound(next_sweep_turn_);
    if (it == queued_.end()) it = queued_.begin();
  }
  next_sweep_turn_ = it->first;
  TrialRow& t = trials_[*it->second.begin()];
  // Reuse: a trial identical to a finished one is completed by copy instead; try the next. (A
  // loop that ends: each turn finishes a queued trial.)
  bool copied = false;
  HPSWEEP_RETURN_IF_ERROR(ReuseFinishedLocked(&t, now, &copied));
  if (copied) goto next_trial;
  std::string lease;
  HPSWEEP_RETURN_IF_ERROR(NewLeaseId(&lease));  // (before any change: a failure changes nothing)
  Unindex(t);
  const int resume_from = ResumableEpochLocked(t);  // 0: no checkpoint
  if (t.attempts > 0 && resume_from == 0) {         // a retry without a checkpoint starts over
    HPSWEEP_RETURN_IF_ERROR(Write([id = t.id](Storage* st) { return st->DeleteEpochs(id); }));
    if (Pruner* p = PrunerFor(t.sweep_id)) p->Forget(t.id);
  }
  t.status = TrialStatus::kRunning;
  t.attempts += 1;
  if (!t.lease_id.empty()) leases_.erase(t.lease_id);  // older leases are refused from now on
  last_report_.erase(t.id);
  t.lease_id = std::move(lease);
  t.lease_deadline = now + options_.lease_seconds;
  t.worker_id = worker_id;
  t.worker_name = w->second.name;
  t.started_at = now;
  t.best_val_accuracy = t.best_val_loss = -1;
  t.best_epoch = t.epochs_run = 0;
  if (resume_from > 0) HPSWEEP_RETURN_IF_ERROR(ResumeLocked(&t, resume_from));
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(t));
  HPSWEEP_RETURN_IF_ERROR(StartAttemptLocked(t, resume_from, now));
  EmitLocked(events::TrialLeased(t, sweeps_[t.sweep_id]));
  *grant = LeaseGrant{t, t.lease_id, t.lease_deadline, resume_from};
  return Status::Ok();
}

double Scheduler::NextEpochTime(double now) {
  last_epoch_at_ =
      std::max(now, std::nextafter(last_epoch_at_, std::numeric_limits<double>::infinity()));
  return last_epoch_at_;
}

Pruner* Scheduler::PrunerFor(int64_t sweep_id) {
  auto p = pruners_.find(sweep_id);
  return p == pruners_.end() ? nullptr : p->second.get();
}

Status Scheduler::RebuildPrunerLocked(const SweepRow& sw) {
  if (sw.yaml.find("early_terminate") == std::string::npos) return Status::Ok();  // (cheap test)
  auto spec = ParseSweep(sw.yaml, sw.file_name);
  // A stored file that no longer parses (written by another version) prunes nothing.
  if (!spec.ok() || spec->early_terminate.type == EarlyTerminateSpec::Type::kNone) {
    return Status::Ok();
  }
  early_terminate_[sw.id] = spec->early_terminate;
  if (sw.state != "running") return Status::Ok();
  std::unique_ptr<Pruner> pruner =
      MakePruner(spec->early_terminate, Objective(sw.metric, sw.maximize));
  const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
  std::vector<const TrialRow*> running;
  for (const auto& [id, t] : trials_) {
    // (Copied results are not fed live either: see "Reuse" at the top.)
    if (t.sweep_id != sw.id || t.epochs_run == 0 || !t.reused_from.empty()) continue;
    auto epochs = storage_->LoadEpochs(id);
    if (!epochs.ok()) return epochs.status();
    for (const EpochRow& e : *epochs) {
      pruner->Add(
          {id, t.number, e.epoch, by.EpochValue(e.val_accuracy, e.val_loss), e.recorded_at});
      if (std::isfinite(e.recorded_at)) last_epoch_at_ = std::max(last_epoch_at_, e.recorded_at);
    }
    if (t.status == TrialStatus::kRunning) running.push_back(&t);
  }
  // Which running trials were pruned: the same decisions, from the same records.
  for (const TrialRow* t : running) {
    for (int e = 1; e <= t->epochs_run; ++e) {
      if (pruner->ShouldPrune(t->id, e, MaxEpochs(*t))) {
        prune_requested_.insert(t->id);
        break;
      }
    }
  }
  pruners_[sw.id] = std::move(pruner);
  return Status::Ok();
}

Status Scheduler::StoreEpoch(TrialRow* t, const SweepRow& sw, const EpochReport& r, double now,
                             double recorded_at) {
  if (recorded_at < 0 || !std::isfinite(recorded_at)) recorded_at = NextEpochTime(now);
  EpochRow e{t->id,      r.epoch,        r.train_loss, r.train_accuracy,
             r.val_loss, r.val_accuracy, r.seconds,    recorded_at};
  HPSWEEP_RETURN_IF_ERROR(Write([e](Storage* st) { return st->PutEpoch(e); }));
  if (Pruner* p = PrunerFor(t->sweep_id)) {
    const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
    p->Add({t->id, t->number, r.epoch, by.EpochValue(r.val_accuracy, r.val_loss), recorded_at});
  }
  t->epochs_run = std::max(t->epochs_run, r.epoch);
  const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
  const bool better =
      t->best_epoch == 0 || by.Better(by.EpochValue(r.val_accuracy, r.val_loss),
                                      by.EpochValue(t->best_val_accuracy, t->best_val_loss));
  if (better) {
    t->best_epoch = r.epoch;
    t->best_val_accuracy = r.val_accuracy;
    t->best_val_loss = r.val_loss;
  }
  return Status::Ok();
}

TrialRow* Scheduler::FindByLease(const std::string& lease_id) {
  if (lease_id.empty() || lease_id.size() > kMaxLeaseIdBytes) return nullptr;
  auto l = leases_.find(lease_id);
  if (l == leases_.end()) return nullptr;
  auto t = trials_.find(l->second);
  if (t == trials_.end() || t->second.lease_id != lease_id) return nullptr;
  return &t->second;
}

Status Scheduler::NewLeaseId(std::string* out) {
  auto id = RandomHex(16);  // 128 bits
  if (!id.ok()) return id.status();
  *out = std::move(*id);
  return Status::Ok();
}

StatusOr<ReportAction> Scheduler::Report(const std::string& lease_id, const EpochReport& r,
                                         double* deadline) {
  ReportAction action = ReportAction::kContinue;
  Status s = Mutate([&] { return ReportLocked(lease_id, r, &action, deadline); });
  if (!s.ok()) return s;
  return action;
}

void Scheduler::ReportAsync(const std::string& lease_id, const EpochReport& r,
                            std::function<void(StatusOr<ReportAction>, double)> done) {
  auto out = std::make_shared<std::pair<ReportAction, double>>(ReportAction::kContinue, 0.0);
  MutateAsync([&] { return ReportLocked(lease_id, r, &out->first, &out->second); },
              [out, done = std::move(done)](Status s) {
                if (!s.ok()) return done(s, 0);
                done(out->first, out->second);
              });
}

Status Scheduler::ReportLocked(const std::string& lease_id, const EpochReport& r,
                               ReportAction* action, double* deadline) {
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr || t->status != TrialStatus::kRunning) {
    return FailedPrecondition("lease " + LeaseText(lease_id) + " is not current" +
                              (t ? std::string(" (trial is ") + TrialStatusName(t->status) + ")"
                                 : std::string(" (no trial holds it)")));
  }
  // Checked before anything changes. Refusals are InvalidArgument: the lease is still good.
  bool store = r.epoch != 0;
  if (store) {
    HPSWEEP_RETURN_IF_ERROR(CheckEpochMetrics(Where{"metrics", -1}, r, MaxEpochs(*t)));
    if (r.epoch <= t->epochs_run) {
      auto last = last_report_.find(t->id);
      if (r.epoch != t->epochs_run || last == last_report_.end() || !SameReport(last->second, r)) {
        return InvalidArgument("metrics.epoch is " + std::to_string(r.epoch) + "; epoch " +
                               std::to_string(t->epochs_run) +
                               " was reported already (epochs are reported in order, once each)");
      }
      store = false;  // a retry of the last report: renew the lease, store nothing twice
    }
  }
  const double now = clock_->Now();
  const SweepRow& sw = sweeps_[t->sweep_id];
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  Unindex(*t);
  t->lease_deadline = now + options_.lease_seconds;
  if (store) {
    HPSWEEP_RETURN_IF_ERROR(StoreEpoch(t, sw, r, now));
    last_report_[t->id] = r;
    Pruner* p = sw.state == "running" ? PrunerFor(t->sweep_id) : nullptr;
    if (p != nullptr && p->ShouldPrune(t->id, r.epoch, MaxEpochs(*t))) {
      prune_requested_.insert(t->id);
    }
  }
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(*t));
  *deadline = t->lease_deadline;
  if (prune_requested_.count(t->id)) {
    *action = ReportAction::kPrune;
  } else if (sw.state == "cancelled" || stop_requested_.count(t->id)) {
    *action = ReportAction::kStop;
  } else {
    *action = ReportAction::kContinue;
  }
  return Status::Ok();
}

Status Scheduler::Complete(const std::string& lease_id, const Completion& c) {
  return Mutate([&] { return CompleteLocked(lease_id, c); });
}

StatusOr<std::optional<LeaseGrant>> Scheduler::CompleteAndLease(const std::string& lease_id,
                                                                const Completion& c,
                                                                int64_t worker_id) {
  std::optional<LeaseGrant> grant;
  Status s = Mutate([&] { return CompleteAndLeaseLocked(lease_id, c, worker_id, &grant); });
  if (!s.ok()) return s;
  return grant;
}

template <typename F>
void Scheduler::MutateGrantAsync(F&& change, LeaseDone done) {
  auto grant = std::make_shared<std::optional<LeaseGrant>>();
  MutateAsync([&] { return change(grant.get()); },
              [grant, done = std::move(done)](Status s) {
                if (!s.ok()) return done(s);
                done(std::move(*grant));
              });
}

void Scheduler::CompleteAndLeaseAsync(const std::string& lease_id, const Completion& c,
                                      int64_t worker_id, LeaseDone done) {
  MutateGrantAsync(
      [&](std::optional<LeaseGrant>* g) {
        return CompleteAndLeaseLocked(lease_id, c, worker_id, g);
      },
      std::move(done));
}

void Scheduler::LeaseAsync(int64_t worker_id, LeaseDone done) {
  MutateGrantAsync([&](std::optional<LeaseGrant>* g) { return LeaseLocked(worker_id, g); },
                   std::move(done));
}

Status Scheduler::CompleteAndLeaseLocked(const std::string& lease_id, const Completion& c,
                                         int64_t worker_id, std::optional<LeaseGrant>* grant) {
  HPSWEEP_RETURN_IF_ERROR(CompleteLocked(lease_id, c));
  // A worker dropped from memory gets no next lease here (its result is kept all the same); its
  // next LeaseTrial tells it to register again.
  if (worker_id == 0 || !workers_.count(worker_id)) return Status::Ok();
  return LeaseLocked(worker_id, grant);
}

Status Scheduler::CompleteLocked(const std::string& lease_id, const Completion& c) {
  // Only the trial's last-granted lease (see the top); nothing else is even looked at.
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr) {
    return NotFound("lease " + LeaseText(lease_id) + " is not the last lease of any trial");
  }
  // A completed, stopped or pruned trial already has its result: this is a retry (nothing is
  // stored).
  if (t->status == TrialStatus::kCompleted || t->status == TrialStatus::kStopped ||
      t->status == TrialStatus::kPruned) {
    return Status::Ok();
  }
  // Running, or put back or failed after this lease expired: no result yet, take this one.
  HPSWEEP_RETURN_IF_ERROR(CheckCompletion(c, MaxEpochs(*t)));
  const double now = clock_->Now();
  const SweepRow& sw = sweeps_[t->sweep_id];
  Unindex(*t);
  last_report_.erase(t->id);
  // The history replaces the epochs reported on the way (there are none if epochs_run is 0).
  if (t->epochs_run > 0) {
    HPSWEEP_RETURN_IF_ERROR(Write([id = t->id](Storage* st) { return st->DeleteEpochs(id); }));
  }
  // Epochs reported on the way keep their recorded_at: it orders the pruner's records.
  std::vector<double> recorded(c.history.size(), -1);
  if (Pruner* p = PrunerFor(t->sweep_id)) {
    for (size_t i = 0; i < c.history.size(); ++i) {
      if (c.history[i].epoch <= t->epochs_run) {
        recorded[i] = p->RecordedAt(t->id, c.history[i].epoch);
      }
    }
    p->Forget(t->id);
  }
  t->best_epoch = 0;
  t->best_val_accuracy = t->best_val_loss = -1;
  t->epochs_run = 0;
  for (size_t i = 0; i < c.history.size(); ++i) {
    HPSWEEP_RETURN_IF_ERROR(StoreEpoch(t, sw, c.history[i], now, recorded[i]));
  }
  t->test_accuracy = c.test_accuracy;
  t->test_loss = c.test_loss;
  t->seconds = c.seconds;
  t->confusion = c.confusion;
  if (!c.model.empty()) {
    HPSWEEP_RETURN_IF_ERROR(Write([id = t->id, model = c.model](Storage* st) {
      return st->PutArtifact(id, "model", model);
    }));
  }
  // Pruned when it stopped on the pruner's STOP; one that ran to its end anyway is completed.
  TrialStatus status = TrialStatus::kCompleted;
  if (c.stopped && prune_requested_.count(t->id)) {
    status = TrialStatus::kPruned;
  } else if (c.stopped || sw.state == "cancelled") {
    status = TrialStatus::kStopped;
  }
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t->worker_id, 1, 0));
  EmitLocked(events::TrialCompleted(*t, sw, status));
  return FinishTrial(*t, status, now);
}

Status Scheduler::Fail(const std::string& lease_id, const std::string& error, bool released) {
  return Mutate([&] { return FailLocked(lease_id, error, released); });
}

void Scheduler::FailAsync(const std::string& lease_id, const std::string& error, bool released,
                          std::function<void(Status)> done) {
  MutateAsync([&] { return FailLocked(lease_id, error, released); }, std::move(done));
}

Status Scheduler::FailLocked(const std::string& lease_id, const std::string& error, bool released) {
  HPSWEEP_RETURN_IF_ERROR(CheckText("error", error, kMaxFailErrorBytes, false));
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr) {
    return FailedPrecondition("lease " + LeaseText(lease_id) +
                              " is not current (no trial holds it)");
  }
  if (t->status != TrialStatus::kRunning) {
    if (Terminal(t->status)) return Status::Ok();  // a retry
    return FailedPrecondition("lease " + LeaseText(lease_id) + " is no longer current (trial is " +
                              TrialStatusName(t->status) + ")");
  }
  const double now = clock_->Now();
  const SweepRow& sw = sweeps_[t->sweep_id];
  Unindex(*t);
  last_report_.erase(t->id);
  if (!released) {
    AppendError(
        t, "attempt " + std::to_string(t->attempts) + " on '" + t->worker_name + "': " + error);
  } else {
    t->attempts = std::max(0, t->attempts - 1);
    // A give-back with a reason (out of memory, different data) is kept for the user; a plain
    // one (the worker shutting down) is not worth a line.
    if (!error.empty()) {
      AppendError(t, "given back by '" + t->worker_name + "' (no attempt charged): " + error);
    }
  }
  const TrialStatus outcome = prune_requested_.count(t->id) ? TrialStatus::kPruned
                              : sw.state == "cancelled" || stop_requested_.count(t->id)
                                  ? TrialStatus::kStopped
                              : !released && t->attempts >= sw.max_attempts ? TrialStatus::kFailed
                                                                            : TrialStatus::kQueued;
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t->worker_id, 0, released ? 0 : 1));
  EmitLocked(released ? events::TrialReleased(*t, sw, error, outcome)
                      : events::TrialFailed(*t, sw, error, outcome));
  if (outcome != TrialStatus::kQueued) return FinishTrial(*t, outcome, now);
  t->status = TrialStatus::kQueued;
  t->lease_id.clear();
  t->lease_deadline = 0;
  leases_.erase(lease_id);
  HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(*t, now));
  return WriteTrial(*t);
}

StatusOr<int> Scheduler::Cancel(int64_t sweep_id) {
  int count = 0;
  Status s = Mutate([&]() -> Status {
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
    SweepRow& sw = it->second;
    if (sw.state != "running") {
      return FailedPrecondition("sweep " + std::to_string(sweep_id) + " is already " + sw.state);
    }
    const double now = clock_->Now();
    sw.state = "cancelled";
    HPSWEEP_RETURN_IF_ERROR(Write([sweep_id, state = sw.state](Storage* st) {
      return st->UpdateSweepState(sweep_id, state, 0);
    }));
    auto q = queued_.find(sweep_id);
    if (q != queued_.end()) {
      const std::set<int64_t> ids = q->second;
      for (int64_t id : ids) {
        HPSWEEP_RETURN_IF_ERROR(FinishTrial(trials_[id], TrialStatus::kStopped, now));
        ++count;
      }
    }
    for (const auto& [deadline, id] : deadlines_) {
      if (trials_[id].sweep_id == sweep_id) {
        stop_requested_.insert(id);
        ++count;
      }
    }
    // Trials not proposed yet will never be: they count as stopped (Counts says so too).
    if (auto live = samplers_.find(sweep_id); live != samplers_.end()) {
      count += std::max(0, live->second.sampler->planned() -
                               static_cast<int>(live->second.trial_ids.size()));
    }
    EmitLocked(events::SweepCancelled(sw, count));
    samplers_.erase(sweep_id);  // proposes nothing more
    return MaybeFinishSweep(sweep_id, now);
  });
  if (!s.ok()) return s;
  return count;
}

std::vector<SweepCounts> Scheduler::Counts(int64_t sweep_id) {
  std::unique_lock<std::mutex> lock(mu_);
  if (needs_reload_) {
    WaitStorageLocked(lock);
    EnsureLoaded();
  }
  std::map<int64_t, SweepCounts> out;
  std::map<int64_t, Objective> objective;
  for (const auto& [id, sw] : sweeps_) {
    if (sweep_id == 0 || id == sweep_id) {
      out[id].sweep = sw;
      auto et = early_terminate_.find(id);
      if (et != early_terminate_.end()) {
        out[id].early_terminate = DescribeEarlyTerminate(et->second);
      }
      objective.emplace(id, Objective(sw.metric, sw.maximize));
    }
  }
  for (const auto& [id, t] : trials_) {
    auto it = out.find(t.sweep_id);
    if (it == out.end()) continue;
    SweepCounts& c = it->second;
    switch (t.status) {
      case TrialStatus::kQueued: ++c.queued; break;
      case TrialStatus::kRunning: ++c.running; break;
      case TrialStatus::kCompleted: ++c.completed; break;
      case TrialStatus::kFailed: ++c.failed; break;
      case TrialStatus::kStopped: ++c.stopped; break;
      case TrialStatus::kPruned: ++c.pruned; break;
    }
    const Objective& o = objective.at(t.sweep_id);
    const double v = o.ValueOf(t);
    if (o.Better(v, c.best)) c.best = v;
  }
  for (const auto& [id, live] : samplers_) {
    auto it = out.find(id);
    if (it == out.end()) continue;
    it->second.unproposed =
        std::max(0, live.sampler->planned() - static_cast<int>(live.trial_ids.size()));
  }
  // A cancelled sweep's trials that were never proposed were stopped by the cancel: counted as
  // stopped, so its counts add up to its total as they did when trials were stored at submit.
  for (auto& [id, c] : out) {
    if (c.sweep.state != "cancelled") continue;
    const int stored = c.queued + c.running + c.completed + c.failed + c.stopped + c.pruned;
    c.stopped += std::max(0, c.sweep.total - stored);
  }
  std::vector<SweepCounts> v;
  for (auto& [id, c] : out) v.push_back(c);
  return v;
}

int Scheduler::WorkersAlive() {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = clock_->Now();
  int n = 0;
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen < options_.lease_seconds) ++n;
  }
  return n;
}

size_t Scheduler::WorkersHeld() {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

int64_t Scheduler::LatestSweepId() {
  std::lock_guard<std::mutex> lock(mu_);
  return sweeps_.empty() ? 0 : sweeps_.rbegin()->first;
}

StatusOr<std::vector<TrialRow>> Scheduler::Leaderboard(int64_t sweep_id, int top,
                                                       SweepRow* resolved) {
  std::unique_lock<std::mutex> lock(mu_);
  WaitStorageLocked(lock);
  HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
  if (sweep_id == 0 && !sweeps_.empty()) sweep_id = sweeps_.rbegin()->first;
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) {
    return NotFound(sweep_id == 0 ? "no sweeps yet" : "no sweep " + std::to_string(sweep_id));
  }
  if (resolved) *resolved = it->second;
  auto rows = storage_->Leaderboard(sweep_id, it->second.metric, it->second.maximize, top);
  if (!rows.ok()) return rows.status();
  // The query orders the same way; sorting here again makes the Objective the one rule.
  const Objective o(it->second.metric, it->second.maximize);
  std::stable_sort(rows->begin(), rows->end(), [&o](const TrialRow& a, const TrialRow& b) {
    return o.RanksBefore(o.ValueOf(a), a.number, o.ValueOf(b), b.number);
  });
  return rows;
}

StatusOr<std::string> Scheduler::ExportJson(int64_t sweep_id) {
  using json = nlohmann::json;
  std::unique_lock<std::mutex> lock(mu_);
  WaitStorageLocked(lock);
  HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
  if (sweep_id == 0 && !sweeps_.empty()) sweep_id = sweeps_.rbegin()->first;
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
  const SweepRow& sw = it->second;
  json j;
  j["sweep"] = {{"id", sw.id},
                {"name", sw.name},
                {"description", sw.description},
                {"file", sw.file_name},
                {"state", sw.state},
                {"metric", sw.metric},
                {"goal", sw.maximize ? "maximize" : "minimize"},
                {"max_attempts", sw.max_attempts},
                {"early_terminate", early_terminate_.count(sw.id)
                                        ? DescribeEarlyTerminate(early_terminate_.at(sw.id))
                                        : std::string()},
                {"trials", sw.total},
                {"created_at", sw.created_at},
                {"finished_at", sw.finished_at}};
  auto trials = storage_->LoadTrials(sweep_id);
  if (!trials.ok()) return trials.status();
  json arr = json::array();
  for (const TrialRow& t : *trials) {
    auto epochs = storage_->LoadEpochs(t.id);
    if (!epochs.ok()) return epochs.status();
    json ep = json::array();
    for (const EpochRow& e : *epochs) {
      ep.push_back({{"epoch", e.epoch},
                    {"train_loss", e.train_loss},
                    {"train_accuracy", e.train_accuracy},
                    {"val_loss", e.val_loss},
                    {"val_accuracy", e.val_accuracy},
                    {"seconds", e.seconds},
                    {"recorded_at", e.recorded_at}});  // when the coordinator stored it
    }
    json row = {{"id", t.id},
                {"number", t.number},
                {"status", TrialStatusName(t.status)},
                {"attempts", t.attempts},
                {"params", ParamsJson(t.params)},  // typed: 128, not "128"
                {"epochs", ep},
                {"best_epoch", t.best_epoch},
                {"epochs_run", t.epochs_run},
                {"best_val_accuracy", MeasuredJson(t.best_val_accuracy)},  // null: none
                {"best_val_loss", MeasuredJson(t.best_val_loss)},
                {"test_accuracy", MeasuredJson(t.test_accuracy)},
                {"test_loss", MeasuredJson(t.test_loss)},
                {"seconds", t.seconds},
                {"worker", t.worker_name},
                {"reused_from", t.reused_from},  // "" when it trained
                {"error", t.error},
                {"started_at", t.started_at},
                {"finished_at", t.finished_at}};
    if (!t.confusion.empty()) row["confusion_matrix"] = t.confusion;
    auto attempts = AttemptsJson(storage_, t.id);
    if (!attempts.ok()) return attempts.status();
    row["attempt_history"] = std::move(*attempts);
    arr.push_back(row);
  }
  j["trials"] = arr;
  // replace: text from an old database may not be UTF-8; dump would throw (type_error.316).
  return j.dump(1, ' ', false, json::error_handler_t::replace);
}

StatusOr<std::string> Scheduler::GetModel(int64_t trial_id) {
  std::unique_lock<std::mutex> lock(mu_);
  WaitStorageLocked(lock);
  return storage_->GetArtifact(trial_id, "model");
}

uint64_t Scheduler::version() {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

// ---- Workers you can see, and events ----

Status Scheduler::HeardFromLocked(int64_t worker_id, double now) {
  auto w = workers_.find(worker_id);
  if (w == workers_.end()) return Status::Ok();  // dropped: it registers again
  w->second.last_seen = now;
  worker_grace_.erase(worker_id);
  // The stored last_seen is for `workers --db` and a restart; a write every few seconds will do.
  if (now - worker_touched_[worker_id] > 5) {
    HPSWEEP_RETURN_IF_ERROR(
        Write([worker_id, now](Storage* st) { return st->TouchWorker(worker_id, now); }));
    worker_touched_[worker_id] = now;
  }
  return Status::Ok();
}

Status Scheduler::CountWorkerTrialsLocked(int64_t worker_id, int done, int failed) {
  if (worker_id == 0 || (done == 0 && failed == 0)) return Status::Ok();
  HPSWEEP_RETURN_IF_ERROR(Write([worker_id, done, failed](Storage* st) {
    return st->AddWorkerTrials(worker_id, done, failed);
  }));
  for (auto* held : {&workers_, &gone_workers_}) {
    auto w = held->find(worker_id);
    if (w == held->end()) continue;
    w->second.trials_done += done;
    w->second.trials_failed += failed;
  }
  return Status::Ok();
}

void Scheduler::EmitLocked(Event e) {
  if (options_.events == nullptr) return;
  e.time = clock_->Now();
  pending_events_.push_back(std::move(e));
}

std::vector<Event> Scheduler::TakeEventsLocked() {
  std::vector<Event> events;
  events.swap(pending_events_);
  return events;
}

void Scheduler::Publish(const std::vector<Event>& events) {
  for (const Event& e : events) options_.events->Record(e);
}

Event Scheduler::SweepFinishedEvent(const SweepRow& sweep) {
  int completed = 0, failed = 0, stopped = 0, pruned = 0;
  if (options_.events != nullptr) {  // (counting is for the log only)
    for (const auto& [id, t] : trials_) {
      if (t.sweep_id != sweep.id) continue;
      completed += t.status == TrialStatus::kCompleted;
      failed += t.status == TrialStatus::kFailed;
      stopped += t.status == TrialStatus::kStopped;
      pruned += t.status == TrialStatus::kPruned;
    }
  }
  return events::SweepFinished(sweep, completed, failed, stopped, pruned);
}

std::vector<WorkerView> Scheduler::ListWorkers(double* now_out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (needs_reload_) {
    WaitStorageLocked(lock);
    EnsureLoaded();
  }
  const double now = clock_->Now();
  // The trial each worker holds: the latest leased running trial with its id.
  std::unordered_map<int64_t, const TrialRow*> holds;
  for (const auto& [deadline, id] : deadlines_) {
    auto t = trials_.find(id);
    if (t == trials_.end()) continue;
    const TrialRow*& slot = holds[t->second.worker_id];
    if (slot == nullptr || t->second.started_at > slot->started_at) slot = &t->second;
  }
  std::vector<WorkerView> out;
  for (const auto& [id, w] : workers_) {
    WorkerView v;
    v.worker = w;
    v.alive = now - w.last_seen < options_.lease_seconds;
    auto h = holds.find(id);
    if (v.alive && h != holds.end()) {
      const TrialRow& t = *h->second;
      v.sweep_id = t.sweep_id;
      v.trial_id = t.id;
      v.trial_number = t.number;
      v.epoch = std::min(t.epochs_run + 1, MaxEpochs(t));
    }
    out.push_back(std::move(v));
  }
  const size_t held = out.size();
  for (const auto& [id, w] : gone_workers_) {
    if (now - w.last_seen >= options_.gone_worker_seconds) continue;
    WorkerView v;
    v.worker = w;
    out.push_back(std::move(v));
  }
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(held), out.end(),
            [](const WorkerView& a, const WorkerView& b) {
              return a.worker.last_seen > b.worker.last_seen;
            });
  if (now_out) *now_out = now;
  return out;
}

uint64_t Scheduler::WaitForChange(uint64_t seen, double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                    [&] { return version_ != seen; });
  return version_;
}

// ---- Resuming trials ----

namespace {

// Writes bytes to path and fsyncs it: the file is whole on disk before it is renamed into place.
Status WriteFileSynced(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return IoError(path + ": write failed: " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(path.c_str());
    return IoError(path + ": fsync failed: " + why);
  }
  return Status::Ok();
}

// Reads at most max_bytes of path (a checkpoint); NotFound if it is missing.
StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": no checkpoint");
  std::string out;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes) return DataLoss(path + ": checkpoint over its size limit");
  }
  return out;
}

}  // namespace

std::string Scheduler::CheckpointPath(int64_t trial_id) const {
  return options_.checkpoint_dir + "/trial-" + std::to_string(trial_id) + ".ckpt";
}

StatusOr<TrialRow*> Scheduler::CheckpointTrialLocked(const std::string& lease_id, int epoch) {
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr || t->status != TrialStatus::kRunning) {
    return FailedPrecondition("lease " + LeaseText(lease_id) + " is not current" +
                              (t ? std::string(" (trial is ") + TrialStatusName(t->status) + ")"
                                 : std::string(" (no trial holds it)")));
  }
  if (epoch < 1 || epoch != t->epochs_run) {
    return InvalidArgument("epoch is " + std::to_string(epoch) +
                           "; the last epoch stored for trial " + std::to_string(t->id) + " is " +
                           std::to_string(t->epochs_run) +
                           " (a checkpoint follows its epoch's report)");
  }
  return t;
}

Status Scheduler::SaveCheckpoint(const std::string& lease_id, int epoch, const std::string& bytes) {
  if (bytes.empty()) return InvalidArgument("checkpoint is empty");
  if (bytes.size() > kMaxCheckpointBytes) {
    return InvalidArgument("checkpoint is " + std::to_string(bytes.size()) +
                           " bytes; the limit is " + std::to_string(kMaxCheckpointBytes));
  }
  std::string tmp;
  int64_t trial_id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto t = CheckpointTrialLocked(lease_id, epoch);
    if (!t.ok()) return t.status();
    trial_id = (*t)->id;
    if (!options_.checkpoint_dir.empty()) {
      tmp = CheckpointPath(trial_id) + ".tmp" + std::to_string(++checkpoint_tmp_counter_);
    }
  }
  // The write and fsync (megabytes) outside the mutex, under a name of its own.
  if (!tmp.empty()) HPSWEEP_RETURN_IF_ERROR(WriteFileSynced(tmp, bytes));
  std::lock_guard<std::mutex> lock(mu_);
  // Again: the trial may have ended, or been leased to someone else, meanwhile.
  auto t = CheckpointTrialLocked(lease_id, epoch);
  if (!t.ok() || (*t)->id != trial_id) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return t.ok() ? FailedPrecondition("lease " + LeaseText(lease_id) + " is not current")
                  : t.status();
  }
  if (tmp.empty()) {
    checkpoint_bytes_[trial_id] = bytes;
  } else if (std::rename(tmp.c_str(), CheckpointPath(trial_id).c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return IoError(CheckpointPath(trial_id) + ": rename failed: " + why);
  }
  const TrialRow& row = **t;
  checkpoints_[trial_id] =
      CheckpointMeta{epoch, row.best_epoch, row.best_val_accuracy, row.best_val_loss};
  return Status::Ok();
}

StatusOr<std::pair<int, std::string>> Scheduler::GetCheckpoint(const std::string& lease_id) {
  std::string path;
  int epoch = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TrialRow* t = FindByLease(lease_id);
    if (t == nullptr || t->status != TrialStatus::kRunning) {
      return FailedPrecondition("lease " + LeaseText(lease_id) + " is not current");
    }
    auto c = checkpoints_.find(t->id);
    if (c == checkpoints_.end()) {
      return NotFound("trial " + std::to_string(t->id) + " has no checkpoint");
    }
    epoch = c->second.epoch;
    if (options_.checkpoint_dir.empty()) return std::make_pair(epoch, checkpoint_bytes_[t->id]);
    path = CheckpointPath(t->id);
  }
  // Read outside the mutex; a rename replaces the file whole, so this reads one version.
  auto bytes = ReadFileBounded(path, kMaxCheckpointBytes);
  if (!bytes.ok()) return bytes.status();
  const int in_file = PeekCheckpointEpoch(*bytes);
  return std::make_pair(in_file > 0 ? in_file : epoch, std::move(*bytes));
}

int Scheduler::ResumableEpochLocked(const TrialRow& t) const {
  auto c = checkpoints_.find(t.id);
  if (c == checkpoints_.end()) return 0;
  // The dead attempt stored at least the checkpoint's epochs (a checkpoint follows its report).
  return c->second.epoch <= t.epochs_run ? c->second.epoch : 0;
}

Status Scheduler::ResumeLocked(TrialRow* t, int epoch) {
  const CheckpointMeta& c = checkpoints_.at(t->id);
  HPSWEEP_RETURN_IF_ERROR(
      Write([id = t->id, epoch](Storage* st) { return st->DeleteEpochsAfter(id, epoch); }));
  t->epochs_run = epoch;
  t->best_epoch = c.best_epoch;
  t->best_val_accuracy = c.best_val_accuracy;
  t->best_val_loss = c.best_val_loss;
  return Status::Ok();
}

Status Scheduler::StartAttemptLocked(const TrialRow& t, int resumed_from_epoch, double now) {
  // (the previous attempt was ended when its trial was put back: expiry, Fail)
  AttemptRow a;
  a.trial_id = t.id;
  a.attempt = t.attempts;
  a.worker_id = t.worker_id;
  a.worker_name = t.worker_name;
  a.started_at = now;
  a.resumed_from_epoch = resumed_from_epoch;
  return Write([a](Storage* st) { return st->InsertAttempt(a); });
}

Status Scheduler::EndAttemptLocked(const TrialRow& t, double now) {
  return Write([id = t.id, now](Storage* st) { return st->EndAttempt(id, now); });
}

void Scheduler::DropCheckpointLocked(int64_t trial_id) {
  if (checkpoints_.erase(trial_id) == 0) return;
  checkpoint_bytes_.erase(trial_id);
  if (!options_.checkpoint_dir.empty()) ::unlink(CheckpointPath(trial_id).c_str());
}

void Scheduler::LoadCheckpointsLocked() {
  checkpoints_.clear();
  std::set<int64_t> found;
  if (options_.checkpoint_dir.empty()) {
    for (const auto& [id, bytes] : checkpoint_bytes_) found.insert(id);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options_.checkpoint_dir, ec);
    for (const auto& entry : std::filesystem::directory_iterator(options_.checkpoint_dir, ec)) {
      const std::string name = entry.path().filename().string();
      int64_t id = 0;
      char tail[8] = {0};
      if (name.rfind("trial-", 0) == 0 && name.find(".tmp") != std::string::npos) {
        std::filesystem::remove(entry.path(), ec);  // a write the last run did not finish
      } else if (std::sscanf(name.c_str(), "trial-%" SCNd64 ".%7s", &id, tail) == 2 &&
                 std::string(tail) == "ckpt" && name == "trial-" + std::to_string(id) + ".ckpt") {
        found.insert(id);
      }
    }
  }
  for (int64_t id : found) {
    auto it = trials_.find(id);
    int epoch = -1;
    if (it != trials_.end() &&
        (it->second.status == TrialStatus::kQueued || it->second.status == TrialStatus::kRunning)) {
      if (options_.checkpoint_dir.empty()) {
        epoch = PeekCheckpointEpoch(checkpoint_bytes_[id]);
      } else {
        std::ifstream in(CheckpointPath(id), std::ios::binary);
        std::string head(kCheckpointHeaderBytes, '\0');
        in.read(&head[0], static_cast<std::streamsize>(head.size()));
        if (in.gcount() == static_cast<std::streamsize>(head.size())) {
          epoch = PeekCheckpointEpoch(head);
        }
      }
    }
    // Its best epoch from the stored epochs 1..epoch, which must all be there.
    CheckpointMeta meta;
    meta.epoch = epoch;
    bool usable = epoch >= 1 && epoch <= it->second.epochs_run;
    if (usable) {
      auto epochs = storage_->LoadEpochs(id);
      usable = epochs.ok();
      int next = 1;
      const SweepRow& sw = sweeps_[it->second.sweep_id];
      const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
      for (const EpochRow& e : usable ? *epochs : std::vector<EpochRow>{}) {
        if (e.epoch > epoch) break;
        usable = usable && e.epoch == next++;
        if (meta.best_epoch == 0 ||
            by.Better(by.EpochValue(e.val_accuracy, e.val_loss),
                      by.EpochValue(meta.best_val_accuracy, meta.best_val_loss))) {
          meta.best_epoch = e.epoch;
          meta.best_val_accuracy = e.val_accuracy;
          meta.best_val_loss = e.val_loss;
        }
      }
      usable = usable && next == epoch + 1;
    }
    if (usable) {
      checkpoints_[id] = meta;
    } else {
      checkpoint_bytes_.erase(id);
      if (!options_.checkpoint_dir.empty()) ::unlink(CheckpointPath(id).c_str());
    }
  }
}

// ---- Samplers ----

void Scheduler::RebuildSamplersLocked() {
  samplers_.clear();
  // The stored trials of each running sweep, by number.
  std::map<int64_t, std::vector<std::pair<int, int64_t>>> numbered;
  for (const auto& [id, t] : trials_) {
    auto sw = sweeps_.find(t.sweep_id);
    if (sw != sweeps_.end() && sw->second.state == "running") {
      numbered[t.sweep_id].push_back({t.number, id});
    }
  }
  for (const auto& [id, sw] : sweeps_) {
    if (sw.state != "running") continue;
    std::vector<std::pair<int, int64_t>>& stored = numbered[id];
    // A sweep stored whole at submit (before plans were proposed at lease time) has nothing to
    // propose: skip expanding its file again.
    if (static_cast<int>(stored.size()) >= sw.total) continue;
    StatusOr<std::unique_ptr<Sampler>> sampler = RebuildSamplerLocked(sw, stored);
    if (!sampler.ok()) {
      // Accepted once, so this is a coordinator with other limits, an older parser or data
      // files that changed: say so, and let the sweep finish with the trials it has.
      std::fprintf(stderr, "hpsweep: sweep %lld: no sampler after restart: %s\n",
                   static_cast<long long>(id), sampler.status().ToString().c_str());
      continue;
    }
    LiveSampler& live = samplers_[id];
    live.sampler = std::move(*sampler);
    std::sort(stored.begin(), stored.end());
    for (const auto& [number, tid] : stored) live.trial_ids.push_back(tid);
  }
}

StatusOr<std::unique_ptr<Sampler>> Scheduler::RebuildSamplerLocked(
    const SweepRow& sw, const std::vector<std::pair<int, int64_t>>& stored) {
  StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
  if (!spec.ok()) return spec.status();
  if (spec->method == SweepMethod::kBayes) {
    // Its own data read again (for the shape); the params as submitted (the sha256 the stored
    // trials carry, so a file changed since is still refused to workers) once a trial exists.
    StatusOr<SweepData> data = PrepareSweepData(*spec, sw.file_name);
    if (!data.ok()) return data.status();
    if (!stored.empty() && !data->params.empty()) {
      std::map<std::string, std::string> submitted;
      for (const auto& [key, value] : trials_.at(stored.front().second).params) {
        if (key.rfind(kDataParamPrefix, 0) == 0) submitted[key] = value;
      }
      if (!submitted.empty()) data->params = std::move(submitted);
    }
    return MakeSampler(*spec, sw.file_name, options_.sweep_limits, *data);
  }
  StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(*spec, sw.file_name, options_.sweep_limits);
  if (!plan.ok()) return plan.status();
  if (spec->data.format != DataFormat::kMnist) {
    // The sweep's own data: its params as submitted (absolute paths, the data's sha256) are
    // those of any stored trial; before the first one, the files are read again.
    if (stored.empty()) {
      HPSWEEP_RETURN_IF_ERROR(AttachSweepData(*spec, sw.file_name, &*plan, options_.sweep_limits));
    } else {
      std::map<std::string, std::string> data;
      for (const auto& [key, value] : trials_.at(stored.front().second).params) {
        if (key.rfind(kDataParamPrefix, 0) == 0) data[key] = value;
      }
      for (TrialSpec& t : *plan) {
        for (const auto& [key, value] : data) t.params[key] = value;
      }
    }
  }
  if (static_cast<int>(plan->size()) != sw.total) {
    return Internal("the file expands to " + std::to_string(plan->size()) + " trials, not " +
                    std::to_string(sw.total));
  }
  return MakePlanSampler(std::move(*plan));
}

Status Scheduler::ProposeForTurnLocked(double now) {
  // Turn order is cyclic by sweep id, starting after the sweep served last (as in LeaseLocked).
  auto order = [this](int64_t id) { return std::make_pair(id <= next_sweep_turn_, id); };
  while (!samplers_.empty()) {
    auto s = samplers_.upper_bound(next_sweep_turn_);
    if (s == samplers_.end()) s = samplers_.begin();
    if (!queued_.empty()) {
      auto q = queued_.upper_bound(next_sweep_turn_);
      if (q == queued_.end()) q = queued_.begin();
      if (order(q->first) <= order(s->first)) return Status::Ok();  // a queued trial is first
    }
    const int64_t sweep_id = s->first;
    LiveSampler& live = s->second;
    if (live.sampler->Exhausted(static_cast<int>(live.trial_ids.size()))) {
      samplers_.erase(s);
      HPSWEEP_RETURN_IF_ERROR(MaybeFinishSweep(sweep_id, now));
      continue;
    }
    return ProposeLocked(sweep_id, &live, now);
  }
  return Status::Ok();
}

Status Scheduler::ProposeForSweepLocked(int64_t sweep_id, double now) {
  if (queued_.count(sweep_id)) return Status::Ok();  // a queued trial (a retry) comes first
  auto s = samplers_.find(sweep_id);
  if (s == samplers_.end()) return Status::Ok();
  if (s->second.sampler->Exhausted(static_cast<int>(s->second.trial_ids.size()))) {
    samplers_.erase(s);
    return MaybeFinishSweep(sweep_id, now);
  }
  return ProposeLocked(sweep_id, &s->second, now);
}

void Scheduler::LeaseOnly(int64_t sweep_id) {
  std::lock_guard<std::mutex> lock(mu_);
  lease_only_ = sweep_id;
}

Status Scheduler::ProposeLocked(int64_t sweep_id, LiveSampler* live, double now) {
  // A plan does not look at the history: a lease stays O(1) however many trials the sweep has.
  std::vector<const TrialRow*> rows;
  if (live->sampler->needs_history()) {
    rows.reserve(live->trial_ids.size());
    for (int64_t id : live->trial_ids) rows.push_back(&trials_[id]);
  }
  TrialRow t;
  t.id = max_trial_id_ + 1;
  t.sweep_id = sweep_id;
  t.number = static_cast<int>(live->trial_ids.size()) + 1;
  t.created_at = now;
  StatusOr<TrialSpec> proposed = live->sampler->Propose(t.number, rows);
  if (proposed.ok()) {
    t.params = std::move(proposed->params);
  } else {
    // No valid trial (the config checks or limits refused every candidate): recorded as a
    // failed trial, so the sweep still ends after max_trials and says why.
    t.status = TrialStatus::kFailed;
    t.finished_at = now;
    AppendError(&t, "proposal: " + proposed.status().message());
  }
  // The insert takes its place among the change's writes now (before anything that refers to
  // the trial). Queued for the commit thread (deferring_), it writes the row as the change leaves
  // it: WriteTrial updates that copy instead of queuing an update, so a proposed lease is one
  // write, not an insert and then an update of the same row.
  const int64_t id = t.id;
  if (deferring_) {
    auto row = std::make_shared<TrialRow>(t);
    proposed_rows_[id] = row;
    HPSWEEP_RETURN_IF_ERROR(Write([row](Storage* st) { return st->InsertTrial(*row).status(); }));
  } else {
    HPSWEEP_RETURN_IF_ERROR(
        Write([row = t](Storage* st) { return st->InsertTrial(row).status(); }));
  }
  trials_[id] = std::move(t);
  Index(trials_[id]);
  live->trial_ids.push_back(id);
  if (trials_[id].status == TrialStatus::kFailed) return MaybeFinishSweep(sweep_id, now);
  return Status::Ok();
}

// ---- Reuse (see the top) ----

const std::string& Scheduler::SweepDataLocked(int64_t sweep_id) {
  auto known = sweep_data_.find(sweep_id);
  if (known != sweep_data_.end()) return known->second;
  // A sweep stored before this run: its file says what it trains on. A file that no longer
  // parses (written by another version) has unknown data and matches nothing.
  std::string data;
  auto sw = sweeps_.find(sweep_id);
  if (sw != sweeps_.end()) {
    auto spec = ParseSweep(sw->second.yaml, sw->second.file_name);
    if (spec.ok()) data = SweepDataIdentity(*spec);
  }
  return sweep_data_[sweep_id] = std::move(data);
}

std::string Scheduler::IdentityLocked(const TrialRow& t) {
  return TrialIdentityKey(t.params, SweepDataLocked(t.sweep_id));
}

void Scheduler::IndexFinishedLocked(const TrialRow& t) {
  if (!finished_built_) return;  // built from every completed trial on first use
  const std::string identity = IdentityLocked(t);
  if (!identity.empty()) finished_[identity].push_back(t.id);
}

const TrialRow* Scheduler::FinishedTwinLocked(int64_t sweep_id, const std::string& identity) {
  if (identity.empty()) return nullptr;
  if (!finished_built_) {
    finished_.clear();
    finished_built_ = true;
    for (const auto& [id, t] : trials_) {
      if (t.status == TrialStatus::kCompleted) IndexFinishedLocked(t);
    }
  }
  auto found = finished_.find(identity);
  if (found == finished_.end()) return nullptr;
  const TrialRow* best = nullptr;
  for (int64_t id : found->second) {
    auto t = trials_.find(id);
    if (t == trials_.end() || t->second.sweep_id == sweep_id ||
        t->second.status != TrialStatus::kCompleted) {
      continue;
    }
    // One that trained (the origin) before a copy of it; then the lowest id.
    const TrialRow& c = t->second;
    if (best == nullptr || (c.reused_from.empty() && !best->reused_from.empty()) ||
        (c.reused_from.empty() == best->reused_from.empty() && c.id < best->id)) {
      best = &c;
    }
  }
  return best;
}

IdenticalFinished Scheduler::FindIdenticalFinished(const SweepSpec& spec,
                                                   const std::vector<TrialSpec>& trials,
                                                   int64_t except_sweep) {
  std::lock_guard<std::mutex> lock(mu_);
  IdenticalFinished out;
  if (needs_reload_) return out;  // (memory unsure: claim nothing)
  const std::string data = SweepDataIdentity(spec);
  std::set<int64_t> sweeps;
  for (const TrialSpec& ts : trials) {
    const TrialRow* twin = FinishedTwinLocked(except_sweep, TrialIdentityKey(ts.params, data));
    if (twin == nullptr) continue;
    ++out.trials;
    sweeps.insert(twin->sweep_id);
  }
  out.sweeps.assign(sweeps.begin(), sweeps.end());
  return out;
}

Status Scheduler::ReuseFinishedLocked(TrialRow* t, double now, bool* copied) {
  *copied = false;
  const SweepRow& sw = sweeps_[t->sweep_id];
  if (!sw.reuse) return Status::Ok();
  const TrialRow* twin = FinishedTwinLocked(t->sweep_id, IdentityLocked(*t));
  if (twin == nullptr) return Status::Ok();
  const TrialRow src = *twin;  // (a copy: FinishTrial below indexes t)
  Unindex(*t);
  last_report_.erase(t->id);
  if (Pruner* p = PrunerFor(t->sweep_id)) p->Forget(t->id);  // epochs of an earlier attempt
  t->worker_id = 0;
  t->worker_name.clear();
  t->started_at = now;
  t->best_val_accuracy = src.best_val_accuracy;
  t->best_val_loss = src.best_val_loss;
  t->best_epoch = src.best_epoch;
  t->epochs_run = src.epochs_run;
  t->test_accuracy = src.test_accuracy;
  t->test_loss = src.test_loss;
  t->seconds = src.seconds;
  t->confusion = src.confusion;
  t->reused_from = "sweep " + std::to_string(src.sweep_id) + " #" + std::to_string(src.number);
  // The stored epochs and model are copied by the write itself: it runs after the writes queued
  // before it (the twin's own, maybe not committed yet), in the same transaction.
  HPSWEEP_RETURN_IF_ERROR(Write([to = t->id, from = src.id](Storage* st) -> Status {
    HPSWEEP_RETURN_IF_ERROR(st->DeleteEpochs(to));  // an earlier attempt's, if any
    auto epochs = st->LoadEpochs(from);
    if (!epochs.ok()) return epochs.status();
    for (EpochRow e : *epochs) {
      e.trial_id = to;
      HPSWEEP_RETURN_IF_ERROR(st->PutEpoch(e));
    }
    auto model = st->GetArtifact(from, "model");
    if (model.ok()) return st->PutArtifact(to, "model", *model);
    return model.status().code() == StatusCode::kNotFound ? Status::Ok() : model.status();
  }));
  Event e = events::TrialCompleted(*t, sw, TrialStatus::kCompleted);
  e.message = "trial #" + std::to_string(t->number) + " of sweep " + std::to_string(sw.id) + " (" +
              sw.name + ") completed by copying the result of the identical trial " +
              t->reused_from + " (reuse)";
  e.With("reused_from", t->reused_from);
  EmitLocked(std::move(e));
  *copied = true;
  return FinishTrial(*t, TrialStatus::kCompleted, now);
}

}  // namespace hpsweep
