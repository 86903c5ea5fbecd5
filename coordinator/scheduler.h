// Scheduler: the coordinator's state machine. Sweeps become queued trials; workers pull them with
// leases; progress reports renew a lease and store each epoch; an expired lease puts the trial back
// (attempt + 1) until the sweep's max_attempts, then fails it with the reason.
//
//   queued ──Lease──► running ──Complete──► completed (or stopped/pruned, if it stopped on STOP)
//     ▲                 │ ──Fail / lease expired, attempts left──► queued
//     │                 │ ──Fail / lease expired, none left──────► failed
//     └─Fail(released)──┘ ──sweep cancelled─────────────────────► stopped
//                         ──early_terminate prunes it────────────► pruned
//
// Pruning (search/pruner.h): a sweep with `early_terminate` has a Pruner fed with every
// stored epoch of its trials. After each epoch a running trial reports, the pruner decides; a
// trial it prunes is told STOP on that report and every later one (heartbeats included), and
// whatever ends its lease (its stopped completion, a Fail, an expiry) finishes it as pruned with
// its epochs so far. Each stored epoch's recorded_at is kept strictly increasing (and kept when a
// completion's history replaces the reported epochs): it orders the pruner's records, so Load
// rebuilds the pruners from the stored epochs and re-derives which running trials are pruned,
// and a restarted coordinator decides as the old one would have.
//
// Durability: every change is committed to Storage before its caller hears the result. The
// synchronous methods write and commit before they return. The *Async forms, for the RPC edge,
// make the change in memory, queue its writes and return; the scheduler's commit thread writes
// everything queued in one transaction, outside the mutex, and then runs each call's `done`. Under
// load one commit serves many calls, and the next calls are served while the last batch is being
// written. A synchronous change that arrives meanwhile waits for that batch, then commits the
// queued writes together with its own.
// Storage is the truth: a restarted coordinator calls Load() and carries on; running trials keep
// their leases and come back when their workers report again or their leases expire. If a write
// or commit fails, every call whose changes were not yet committed fails (their writes share the
// transaction, and later changes were made on top of them) and memory is reloaded from storage.
//
// Leases: a lease id is 128 bits from the kernel's CSPRNG (getrandom), in hex; it says nothing
// about its trial, and it is the only credential a worker has, so only exact matches count. A
// trial remembers the last lease granted on it (TrialRow::lease_id, stored, so it survives a
// restart) until it is leased again; every other lease id is refused and changes nothing. The
// last-granted lease may report while the trial runs under it. It may complete the trial while
// the trial has no result: running, or put back (queued) or failed after the lease expired, as
// long as no newer lease was granted. That is the "worker cut off, then back" case: its finished
// result is kept once. A result under an older lease is refused (the newer lease owns the trial).
// A Fail releases the lease (it cannot complete afterwards); a retried Complete or Fail of a
// finished trial under its last lease is answered OK and changes nothing.
//
// Input checks (limits below): every report and completion is range-checked before anything
// changes; a refused one is InvalidArgument naming the field and the limit. Epochs are reported in
// order, once each, within the trial's `epochs` param; a report repeating the last epoch with the
// same values (a retry) is answered OK and stored once. Refusals of a report are InvalidArgument,
// never FailedPrecondition/NotFound: those tell a worker its lease is gone, and it stops training.
//
// Samplers (search/sampler.h): every sweep has a sampler (grid, random and list: a plan of
// ExpandSweep's trials; bayes: TPE), live until it has proposed sweep.total trials or the sweep
// is cancelled. Submit stores the sweep only, no trial. When the sweeps take turns in Lease and it
// is a sweep's turn with nothing queued, its sampler proposes the next trial (number = stored + 1),
// which is queued (its id chosen here, so an asynchronous lease can hand it out before the
// commit) and leased in the same transaction (on the asynchronous path the insert writes the row
// as leased: one write, not an insert then an update). A plan's proposal is O(1):
// the sweep's trials are gathered for a sampler only if it needs_history(). Trials not yet proposed
// are counted as `unproposed`, not queued; a cancelled sweep proposes nothing more, so they never
// exist. A trial put back (lease expired, attempts left) is queued and leased before anything new
// is proposed. The sweep completes when the sampler is exhausted and no trial is queued or running.
// Load() rebuilds samplers from each running sweep's stored YAML (a plan is expanded again, with
// the data params of its stored trials) and its stored trials, so the next proposal is the one
// the coordinator would have made without the restart. A sweep stored whole at submit (by an
// older coordinator) has nothing left to propose.
//
// Reuse: a sweep submitted with reuse (hpsweep run/submit --reuse) does not train a trial whose
// result is already known. When such a trial is about to be leased and a completed trial of
// another sweep in this database has the same identity (TrialIdentityKey: every param that
// decides training, the data set and the seed), the trial is completed by copying that result:
// its epochs, best and test metrics, confusion matrix, training seconds and saved model; its
// reused_from says where it came from ("sweep 3 #2") and no worker or attempt is charged. The
// next trial is then considered for the lease. The engine is deterministic for a seed and a
// thread count (engine/trainer.h): a copy stands for a run on another thread count only up to
// float rounding, and for a run of the same hpsweep version. Copied trials are not fed to the
// sweep's pruner (live or rebuilt), so pruning decides by trained trials only. A trial whose
// twin was pruned is copied as pruned where this sweep's pruner prunes it at the same epoch
// (scheduler_reuse.cc says how); otherwise it trains.
//
// Population-based training (method: pbt; docs/internals.md): members train in segments; one
// that ends its segment waits (waiting_) until none is behind, then the population decides
// (search/pbt.h) in that transaction, stored (sweeps.pbt_epoch, the members' params and schedule).
// Warm start: a bayes sweep naming warm_start.sweeps learns from their trials finished before
// its submit (docs/internals.md); a function of the database and the file, rebuilt on restart.
//
// Workers: registering again under the same name reuses the worker. A worker is alive while it
// was heard from (a registration, lease, report, completion or failure of its trial) within one
// lease period, and only then: one lease period after it dies, is cut off or leaves, it no longer
// counts (WorkersAlive, ListWorkers). Silent workers are dropped from memory (their database rows
// stay) and kept as "gone" for options.gone_worker_seconds (at most kMaxGoneWorkersShown, the
// latest), so that ListWorkers shows who left. At most options.max_workers are held, after which
// RegisterWorker is Unavailable (retry later) for new names.
// What is held in memory, with these rules, is a WorkerRegistry's (coordinator/worker_registry.h).
//
// Owners: with tokens, a worker belongs to the token that registered it (its owner key, from the
// service; empty without tokens). Another token may not register the same name nor lease with
// its id (PermissionDenied), so no one can take a worker's trials or blame it for failures. One
// token holds at most options.max_workers_per_token workers, and registers new names at most at
// options.new_workers_per_second after a burst, so one token cannot crowd out the rest nor grow
// the workers table at will; and with options.one_lease_per_worker (the service's) a worker holds one lease at a time:
// leasing again gives its current trial back (uncharged) first, so no worker can sit on many. After a restart (Load) a worker is
// alive by the last_seen stored (written at most every few seconds), and one holding a running
// trial is held in memory for a lease period, as its lease is, without counting as alive until it
// is heard from.
//
// Quarantine: a worker that fails every trial it takes (a broken driver, a full disk, a bad
// program) would otherwise lease until max_attempts is spent on many trials. A worker's streak is
// its attempts that ended in a FailTrial (not a give-back) since its last completion. Give-backs
// and expired leases neither count nor end a streak: an expiry says the coordinator lost touch
// (a kill, a network cut, a restart), not that the machine fails trials, and a killed worker's
// next process registers anew anyway. When the streak's last K failures (K: the sweep file's
// quarantine_after of the latest failure's sweep, else options.quarantine_after; 0: off) are
// each of a sweep whose trials completed on another worker since the first of those K began,
// the worker is quarantined: it is leased nothing, its last error is kept, and every attempt of
// its streak is given back uncharged (the give-back rule of Fail(released)), so a trial it
// failed for good is queued again while its sweep runs. A sweep whose trials fail everywhere
// completes on no worker, so it quarantines none: its trials fail as they would without this.
// The check runs on each failure and on each completion (before that trial ends, so a sweep is
// not finished under a trial about to be queued again). Lifted by ReleaseWorker, or by the worker
// registering with another fingerprint (a new binary, program or data). Quarantines are stored
// (the workers table); streaks live in memory, so a restart starts them afresh.
//
// Events (coordinator/events.h): each change that matters to an operator is recorded in
// options.events once it is committed; a change rolled back records nothing.
// Thread-safety: all public methods are thread-safe (one mutex; storage is used under it, or by
// the commit thread while no one else may). `done` callbacks run without the mutex, on the commit
// thread or the caller's, and may call the scheduler. Ownership: does not own the Storage or the
// Clock; both must outlive it. Owns the commit thread; the destructor commits what is queued and
// runs every pending `done` before it returns.
#ifndef HPSWEEP_COORDINATOR_SCHEDULER_H_
#define HPSWEEP_COORDINATOR_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "coordinator/events.h"
#include "coordinator/export_text.h"
#include "coordinator/population.h"
#include "coordinator/pruned_twins.h"
#include "search/objective.h"
#include "search/pbt.h"
#include "coordinator/sweep_counts.h"
#include "search/pruner.h"
#include "search/sampler.h"
#include "coordinator/store/checkpoint_store.h"
#include "coordinator/store/storage.h"
#include "coordinator/worker_registry.h"
#include "search/sweep_file.h"
#include "base/status.h"
#include "base/utf8.h"

namespace hpsweep {

// ---- Limits on what a client may send ----
// One place for every bound the coordinator enforces. The RPC edge (service.cc) checks request
// sizes and text; the scheduler checks everything else, so that direct callers are held to the
// same rules. A refused call is InvalidArgument naming the field and the limit, and changes
// nothing. They are generous for honest workers and users, and keep one trial's row, one call's
// memory and the database (ExportSweep must fit its message) bounded.
constexpr size_t kMaxWorkerNameBytes = 256;    // printable UTF-8 (host:pid, or a chosen name)
constexpr int kMaxWorkerThreads = 4096;        // RegisterWorker.threads, 0..this
constexpr size_t kMaxLeaseIdBytes = 64;        // ours are 32 hex digits
constexpr size_t kMaxFileNameBytes = 4096;     // SubmitSweep.file_name (printable UTF-8)
constexpr size_t kMaxFailErrorBytes = 4096;    // one FailTrial's error text (refused above)
constexpr size_t kMaxTrialErrorBytes = 16384;  // a trial's stored error: the latest attempts' kept
constexpr size_t kMaxModelBytes = 64u << 20;   // a saved model in CompleteTrial
constexpr int kMaxEpochs = 10000;              // as engine/config.cc's `epochs` key
constexpr size_t kMaxEpochMetrics = 64;        // named metrics in one program epoch or final line
constexpr size_t kMaxOutputBytes = 1 << 20;    // a program trial's kept output (the tail)
constexpr size_t kMaxWorkerPrograms = 64;      // programs one worker offers
constexpr double kMaxSeconds = 1e7;            // any duration a worker reports (~116 days)
constexpr int kConfusionClasses = 10;          // a confusion matrix is empty or 10 x 10
constexpr int64_t kMaxConfusionTotal = 100000000;  // samples counted in a confusion matrix
constexpr double kConfusionTolerance = 1e-6;       // |trace/total - test_accuracy|
constexpr size_t kMaxWorkers = 10000;              // workers held in memory (alive recently)
constexpr size_t kMaxWorkersPerToken = 1000;       // of those, registered with one token
constexpr size_t kMaxWorkerHostBytes = 256;        // RegisterWorker.host (printable UTF-8)
constexpr size_t kMaxWorkerJobIdBytes = 256;       // RegisterWorker.job_id (printable UTF-8)
constexpr size_t kMaxGoneWorkersShown = 1000;      // gone workers ListWorkers keeps showing
constexpr size_t kMaxWorkerFingerprintBytes = 128;  // RegisterWorker.fingerprint (printable)
constexpr int kMaxWatches = 64;                    // concurrent WatchSweep streams
constexpr int kMaxWatchesPerToken = 8;             // of those, opened with one token
// A proposal over this much Sampler::ProposalWork (about 2 ms) is computed outside the scheduler's
// mutex, so one bayes sweep with a long history and many candidates stalls no other call.
constexpr int64_t kMaxProposalWorkLocked = 100000;
// An ExportSweep page's JSON: the budget a paging client gets without naming one, and the most
// one page (or a whole export asked for unpaged, by an older client) may be.
constexpr size_t kDefaultExportPageBytes = 8u << 20;
constexpr size_t kMaxExportPageBytes = 64u << 20;
// Request sizes (protobuf ByteSizeLong), checked by each handler; the server's receive limit is
// the largest of them (a CompleteTrial carrying a model), so gRPC refuses anything bigger unread.
constexpr size_t kMaxRequestBytes = 64u << 10;       // every call not named below
constexpr size_t kMaxSubmitRequestBytes = 1u << 20;  // SubmitSweep (the sweep file)
constexpr size_t kMaxCompleteRequestBytes = kMaxModelBytes + (1u << 20);  // model + the rest
// A checkpoint of a running trial (SaveCheckpoint): parameters and optimizer state, about three
// times its model. A worker does not send a larger one (its trial then restarts if leased again).
constexpr size_t kMaxCheckpointBytes = 128u << 20;
// All checkpoints kept at once (options.max_checkpoint_bytes_total): a trial's checkpoint stays
// while it may resume, so without a cap every leased trial could keep 128 MiB.
constexpr uint64_t kMaxCheckpointBytesTotal = uint64_t{16} << 30;
// Of those, kept for trials leased to one token's workers (options.max_checkpoint_bytes_per_token),
// so one worker token cannot take the room every other token's trials resume from. Without tokens
// (loopback) only the total applies.
constexpr uint64_t kMaxCheckpointBytesPerToken = uint64_t{4} << 30;
constexpr size_t kMaxCheckpointRequestBytes = kMaxCheckpointBytes + (64u << 10);
constexpr size_t kMaxReceiveBytes = kMaxCheckpointRequestBytes > kMaxCompleteRequestBytes
                                        ? kMaxCheckpointRequestBytes
                                        : kMaxCompleteRequestBytes;

// InvalidArgument naming `field` unless value is valid UTF-8 of at most max_bytes bytes (and, if
// printable, free of control characters). Long values are not echoed.
Status CheckText(std::string_view field, std::string_view value, size_t max_bytes, bool printable);

// The identity of a trial's result (see "Reuse" above): a sha256 (hex) of a canonical text of
// `data` (SweepDataIdentity) and `params`, a trial's params as stored (every config key, swept or
// fixed, including seed, validation_split, validation and train_limit; for a sweep of its own data
// the reserved data.* params). Order-independent (a map); the label is left out (it names a trial,
// it does not train it), and so are the data files' paths when data.sha256 names their content.
// Two trials with the same key train to the same result. "" when data is "" (unknown data).
std::string TrialIdentityKey(const std::map<std::string, std::string>& params,
                             const std::string& data);
// What a sweep trains on, beyond its trials' params: "mnist:<dataset>" (the data set the
// coordinator's --data-dir holds under that name) or the format of its own data ("idx", "csv"),
// whose content the trials' data.sha256 names.
std::string SweepDataIdentity(const SweepSpec& spec);

// Warm start: the i-th named sweep's trials are number - (i + 1) * kWarmNumberStride, older.
constexpr int kWarmNumberStride = 1000000;

// Trials of a sweep identical (TrialIdentityKey) to completed trials of stored sweeps.
struct IdenticalFinished {
  int trials = 0;               // how many of the given trials have a completed twin
  std::vector<int64_t> sweeps;  // the sweeps holding those twins, ascending
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() = 0;  // seconds
};

// Wall-clock (Unix) seconds.
class SystemClock : public Clock {
 public:
  double Now() override;
};

struct SchedulerOptions {
  double lease_seconds = 30;         // a lease lasts this long after the last report
  double retry_after_seconds = 1;    // told to a worker when nothing is queued
  size_t max_workers = kMaxWorkers;  // workers held in memory (see the top)
  // Workers one owner (token) may hold of those; owners are empty without tokens, and the
  // empty owner has no limit but max_workers.
  size_t max_workers_per_token = kMaxWorkersPerToken;
  // New worker names one owner (token) may register: a burst of this many, then this many a
  // second (a token bucket; the empty owner is not limited). A name registered before is free.
  double new_workers_burst = kMaxWorkersPerToken;
  double new_workers_per_second = 10;
  uint64_t max_checkpoint_bytes_total = kMaxCheckpointBytesTotal;  // all checkpoints kept at once
  uint64_t max_checkpoint_bytes_per_token = kMaxCheckpointBytesPerToken;  // one token's share
  // A worker holds one lease at a time (see the top). The coordinator's service turns it on
  // (ServiceOptions); off, tests may drain a sweep with one worker id for brevity.
  bool one_lease_per_worker = false;
  // A completion's model must parse and match its trial's params (CheckCompletedModel), so that
  // --reuse copies only real models. The service turns it on; off, tests may send any bytes.
  bool check_models = false;
  // Where trial checkpoints are kept, one file per trial (the coordinator uses "<db>.checkpoints");
  // created if missing. Empty: in memory (tests, ":memory:" databases).
  std::string checkpoint_dir;
  double gone_worker_seconds =
      3600;                    // ListWorkers shows a gone worker this long after it was heard
  EventLog* events = nullptr;  // where events go (none if null); not owned, must outlive
  // What a trial proposed at lease time (method: bayes) must fit, as ExpandSweep's limits.
  SweepLimits sweep_limits;
  // Failures in a row that quarantine a worker (see "Quarantine" at the top) in sweeps that do
  // not set quarantine_after; 0: off. 0..kMaxQuarantineAfter.
  int quarantine_after = kDefaultQuarantineAfter;
};

// A worker as ListWorkers shows it.
struct WorkerView {
  WorkerRow worker;
  bool alive = false;  // heard from within one lease period; else gone
  // The trial it is training (alive, holding a running trial's lease); trial_id 0: idle.
  int64_t sweep_id = 0, trial_id = 0;
  int trial_number = 0;
  int epoch = 0;  // the epoch being trained: epochs reported + 1, at most the trial's epochs
};

struct LeaseGrant {
  TrialRow trial;  // attempts already counts this lease
  SweepRow sweep;  // its sweep (a program trial's file needs its name, program, metric, seed)
  std::string lease_id;
  double deadline = 0;
  int resume_from_epoch = 0;  // > 0: the lease goes on from the checkpoint after this epoch
  int pause_after_epoch = 0;  // > 0: a pbt member's segment ends after this epoch
  std::vector<std::string> mutable_params;  // a pbt member's (left out of checkpoints' checks)
};

struct EpochReport {
  int epoch = 0;  // 0: heartbeat only
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
  // A program trial's metrics by name (docs/programs.md); its four fields above are -1 when the
  // program did not report them. Empty for the engine's trials.
  std::map<std::string, double> metrics;
  double lr = kNoMetric;  // the epoch's learning rate; NaN when not sent
};

struct Completion {
  std::vector<EpochReport> history;
  double test_loss = -1, test_accuracy = -1, seconds = 0;
  std::vector<int64_t> confusion;
  std::string model;  // model file bytes; empty if none
  bool stopped = false;
  // A program trial's final line (test metrics by name). Its history may hold only the epochs of
  // this attempt (a resumed one starts after its checkpoint's): epochs already stored are kept.
  std::map<std::string, double> final_metrics;
  // The epoch the model and test metrics come from (0: not said), and the epoch after which
  // early stopping ended the trial (0: it did not; then history ends there and it completes).
  int weights_epoch = 0, stopped_epoch = 0;
};

// kStop: the sweep was cancelled; kPrune: the sweep's pruner stopped the trial (both are STOP to
// the worker).
enum class ReportAction { kContinue, kStop, kPrune };


class Scheduler {
 public:
  Scheduler(Storage* storage, Clock* clock, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  // Reads every sweep and trial from storage. Call once before anything else (and it is called
  // again after a failed commit).
  Status Load() EXCLUDES(mu_);
  // The coordinator's, after Load: a sweep left with no sampler ends once none of it runs.
  Status FinishStrandedSweeps() EXCLUDES(mu_);

  // Stores a parsed sweep and makes its sampler; returns the sweep id. `trials` is
  // ExpandSweep's output (with AttachSweepData's params), the plan of a grid, random or list
  // sweep; empty for bayes. No trial is stored here: each is proposed at lease time (see
  // "Samplers" at the top). A bayes space whose smallest model is over the limits is refused.
  // reuse (or spec.reuse): trials identical to completed ones are completed by copy (see "Reuse"
  // above). data: the sweep's own data as PrepareSweep read it (null: read here if bayes needs it).
  StatusOr<int64_t> Submit(const SweepSpec& spec, const std::vector<TrialSpec>& trials,
                           const std::string& yaml, const std::string& file_name,
                           bool reuse = false, const SweepData* data = nullptr) EXCLUDES(mu_);
  // How many of `trials` (of a sweep of `spec`, not yet submitted, or sweep except_sweep) are
  // identical to completed trials of other stored sweeps: what --reuse would copy. Reads memory.
  IdenticalFinished FindIdenticalFinished(const SweepSpec& spec,
                                          const std::vector<TrialSpec>& trials,
                                          int64_t except_sweep = 0) EXCLUDES(mu_);

  // The same name again reuses the worker. InvalidArgument for a bad name, host, job id (printable
  // UTF-8 within kMaxWorker*Bytes; host and job id may be empty) or thread count; Unavailable when
  // max_workers others were heard from within a lease period, or max_workers_per_token of this
  // owner's; PermissionDenied when another owner holds the name. owner: the caller's token key
  // (see the top), empty without tokens. bf16: its CPU runs bf16 products (avx512_bf16); only
  // such a worker is leased a trial whose params say precision: bf16 (NeedsBf16).
  StatusOr<int64_t> RegisterWorker(const std::string& name, int threads,
                                   const std::string& host = "", const std::string& job_id = "",
                                   const std::string& owner = "",
                                   const std::vector<std::string>& programs = {},
                                   bool bf16 = false, const std::string& fingerprint = "")
      EXCLUDES(mu_);
  // (fingerprint: a digest of its binary, programs and data, printable, at most
  // kMaxWorkerFingerprintBytes; one other than it registered with before lifts its quarantine.)
  //
  // Lifts the quarantine of the worker named `name` (held, gone, or only stored); true if it was
  // quarantined, false if not (nothing changes). NotFound if no worker has that name.
  StatusOr<bool> ReleaseWorker(const std::string& name) EXCLUDES(mu_);
  // The quarantined workers held in memory or shown as gone, by id.
  std::vector<WorkerRow> QuarantinedWorkers() EXCLUDES(mu_);
  // OK when `owner` registered worker_id (both empty without tokens); PermissionDenied when
  // another owner did; NotFound when no one did since this coordinator started (the worker then
  // registers again). Owners change only at registration, so a check before a call holds for it.
  Status CheckWorkerOwner(int64_t worker_id, const std::string& owner) EXCLUDES(mu_);
  // The next queued trial (sweeps take turns), or nullopt when none is queued.
  StatusOr<std::optional<LeaseGrant>> Lease(int64_t worker_id) EXCLUDES(mu_);
  // Renews the lease; stores the epoch if report.epoch > 0. FailedPrecondition if the lease is
  // not current; InvalidArgument for metrics out of range or out of order (see the top).
  // *deadline gets the new deadline.
  StatusOr<ReportAction> Report(const std::string& lease_id, const EpochReport& report,
                                double* deadline) EXCLUDES(mu_);
  Status Complete(const std::string& lease_id, const Completion& completion) EXCLUDES(mu_);
  // Complete, then Lease for worker_id, in one transaction (one commit instead of two). If the
  // completion is refused nothing is leased; worker_id 0 leases nothing.
  StatusOr<std::optional<LeaseGrant>> CompleteAndLease(const std::string& lease_id,
                                                       const Completion& completion,
                                                       int64_t worker_id) EXCLUDES(mu_);
  // released: the worker gives the trial back; no attempt is charged, and a non-empty error (why:
  // out of memory, different data) is kept in the trial's error.
  Status Fail(const std::string& lease_id, const std::string& error, bool released) EXCLUDES(mu_);
  // Keeps a program trial's output (the tail of its stdout and stderr, at most kMaxOutputBytes)
  // as the trial's "output" artifact, replacing an earlier attempt's; call before its Complete or
  // Fail. Under the trial's last-granted lease only (FailedPrecondition otherwise).
  Status KeepOutput(const std::string& lease_id, const std::string& output) EXCLUDES(mu_);
  // Stops leasing the sweep; queued trials become stopped, running ones are told STOP, and the
  // trials not proposed yet never will be (Counts shows them as stopped). Returns how many trials
  // were stopped, told to stop, or will not be proposed.
  StatusOr<int> Cancel(int64_t sweep_id) EXCLUDES(mu_);
  // `hpsweep extend` (scheduler_extend.cc): raises a bayes or random sweep's max_trials (stored:
  // SweepRow::max_trials) or adds `more` to it; a completed one runs again, going on from its
  // history. Returns the sweep as extended. InvalidArgument for a limit outside 1..10000 or not
  // larger; NotFound; FailedPrecondition for grid, list and cancelled sweeps and a spent space.
  StatusOr<SweepRow> Extend(int64_t sweep_id, int max_trials, int more = 0) EXCLUDES(mu_);
  // Leases (and proposes) trials of this sweep only from now on; 0: every running sweep, taking
  // turns (the default). `hpsweep run FILE` trains its own sweep and leaves other running sweeps
  // of the same database (an earlier, interrupted run of another file) as they are.
  void LeaseOnly(int64_t sweep_id) EXCLUDES(mu_);
  // For tests: called on the proposing thread just before a sampler that reads the history
  // proposes (outside mu_ when the proposal is costly, see kMaxProposalWorkLocked).
  void SetProposeHookForTesting(std::function<void()> hook) EXCLUDES(mu_);
  // Puts back (or fails) every trial whose lease deadline has passed, and drops workers not heard
  // from within a lease period from memory. Returns how many trials.
  StatusOr<int> ExpireLeases() EXCLUDES(mu_);

  // Asynchronous forms of Lease, Report, CompleteAndLease (worker_id 0: complete only) and Fail:
  // the same changes, with the result passed to `done` once it is committed (see the top).
  using LeaseDone = std::function<void(StatusOr<std::optional<LeaseGrant>>)>;
  void LeaseAsync(int64_t worker_id, LeaseDone done) EXCLUDES(mu_);
  void ReportAsync(const std::string& lease_id, const EpochReport& report,
                   std::function<void(StatusOr<ReportAction>, double deadline)> done) EXCLUDES(mu_);
  void CompleteAndLeaseAsync(const std::string& lease_id, const Completion& completion,
                             int64_t worker_id, LeaseDone done) EXCLUDES(mu_);
  void FailAsync(const std::string& lease_id, const std::string& error, bool released,
                 std::function<void(Status)> done) EXCLUDES(mu_);
  // A pbt member's lease ends after its segment (FailTrial segment_end), its checkpoint after
  // that epoch kept: no attempt charged; it waits for its population (see the top).
  Status EndSegment(const std::string& lease_id) EXCLUDES(mu_);
  void EndSegmentAsync(const std::string& lease_id, std::function<void(Status)> done) EXCLUDES(mu_);

  // Reads.
  std::vector<SweepCounts> Counts(int64_t sweep_id) EXCLUDES(mu_);  // 0: all sweeps
  int WorkersAlive() EXCLUDES(mu_);    // heard from within one lease period
  size_t WorkersHeld() EXCLUDES(mu_);  // workers in memory (at most options.max_workers)
  // The workers held in memory (alive, or silent but held) by id, then the gone ones, the latest
  // heard first. *now gets the clock's time they were judged at.
  std::vector<WorkerView> ListWorkers(double* now) EXCLUDES(mu_);
  // The trials of the sweep that have a value for its metric, best first by its Objective, ties
  // by trial number. sweep_id 0: the most recent sweep. *resolved gets the sweep actually used.
  StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, int top, SweepRow* resolved)
      EXCLUDES(mu_);
  // {"sweep": {...}, "trials": [{"id", "number", "status", "attempts", "params", "epochs": [...],
  //  ...final metrics}]}: every page of ExportSweepPage joined (its memory is the whole sweep's
  // text; what serves a network or a file follows the pages instead).
  StatusOr<std::string> ExportJson(int64_t sweep_id) EXCLUDES(mu_);
  // One page of the export: the sweep's head and its trials numbered above after_trial, whole,
  // by number, as many as keep the page's JSON (ExportPage::Json) within max_bytes, and at least
  // one. The mutex is held for the sweep's row and then for one trial's rows at a time (its row,
  // epochs and attempts, read together), never across the page: no other call waits behind more
  // than one trial's reads. The trial that does not fit is read and dropped (the next page reads
  // it again). max_trials > 0 ends the page after that many trials without reading the next (so
  // next_after may lead to an empty last page): a reader that goes a trial at a time reads each
  // trial once.
  StatusOr<ExportPage> ExportSweepPage(int64_t sweep_id, int after_trial, size_t max_bytes,
                                       size_t max_trials = 0) EXCLUDES(mu_);
  StatusOr<std::string> GetModel(int64_t trial_id) EXCLUDES(mu_);
  // A program trial's output (KeepOutput); NotFound when it has none.
  StatusOr<std::string> GetOutput(int64_t trial_id) EXCLUDES(mu_);
  // 0 if there is no sweep.
  int64_t LatestSweepId() EXCLUDES(mu_);

  // ---- Resuming trials ----
  // A running trial's worker sends a checkpoint (engine/checkpoint.h; opaque bytes here) after
  // an epoch; the scheduler keeps the latest per trial in options.checkpoint_dir as
  // trial-<id>.ckpt (written to a temporary file and fsynced outside the mutex, renamed into
  // place under it), and removes it when the trial ends. A trial leased again with a checkpoint
  // of epoch k resumes: the epochs after k stored by the dead attempt are dropped, its best epoch
  // is that of epochs 1..k, reports are taken from k + 1, and the grant says resume_from_epoch k.
  // Every lease is an attempts row (worker, started, ended, resumed_from_epoch) in the export.
  // A restarted coordinator finds the files again (Load), checked against the stored epochs.
  //
  // FailedPrecondition unless lease_id is the current lease of a running trial; InvalidArgument
  // for an empty or oversized checkpoint or an epoch other than the last one stored; Unavailable
  // (nothing kept; training goes on) when it would take the checkpoints kept past
  // options.max_checkpoint_bytes_total.
  Status SaveCheckpoint(const std::string& lease_id, int epoch, const std::string& bytes)
      EXCLUDES(mu_);
  // The checkpoint a lease resumes from: (epoch, bytes). NotFound if the trial has none.
  StatusOr<std::pair<int, std::string>> GetCheckpoint(const std::string& lease_id) EXCLUDES(mu_);

  // A counter bumped by every change; WaitForChange returns when it passes `seen` or after
  // timeout_seconds. For streaming status to watchers.
  uint64_t version() EXCLUDES(mu_);
  uint64_t WaitForChange(uint64_t seen, double timeout_seconds) EXCLUDES(mu_);

 private:
  using WriteFn = std::function<Status(Storage*)>;
  using DoneFn = std::function<void(Status)>;

  // Runs `change` (which edits memory and calls Write) under mu_, once the commit thread is idle,
  // after the queued writes and in the same transaction, and commits. Returns change's status, or
  // the write's or commit's if that failed.
  template <typename F>
  Status Mutate(F&& change) EXCLUDES(mu_);
  // Runs `change` with its writes queued; `done` gets its status once they are committed.
  template <typename F>
  void MutateAsync(F&& change, DoneFn done) EXCLUDES(mu_);
  // MutateAsync for a change(std::optional<LeaseGrant>*) that may grant a lease.
  template <typename F>
  void MutateGrantAsync(F&& change, LeaseDone done) EXCLUDES(mu_);
  // A storage write: run now inside the open transaction (Mutate), or queued (MutateAsync).
  Status Write(WriteFn write) REQUIRES(mu_);
  // Waits (releasing mu_) until the commit thread is not writing: storage is then ours.
  void WaitStorageLocked() REQUIRES(mu_);
  void CommitLoop() EXCLUDES(mu_);  // the commit thread
  // After a failed write or commit: rolls back, moves the still-queued calls into *dones (they
  // fail too: they were made on top of the lost changes) and reloads memory from storage.
  void DropUncommittedLocked(std::vector<std::pair<Status, DoneFn>>* dones) REQUIRES(mu_);
  // Runs each done with its result, or with `failure` if that is not ok. Call without mu_.
  static void Answer(std::vector<std::pair<Status, DoneFn>>& dones, const Status& failure);
  Status EnsureTransaction() REQUIRES(mu_);
  Status LeaseLocked(int64_t worker_id, std::optional<LeaseGrant>* grant) REQUIRES(mu_);
  // The queued trial (proposed first if need be) that LeaseLocked gives worker w; 0: none.
  Status PickTrialLocked(const WorkerRow& w, double now, int64_t* trial_id) REQUIRES(mu_);
  Status CompleteLocked(const std::string& lease_id, const Completion& completion) REQUIRES(mu_);
  Status CompleteProgramLocked(TrialRow* t, const SweepRow& sw, const Completion& c, double now)
      REQUIRES(mu_);
  Status EndCompletedLocked(TrialRow* t, const SweepRow& sw, bool stopped, double now)
      REQUIRES(mu_);
  Status CompleteAndLeaseLocked(const std::string& lease_id, const Completion& completion,
                                int64_t worker_id, std::optional<LeaseGrant>* grant) REQUIRES(mu_);
  Status ReportLocked(const std::string& lease_id, const EpochReport& report, ReportAction* action,
                      double* deadline) REQUIRES(mu_);
  Status FailLocked(const std::string& lease_id, const std::string& error, bool released)
      REQUIRES(mu_);
  Status LoadLocked() REQUIRES(mu_);
  // Reloads from storage if a failed write left memory unsure; Unavailable if that fails.
  Status EnsureLoaded() REQUIRES(mu_);
  Status WriteTrial(TrialRow& t) REQUIRES(mu_);  // storage + indexes
  void Index(const TrialRow& t) REQUIRES(mu_);
  void Unindex(const TrialRow& t) REQUIRES(mu_);
  Status ExpireLocked(double now, int* count) REQUIRES(mu_);
  Status FinishTrial(TrialRow& t, TrialStatus status, double now) REQUIRES(mu_);
  Status MaybeFinishSweep(int64_t sweep_id, double now) REQUIRES(mu_);
  // The trial whose last-granted lease is lease_id, or null.
  TrialRow* FindByLease(const std::string& lease_id) REQUIRES(mu_);
  Status NewLeaseId(std::string* out) REQUIRES(mu_);  // 128 random bits, hex
  // Drops workers not heard from within a lease period from memory.
  void PruneWorkersLocked(double now) REQUIRES(mu_);
  // Appends one attempt's reason to t's error, keeping the latest within kMaxTrialErrorBytes.
  static void AppendError(TrialRow* t, const std::string& why);
  // Writes one epoch of t and updates its epochs run and best epoch (by the sweep's metric), and
  // feeds it to the sweep's pruner. recorded_at < 0: the next epoch time (NextEpochTime).
  Status StoreEpoch(TrialRow* t, const SweepRow& sweep, const EpochReport& r, double now,
                    double recorded_at = -1) REQUIRES(mu_);
  // now, or just after the last epoch time handed out if that is not earlier: epochs' recorded_at
  // strictly increase, so they order the pruners' records without ties (see the top).
  double NextEpochTime(double now) REQUIRES(mu_);
  // The sweep's pruner, or null when it has none (or is not running).
  Pruner* PrunerFor(int64_t sweep_id) REQUIRES(mu_);
  // Makes the pruner of a running sweep from its stored file (Load), fed with its trials' stored
  // epochs, and marks the running trials it prunes. Reads storage; changes nothing there.
  Status RebuildPrunerLocked(const SweepRow& sweep) REQUIRES(mu_);

  // ---- Reuse (see the top) ----
  // If t's sweep has reuse and a completed trial of another sweep has t's identity, completes t
  // by copying that trial's result (*copied = true); else changes nothing. Called by LeaseLocked
  // on the trial it is about to lease.
  Status ReuseFinishedLocked(TrialRow* t, double now, bool* copied) REQUIRES(mu_);
  // The completed trial of another sweep with t's identity (one that trained, else a copy; the
  // lowest id), or null.
  const TrialRow* FinishedTwinLocked(int64_t sweep_id, const std::string& identity) REQUIRES(mu_);
  std::string IdentityLocked(const TrialRow& t) REQUIRES(mu_);
  // SweepDataIdentity, "" if unknown.
  const std::string& SweepDataLocked(int64_t sweep_id) REQUIRES(mu_);
  void IndexFinishedLocked(const TrialRow& t) REQUIRES(mu_);  // t completed: a twin for later
  // Pruned twins (scheduler_reuse.cc): the pruned trial of another sweep with t's identity and
  // early_terminate, if this sweep's pruner prunes t at the epoch where it was pruned; else null.
  const TrialRow* PrunedTwinLocked(const TrialRow& t) REQUIRES(mu_);
  void BuildPrunedTwinsLocked() REQUIRES(mu_);  // reads storage: only where it is ours
  void IndexPrunedLocked(const TrialRow& t) REQUIRES(mu_);  // t pruned: a twin for later sweeps
  PrunedTwins pruned_twins_ GUARDED_BY(mu_);
  // Copies src's result (fields, epochs, model) into t and says where it came from.
  Status CopyResultLocked(TrialRow* t, const TrialRow& src, const SweepRow& sw, double now)
      REQUIRES(mu_);
  std::unordered_map<int64_t, std::string> sweep_data_ GUARDED_BY(mu_);  // -> SweepDataIdentity
  // Identity -> completed trial ids; built on first use (finished_built_), then kept up to date.
  std::unordered_map<std::string, std::vector<int64_t>> finished_ GUARDED_BY(mu_);
  bool finished_built_ GUARDED_BY(mu_) = false;

  // Resuming trials (see SaveCheckpoint).
  struct CheckpointMeta {
    int epoch = 0;  // the checkpoint holds the state after this epoch
    int best_epoch = 0;
    double best_val_accuracy = -1, best_val_loss = -1;  // over epochs 1..epoch
    uint64_t bytes = 0;  // the checkpoint's size
    double metric_value = kNoMetric;  // a program trial's best value of a named metric
    std::string owner;  // the token (key) of the worker that saved it; "" after a restart
  };
  // Unavailable if keeping `bytes` as trial_id's checkpoint (replacing its last) would take all
  // checkpoints past options.max_checkpoint_bytes_total, or those of `owner` (a token's key; ""
  // counts toward the total only) past options.max_checkpoint_bytes_per_token.
  Status CheckCheckpointRoomLocked(int64_t trial_id, uint64_t bytes,
                                   const std::string& owner) const REQUIRES(mu_);
  // Adds (or takes away) a kept checkpoint's bytes to the totals.
  void CountCheckpointLocked(const CheckpointMeta& meta, bool add) REQUIRES(mu_);
  // The running trial of lease_id, if `epoch` is the last epoch stored for it.
  StatusOr<TrialRow*> CheckpointTrialLocked(const std::string& lease_id, int epoch) REQUIRES(mu_);
  // On a lease: the epoch the trial resumes after (0: it starts over).
  int ResumableEpochLocked(const TrialRow& t) const REQUIRES(mu_);
  // t resumes after `epoch`: later epochs are dropped, its best is that of epochs 1..epoch.
  Status ResumeLocked(TrialRow* t, int epoch) REQUIRES(mu_);
  // Records the lease just granted on t (attempts table).
  Status StartAttemptLocked(const TrialRow& t, int resumed_from_epoch, double now) REQUIRES(mu_);
  Status EndAttemptLocked(const TrialRow& t, double now) REQUIRES(mu_);
  void DropCheckpointLocked(int64_t trial_id) REQUIRES(mu_);  // the trial ended
  // After a (re)load: the checkpoints of queued and running trials that fit their stored epochs;
  // the rest are removed.
  void LoadCheckpointsLocked() REQUIRES(mu_);
  std::unordered_map<int64_t, CheckpointMeta> checkpoints_ GUARDED_BY(mu_);
  uint64_t checkpoint_bytes_total_ GUARDED_BY(mu_) = 0;  // sum of checkpoints_' bytes
  std::unordered_map<std::string, uint64_t> checkpoint_bytes_of_owner_ GUARDED_BY(mu_);
  CheckpointStore checkpoint_store_ GUARDED_BY(mu_);  // their files (or bytes, with no folder)
  // ---- Population-based training (scheduler_pbt.cc; see the top) ----
  int SegmentEndLocked(int64_t sweep_id) REQUIRES(mu_);  // the current segment's last epoch; 0
  bool AtBarrierLocked(const TrialRow& t) REQUIRES(mu_);  // queued, its segment done: waits
  Status EndSegmentLocked(const std::string& lease_id) REQUIRES(mu_);
  // At the barrier (nothing of the population behind or training), decides and moves on.
  Status AdvancePopulationLocked(int64_t sweep_id) REQUIRES(mu_);
  Status ExploitLocked(TrialRow* t, const TrialRow& parent, const PbtDecision& d, int epoch,
                       bool* copied) REQUIRES(mu_);
  void RebuildPopulationsLocked() REQUIRES(mu_);                // (in LoadLocked; reads storage)
  std::map<int64_t, Population> populations_ GUARDED_BY(mu_);  // running pbt sweeps
  std::map<int64_t, std::set<int64_t>> waiting_ GUARDED_BY(mu_);  // sweep -> members at barrier
  // ---- Workers you can see, and events (the end of scheduler.cc) ----
  // The worker was heard from now: alive again; last_seen written at most every few seconds.
  Status HeardFromLocked(int64_t worker_id, double now) REQUIRES(mu_);
  // ---- Quarantine (see the top; scheduler_quarantine.cc) ----
  // The rule of a give-back (Fail with released): the attempt is not charged; a reason is kept.
  static void UnchargeAttempt(TrialRow* t, const std::string& why);
  // t's lease failed on its worker (not a give-back) with `error`: the failure joins the worker's
  // streak, and if that quarantines it, the streak's earlier attempts are given back and
  // *quarantined is set (the caller gives back t's, the current one).
  Status NoteFailureLocked(const TrialRow& t, const std::string& error, double now,
                           bool* quarantined) REQUIRES(mu_);
  // t is about to end with a result from its worker: that worker's streak ends, and the workers
  // whose streaks this completion makes quarantined are.
  Status NoteCompletionLocked(const TrialRow& t, double now) REQUIRES(mu_);
  // Quarantines worker_id if its streak says so (see the top); skip_last: the streak's last
  // failure is the caller's to give back.
  Status MaybeQuarantineLocked(int64_t worker_id, double now, bool skip_last, bool* quarantined)
      REQUIRES(mu_);
  // Sets a held or gone worker's quarantine (memory and storage).
  Status SetQuarantineLocked(WorkerRow* w, const std::string& why, double now) REQUIRES(mu_);
  int QuarantineAfterLocked(int64_t sweep_id) REQUIRES(mu_);
  struct FailStreak {
    struct Failure {
      int64_t trial_id = 0, sweep_id = 0;
      double started_at = 0;  // of the attempt
    };
    std::vector<Failure> failures;  // oldest first, the latest kMaxQuarantineAfter
    std::string last_error;
  };
  std::unordered_map<int64_t, FailStreak> fail_streaks_ GUARDED_BY(mu_);  // by worker id
  // Per sweep, since this start: the latest completion's worker and time, and the latest by any
  // other worker than that one; "did a worker other than w complete one since t" is then O(1).
  struct Completions {
    int64_t worker = 0, other_worker = 0;
    double at = 0, other_at = 0;
  };
  std::unordered_map<int64_t, Completions> completions_ GUARDED_BY(mu_);

  // Adds to a worker's trials_done / trials_failed (storage and memory).
  Status CountWorkerTrialsLocked(int64_t worker_id, int done, int failed) REQUIRES(mu_);
  // Records e (time: now) once the current change is committed.
  void EmitLocked(Event e) REQUIRES(mu_);
  // The events of the changes just committed (or answered without a write).
  std::vector<Event> TakeEventsLocked() REQUIRES(mu_);
  void Publish(const std::vector<Event>& events) EXCLUDES(mu_);  // without mu_
  // SweepFinished with the counts of the sweep's trials.
  Event SweepFinishedEvent(const SweepRow& sweep) REQUIRES(mu_);

  Storage* storage_;
  Clock* clock_;
  SchedulerOptions options_;

  Mutex mu_;
  CondVar changed_{&mu_};
  uint64_t version_ GUARDED_BY(mu_) = 0;
  bool txn_open_ GUARDED_BY(mu_) = false;      // a transaction is open on storage (inside Mutate)
  bool write_failed_ GUARDED_BY(mu_) = false;  // a storage write failed during the current change
  bool needs_reload_ GUARDED_BY(mu_) =
      false;  // memory may disagree with storage until LoadLocked succeeds
  // The commit queue: writes of asynchronous changes not yet handed to the commit thread, and
  // each change's result with the callback that gets it after the commit.
  bool deferring_ GUARDED_BY(mu_) = false;  // inside MutateAsync: Write queues
  std::vector<WriteFn> queued_writes_ GUARDED_BY(mu_);
  std::vector<std::pair<Status, DoneFn>> queued_done_ GUARDED_BY(mu_);
  bool committing_ GUARDED_BY(mu_) = false;  // the commit thread is writing a batch (without mu_)
  int storage_waiters_ GUARDED_BY(mu_) =
      0;  // calls waiting in WaitStorageLocked; the commit thread lets them in
  bool stopping_ GUARDED_BY(mu_) = false;
  CondVar commit_wanted_{&mu_};  // the queue grew, a waiter left, or stopping_
  CondVar storage_free_{&mu_};   // committing_ went false
  std::thread committer_;

  std::map<int64_t, SweepRow> sweeps_ GUARDED_BY(mu_);
  std::unordered_map<int64_t, TrialRow> trials_ GUARDED_BY(mu_);
  std::map<int64_t, std::set<int64_t>> queued_ GUARDED_BY(mu_);  // sweep id -> queued trial ids
  std::set<std::pair<double, int64_t>> deadlines_
      GUARDED_BY(mu_);  // (lease deadline, trial id) of running trials
  std::unordered_map<std::string, int64_t> leases_
      GUARDED_BY(mu_);  // last-granted lease id -> trial id
  // The last epoch reported under each running trial's lease, to tell a retry from a conflict.
  std::unordered_map<int64_t, EpochReport> last_report_ GUARDED_BY(mu_);
  std::set<int64_t> stop_requested_ GUARDED_BY(mu_);  // running trials told to stop
  std::set<int64_t> prune_requested_
      GUARDED_BY(mu_);  // running trials pruned (told STOP; end as pruned)
  std::map<int64_t, std::unique_ptr<Pruner>> pruners_
      GUARDED_BY(mu_);  // running sweeps with early_terminate
  std::map<int64_t, EarlyTerminateSpec> early_terminate_
      GUARDED_BY(mu_);                        // sweeps with early_terminate
  double last_epoch_at_ GUARDED_BY(mu_) = 0;  // the latest epoch time handed out (NextEpochTime)
  // The workers held in memory, their owners, buckets and leases (see the top).
  static WorkerRegistry::Options RegistryOptions(const SchedulerOptions& options);
  WorkerRegistry workers_ GUARDED_BY(mu_);
  std::vector<Event> pending_events_ GUARDED_BY(mu_);  // of changes not yet committed
  int64_t next_sweep_turn_ GUARDED_BY(mu_) = 0;        // round-robin across sweeps
  int64_t lease_only_ GUARDED_BY(mu_) = 0;             // LeaseOnly's sweep; 0: all

  // ---- Samplers (see the top) ----
  // A costly proposal (Sampler::ProposalWork over kMaxProposalWorkLocked) is computed outside
  // mu_ by PrepareProposal, on a copy of the sweep's history, and kept here for the lease that
  // follows. It is used for trial `number` when the history still has the same stamp (so a
  // proposal is what it would have been under the lock), or by the call that prepared it (what
  // changed meanwhile came from calls concurrent with it). Without one, a costly proposal is
  // not made under the lock: that lease finds nothing of the sweep, and the worker's next
  // LeaseTrial prepares it.
  struct PreparedProposal {
    int number = 0;
    std::pair<size_t, size_t> stamp;  // HistoryStampLocked when the copy was taken
    uint64_t call = 0;                // the Lease call that prepared it
    StatusOr<TrialSpec> spec = Status::Ok();
  };
  struct LiveSampler {
    std::shared_ptr<const Sampler> sampler;  // shared: a proposal may outlive its removal
    std::vector<int64_t> trial_ids;          // the sweep's stored trials, in number order
    // warm_start: the named sweeps' finished trials, renumbered (WarmHistoryLocked); fixed.
    std::vector<TrialRow> warm;
    std::optional<PreparedProposal> prepared;
    bool preparing = false;  // a PrepareProposal is computing this sweep's next trial
  };
  // Computes the next costly proposal outside mu_ (see PreparedProposal) for the sweep whose turn
  // is next, unless it is prepared or being prepared (then waits for that one). Returns the call
  // id LeaseLocked is to run with (lease_call_), 0 when nothing was prepared by this call.
  uint64_t PrepareProposal() EXCLUDES(mu_);
  // (completed + pruned, queued + running) trials of the sweep: what a TPE proposal depends on
  // changes only when one of these does.
  std::pair<size_t, size_t> HistoryStampLocked(const LiveSampler& live) REQUIRES(mu_);
  uint64_t next_prepare_call_ GUARDED_BY(mu_) = 0;
  uint64_t lease_call_ GUARDED_BY(mu_) = 0;  // the running Lease's PrepareProposal call, or 0
  CondVar proposal_done_{&mu_};              // a PrepareProposal finished
  std::function<void()> propose_hook_ GUARDED_BY(mu_);
  // The warm-start history of sweep `sweep_id` from `spec`, submitted at `created_at`: copies,
  // renumbered (kWarmNumberStride); InvalidArgument (file:line: key) naming a bad sweep.
  StatusOr<std::vector<TrialRow>> WarmHistoryLocked(const SweepSpec& spec, const std::string& file,
                                                    int64_t sweep_id, double created_at)
      REQUIRES(mu_);
  // Rebuilds samplers_ from sweeps_ and trials_ (in LoadLocked).
  void RebuildSamplersLocked() REQUIRES(mu_);
  // The sampler of running sweep sw from its stored file, with sw.max_trials (when set) for the
  // file's; `stored` is its trials (number, id). A plan must have sw.total trials (0: any).
  StatusOr<std::unique_ptr<Sampler>> RebuildSamplerLocked(
      const SweepRow& sw, const std::vector<std::pair<int, int64_t>>& stored) REQUIRES(mu_);
  // The live sampler whose sweep's turn is next, or end() when there is none or a queued trial
  // comes first (the turn rule ProposeForTurnLocked and PrepareProposal share).
  std::map<int64_t, LiveSampler>::iterator SamplerWhoseTurnLocked() REQUIRES(mu_);
  // If the sweep whose turn is next has nothing queued and a live sampler, has it propose a
  // trial (stored queued); drops exhausted samplers on the way.
  Status ProposeForTurnLocked(double now) REQUIRES(mu_);
  // The same for one sweep (LeaseOnly): proposes its next trial if nothing of it is queued.
  Status ProposeForSweepLocked(int64_t sweep_id, double now) REQUIRES(mu_);
  Status ProposeLocked(int64_t sweep_id, LiveSampler* live, double now) REQUIRES(mu_);
  // Sweeps with a sampler that may still propose (running, not exhausted).
  std::map<int64_t, LiveSampler> samplers_ GUARDED_BY(mu_);
  // Per sweep: the candidates its sampler passed over (TrialSpec::passed_over_*), in memory.
  std::map<int64_t, std::pair<int, int>> passed_over_ GUARDED_BY(mu_);
  std::map<int64_t, std::string> passed_over_reason_ GUARDED_BY(mu_);  // the latest, per sweep
  int64_t max_trial_id_ GUARDED_BY(mu_) = 0;  // of trials_; a proposed trial gets the next id
  // Trials proposed in the current asynchronous change: the row each one's queued insert will
  // write. WriteTrial updates it in place of queuing an update; cleared when the change ends
  // (under mu_, before the commit thread can take the writes), after which it no longer changes.
  std::unordered_map<int64_t, std::shared_ptr<TrialRow>> proposed_rows_ GUARDED_BY(mu_);
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_SCHEDULER_H_
