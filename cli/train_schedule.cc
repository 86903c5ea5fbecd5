#include "cli/train_schedule.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/checkpoint.h"
#include "search/sweep_file.h"

namespace hpsweep {
namespace {

// Ordered: an entry's keys keep the file's order (SegmentLine).
using OrderedJson = nlohmann::ordered_json;

// One entry's params, checked: mutable config keys, string or number values that apply.
Status ReadParams(const OrderedJson& params, const std::string& where, TrialConfig* config,
                  ScheduleSegment* seg) {
  if (!params.is_object()) return InvalidArgument(where + ": \"params\" must be an object");
  for (const auto& [key, value] : params.items()) {
    const std::string at = where + ", key '" + key.substr(0, 64) + "'";
    if (!IsMutableKey(key)) {
      const std::string near = NearestKey(key, MutableKeys());
      std::string known;
      for (const std::string& k : MutableKeys()) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgument(at + ": not a key a schedule may change (" + known + ")" +
                             (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number()) {
      text = value.dump();
    } else {
      return InvalidArgument(at + ": the value must be a string or a number");
    }
    Status s = ApplyKey(key, text, config);
    if (!s.ok()) return InvalidArgument(at + ": " + s.message());
    seg->changes.emplace_back(key, text);
  }
  return Status::Ok();
}

// The entries' array of the parsed file: the file itself, or its "schedule".
StatusOr<const OrderedJson*> EntriesOf(const OrderedJson& doc, const std::string& name) {
  const OrderedJson* entries = &doc;
  if (doc.is_object()) {
    auto it = doc.find("schedule");
    if (it == doc.end()) {
      return InvalidArgument(name + ": an object must have a \"schedule\" key (an array)");
    }
    entries = &*it;
  }
  if (!entries->is_array() || entries->empty()) {
    return InvalidArgument(name + ": the schedule must be a non-empty array of entries");
  }
  if (entries->size() > kMaxScheduleEntries) {
    return InvalidArgument(name + ": " + std::to_string(entries->size()) +
                           " entries; at most " + std::to_string(kMaxScheduleEntries));
  }
  return entries;
}

}  // namespace

StatusOr<std::vector<ScheduleSegment>> ParseSchedule(std::string_view text,
                                                     const std::string& name,
                                                     const TrialConfig& base) {
  if (text.size() > kMaxScheduleBytes) {
    return InvalidArgument(name + ": " + std::to_string(text.size()) + " bytes; a schedule is " +
                           "at most " + std::to_string(kMaxScheduleBytes));
  }
  const OrderedJson doc = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument(name + ": not valid JSON");
  StatusOr<const OrderedJson*> entries = EntriesOf(doc, name);
  if (!entries.ok()) return entries.status();
  const int epochs = base.train.epochs;
  std::vector<ScheduleSegment> segments;
  TrialConfig config = base;
  for (size_t i = 0; i < (*entries)->size(); ++i) {
    const OrderedJson& e = (**entries)[i];
    const std::string where = name + ": entry " + std::to_string(i);
    if (!e.is_object()) return InvalidArgument(where + ": must be an object");
    auto epoch_it = e.find("epoch");
    if (epoch_it == e.end() || !epoch_it->is_number_integer()) {
      return InvalidArgument(where + ": \"epoch\" must be an integer");
    }
    const int64_t epoch = epoch_it->get<int64_t>();
    const int64_t prev = segments.empty() ? -1 : segments.back().first_epoch - 1;
    if (i == 0 && epoch != 0) {
      return InvalidArgument(where + ": the first entry's epoch must be 0, not " +
                             std::to_string(epoch));
    }
    if (i > 0 && (epoch <= prev || epoch >= epochs)) {
      return InvalidArgument(where + ": epoch " + std::to_string(epoch) + " must be above " +
                             std::to_string(prev) + " (the entry before) and below " +
                             std::to_string(epochs) + " (the config's epochs)");
    }
    auto params = e.find("params");
    if (params == e.end()) return InvalidArgument(where + ": no \"params\"");
    ScheduleSegment seg;
    seg.first_epoch = static_cast<int>(epoch) + 1;
    HPSWEEP_RETURN_IF_ERROR(ReadParams(*params, where, &config, &seg));
    if (Status s = Validate(config); !s.ok()) return InvalidArgument(where + ": " + s.message());
    if (config.train.lr_schedule == LrSchedule::kReduceOnPlateau && !segments.empty() &&
        GetKey(config, "learning_rate") != GetKey(segments.back().config, "learning_rate")) {
      return InvalidArgument(where + ", key 'learning_rate': lr_schedule reduce_on_plateau " +
                             "keeps its own rate across a resumption; it cannot change");
    }
    seg.config = config;
    if (!segments.empty()) segments.back().last_epoch = static_cast<int>(epoch);
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
