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

// The saved model (model-file bytes) of a trial, read from a database file when db is non-empty,
// else asked of the coordinator. trial is a trial id, or "best": the top of the sweep's
// leaderboard (sweep 0: the latest sweep).
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
