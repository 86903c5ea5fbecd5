// The security subcommands of hpsweep:
//   hpsweep token create --role worker|user|reader --tokens FILE [--name NAME] [--out FILE]
//   hpsweep certs --out DIR --host NAME [--host NAME ...] [--days D]
// Each returns the process exit code (0 ok, 1 runtime failure, 2 bad input).
#ifndef HPSWEEP_CLI_AUTH_COMMANDS_H_
#define HPSWEEP_CLI_AUTH_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

namespace hpsweep {

// Adds the subcommands to app; returns a function that runs whichever was chosen (or -1 if none
// of them was).
std::function<int()> AddAuthCommands(CLI::App* app);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_AUTH_COMMANDS_H_
