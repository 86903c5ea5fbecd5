// SweepCounts: what Scheduler::Counts says of one sweep (coordinator/scheduler.h), from which
// views build GetStatus's SweepStatus (coordinator/views.h). A plain value.
#ifndef HPSWEEP_COORDINATOR_SWEEP_COUNTS_H_
#define HPSWEEP_COORDINATOR_SWEEP_COUNTS_H_

#include <string>

#include "search/domain.h"

namespace hpsweep {

struct SweepCounts {
  SweepRow sweep;
  // stopped: of a cancelled sweep, also the trials it never proposed (so the counts add up to
  // sweep.total).
  int queued = 0, running = 0, completed = 0, failed = 0, stopped = 0;
  // Trials the sweep's sampler will still propose (every method), not stored yet: sweep.total
  // is the stored trials plus these. 0 once the sampler is exhausted or the sweep cancelled.
  int unproposed = 0;
  int pruned = 0;               // stopped early by early_terminate (not counted in stopped)
  std::string early_terminate;  // DescribeEarlyTerminate of the sweep's; "" when it has none
  // The sweep's metric (Objective(sweep.metric, sweep.maximize)) of its best trial so far; -1
  // when no trial has a value yet (NaN for a program's metric, which may be any number).
  double best = -1;
  // Candidates the sweep's sampler passed over (method: bayes, since this coordinator started):
  // refused by the config checks or limits (an invalid combination), and tried already.
  int passed_over_invalid = 0, passed_over_tried = 0;
  // Why the last invalid one was refused (TrialSpec::passed_over_reason); "" when none was.
  std::string passed_over_reason;
  // Why trials wait with no worker to take them ("no live worker offers program 'x'", or trials
  // ask for precision: bf16 and no live worker has avx512_bf16); "".
  std::string waiting;
  // warm_start's history, "12 finished trials from sweep 1 (#1-#12)"; "" when none.
  std::string warm_start;
  // Several objectives or constraints (search/ranking.h): SweepRanking::DisplayName ("" for one
  // metric) and ConstraintsText; finished trials on the first feasible front, and infeasible
  // ones. best is then the best value of the first objective among feasible trials.
  std::string objectives, constraints;
  int front_size = 0, infeasible = 0;
  // An extended sweep (sweep.max_trials > 0): the max_trials its file gives; 0 otherwise.
  int file_max_trials = 0;
  // method: pbt (a running population): its segment and members waiting; "" otherwise.
  std::string population;
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_SWEEP_COUNTS_H_
