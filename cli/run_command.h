// The sweep subcommands that run until their work is done or a signal stops them: `run` (a
// coordinator here and workers from a launcher, launch/), `coordinator`, `worker`, `dashboard`
// (a database file's dashboard) and `slurm-script` (the batch script `run --launcher slurm` submits). Registered by
// cli/sweep_commands.cc; each returns the process exit code.
//
// Ownership: each command owns what it starts and stops it before it returns. Thread-safety: run
// one at a time; they install the process's SIGINT, SIGTERM and SIGHUP handlers and ignore SIGPIPE.
#ifndef HPSWEEP_CLI_RUN_COMMAND_H_
#define HPSWEEP_CLI_RUN_COMMAND_H_

#include "cli/sweep_flags.h"

namespace hpsweep {

// `hpsweep run FILE`: 0 when the sweep completed, 128 + the signal when one interrupted it.
int RunEmbedded(const Flags& f);

int RunCoordinator(const Flags& f);

int RunWorker(const Flags& f);

int RunSlurmScript(const Flags& f);

// `hpsweep dashboard --db FILE [--http HOST:PORT]`: the dashboard over a database file, read-only
// (cancel refused), reloaded as another process writes the file; 0 when a signal stops it.
int RunDashboardDb(const Flags& f);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_RUN_COMMAND_H_
