// Scheduler (scheduler.h): construction, loading from storage, the trial indexes, submitting,
// cancelling and finishing sweeps. The other jobs live in scheduler_*.cc.
#include "coordinator/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "coordinator/scheduler_internal.h"
#include "base/sha256.h"
#include "base/utf8.h"

namespace hpsweep {

bool Terminal(TrialStatus s) {
  return s == TrialStatus::kCompleted || s == TrialStatus::kFailed || s == TrialStatus::kStopped ||
         s == TrialStatus::kPruned;
}

// A lease id as a message may show it: short printable ASCII only, never a huge input.
std::string LeaseText(const std::string& lease_id) {
  if (lease_id.empty()) return "(empty)";
  bool plain = lease_id.size() <= kMaxLeaseIdBytes;
  for (char c : lease_id) plain = plain && c > ' ' && c < 0x7f && c != '\'' && c != '\\';
  if (!plain) return "(" + std::to_string(lease_id.size()) + " bytes)";
  return "'" + lease_id + "'";
}

Status LeaseNotCurrent(const std::string& lease_id, const TrialRow* t) {
  return FailedPrecondition("lease " + LeaseText(lease_id) + " is not current" +
                            (t ? std::string(" (trial is ") + TrialStatusName(t->status) + ")"
                               : std::string(" (no trial holds it)")));
}

// The trial's `epochs` param (validated when the sweep was submitted), or the engine's default
// (a program's: 1).
int MaxEpochs(const TrialRow& t, const SweepRow& sw) {
  if (!sw.program.empty()) return ProgramEpochs(t.params);
  TrialConfig config;
  auto it = t.params.find("epochs");
  if (it != t.params.end() && !ApplyKey("epochs", it->second, &config).ok()) return kMaxEpochs;
  return config.train.epochs;
}

// An engine trial whose params say precision: bf16 (validated at submit) runs only on a CPU with
// avx512_bf16 (engine/trainer.h CheckPrecision). A program's params are its own: never.
bool NeedsBf16(const TrialRow& t, const SweepRow& sw) {
  if (!sw.program.empty()) return false;
  auto it = t.params.find("precision");
  if (it == t.params.end()) return false;
  TrialConfig config;
  return ApplyKey("precision", it->second, &config).ok() &&
         config.train.precision == TrialPrecision::kBf16;
}

Status CheckText(std::string_view field, std::string_view value, size_t max_bytes, bool printable) {
  const std::string name(field);
  if (value.size() > max_bytes) {
    return InvalidArgument(name + " is " + std::to_string(value.size()) + " bytes; the limit is " +
                           std::to_string(max_bytes));
  }
  if (!IsValidUtf8(value)) return InvalidArgument(name + " is not valid UTF-8");
  if (printable) {
    for (size_t i = 0; i < value.size();) {
      const unsigned char c = static_cast<unsigned char>(value[i]);
      const bool c1 = c == 0xc2 && i + 1 < value.size() &&
                      static_cast<unsigned char>(value[i + 1]) < 0xa0;  // U+0080..U+009F
      if (c < 0x20 || c == 0x7f || c1) {
        return InvalidArgument(name + " has a control character at byte " + std::to_string(i) +
                               "; it must be printable");
      }
      const size_t n = Utf8Length(value, i);  // (valid: checked above)
      const char32_t cp = CodePointAt(value, i, n);
      if (IsInvisibleFormat(cp)) {
        char code[16];
        std::snprintf(code, sizeof(code), "U+%04X", static_cast<unsigned>(cp));
        return InvalidArgument(name + " has an invisible or direction-changing character (" +
                               code + ") at byte " + std::to_string(i) +
                               "; it must be printable");
      }
      i += n;
    }
  }
  return Status::Ok();
}

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
    // A key at the engine's default trains as its absence does: a trial stored before the key
    // existed (clipnorm, lr_schedule...) is identical to one that carries it at its default.
    if (IsConfigKey(key) && value == GetKey(TrialConfig(), key)) continue;
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

WorkerRegistry::Options Scheduler::RegistryOptions(const SchedulerOptions& options) {
  WorkerRegistry::Options o;
  o.lease_seconds = options.lease_seconds;
  o.max_workers = options.max_workers;
  o.max_workers_per_token = options.max_workers_per_token;
  o.new_workers_burst = options.new_workers_burst;
  o.new_workers_per_second = options.new_workers_per_second;
  o.gone_worker_seconds = options.gone_worker_seconds;
  o.max_gone_shown = kMaxGoneWorkersShown;
  return o;
}

Scheduler::Scheduler(Storage* storage, Clock* clock, SchedulerOptions options)
    : checkpoint_store_(options.checkpoint_dir, kMaxCheckpointBytes),
      storage_(storage),
      clock_(clock),
      options_(options),
      workers_(RegistryOptions(options)) {
  committer_ = std::thread([this] { CommitLoop(); });
}

Scheduler::~Scheduler() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  commit_wanted_.SignalAll();
  committer_.join();
}

Status Scheduler::Load() {
  MutexLock lock(&mu_);
  WaitStorageLocked();
  return LoadLocked();
}

Status Scheduler::FinishStrandedSweeps() {
  return Mutate([&]() -> Status {
    mu_.AssertHeld();
    const double now = clock_->Now();
    for (const auto& [id, sw] : sweeps_) {
      if (sw.state == SweepState::kRunning && !samplers_.count(id)) {
        HPSWEEP_RETURN_IF_ERROR(MaybeFinishSweep(id, now));
      }
    }
    return Status::Ok();
  });
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
  sweep_data_.clear();
  finished_.clear();
  finished_built_ = false;
  pruned_twins_.Clear();
  populations_.clear();
  waiting_.clear();
  fail_streaks_.clear();  // (streaks start afresh; quarantines are in the workers' rows)
  completions_.clear();
  for (const SweepRow& s : *sweeps) {
    SweepRow& row = sweeps_[s.id] = s;
    // Several objectives and constraints are read from the stored file (they have no columns).
    StatusOr<SweepSpec> spec = ParseSweep(row.yaml, row.file_name);
    if (spec.ok()) {
      row.objectives = spec->objectives;
      row.constraints = spec->constraints;
    }
  }
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
    if (trials_[id].status == TrialStatus::kRunning && sw.state == SweepState::kCancelled) {
      stop_requested_.insert(id);
    }
    if (trials_[id].status == TrialStatus::kRunning) holding.insert(trials_[id].worker_id);
  }
  // Memory holds the workers heard from within a lease period, and those with a running trial:
  // like their leases, they get a full lease period from the restart to be heard from again.
  // Holders first, then the most recently seen, up to max_workers (WorkerRegistry::Load).
  workers_.Load(std::move(*workers), holding, now);
  LoadCheckpointsLocked();
  RebuildSamplersLocked();
  RebuildPopulationsLocked();  // (after the checkpoints: a member's place is its checkpoint's)
  // Pruners of running sweeps, from their stored files and epochs. A failure here leaves the
  // scheduler needing a reload, as a failed read above would.
  for (const auto& [id, sw] : sweeps_) {
    Status rebuilt = RebuildPrunerLocked(sw);
    if (!rebuilt.ok()) {
      needs_reload_ = true;
      return rebuilt;
    }
    if (sw.reuse && pruners_.count(id)) BuildPrunedTwinsLocked();  // (storage is ours here)
  }
  needs_reload_ = false;
  ++version_;
  changed_.SignalAll();
  return Status::Ok();
}

void Scheduler::Index(const TrialRow& t) {
  max_trial_id_ = std::max(max_trial_id_, t.id);
  if (t.status == TrialStatus::kQueued) {
    (AtBarrierLocked(t) ? waiting_ : queued_)[t.sweep_id].insert(t.id);  // (pbt: waiting_)
  }
  if (t.status == TrialStatus::kRunning) deadlines_.insert({t.lease_deadline, t.id});
  if (!t.lease_id.empty()) leases_[t.lease_id] = t.id;
}

void Scheduler::Unindex(const TrialRow& t) {
  auto q = queued_.find(t.sweep_id);
  if (q != queued_.end()) {
    q->second.erase(t.id);
    if (q->second.empty()) queued_.erase(q);
  }
  if (auto w = waiting_.find(t.sweep_id); w != waiting_.end() && w->second.erase(t.id) &&
                                          w->second.empty()) {
    waiting_.erase(w);
  }
  deadlines_.erase({t.lease_deadline, t.id});
}

StatusOr<int64_t> Scheduler::Submit(const SweepSpec& spec, const std::vector<TrialSpec>& trials,
                                    const std::string& yaml, const std::string& file_name,
                                    bool reuse, const SweepData* data) {
  // Every method has a sampler; no trial is stored here (see "Samplers" at the top). A plan is
  // the trials given (ExpandSweep's, with the sweep's data attached), not expanded again.
  std::unique_ptr<Sampler> sampler;
  if (spec.method == SweepMethod::kBayes) {
    // The sweep's own data, which every proposal carries as a plan's trials do (nothing for
    // MNIST): as PrepareSweep read it, or read and hashed here.
    StatusOr<SweepData> read = data != nullptr ? StatusOr<SweepData>(*data)
                                               : PrepareSweepData(spec, file_name, options_.sweep_limits);
    if (!read.ok()) return read.status();
    auto made = MakeSampler(spec, file_name, options_.sweep_limits, *read);
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
    mu_.AssertHeld();
    const double now = clock_->Now();
    std::vector<TrialRow> warm;
    if (!spec.warm_start.empty()) {
      // (every stored sweep comes before this one)
      StatusOr<std::vector<TrialRow>> w = WarmHistoryLocked(
          spec, file_name, std::numeric_limits<int64_t>::max(), now);
      if (!w.ok()) return w.status();
      warm = std::move(*w);
    }
    SweepRow sw;
    sw.name = spec.name;
    sw.description = spec.description;
    sw.file_name = file_name;
    sw.yaml = yaml;
    sw.total = sampler->planned();
    sw.state = sw.total == 0 ? SweepState::kCompleted : SweepState::kRunning;
    sw.metric = spec.metric;
    sw.maximize = spec.maximize;
    sw.max_attempts = spec.max_attempts;
    sw.quarantine_after = spec.quarantine_after;
    sw.created_at = now;
    sw.reuse = reuse || spec.reuse;  // --reuse, or `reuse: true` in the file
    if (sw.reuse && spec.method == SweepMethod::kPbt) {
      return InvalidArgument(EscapeText(file_name) + ": --reuse: not for method: pbt (a member's "
                             "params change as it trains)");
    }
    sw.program = spec.program;
    sw.max_trial_seconds = spec.max_trial_seconds;
    sw.seed = spec.seed;
    sw.objectives = spec.objectives;
    sw.constraints = spec.constraints;
    HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
    auto id = storage_->InsertSweep(sw);
    HPSWEEP_WRITE(id.status());
    sw.id = *id;
    sweeps_[sw.id] = sw;
    sweep_data_[sw.id] = SweepDataIdentity(spec);
    EmitLocked(events::SweepSubmitted(sw, file_name));
    if (spec.early_terminate.type != EarlyTerminateSpec::Type::kNone) {
      early_terminate_[sw.id] = spec.early_terminate;
      if (sw.state == SweepState::kRunning) {
        pruners_[sw.id] = MakePruner(spec.early_terminate, Objective(sw.metric, sw.maximize));
        if (sw.reuse) BuildPrunedTwinsLocked();  // (inside Mutate: storage is ours)
      }
    }
    if (spec.method == SweepMethod::kPbt && sw.state == SweepState::kRunning) {
      populations_[sw.id].spec = spec;
    }
    if (sw.state == SweepState::kRunning) {
      samplers_[sw.id].sampler = std::move(sampler);
      samplers_[sw.id].warm = std::move(warm);
    }
    sweep_id = sw.id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return sweep_id;
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
  if (status == TrialStatus::kPruned) IndexPrunedLocked(t);  // (before its pruner may go)
  HPSWEEP_RETURN_IF_ERROR(AdvancePopulationLocked(t.sweep_id));  // (one less member)
  return MaybeFinishSweep(t.sweep_id, now);
}

Status Scheduler::MaybeFinishSweep(int64_t sweep_id, double now) {
  SweepRow& sw = sweeps_[sweep_id];
  if (queued_.count(sweep_id) || waiting_.count(sweep_id)) return Status::Ok();
  auto live = samplers_.find(sweep_id);
  if (live != samplers_.end() &&
      !live->second.sampler->Exhausted(static_cast<int>(live->second.trial_ids.size()))) {
    return Status::Ok();  // more trials to come
  }
  for (const auto& [deadline, id] : deadlines_) {
    if (trials_[id].sweep_id == sweep_id) return Status::Ok();
  }
  if (sw.finished_at > 0) return Status::Ok();
  if (sw.state == SweepState::kRunning) sw.state = SweepState::kCompleted;
  sw.finished_at = now;
  EmitLocked(SweepFinishedEvent(sw));
  pruners_.erase(sweep_id);  // (a restart makes pruners for running sweeps only, too)
  populations_.erase(sweep_id);
  return Write([sweep_id, state = sw.state, now](Storage* st) {
    return st->UpdateSweepState(sweep_id, state, now);
  });
}

StatusOr<int> Scheduler::Cancel(int64_t sweep_id) {
  int count = 0;
  Status s = Mutate([&]() -> Status {
    mu_.AssertHeld();
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
    SweepRow& sw = it->second;
    if (sw.state != SweepState::kRunning) {
      return FailedPrecondition("sweep " + std::to_string(sweep_id) + " is already " + SweepStateName(sw.state));
    }
    const double now = clock_->Now();
    sw.state = SweepState::kCancelled;
    HPSWEEP_RETURN_IF_ERROR(Write([sweep_id, state = sw.state](Storage* st) {
      return st->UpdateSweepState(sweep_id, state, 0);
    }));
    std::set<int64_t> ids;  // queued, and pbt members waiting for their population
    for (auto* by : {&queued_, &waiting_}) {
      if (auto q = by->find(sweep_id); q != by->end()) ids.insert(q->second.begin(), q->second.end());
    }
    populations_.erase(sweep_id);  // (decides nothing more)
    for (int64_t id : ids) {
      HPSWEEP_RETURN_IF_ERROR(FinishTrial(trials_[id], TrialStatus::kStopped, now));
      ++count;
    }
    for (const auto& [deadline, id] : deadlines_) {
      if (trials_[id].sweep_id == sweep_id) {
        stop_requested_.insert(id);
        ++count;
      }
    }
    // Trials not proposed yet will never be: they count as stopped (Counts says so too).
    if (auto live = samplers_.find(sweep_id); live != samplers_.end()) {
      count += std::max(
          0, live->second.sampler->planned() - static_cast<int>(live->second.trial_ids.size()));
    }
    EmitLocked(events::SweepCancelled(sw, count));
    samplers_.erase(sweep_id);  // proposes nothing more
    return MaybeFinishSweep(sweep_id, now);
  });
  if (!s.ok()) return s;
  return count;
}

}  // namespace hpsweep
