// Finding a trial of a sweep and its saved model, for the commands that take `--trial` (summary,
// predict: cli/main.cc) and for `report`: from a database file when db is non-empty, else from the
// coordinator at `coordinator` (with the client's TLS and token, auth/credentials.h).
//
// Ownership: results are returned by value. Thread-safety: functions only.
#ifndef HPSWEEP_CLI_TRIALS_H_
#define HPSWEEP_CLI_TRIALS_H_

#include <cstdint>
#include <string>

#include "auth/credentials.h"
#include "base/status.h"

namespace hpsweep {

// A trial named on the command line (`--trial` of summary and predict) and what it is.
struct TrialChoice {
  int64_t trial_id = 0;  // global id (GetModel's)
  int64_t sweep_id = 0;
  int64_t number = 0;  // #N within its sweep, as every view shows it
  std::string sweep_name;
  std::string
      description;  // "trial #3 of sweep 2 (name): completed, val_accuracy 0.9755, 2 epochs"
};

// Resolves trial, "best" or a trial's number in its sweep ("#N" or "N"), within sweep (0: the
// latest sweep; for "best", the latest sweep with a finished trial that was not cancelled), from a
// database file when db is non-empty, else from the coordinator. NotFound names the sweep.
// A sweep of several objectives (README.md, "Several objectives") has no one best trial: "best"
// is refused there (InvalidArgument naming its objectives) unless `objective` names one of them,
// whose best feasible trial it is then; `objective` with a number, or on a sweep of one metric
// other than its own, is refused too.
StatusOr<TrialChoice> ResolveTrial(const std::string& db, const std::string& coordinator,
                                   const ClientSecurity& security, int64_t sweep,
                                   const std::string& trial, const std::string& objective = "");

// The saved model (model-file bytes) of the trial with this global id.
StatusOr<std::string> FetchModelById(const std::string& db, const std::string& coordinator,
                                     const ClientSecurity& security, int64_t trial_id);
// A program trial's kept output (docs/programs.md) of the trial with this global id.
StatusOr<std::string> FetchOutputById(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t trial_id);

// ResolveTrial, then its model; says on stderr which trial it used.
StatusOr<std::string> FetchTrialModel(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t sweep,
                                      const std::string& trial,
                                      const std::string& objective = "");

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_TRIALS_H_
