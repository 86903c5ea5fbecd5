// `hpsweep extend SWEEP --max-trials N` (or `--more K`): a bayes or random sweep goes on from its
// history with a larger max_trials (coordinator/scheduler_extend.cc), through a coordinator's
// ExtendSweep or, with --db, in a database file no coordinator is serving (a finished
// `hpsweep run`'s: run its file again to train the new trials).
//
// Thread-safety: functions; run on the main thread.
#ifndef HPSWEEP_CLI_EXTEND_COMMAND_H_
#define HPSWEEP_CLI_EXTEND_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/sweep_flags.h"

namespace hpsweep {

// The subcommand, its options written into f (f->target, f->max_trials, f->more, the source's).
CLI::App* AddExtendCommand(CLI::App* app, Flags* f);
// Runs it; the process exit code (0 ok, 1 runtime failure, 2 bad input or a refusal).
int RunExtend(const Flags& f);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_EXTEND_COMMAND_H_
