// Workers you can see (registration, alive or gone, trial counts) and events.
#include <algorithm>
#include <cstdio>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {
namespace {

std::string FormatRate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

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
    auto known = worker_by_name_.find(name);
    if (known != worker_by_name_.end()) {
      auto o = worker_owner_.find(known->second);
      if (o != worker_owner_.end() && o->second != owner) {
        return PermissionDenied("worker name '" + name +
                                "' is registered with another token; choose another --name");
      }
    } else if (workers_.size() >= options_.max_workers) {
      return Unavailable(std::to_string(workers_.size()) +
                         " workers were heard from within a lease period; the limit is " +
                         std::to_string(options_.max_workers) + ": retry later");
    }
    const bool owned_here = known != worker_by_name_.end() && worker_owner_.count(known->second);
    if (!owner.empty() && !owned_here &&
        workers_of_owner_[owner] >= options_.max_workers_per_token) {
      return Unavailable(std::to_string(workers_of_owner_[owner]) +
                         " workers of this token were heard from within a lease period; the "
                         "limit per token is " +
                         std::to_string(options_.max_workers_per_token) + ": retry later");
    }
    // New names per owner: a token bucket, taken from only when the registration goes ahead.
    Bucket* bucket = nullptr;
    if (!owner.empty() && known == worker_by_name_.end()) {
      auto [b, fresh] = new_worker_buckets_.try_emplace(owner);
      bucket = &b->second;
      if (fresh) *bucket = Bucket{options_.new_workers_burst, now};
      bucket->tokens = std::min(options_.new_workers_burst,
                                bucket->tokens + (now - bucket->at) * options_.new_workers_per_second);
      bucket->at = now;
      if (bucket->tokens < 1) {
        return Unavailable("this token registered new workers faster than " +
                           FormatRate(options_.new_workers_per_second) +
                           " a second after a burst of " +
                           FormatRate(options_.new_workers_burst) + ": retry later");
      }
    }
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
    const bool joined = !worker_by_name_.count(name);
    workers_[stored->id] = *stored;  // (with what it did before, from its row)
    worker_by_name_[name] = stored->id;
    if (!owned_here) {
      worker_owner_[stored->id] = owner;
      if (!owner.empty()) ++workers_of_owner_[owner];
    }
    if (bucket != nullptr) bucket->tokens -= 1;
    gone_workers_.erase(stored->id);
    worker_grace_.erase(stored->id);
    if (joined) EmitLocked(events::WorkerJoined(*stored));
    worker_id = stored->id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return worker_id;
}

Status Scheduler::CheckWorkerOwner(int64_t worker_id, const std::string& owner) {
  MutexLock lock(&mu_);
  auto o = worker_owner_.find(worker_id);
  if (o == worker_owner_.end()) {
    // Loaded at start (owner unknown) is fine without tokens; with them, register again.
    if (owner.empty() && workers_.count(worker_id)) return Status::Ok();
    return NotFound("worker " + std::to_string(worker_id) + " is not registered");
  }
  if (o->second != owner) {
    return PermissionDenied("worker " + std::to_string(worker_id) +
                            " was registered with another token");
  }
  return Status::Ok();
}

void Scheduler::DropOwnerLocked(int64_t worker_id) {
  leased_to_worker_.erase(worker_id);
  auto o = worker_owner_.find(worker_id);
  if (o == worker_owner_.end()) return;
  if (!o->second.empty()) {
    auto n = workers_of_owner_.find(o->second);
    if (n != workers_of_owner_.end() && --n->second == 0) workers_of_owner_.erase(n);
  }
  worker_owner_.erase(o);
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
    DropOwnerLocked(it->first);
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

int Scheduler::WorkersAlive() {
  MutexLock lock(&mu_);
  const double now = clock_->Now();
  int n = 0;
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen < options_.lease_seconds) ++n;
  }
  return n;
}

size_t Scheduler::WorkersHeld() {
  MutexLock lock(&mu_);
  return workers_.size();
}

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
      v.epoch = std::min(t.epochs_run + 1, MaxEpochs(t, sweeps_[t.sweep_id]));
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

}  // namespace hpsweep
