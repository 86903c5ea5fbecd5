#include "cli/train_schedule.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/checkpoint.h"
#include "search/pbt.h"
#include "search/sweep_file.h"

namespace hpsweep {
namespace {

}  // namespace

StatusOr<std::vector<ScheduleSegment>> ParseSchedule(std::string_view text,
                                                     const std::string& name,
                                                     const TrialConfig& base) {
  if (text.size() > kMaxScheduleBytes) {
    return InvalidArgument(name + ": " + std::to_string(text.size()) + " bytes; a schedule is " +
                           "at most " + std::to_string(kMaxScheduleBytes));
  }
  // The file's shape, epochs and keys as a population's schedules are read (search/pbt.h).
  const int epochs = base.train.epochs;
  StatusOr<std::vector<ScheduleEntry>> entries =
      ParseScheduleEntries(std::string(text), name, epochs, MutableKeys());
  if (!entries.ok()) return entries.status();
  std::vector<ScheduleSegment> segments;
  TrialConfig config = base;
  for (size_t i = 0; i < entries->size(); ++i) {
    const ScheduleEntry& e = (*entries)[i];
    const std::string where = name + ": entry " + std::to_string(i + 1);
    ScheduleSegment seg;
    seg.first_epoch = e.epoch + 1;
    for (const auto& [key, value] : e.params) {
      Status s = ApplyKey(key, value, &config);
      if (!s.ok()) return InvalidArgument(where + ", key '" + key + "': " + s.message());
      seg.changes.emplace_back(key, value);
    }
    if (Status s = Validate(config); !s.ok()) return InvalidArgument(where + ": " + s.message());
    if (config.train.lr_schedule == LrSchedule::kReduceOnPlateau && !segments.empty() &&
        GetKey(config, "learning_rate") != GetKey(segments.back().config, "learning_rate")) {
      return InvalidArgument(where + ", key 'learning_rate': lr_schedule reduce_on_plateau " +
                             "keeps its own rate across a resumption; it cannot change");
    }
    seg.config = config;
    if (!segments.empty()) segments.back().last_epoch = e.epoch;
    segments.push_back(std::move(seg));
  }
  segments.back().last_epoch = epochs;
  return segments;
}

StatusOr<std::vector<ScheduleSegment>> ReadSchedule(const std::string& path,
                                                    const TrialConfig& base) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open the schedule file");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxScheduleBytes) {
      return InvalidArgument(path + ": over " + std::to_string(kMaxScheduleBytes) +
                             " bytes; a schedule is at most that");
    }
  }
  return ParseSchedule(text, path, base);
}

std::string SegmentLine(const ScheduleSegment& segment) {
  std::string line = "epoch " + std::to_string(segment.first_epoch) +
                     (segment.last_epoch > segment.first_epoch
                          ? "-" + std::to_string(segment.last_epoch)
                          : "") +
                     ":";
  for (size_t i = 0; i < segment.changes.size(); ++i) {
    const auto& [key, value] = segment.changes[i];
    line += (i == 0 ? " " : ", ") + key + " " + value;
  }
  if (segment.changes.empty()) line += " (no change)";
  return line;
}

StatusOr<TrainResult> TrainSchedule(const std::vector<ScheduleSegment>& segments,
                                    const Mnist& data, const TrainOptions& options,
                                    const std::function<void(const ScheduleSegment&)>& on_segment) {
  std::optional<TrainCheckpoint> resume;
  StatusOr<TrainResult> result = InvalidArgument("an empty schedule");
  for (size_t i = 0; i < segments.size(); ++i) {
    const ScheduleSegment& seg = segments[i];
    if (on_segment) on_segment(seg);
    std::string bytes;
    TrainOptions opts = options;
    opts.resume = resume ? &*resume : nullptr;
    opts.pause_after_epoch = i + 1 < segments.size() ? seg.last_epoch : 0;
    opts.checkpoint_due = [](const EpochMetrics&) { return false; };  // the pause's only
    opts.on_checkpoint = [&](const TrainCheckpoint& c) {
      bytes = SerializeCheckpoint(FingerprintConfig(seg.config, MutableKeys()), c);
    };
    result = Train(seg.config, data, opts);
    if (!result.ok() || !result->paused) return result;
    // As a worker resumes the next segment: from the bytes, under the next config.
    const TrialConfig& next = segments[i + 1].config;
    StatusOr<TrainCheckpoint> c = ParseCheckpoint(bytes, FingerprintConfig(next, MutableKeys()),
                                                  "the checkpoint after epoch " +
                                                      std::to_string(seg.last_epoch));
    if (!c.ok()) return c.status();
    resume = std::move(*c);
  }
  return result;
}

}  // namespace hpsweep
