// The workers the coordinator holds in memory; see worker_registry.h.
#include "coordinator/worker_registry.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

namespace hpsweep {
namespace {

std::string FormatRate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

WorkerRegistry::WorkerRegistry(const Options& options) : options_(options) {}

StatusOr<WorkerRegistry::Admission> WorkerRegistry::Admit(const std::string& name,
                                                          const std::string& owner, double now) {
  Admission a;
  auto known = by_name_.find(name);
  a.known = known != by_name_.end();
  if (a.known) {
    auto o = owner_.find(known->second);
    if (o != owner_.end() && o->second != owner) {
      return PermissionDenied("worker name '" + name +
                              "' is registered with another token; choose another --name");
    }
  } else if (held_.size() >= options_.max_workers) {
    return Unavailable(std::to_string(held_.size()) +
                       " workers were heard from within a lease period; the limit is " +
                       std::to_string(options_.max_workers) + ": retry later");
  }
  a.owned_here = a.known && owner_.count(known->second);
  if (!owner.empty() && !a.owned_here) {
    auto n = of_owner_.find(owner);
    const size_t count = n == of_owner_.end() ? 0 : n->second;
    if (count >= options_.max_workers_per_token) {
      return Unavailable(std::to_string(count) +
                         " workers of this token were heard from within a lease period; the "
                         "limit per token is " +
                         std::to_string(options_.max_workers_per_token) + ": retry later");
    }
  }
  // New names per owner: a token bucket, taken from only when the registration goes ahead.
  if (!owner.empty() && !a.known) {
    auto [b, fresh] = buckets_.try_emplace(owner);
    Bucket& bucket = b->second;
    if (fresh) bucket = Bucket{options_.new_workers_burst, now};
    bucket.tokens = std::min(options_.new_workers_burst,
                             bucket.tokens + (now - bucket.at) * options_.new_workers_per_second);
    bucket.at = now;
    if (bucket.tokens < 1) {
      return Unavailable("this token registered new workers faster than " +
                         FormatRate(options_.new_workers_per_second) +
                         " a second after a burst of " + FormatRate(options_.new_workers_burst) +
                         ": retry later");
    }
    a.take_token = true;
  }
  return a;
}

bool WorkerRegistry::Hold(const WorkerRow& stored, const std::string& owner,
                          const Admission& admission) {
  const bool joined = !by_name_.count(stored.name);
  held_[stored.id] = stored;  // (with what it did before, from its row)
  by_name_[stored.name] = stored.id;
  if (!admission.owned_here) {
    owner_[stored.id] = owner;
    if (!owner.empty()) ++of_owner_[owner];
  }
  if (admission.take_token) buckets_[owner].tokens -= 1;
  gone_.erase(stored.id);
  grace_.erase(stored.id);
  return joined;
}

Status WorkerRegistry::CheckOwner(int64_t worker_id, const std::string& owner) const {
  auto o = owner_.find(worker_id);
  if (o == owner_.end()) {
    // Loaded at start (owner unknown) is fine without tokens; with them, register again.
    if (owner.empty() && held_.count(worker_id)) return Status::Ok();
    return NotFound("worker " + std::to_string(worker_id) + " is not registered");
  }
  if (o->second != owner) {
    return PermissionDenied("worker " + std::to_string(worker_id) +
                            " was registered with another token");
  }
  return Status::Ok();
}

std::string WorkerRegistry::OwnerOf(int64_t worker_id) const {
  auto o = owner_.find(worker_id);
  return o == owner_.end() ? std::string() : o->second;
}

void WorkerRegistry::DropOwner(int64_t worker_id) {
  leased_.erase(worker_id);
  auto o = owner_.find(worker_id);
  if (o == owner_.end()) return;
  if (!o->second.empty()) {
    auto n = of_owner_.find(o->second);
    if (n != of_owner_.end() && --n->second == 0) of_owner_.erase(n);
  }
  owner_.erase(o);
}

std::vector<WorkerRow> WorkerRegistry::Prune(double now) {
  std::vector<WorkerRow> dropped;
  for (auto it = held_.begin(); it != held_.end();) {
    auto grace = grace_.find(it->first);
    const bool kept = grace != grace_.end() && now < grace->second;
    if (now - it->second.last_seen < options_.lease_seconds || kept) {
      ++it;
      continue;
    }
    if (grace != grace_.end()) grace_.erase(grace);
    dropped.push_back(it->second);
    by_name_.erase(it->second.name);
    touched_.erase(it->first);
    DropOwner(it->first);
    gone_[it->first] = std::move(it->second);
    it = held_.erase(it);
  }
  // Gone workers are shown for a while, the latest max_gone_shown.
  for (auto it = gone_.begin(); it != gone_.end();) {
    const bool old = now - it->second.last_seen >= options_.gone_worker_seconds;
    it = old ? gone_.erase(it) : std::next(it);
  }
  if (gone_.size() > options_.max_gone_shown) {
    std::vector<std::pair<double, int64_t>> by_age;
    for (const auto& [id, w] : gone_) by_age.push_back({w.last_seen, id});
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i + options_.max_gone_shown < by_age.size(); ++i) {
      gone_.erase(by_age[i].second);
    }
  }
  return dropped;
}

bool WorkerRegistry::HeardFrom(int64_t worker_id, double now) {
  auto w = held_.find(worker_id);
  if (w == held_.end()) return false;  // dropped: it registers again
  w->second.last_seen = now;
  grace_.erase(worker_id);
  // The stored last_seen is for `workers --db` and a restart; a write every few seconds will do.
  return now - touched_[worker_id] > 5;
}

void WorkerRegistry::Touched(int64_t worker_id, double now) { touched_[worker_id] = now; }

void WorkerRegistry::CountTrials(int64_t worker_id, int done, int failed) {
  for (auto* rows : {&held_, &gone_}) {
    auto w = rows->find(worker_id);
    if (w == rows->end()) continue;
    w->second.trials_done += done;
    w->second.trials_failed += failed;
  }
}

void WorkerRegistry::Load(std::vector<WorkerRow> rows, const std::set<int64_t>& holding,
                          double now) {
  held_.clear();
  by_name_.clear();
  grace_.clear();
  gone_.clear();
  touched_.clear();
  // Held is not alive: a holder silent since before the restart counts only once heard from.
  std::vector<WorkerRow> recent, gone;
  for (WorkerRow& w : rows) {
    const bool heard = now - w.last_seen < options_.lease_seconds;
    if (heard || holding.count(w.id)) {
      if (holding.count(w.id)) grace_[w.id] = now + options_.lease_seconds;
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
    by_name_[w.name] = w.id;
    held_[w.id] = std::move(w);
  }
  std::sort(gone.begin(), gone.end(), latest_first);
  if (gone.size() > options_.max_gone_shown) gone.resize(options_.max_gone_shown);
  for (WorkerRow& w : gone) gone_[w.id] = std::move(w);
}

void WorkerRegistry::SetLeased(int64_t worker_id, int64_t trial_id) {
  leased_[worker_id] = trial_id;
}

bool WorkerRegistry::Leased(int64_t worker_id, int64_t* trial_id) const {
  auto l = leased_.find(worker_id);
  if (l == leased_.end()) return false;
  *trial_id = l->second;
  return true;
}

void WorkerRegistry::ForgetLeased(int64_t worker_id) { leased_.erase(worker_id); }

WorkerRow* WorkerRegistry::Find(int64_t worker_id) {
  auto w = held_.find(worker_id);
  return w == held_.end() ? nullptr : &w->second;
}

const WorkerRow* WorkerRegistry::Find(int64_t worker_id) const {
  auto w = held_.find(worker_id);
  return w == held_.end() ? nullptr : &w->second;
}

WorkerRow* WorkerRegistry::FindByName(const std::string& name) {
  if (auto id = by_name_.find(name); id != by_name_.end()) return &held_[id->second];
  for (auto& [id, gone] : gone_) {
    if (gone.name == name) return &gone;
  }
  return nullptr;
}

int WorkerRegistry::CountAlive(double now) const {
  int n = 0;
  for (const auto& [id, w] : held_) {
    if (now - w.last_seen < options_.lease_seconds) ++n;
  }
  return n;
}

}  // namespace hpsweep
