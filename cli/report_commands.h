// The sweep subcommands that write an HTML page (report/report.h): `report` (one sweep, or several
// side by side) and `data-report` (a data set on its own). Registered by cli/sweep_commands.cc;
// each returns the process exit code.
//
// Ownership: nothing is kept past a call. Thread-safety: functions only.
#ifndef HPSWEEP_CLI_REPORT_COMMANDS_H_
#define HPSWEEP_CLI_REPORT_COMMANDS_H_

#include "cli/sweep_flags.h"

namespace hpsweep {

int RunReport(const Flags& flags);

int RunDataReport(const Flags& f);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_REPORT_COMMANDS_H_
