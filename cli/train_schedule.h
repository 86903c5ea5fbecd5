// `hpsweep train --schedule FILE`: replays a population member's hyperparameter schedule
// (population-based training changes its mutable params between segments) from scratch.
//
// FILE is JSON: an array of entries, or an object whose "schedule" key holds one (one trial's
// entry of `hpsweep export`, saved as is):
//   [{"epoch": 0, "params": {"learning_rate": "0.001", "dropout": "0.2"}},
//    {"epoch": 4, "from": 3, "params": {"learning_rate": "0.0012", "dropout": "0.16"}}]
// Entry i's params apply from epoch (entry.epoch + 1) to the next entry's epoch (the last entry's
// to the config's last epoch), on top of the train command's flags and the entries before it (a
// key keeps its value until an entry changes it). Entry 0 has epoch 0; epochs strictly increase
// and are below the config's epochs; keys are mutable keys (engine/checkpoint.h, MutableKeys);
// values are config text, JSON strings or numbers. Other fields of an entry ("from": the member
// whose checkpoint it took) are not read. At most kMaxScheduleBytes and kMaxScheduleEntries
// entries (search/pbt.h, whose ParseScheduleEntries reads the file's shape).
//
// The replay trains as a population's workers do: segment i trains with pause_after_epoch the
// next entry's epoch under config i, its checkpoint serialized and parsed back under config i+1
// (FingerprintConfig over the mutable keys), so that a replay with the member's seed and thread
// count reproduces it bit for bit.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_CLI_TRAIN_SCHEDULE_H_
#define HPSWEEP_CLI_TRAIN_SCHEDULE_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/config.h"
#include "engine/mnist.h"
#include "engine/trainer.h"

namespace hpsweep {

constexpr size_t kMaxScheduleBytes = 1u << 20;

// One segment of a replay: its epochs and the config it trains under.
struct ScheduleSegment {
  int first_epoch = 1, last_epoch = 1;                        // 1-based, inclusive
  // The entry's keys and their values' text as in the file (a number as JSON writes it), in
  // the file's order.
  std::vector<std::pair<std::string, std::string>> changes;
  TrialConfig config;
};

// The segments of the schedule in text (read from name, for messages) over base, each config
// validated. InvalidArgument naming name, the entry and the key for a bad file.
StatusOr<std::vector<ScheduleSegment>> ParseSchedule(std::string_view text,
                                                     const std::string& name,
                                                     const TrialConfig& base);
// The same, from a file (at most kMaxScheduleBytes).
StatusOr<std::vector<ScheduleSegment>> ReadSchedule(const std::string& path,
                                                    const TrialConfig& base);

// "epoch 5-8: learning_rate 0.0012, dropout 0.16"
std::string SegmentLine(const ScheduleSegment& segment);

// Trains the segments in turn on data (see the file comment); options as for Train (its resume,
// pause_after_epoch and checkpoint callbacks are this function's). on_segment, when set, is called
// before each segment. The result is the last segment's, its history the whole run's; a run that
// early stopping, on_epoch or a cancel ends within a segment ends there.
// REQUIRES: segments non-empty, from ParseSchedule.
StatusOr<TrainResult> TrainSchedule(const std::vector<ScheduleSegment>& segments,
                                    const Mnist& data, const TrainOptions& options,
                                    const std::function<void(const ScheduleSegment&)>& on_segment);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_TRAIN_SCHEDULE_H_
