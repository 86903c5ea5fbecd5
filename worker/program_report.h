// The report lines of a program trial (docs/programs.md, "How it reports"): one JSON object a
// line on the descriptor HPSWEEP_REPORT_FD names. ReportReader cuts the bytes read into lines,
// checks each and keeps the state between them (the next epoch, the final line seen); it never
// holds more than one line (kMaxReportLineBytes) of unread bytes, whatever the program writes.
//
// Ownership: values. Thread-safety: a ReportReader is used by one thread at a time.
#ifndef HPSWEEP_WORKER_PROGRAM_REPORT_H_
#define HPSWEEP_WORKER_PROGRAM_REPORT_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "search/objective.h"  // IsMetricName

namespace hpsweep {

constexpr size_t kMaxReportLineBytes = 65536;  // without its newline
constexpr size_t kMaxReportMetrics = 64;       // metrics a line, "epoch" not counted
constexpr size_t kMaxMetricNameBytes = 64;
constexpr int kMaxProgramEpochs = 100000;      // the epoch limit of a trial that names none

// One epoch line: its epoch and its metrics by name.
struct ProgramEpoch {
  int epoch = 0;
  std::map<std::string, double> metrics;
};

// One checked line.
struct ReportLine {
  enum class Kind { kBlank, kEpoch, kFinal };
  Kind kind = Kind::kBlank;
  ProgramEpoch epoch;  // kEpoch: the epoch and its metrics; kFinal: the metrics (epoch 0)
};


// Checks one line (without its newline; a trailing '\r' is allowed). line_number names the line
// in messages; next_epoch is the epoch an epoch line must carry, max_epoch the highest allowed.
// A line of blanks is kBlank; a line without "epoch" is kFinal (whether one may come is the
// caller's business). InvalidArgument "report line N: WHAT: QUOTE" otherwise, where QUOTE is the
// line's start (at most about 60 bytes, escaped, valid UTF-8).
StatusOr<ReportLine> ParseReportLine(std::string_view line, int line_number, int next_epoch,
                                     int max_epoch);

// The lines of one attempt's report stream, checked in order: the first epoch line must be
// resume_epoch + 1, each next one the previous plus one, none above max_epoch (0: at most
// kMaxProgramEpochs); nothing may follow the final line.
class ReportReader {
 public:
  ReportReader(int resume_epoch, int max_epoch);

  // Adds bytes read from the stream; appends each complete non-blank line to *lines. Returns
  // the first bad line's error; once failed, every later call returns that error and reads
  // nothing (so the caller may drain the stream through it).
  Status Add(std::string_view bytes, std::vector<ReportLine>* lines);

  // The stream ended: a last line without its newline counts as a line.
  Status Finish(std::vector<ReportLine>* lines);

  int lines_read() const { return line_number_; }
  // The bytes of the current, unfinished line held: never more than kMaxReportLineBytes.
  size_t buffered_bytes() const { return partial_.size(); }

 private:
  Status TakeLine(std::string_view line, std::vector<ReportLine>* lines);

  std::string partial_;  // the current line's bytes so far, at most kMaxReportLineBytes
  int line_number_ = 0;
  int next_epoch_;
  int max_epoch_;
  bool final_seen_ = false;
  Status error_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_PROGRAM_REPORT_H_
