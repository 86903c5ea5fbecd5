// The export's JSON text in pieces, so that an export can be built, sent and written a trial at a
// time: ExportJoiner gives exactly the text of
//   json{{"sweep", sweep}, {"trials", [trial, ...]}}.dump(1, ' ', false, replace)
// (the format of every export so far) from the sweep's head and each trial's piece, in order.
//
// Ownership: values only. Thread-safety: none needed (no shared state).
#ifndef HPSWEEP_COORDINATOR_EXPORT_TEXT_H_
#define HPSWEEP_COORDINATOR_EXPORT_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hpsweep {

// `{\n "sweep": {...},\n "trials": [`: everything before the first trial.
std::string ExportHeadText(const nlohmann::json& sweep);
// One trial as it is indented inside the trials array (no separator).
std::string ExportTrialText(const nlohmann::json& trial);

// Joins the pieces: Head once, then Trial for each, then Tail; each returns the text to append.
class ExportJoiner {
 public:
  std::string Head(const nlohmann::json& sweep) { return ExportHeadText(sweep); }
  std::string Trial(const std::string& piece) {
    std::string out = trials_ == 0 ? "\n  " : ",\n  ";
    ++trials_;
    return out + piece;
  }
  std::string Tail() const { return trials_ == 0 ? "]\n}" : "\n ]\n}"; }
  // The bytes Trial(piece) and Tail() add at most beyond the piece itself.
  static constexpr size_t kOverhead = 8;

 private:
  size_t trials_ = 0;
};

// One page of an export (Scheduler::ExportSweepPage): the sweep's head and whole trials.
struct ExportPage {
  int64_t sweep_id = 0;             // the sweep's id (the one sweep_id 0 resolved to)
  std::string head;                 // ExportHeadText of the sweep
  std::vector<std::string> trials;  // ExportTrialText of each trial, by number
  int next_after = 0;               // the number to continue after; 0: this page ends the sweep
  // The page as one JSON document, as an export of just these trials.
  std::string Json() const;
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_EXPORT_TEXT_H_
