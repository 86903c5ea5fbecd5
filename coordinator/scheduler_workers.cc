// Workers you can see (registration, alive or gone, trial counts) and events.
#include <algorithm>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

StatusOr<int64_t> Scheduler::RegisterWorker(const std::string& name, int threads,
                                            const std::string& host, const std::string& job_id,
                                            const std::string& owner,
                                            const std::vector<std::string>& programs,
                                            bool bf16, const std::string& fingerprint) {
  if (name.empty()) return InvalidArgument("worker_name is empty");
  if (programs.size() > kMaxWorkerPrograms) {
    return InvalidArgument("programs has " + std::to_string(programs.size()) +
                           " names; the limit is " + std::to_string(kMaxWorkerPrograms));
  }
  for (size_t i = 0; i < programs.size(); ++i) {
    const std::string& p = programs[i];
    if (!IsProgramName(p)) {
      return InvalidArgument("programs[" + std::to_string(i) + "] is '" +
                             EscapeText(p.substr(0, 80)) + "'; a program's name is " +
                             "[A-Za-z0-9._-], 1 to 64 characters");
    }
  }
  HPSWEEP_RETURN_IF_ERROR(CheckText("worker_name", name, kMaxWorkerNameBytes, true));
  HPSWEEP_RETURN_IF_ERROR(CheckText("host", host, kMaxWorkerHostBytes, true));
  HPSWEEP_RETURN_IF_ERROR(CheckText("job_id", job_id, kMaxWorkerJobIdBytes, true));
  HPSWEEP_RETURN_IF_ERROR(
      CheckText("fingerprint", fingerprint, kMaxWorkerFingerprintBytes, true));
  if (threads < 0 || threads > kMaxWorkerThreads) {
    return InvalidArgument("threads is " + std::to_string(threads) + "; it must be in [0, " +
                           std::to_string(kMaxWorkerThreads) + "]");
  }
  int64_t worker_id = 0;
  Status s = Mutate([&]() -> Status {
    mu_.AssertHeld();
    const double now = clock_->Now();
    PruneWorkersLocked(now);
    auto admission = workers_.Admit(name, owner, now);
    if (!admission.ok()) return admission.status();
    HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
    WorkerRow row;
    row.name = name;
    row.threads = threads;
    row.host = host;
    row.job_id = job_id;
    row.programs = programs;
    row.bf16 = bf16;
    row.fingerprint = fingerprint;
    auto stored = storage_->UpsertWorker(row, now);
    HPSWEEP_WRITE(stored.status());
    // Another binary, program or data than it registered with: its quarantine is lifted and its
    // streak starts afresh (see "Quarantine" at the top). None sent (an older worker): kept.
    if (!fingerprint.empty() && stored->fingerprint != fingerprint) {
      const bool was_quarantined = !stored->quarantine.empty();
      stored->fingerprint = fingerprint;
      HPSWEEP_RETURN_IF_ERROR(SetQuarantineLocked(&*stored, "", 0));
      fail_streaks_.erase(stored->id);
      if (was_quarantined) EmitLocked(events::WorkerReleased(*stored, "new fingerprint"));
    }
    const bool joined = workers_.Hold(*stored, owner, *admission);
    if (joined) EmitLocked(events::WorkerJoined(*stored));
    worker_id = stored->id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return worker_id;
}

Status Scheduler::CheckWorkerOwner(int64_t worker_id, const std::string& owner) {
  MutexLock lock(&mu_);
  return workers_.CheckOwner(worker_id, owner);
}

void Scheduler::PruneWorkersLocked(double now) {
  for (const WorkerRow& w : workers_.Prune(now)) {
    EmitLocked(events::WorkerGone(w, now - w.last_seen));
  }
}

int Scheduler::WorkersAlive() {
  MutexLock lock(&mu_);
  return workers_.CountAlive(clock_->Now());
}

size_t Scheduler::WorkersHeld() {
  MutexLock lock(&mu_);
  return workers_.size();
}

Status Scheduler::HeardFromLocked(int64_t worker_id, double now) {
  if (!workers_.HeardFrom(worker_id, now)) return Status::Ok();
  HPSWEEP_RETURN_IF_ERROR(
      Write([worker_id, now](Storage* st) { return st->TouchWorker(worker_id, now); }));
  workers_.Touched(worker_id, now);
  return Status::Ok();
}

Status Scheduler::CountWorkerTrialsLocked(int64_t worker_id, int done, int failed) {
  if (worker_id == 0 || (done == 0 && failed == 0)) return Status::Ok();
  HPSWEEP_RETURN_IF_ERROR(Write([worker_id, done, failed](Storage* st) {
    return st->AddWorkerTrials(worker_id, done, failed);
  }));
  workers_.CountTrials(worker_id, done, failed);
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
  MutexLock lock(&mu_);
  if (needs_reload_) {
    WaitStorageLocked();
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
  for (const auto& [id, w] : workers_.held()) {
    WorkerView v;
    v.worker = w;
    v.alive = now - w.last_seen < options_.lease_seconds;
    auto h = holds.find(id);
    if (v.alive && h != holds.end()) {
      const TrialRow& t = *h->second;
      v.sweep_id = t.sweep_id;
      v.trial_id = t.id;
      v.trial_number = t.number;
      v.epoch = std::min(t.epochs_run + 1, MaxEpochs(t, sweeps_[t.sweep_id]));
    }
    out.push_back(std::move(v));
  }
  const size_t held = out.size();
  for (const auto& [id, w] : workers_.gone()) {
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

}  // namespace hpsweep
