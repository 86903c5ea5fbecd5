// The sweep subcommands of hpsweep: run, coordinator, worker, dashboard, submit, status, workers,
// leaderboard, cancel, export, slurm-script. Each returns the process exit code (0 ok, 1 runtime
// failure, 2 bad input). This is main.cc's entry point; the commands live in cli/run_command.cc
// (run, coordinator, worker, dashboard, slurm-script), cli/report_commands.cc (report,
// data-report) and cli/sweep_commands.cc (the rest, and every subcommand's flags).
#ifndef HPSWEEP_CLI_SWEEP_COMMANDS_H_
#define HPSWEEP_CLI_SWEEP_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "auth/credentials.h"
#include "cli/trials.h"  // ResolveTrial, FetchTrialModel: for summary and predict
#include "base/status.h"

namespace hpsweep {

// --tls-ca, --tls-cert, --tls-key, --tls-server-name, --token-file: for every command that talks
// to a coordinator. Tokens come from a file or HPSWEEP_TOKEN, never from the command line.
void AddClientSecurityOptions(CLI::App* cmd, ClientSecurity* security);

// Adds the subcommands to app; returns a function that runs whichever was chosen (or -1 if none
// of them was).
std::function<int()> AddSweepCommands(CLI::App* app, const std::string& default_data_dir);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_SWEEP_COMMANDS_H_
