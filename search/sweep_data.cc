// A sweep's own data set (data: {format: idx|csv, ...}): the files checked and hashed at
// submit (one read of each, at most kMaxDataChecks checks at a time in a process), and the
// reserved params and data shape every trial of such a sweep carries.

#include "search/sweep_file.h"

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "search/sweep_file_internal.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "base/utf8.h"

namespace hpsweep {

using sweep_internal::ErrorAt;
using sweep_internal::FormatBytes;
using sweep_internal::FormatCount;

namespace {

// path with every link resolved (as far as it exists), or "" if that cannot be worked out.
std::string RealPath(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  return ec ? std::string() : real.string();
}

// The root (as given) that holds `real`, or nullptr.
const std::string* RootOf(const std::string& real, const SweepLimits& limits) {
  for (const std::string& root : limits.data_roots) {
    const std::string r = RealPath(root);
    if (r.empty()) continue;
    if (real == r || real.compare(0, r.size() + 1, r + "/") == 0) return &root;
  }
  return nullptr;
}

// At most kMaxDataChecks data checks (reading a sweep's own data set at submit) run at once in a
// process; the others wait their turn. A check holds about one CSV line and one row of each file
// (LoadDataset(spec, 1, 1)), so this bounds the memory that concurrent submits of big files take
// together, and their disk reads. Thread-safe; one for the process, never destroyed.
constexpr int kMaxDataChecks = 2;

class DataCheckSlots {
 public:
  static DataCheckSlots& Get() {
    static DataCheckSlots* slots = new DataCheckSlots();
    return *slots;
  }
  void Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    free_cv_.wait(lock, [this] { return in_use_ < kMaxDataChecks; });
    ++in_use_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_use_;
    }
    free_cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable free_cv_;
  int in_use_ = 0;  // guarded by mu_
};

// Holds one of the slots for its lifetime.
class DataCheckSlot {
 public:
  DataCheckSlot() { DataCheckSlots::Get().Acquire(); }
  ~DataCheckSlot() { DataCheckSlots::Get().Release(); }
  DataCheckSlot(const DataCheckSlot&) = delete;
  DataCheckSlot& operator=(const DataCheckSlot&) = delete;
};

std::string RootList(const SweepLimits& limits) {
  if (limits.data_roots.empty()) return "none: start it with --data-root DIR";
  std::string list;
  for (const std::string& r : limits.data_roots) list += (list.empty() ? "" : ", ") + r;
  return list;
}

}  // namespace

Status CheckDataRoots(const SweepSpec& spec, const std::string& file_name,
                      const SweepLimits& limits) {
  if (!limits.restrict_data || spec.data.format == DataFormat::kMnist) return Status::Ok();
  std::vector<std::pair<std::string, std::string>> named;  // (key, path)
  if (spec.data.format == DataFormat::kIdx) {
    named.emplace_back("path", spec.data.path);
  } else {
    named.emplace_back("train", spec.data.train_file);
    if (!spec.data.test_file.empty()) named.emplace_back("test", spec.data.test_file);
  }
  // An IDX folder's files too: a link inside the folder may point anywhere.
  StatusOr<std::vector<std::string>> files = spec.data.Files();
  if (files.ok()) {
    for (const std::string& f : *files) named.emplace_back("path", f);
  }
  for (const auto& [key, path] : named) {
    const std::string real = RealPath(path);
    if (!real.empty() && RootOf(real, limits) != nullptr) continue;
    const auto at = spec.lines.find("data." + key);
    return ErrorAt(file_name, at == spec.lines.end() ? 0 : at->second,
                   "key 'data." + key + "': " + EscapeText(path) +
                       " is outside this coordinator's data folders (--data-root: " +
                       RootList(limits) + "); it was not read");
  }
  return Status::Ok();
}

Status CheckFilesUnderRoots(const std::vector<std::string>& files, const SweepLimits& limits) {
  if (!limits.restrict_data) return Status::Ok();
  for (const std::string& f : files) {
    const std::string real = RealPath(f);
    if (real.empty() || RootOf(real, limits) == nullptr) {
      return FailedPrecondition(EscapeText(f) +
                                " is now outside this coordinator's data folders (--data-root: " +
                                RootList(limits) + "); it is not sent");
    }
  }
  return Status::Ok();
}

namespace {

// CheckSweepData, also giving the data's shape (one row of each file, *shape) when it is Ok: one
// read of the files, in one of the process's data check slots.
StatusOr<std::string> CheckAndShape(const SweepSpec& spec, const std::string& file_name,
                                    const SweepLimits& limits, Mnist* shape) {
  if (spec.data.format == DataFormat::kMnist) return std::string();
  HPSWEEP_RETURN_IF_ERROR(CheckDataRoots(spec, file_name, limits));
  auto line = [&](const std::string& key) {
    auto it = spec.lines.find("data." + key);
    return it == spec.lines.end() ? 0 : it->second;
  };
  DataCheckSlot slot;
  // Every row checked, one of each file kept: the shape and classes are all a submit needs.
  StatusOr<Mnist> data = LoadDataset(spec.data, 1, 1);
  if (!data.ok()) {
    // Name the data key whose file is at fault (its path begins the engine's message).
    std::string key = spec.data.format == DataFormat::kIdx ? "path" : "train";
    const std::string& m = data.status().message();
    if (!spec.data.test_file.empty() &&
        m.compare(0, spec.data.test_file.size(), spec.data.test_file) == 0) {
      key = "test";
    }
    return ErrorAt(file_name, line(key), "key 'data." + key + "': " + m);
  }
  StatusOr<std::string> sha = DatasetSha256(spec.data);
  if (!sha.ok()) {
    return ErrorAt(file_name, line("format"), "key 'data.format': " + sha.status().message());
  }
  *shape = std::move(*data);
  return *sha;
}

}  // namespace

StatusOr<std::string> CheckSweepData(const SweepSpec& spec, const std::string& file_name,
                                     const SweepLimits& limits) {
  Mnist shape;
  return CheckAndShape(spec, file_name, limits, &shape);
}

StatusOr<SweepData> PrepareSweepData(const SweepSpec& spec, const std::string& file_name,
                                     const SweepLimits& limits) {
  SweepData d;
  if (spec.data.format == DataFormat::kMnist) return d;
  Mnist data;
  StatusOr<std::string> sha = CheckAndShape(spec, file_name, limits, &data);
  if (!sha.ok()) return sha.status();
  d.params = {{"data.format", DataFormatName(spec.data.format)}, {"data.sha256", *sha}};
  // Absolute, so that a worker started in another folder (or on another node sharing the file
  // system) reads the same files.
  auto absolute = [](const std::string& p) {
    std::error_code ec;
    const std::filesystem::path a = std::filesystem::absolute(p, ec);
    return ec ? p : a.lexically_normal().string();
  };
  if (spec.data.format == DataFormat::kIdx) {
    d.params["data.path"] = absolute(spec.data.path);
  } else {
    d.params["data.train"] = absolute(spec.data.train_file);
    d.params["data.test"] = absolute(spec.data.test_file);
    d.params["data.sequence_length"] = std::to_string(spec.data.sequence_length);
    if (spec.data.targets > 0) d.params["data.targets"] = std::to_string(spec.data.targets);
  }
  ModelConfig shaped;
  ShapeModelToData(data, &shaped);
  d.steps = shaped.steps;
  d.features = shaped.features;
  d.classes = shaped.classes;
  const auto format_line = spec.lines.find("data.format");
  d.line = format_line == spec.lines.end() ? 0 : format_line->second;
  return d;
}

Status ApplySweepData(const SweepData& d, const std::string& file_name, const SweepLimits& limits,
                      TrialSpec* t) {
  if (d.params.empty()) return Status::Ok();
  for (const auto& [k, v] : d.params) t->params[k] = v;
  ModelConfig& m = t->config.model;
  m.steps = d.steps;
  m.features = d.features;
  m.classes = d.classes;
  // ExpandSweep (or BuildTrial) measured the trial with MNIST's shape; the data's may be wider.
  const std::string shape = " with the data's shape (" + std::to_string(m.steps) + " steps x " +
                            std::to_string(m.features) + " features, " +
                            std::to_string(m.classes) +
                            (m.task == Task::kRegression ? " targets)" : " classes)");
  const int64_t params = ParamCount(t->config);
  if (params > limits.max_params) {
    return ErrorAt(file_name, d.line,
                   "trial " + std::to_string(t->number) + ": " + FormatCount(params) +
                       " parameters" + shape + ", over the limit of " +
                       FormatCount(limits.max_params) + " (--max-model-params)");
  }
  const int64_t bytes = TrainingBytesEstimate(t->config);
  if (bytes > limits.max_training_bytes) {
    return ErrorAt(file_name, d.line,
                   "trial " + std::to_string(t->number) + ": training needs about " +
                       FormatBytes(bytes) + shape + ", over the limit of " +
                       FormatBytes(limits.max_training_bytes) + " (--max-training-memory-mb)");
  }
  return Status::Ok();
}

Status AttachSweepData(const SweepSpec& spec, const std::string& file_name,
                       std::vector<TrialSpec>* trials, const SweepLimits& limits) {
  StatusOr<SweepData> d = PrepareSweepData(spec, file_name, limits);
  if (!d.ok()) return d.status();
  for (TrialSpec& t : *trials) HPSWEEP_RETURN_IF_ERROR(ApplySweepData(*d, file_name, limits, &t));
  return Status::Ok();
}

StatusOr<PreparedSweep> PrepareSweep(const std::string& text, const std::string& file_name,
                                     const SweepLimits& limits) {
  PreparedSweep out;
  StatusOr<SweepSpec> spec = ParseSweep(text, file_name);
  if (!spec.ok()) return spec.status();
  out.spec = std::move(*spec);
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(out.spec, file_name, limits);
  if (!trials.ok()) return trials.status();
  out.trials = std::move(*trials);
  StatusOr<SweepData> data = PrepareSweepData(out.spec, file_name, limits);
  if (!data.ok()) return data.status();
  out.data = std::move(*data);
  for (TrialSpec& t : out.trials) {
    HPSWEEP_RETURN_IF_ERROR(ApplySweepData(out.data, file_name, limits, &t));
  }
  return out;
}

}  // namespace hpsweep
