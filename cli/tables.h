// What the sweep subcommands print: the status, leaderboard and workers tables (and the
// leaderboard's and workers' csv and json), the progress lines of `run` and `status --watch`, and
// the small pieces of wording they share (durations, metrics, counts, notes).
//
// Ownership: functions print to stdout or stderr, or return text; nothing is kept.
// Thread-safety: functions only; a ProgressPrinter is for one thread.
#ifndef HPSWEEP_CLI_TABLES_H_
#define HPSWEEP_CLI_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "proto/hpsweep.pb.h"

namespace hpsweep {

// "40.9s", "2m05s", "1h07m".
std::string Duration(double s);

// A metric as the leaderboard prints it: rounded to 4 decimals (not cut, which disagreed).
std::string Fixed4(double v);

// "1 trial", "3 trials": a count in messages, its noun in agreement.
std::string Counted(int64_t n, const std::string& noun);

// What `run` and `submit` say about the sweep's trials identical to finished ones: that --reuse
// copies them (or did). "" when there are none.
std::string IdenticalNote(int trials, const std::vector<int64_t>& sweeps, bool reuse);

// One CSV cell as RFC 4180 writes it: quoted when it holds a comma, a quote, CR or LF, quotes
// doubled. A cell that a spreadsheet would run as a formula (it starts with = + - @, a tab or CR
// and is not a number) gets a leading ' and is quoted, as OWASP advises: worker names and
// parameter values come from other people.
std::string CsvCell(const std::string& v);

// "queued", "running", "completed", ...: TrialStatusText (coordinator/views.h).
const char* StatusText(v1::TrialStatus s);

// "[name] 5/6 trials done, 1 running, 0 failed - best val_accuracy 0.9755 - 40.9s", with
// " (2 stopped)" after "done" when a cancel stopped some (they are finished, not completed),
// " (3 pruned)" or " (2 stopped, 3 pruned)" when early_terminate stopped some, and
// "no result yet" until a trial has a value. best is the value of the sweep's metric (e.g. "best
// val_loss 0.1234").
std::string ProgressLine(const std::string& name, int done, int total, int running, int failed,
                         int stopped, int pruned, const std::string& metric, double best,
                         double seconds);

// Progress lines on stderr. On a terminal every call prints, one line redrawn in place (several
// lines go one under the other); elsewhere (a log file) a call prints every 10 s, whenever the
// number of finished trials changed since the last line, and when it is the last.
class ProgressPrinter {
 public:
  ProgressPrinter();
  // `now` in seconds, on any clock that the caller keeps to; `finished`: trials finished so far.
  void Show(const std::vector<std::string>& lines, double now, bool last, int64_t finished);
  // Ends the redrawn line, if one is showing, so that what follows starts on a line of its own.
  void Break();

 private:
  const bool tty_;
  double printed_ = -100;
  int64_t finished_ = 0;
  bool open_ = false;
};

// The leaderboard on stdout as format "table", "csv" or "json".
void PrintLeaderboard(const v1::GetLeaderboardResponse& lb, const std::string& format);

// The status table on stdout; with workers, the line of live workers under it.
void PrintStatus(const v1::GetStatusResponse& resp, bool workers = true);

// The workers on stdout as format "table" or "json".
void PrintWorkers(const v1::ListWorkersResponse& resp, const std::string& format);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_TABLES_H_
