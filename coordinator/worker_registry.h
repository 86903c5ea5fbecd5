// WorkerRegistry: the workers the coordinator holds in memory (Scheduler, "Workers" and "Owners"
// in coordinator/scheduler.h): those heard from within a lease period, or held by a grace after
// a restart; those gone lately, shown for a while; each worker's owner (the token that
// registered it) with the count each owner holds; each owner's token bucket of new names; and
// the trial each worker was last leased. With them, the rules that only touch them: who may
// register (Admit, Hold), who may use a worker id (CheckOwner), when a silent worker is dropped
// and for how long it is shown (Prune), when its last_seen is due to be written (HeardFrom).
// The storage writes, the events and the quarantine rules stay the scheduler's: Prune returns
// the workers it dropped, HeardFrom says whether to write.
//
// Ownership: owns copies of the workers' rows; their stored rows are the scheduler's storage's.
//
// Thread-safety: not thread-safe; the scheduler calls it under its lock.
#ifndef HPSWEEP_COORDINATOR_WORKER_REGISTRY_H_
#define HPSWEEP_COORDINATOR_WORKER_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "search/domain.h"

namespace hpsweep {

class WorkerRegistry {
 public:
  // The scheduler's options and limits (SchedulerOptions, kMaxGoneWorkersShown).
  struct Options {
    double lease_seconds = 30;          // silent this long: not alive, dropped unless held
    size_t max_workers = 0;             // held at most
    size_t max_workers_per_token = 0;   // held at most per non-empty owner
    double new_workers_burst = 0;       // new names per non-empty owner: a burst of this many,
    double new_workers_per_second = 0;  // then this many a second
    double gone_worker_seconds = 0;     // a gone worker is shown this long after it was heard
    size_t max_gone_shown = 0;          // gone workers kept at most (the latest)
  };
  explicit WorkerRegistry(const Options& options);

  WorkerRegistry(const WorkerRegistry&) = delete;
  WorkerRegistry& operator=(const WorkerRegistry&) = delete;

  // ---- Registration ----
  // What Admit decided, for Hold.
  struct Admission {
    bool known = false;       // the name is held
    bool owned_here = false;  // held with a known owner (registered since start): counted
    bool take_token = false;  // a new name of a non-empty owner: Hold takes a bucket token
  };
  // May `owner` (a token's key; "" without tokens) register `name` now? In this order:
  // PermissionDenied if the name is held by another owner; Unavailable (retry later) if a new
  // name would hold more than max_workers, or a non-empty owner's new worker more than
  // max_workers_per_token, or a non-empty owner registers new names faster than its bucket
  // allows. The bucket is refilled to now; its token is taken only by Hold.
  StatusOr<Admission> Admit(const std::string& name, const std::string& owner, double now);
  // The registration admitted (and stored as `stored`) goes ahead: the worker is held (no longer
  // gone, no grace), owned by `owner` unless its owner is known, and the bucket's token taken.
  // Returns whether it joined (its name was not held).
  bool Hold(const WorkerRow& stored, const std::string& owner, const Admission& admission);

  // ---- Owners ----
  // May `owner` use worker_id? NotFound if it is not held with a known owner (one loaded at
  // start, owner unknown, is fine for the empty owner); PermissionDenied for another owner.
  Status CheckOwner(int64_t worker_id, const std::string& owner) const;
  // worker_id's owner; "" if unknown.
  std::string OwnerOf(int64_t worker_id) const;
  // Forgets a dropped worker's owner (and its count) and its lease.
  void DropOwner(int64_t worker_id);

  // ---- Alive, held and gone ----
  // Drops the workers not heard from within lease_seconds (unless held by a grace) and returns
  // them, in id order, as they were; they are kept as gone. Gone workers are kept for
  // gone_worker_seconds after they were heard, at most max_gone_shown (the latest).
  std::vector<WorkerRow> Prune(double now);
  // worker_id was heard from at now: alive again, its grace over. True if it is held and its
  // stored last_seen is due to be written (more than 5 s since the last Touched).
  bool HeardFrom(int64_t worker_id, double now);
  // worker_id's last_seen was written at now.
  void Touched(int64_t worker_id, double now);
  // Adds to a held or gone worker's trials_done / trials_failed.
  void CountTrials(int64_t worker_id, int done, int failed);
  // After a (re)load: holds the workers of `rows` (every stored worker) heard from within a lease
  // period and those in `holding` (a running trial's; held by a grace for a lease period),
  // holders first then the latest, at most max_workers; keeps the rest heard within
  // gone_worker_seconds as gone (at most max_gone_shown, the latest). Owners, buckets and leases
  // are kept.
  void Load(std::vector<WorkerRow> rows, const std::set<int64_t>& holding, double now);

  // ---- Leases ----
  void SetLeased(int64_t worker_id, int64_t trial_id);  // worker_id was leased trial_id
  // The trial worker_id was last leased (*trial_id), if it has one.
  bool Leased(int64_t worker_id, int64_t* trial_id) const;
  void ForgetLeased(int64_t worker_id);

  // ---- Lookups ----
  WorkerRow* Find(int64_t worker_id);  // held, or null
  const WorkerRow* Find(int64_t worker_id) const;
  // The held worker named `name`, else the gone one of that name with the lowest id, or null.
  WorkerRow* FindByName(const std::string& name);
  int CountAlive(double now) const;  // held workers heard from within lease_seconds
  size_t size() const { return held_.size(); }
  const std::map<int64_t, WorkerRow>& held() const { return held_; }  // by id
  const std::map<int64_t, WorkerRow>& gone() const { return gone_; }  // by id

 private:
  struct Bucket {
    double tokens = 0, at = 0;  // tokens left at time `at`
  };

  const Options options_;
  std::map<int64_t, WorkerRow> held_;                 // held in memory (see the top)
  std::unordered_map<std::string, int64_t> by_name_;  // of held_
  std::map<int64_t, double> touched_;                 // when last_seen was last written, per worker
  // Held in memory after a restart (running a trial) until this time, though silent.
  std::map<int64_t, double> grace_;
  // Owner key of each worker registered since start (absent: loaded at start, owner unknown), and
  // how many of held_ each non-empty owner holds.
  std::unordered_map<int64_t, std::string> owner_;
  std::unordered_map<std::string, size_t> of_owner_;
  std::unordered_map<std::string, Bucket> buckets_;  // new names, per owner
  // The trial each worker was last leased (it holds it while that trial runs on its lease).
  std::unordered_map<int64_t, int64_t> leased_;
  std::map<int64_t, WorkerRow> gone_;  // dropped from held_, shown by ListWorkers
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_WORKER_REGISTRY_H_
