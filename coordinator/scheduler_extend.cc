// Extending a sweep (`hpsweep extend`; scheduler.h, Extend): a bayes or random sweep goes on
// from its history with a larger max_trials instead of a new sweep starting over.
//
// The new max_trials is stored in the sweep's row (SweepRow::max_trials, schema version 10) and
// replaces the file's wherever the sampler is made from the stored file (here and in Load), so a
// restarted coordinator keeps the extended limit. Nothing else is needed for the sampler to go on
// from the history: a TPE proposal is a function of the stored trials and the trial number, and a
// random sweep's plan for N draws begins with the plan for fewer (the draws come one at a time
// from one stream seeded by the sweep's seed), which is checked against the stored trials before
// anything changes. Grid and list sweeps are refused (their trials are the file's), and so are
// cancelled sweeps (cancelling says no more trials) and a limit that is not larger than the
// current one. A completed sweep is running again, with its pruner rebuilt from its epochs.
#include <algorithm>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

namespace {

// "sweep 3 ('mnist-bayes')", for messages.
std::string ExtendSweepText(const SweepRow& sw) {
  return "sweep " + std::to_string(sw.id) + " ('" + EscapeText(sw.name) + "')";
}

}  // namespace

StatusOr<SweepRow> Scheduler::Extend(int64_t sweep_id, int max_trials, int more) {
  SweepRow out;
  Status s = Mutate([&]() -> Status {
    mu_.AssertHeld();
    if (more != 0) {
      if (max_trials != 0) return InvalidArgument("give max_trials or more, not both");
      if (more < 1 || more > kMaxTrialsPerSweep) {
        return InvalidArgument("more is " + std::to_string(more) + "; it must be 1 to " +
                               std::to_string(kMaxTrialsPerSweep));
      }
    } else if (max_trials < 1 || max_trials > kMaxTrialsPerSweep) {
      return InvalidArgument("max_trials is " + std::to_string(max_trials) + "; it must be 1 to " +
                             std::to_string(kMaxTrialsPerSweep) + " (trials in one sweep)");
    }
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
    SweepRow& sw = it->second;
    const std::string which = ExtendSweepText(sw);
    if (sw.state == SweepState::kCancelled) {
      return FailedPrecondition(which + " was cancelled, so it proposes no more trials; submit " +
                                "its file again (with --reuse to copy its finished trials)");
    }
    StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
    if (!spec.ok()) {
      return FailedPrecondition(which + ": its stored file no longer parses: " +
                                spec.status().message());
    }
    if (spec->method == SweepMethod::kGrid || spec->method == SweepMethod::kList ||
        spec->method == SweepMethod::kPbt) {
      return FailedPrecondition(
          which + " is a " +
          (spec->method == SweepMethod::kGrid  ? "grid"
           : spec->method == SweepMethod::kPbt ? "pbt (its population is fixed)"
                                               : "list") +
          " sweep: its trials are fixed by its file; only bayes and random sweeps are extended "
          "(edit the file and run it as a new sweep, with --reuse to copy the finished trials)");
    }
    const int current = sw.max_trials > 0 ? sw.max_trials : spec->max_trials;
    if (more != 0) {
      max_trials = current + more;
      if (max_trials > kMaxTrialsPerSweep) {
        return InvalidArgument("max_trials would be " + std::to_string(max_trials) + " (" +
                               std::to_string(current) + " + " + std::to_string(more) +
                               "); the limit is " + std::to_string(kMaxTrialsPerSweep));
      }
    }
    if (max_trials <= current) {
      return InvalidArgument("max_trials " + std::to_string(max_trials) +
                             " is not larger than the max_trials of " + which + ", " +
                             std::to_string(current));
    }
    // The sampler for the larger limit, from the stored file and trials (as Load makes it).
    std::vector<std::pair<int, int64_t>> stored;
    for (const auto& [id, t] : trials_) {
      if (t.sweep_id == sweep_id) stored.push_back({t.number, id});
    }
    std::sort(stored.begin(), stored.end());
    SweepRow grown = sw;
    grown.max_trials = max_trials;
    grown.total = 0;  // (not known until the sampler is made: not checked)
    StatusOr<std::unique_ptr<Sampler>> sampler = RebuildSamplerLocked(grown, stored);
    if (!sampler.ok()) {
      return FailedPrecondition(which + ": no sampler for max_trials " +
                                std::to_string(max_trials) + ": " + sampler.status().message());
    }
    const int total = (*sampler)->planned();
    if (total <= sw.total) {
      return FailedPrecondition(which + ": its space has " + std::to_string(total) +
                                " points, and every one is proposed already; a larger max_trials "
                                "adds no trial");
    }
    if (!(*sampler)->needs_history()) {  // a random plan: the stored trials must be its first
      for (const auto& [number, id] : stored) {
        StatusOr<TrialSpec> planned = (*sampler)->Propose(number, {});
        if (!planned.ok() || planned->params != trials_[id].params) {
          return FailedPrecondition(which + ": its file no longer draws trial #" +
                                    std::to_string(number) + " as it did; it cannot be extended");
        }
      }
    }
    std::vector<TrialRow> warm;
    if (!spec->warm_start.empty()) {
      StatusOr<std::vector<TrialRow>> w =
          WarmHistoryLocked(*spec, sw.file_name, sweep_id, sw.created_at);
      if (!w.ok()) return w.status();
      warm = std::move(*w);
    }
    if (pruners_.count(sweep_id) == 0) {  // (a finished sweep's was dropped)
      grown.state = SweepState::kRunning;
      HPSWEEP_RETURN_IF_ERROR(RebuildPrunerLocked(grown));
    }
    // Every check passed: nothing above wrote anything.
    HPSWEEP_RETURN_IF_ERROR(Write([sweep_id, max_trials, total](Storage* st) {
      return st->ExtendSweep(sweep_id, max_trials, total);
    }));
    const int before = sw.total;
    sw.max_trials = max_trials;
    sw.total = total;
    sw.state = SweepState::kRunning;
    sw.finished_at = 0;
    LiveSampler& live = samplers_[sweep_id];
    live.sampler = std::move(*sampler);
    live.trial_ids.clear();
    for (const auto& [number, id] : stored) live.trial_ids.push_back(id);
    live.warm = std::move(warm);
    live.prepared.reset();
    if (sw.reuse && pruners_.count(sweep_id)) BuildPrunedTwinsLocked();  // (storage is ours)
    EmitLocked(events::SweepExtended(sw, before));
    out = sw;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace hpsweep
