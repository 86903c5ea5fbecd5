// Quarantine (see "Quarantine" in scheduler.h): workers whose attempts keep failing while their
// sweeps' trials complete elsewhere are leased nothing, and the attempts they spent are given
// back; ReleaseWorker lifts it.
#include <algorithm>
#include <set>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

void Scheduler::UnchargeAttempt(TrialRow* t, const std::string& why) {
  t->attempts = std::max(0, t->attempts - 1);
  // A give-back with a reason (out of memory, different data, a quarantine) is kept for the
  // user; a plain one (the worker shutting down) is not worth a line.
  if (!why.empty()) AppendError(t, why);
}

int Scheduler::QuarantineAfterLocked(int64_t sweep_id) {
  auto sw = sweeps_.find(sweep_id);
  if (sw != sweeps_.end() && sw->second.quarantine_after >= 0) return sw->second.quarantine_after;
  return options_.quarantine_after;
}

Status Scheduler::NoteFailureLocked(const TrialRow& t, const std::string& error, double now,
                                    bool* quarantined) {
  *quarantined = false;
  const WorkerRow* w = workers_.Find(t.worker_id);
  if (w == nullptr || !w->quarantine.empty()) return Status::Ok();
  if (QuarantineAfterLocked(t.sweep_id) == 0) return Status::Ok();  // off: not counted
  FailStreak& streak = fail_streaks_[t.worker_id];
  streak.failures.push_back({t.id, t.sweep_id, t.started_at});
  if (streak.failures.size() > static_cast<size_t>(kMaxQuarantineAfter)) {
    streak.failures.erase(streak.failures.begin());
  }
  streak.last_error = error.substr(0, 1024);
  return MaybeQuarantineLocked(t.worker_id, now, /*skip_last=*/true, quarantined);
}

Status Scheduler::NoteCompletionLocked(const TrialRow& t, double now) {
  fail_streaks_.erase(t.worker_id);
  if (t.worker_id == 0) return Status::Ok();
  Completions& c = completions_[t.sweep_id];
  if (c.worker != t.worker_id) {
    c.other_worker = c.worker;
    c.other_at = c.at;
  }
  c.worker = t.worker_id;
  c.at = now;
  // The workers this completion may quarantine: those with a failure of this sweep.
  std::vector<int64_t> failing;
  for (const auto& [worker_id, streak] : fail_streaks_) {
    for (const FailStreak::Failure& f : streak.failures) {
      if (f.sweep_id == t.sweep_id) {
        failing.push_back(worker_id);
        break;
      }
    }
  }
  std::sort(failing.begin(), failing.end());  // (a fixed order: events, tests)
  for (int64_t worker_id : failing) {
    bool quarantined = false;
    HPSWEEP_RETURN_IF_ERROR(MaybeQuarantineLocked(worker_id, now, false, &quarantined));
  }
  return Status::Ok();
}

Status Scheduler::SetQuarantineLocked(WorkerRow* w, const std::string& why, double now) {
  w->quarantine = why;
  w->quarantined_at = why.empty() ? 0 : now;
  return Write([id = w->id, fp = w->fingerprint, why, at = w->quarantined_at](Storage* st) {
    return st->UpdateWorkerHealth(id, fp, why, at);
  });
}

Status Scheduler::MaybeQuarantineLocked(int64_t worker_id, double now, bool skip_last,
                                        bool* quarantined) {
  *quarantined = false;
  auto st = fail_streaks_.find(worker_id);
  WorkerRow* w = workers_.Find(worker_id);
  if (st == fail_streaks_.end() || st->second.failures.empty() || w == nullptr ||
      !w->quarantine.empty()) {
    return Status::Ok();
  }
  const std::vector<FailStreak::Failure>& failures = st->second.failures;
  const int k = QuarantineAfterLocked(failures.back().sweep_id);
  if (k == 0 || failures.size() < static_cast<size_t>(k)) return Status::Ok();
  // Each of the last k failures is of a sweep that completed a trial on another worker since
  // the first of them began.
  const double since = failures[failures.size() - k].started_at;
  for (size_t i = failures.size() - k; i < failures.size(); ++i) {
    auto c = completions_.find(failures[i].sweep_id);
    if (c == completions_.end()) return Status::Ok();
    const bool elsewhere = c->second.worker != worker_id
                               ? c->second.at >= since
                               : c->second.other_worker != 0 && c->second.other_at >= since;
    if (!elsewhere) return Status::Ok();
  }
  HPSWEEP_RETURN_IF_ERROR(SetQuarantineLocked(
      w,
      "its last " + std::to_string(k) + " attempts failed while their sweeps' trials " +
          "completed elsewhere; the last: " + st->second.last_error,
      now));
  // Every attempt of the streak is given back uncharged; a trial failed for good is queued
  // again while its sweep runs (the caller gives back the last one when skip_last).
  const size_t n = failures.size() - (skip_last ? 1 : 0);
  std::set<int64_t> touched;
  int given_back = skip_last ? 1 : 0;  // (the caller's)
  for (size_t i = 0; i < n; ++i) {
    auto t = trials_.find(failures[i].trial_id);
    if (t == trials_.end()) continue;
    TrialRow& tr = t->second;
    if (tr.status != TrialStatus::kQueued && tr.status != TrialStatus::kRunning &&
        tr.status != TrialStatus::kFailed) {
      continue;  // it has a result
    }
    // A running trial that holds no deadline is the one the caller is ending (unindexed): the
    // caller writes it. Failing (skip_last), its earlier attempts here are given back in memory;
    // completing, it has a result.
    if (tr.status == TrialStatus::kRunning && !deadlines_.count({tr.lease_deadline, tr.id})) {
      if (skip_last) {
        UnchargeAttempt(&tr, "");
        ++given_back;
      }
      continue;
    }
    UnchargeAttempt(&tr, "");
    ++given_back;
    touched.insert(tr.id);
  }
  const std::string why = "attempts on '" + w->name + "' given back (no attempt charged): " +
                          "the worker was quarantined";
  for (int64_t id : touched) {
    TrialRow& tr = trials_[id];
    AppendError(&tr, why);
    const SweepRow& sw = sweeps_[tr.sweep_id];
    if (tr.status == TrialStatus::kFailed && sw.state == SweepState::kRunning &&
        tr.attempts < sw.max_attempts) {
      tr.status = TrialStatus::kQueued;  // leased again, to another worker
      tr.finished_at = 0;
      tr.lease_deadline = 0;
      leases_.erase(tr.lease_id);  // (the failed lease completes nothing now)
      tr.lease_id.clear();
    }
    HPSWEEP_RETURN_IF_ERROR(WriteTrial(tr));
  }
  EmitLocked(events::WorkerQuarantined(*w, given_back));
  fail_streaks_.erase(st);
  *quarantined = true;
  return Status::Ok();
}

StatusOr<bool> Scheduler::ReleaseWorker(const std::string& name) {
  if (name.empty()) return InvalidArgument("worker_name is empty");
  HPSWEEP_RETURN_IF_ERROR(CheckText("worker_name", name, kMaxWorkerNameBytes, true));
  bool released = false;
  Status s = Mutate([&]() -> Status {
    mu_.AssertHeld();
    WorkerRow* w = workers_.FindByName(name);
    WorkerRow stored;  // a worker held nowhere: its row only
    if (w == nullptr) {
      auto rows = storage_->LoadWorkers();
      if (!rows.ok()) return rows.status();
      for (const WorkerRow& r : *rows) {
        if (r.name == name) stored = r;
      }
      if (stored.id == 0) return NotFound("no worker is named '" + EscapeText(name) + "'");
      w = &stored;
    }
    if (w->quarantine.empty()) return Status::Ok();
    HPSWEEP_RETURN_IF_ERROR(SetQuarantineLocked(w, "", 0));
    fail_streaks_.erase(w->id);
    EmitLocked(events::WorkerReleased(*w, "released"));
    released = true;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return released;
}

std::vector<WorkerRow> Scheduler::QuarantinedWorkers() {
  MutexLock lock(&mu_);
  std::vector<WorkerRow> out;
  for (const auto* held : {&workers_.held(), &workers_.gone()}) {
    for (const auto& [id, w] : *held) {
      if (!w.quarantine.empty()) out.push_back(w);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerRow& a, const WorkerRow& b) { return a.id < b.id; });
  return out;
}

}  // namespace hpsweep
