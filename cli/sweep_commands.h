// The sweep subcommands of hpsweep: run, coordinator, worker, submit, status, workers, leaderboard,
// cancel, export, slurm-script. Each returns the process exit code (0 ok, 1 runtime failure, 2 bad input).
#ifndef HPSWEEP_CLI_SWEEP_COMMANDS_H_
#define HPSWEEP_CLI_SWEEP_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "auth/credentials.h"
#include "engine/status.h"

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
StatusOr<TrialChoice> ResolveTrial(const std::string& db, const std::string& coordinator,
                                   const ClientSecurity& security, int64_t sweep,
                                   const std::string& trial);

// The saved model (model-file bytes) of the trial with this global id.
StatusOr<std::string> FetchModelById(const std::string& db, const std::string& coordinator,
                                     const ClientSecurity& security, int64_t trial_id);

// ResolveTrial, then its model; says on stderr which trial it used.
StatusOr<std::string> FetchTrialModel(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t sweep,
                                      const std::string& trial);

// --tls-ca, --tls-cert, --tls-key, --tls-server-name, --token-file: for every command that talks
// to a coordinator. Tokens come from a file or HPSWEEP_TOKEN, never from the command line.
void AddClientSecurityOptions(CLI::App* cmd, ClientSecurity* security);

// Adds the subcommands to app; returns a function that runs whichever was chosen (or -1 if none
// of them was).
std::function<int()> AddSweepCommands(CLI::App* app, const std::string& default_data_dir);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_SWEEP_COMMANDS_H_
