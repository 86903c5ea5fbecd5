// CheckpointStore (coordinator/store/checkpoint_store.h): trial-<id>.ckpt files in a folder, or
// the bytes in memory.
#include "coordinator/store/checkpoint_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "base/file_io.h"
#include "engine/checkpoint.h"

namespace hpsweep {

CheckpointStore::CheckpointStore(std::string folder, size_t max_bytes)
    : folder_(std::move(folder)), max_bytes_(max_bytes) {}

std::string CheckpointStore::PathOf(int64_t trial_id) const {
  if (in_memory()) return "";
  return folder_ + "/trial-" + std::to_string(trial_id) + ".ckpt";
}

Status CheckpointStore::Put(int64_t trial_id, const std::string& bytes) {
  const std::string tmp = StartPut(trial_id);
  HPSWEEP_RETURN_IF_ERROR(WriteTemp(tmp, bytes));
  return FinishPut(trial_id, tmp, bytes);
}

std::string CheckpointStore::StartPut(int64_t trial_id) {
  if (in_memory()) return "";
  return PathOf(trial_id) + ".tmp" + std::to_string(++tmp_counter_);
}

Status CheckpointStore::WriteTemp(const std::string& tmp, const std::string& bytes) {
  if (tmp.empty()) return Status::Ok();
  return WriteFileSynced(tmp, bytes);
}

Status CheckpointStore::FinishPut(int64_t trial_id, const std::string& tmp,
                                  const std::string& bytes) {
  if (in_memory()) {
    bytes_in_memory_[trial_id] = bytes;
    return Status::Ok();
  }
  const std::string path = PathOf(trial_id);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return IoError(path + ": rename failed: " + why);
  }
  return Status::Ok();
}

void CheckpointStore::AbandonPut(const std::string& tmp) {
  if (!tmp.empty()) ::unlink(tmp.c_str());
}

StatusOr<std::string> CheckpointStore::Get(int64_t trial_id) const {
  if (!in_memory()) return ReadFile(PathOf(trial_id), max_bytes_);
  auto kept = bytes_in_memory_.find(trial_id);
  if (kept == bytes_in_memory_.end()) {
    return NotFound("trial " + std::to_string(trial_id) + ": no checkpoint");
  }
  return kept->second;
}

StatusOr<std::string> CheckpointStore::ReadFile(const std::string& path, size_t max_bytes) {
  auto bytes = ReadFileBounded(path, max_bytes, "checkpoint", /*regular_only=*/true);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return NotFound(path + ": no checkpoint");
    if (bytes.status().code() == StatusCode::kInvalidArgument) {
      return DataLoss(path + ": checkpoint over its size limit");
    }
    return bytes.status();
  }
  return bytes;
}

void CheckpointStore::Drop(int64_t trial_id) {
  bytes_in_memory_.erase(trial_id);
  if (!in_memory()) ::unlink(PathOf(trial_id).c_str());
}

std::vector<CheckpointStore::Entry> CheckpointStore::Scan() {
  std::vector<Entry> found;
  if (in_memory()) {
    for (const auto& [id, bytes] : bytes_in_memory_) {
      found.push_back(Entry{id, PeekCheckpointEpoch(bytes), bytes.size()});
    }
  } else {
    found = ScanFolder();
  }
  std::sort(found.begin(), found.end(),
            [](const Entry& a, const Entry& b) { return a.trial_id < b.trial_id; });
  return found;
}

std::vector<CheckpointStore::Entry> CheckpointStore::ScanFolder() {
  std::vector<Entry> found;
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  for (const auto& entry : std::filesystem::directory_iterator(folder_, ec)) {
    const std::string name = entry.path().filename().string();
    int64_t id = 0;
    char tail[8] = {0};
    if (name.rfind("trial-", 0) == 0 && name.find(".tmp") != std::string::npos) {
      std::filesystem::remove(entry.path(), ec);  // a write the last run did not finish
    } else if (std::sscanf(name.c_str(), "trial-%" SCNd64 ".%7s", &id, tail) == 2 &&
               std::string(tail) == "ckpt" && name == "trial-" + std::to_string(id) + ".ckpt") {
      found.push_back(Entry{id, -1, 0});
    }
  }
  for (Entry& e : found) {
    std::ifstream in(PathOf(e.trial_id), std::ios::binary);
    std::string head(kCheckpointHeaderBytes, '\0');
    in.read(&head[0], static_cast<std::streamsize>(head.size()));
    if (in.gcount() == static_cast<std::streamsize>(head.size())) {
      e.epoch = PeekCheckpointEpoch(head);
    }
    std::error_code size_ec;
    e.bytes = std::filesystem::file_size(PathOf(e.trial_id), size_ec);
    if (size_ec) e.bytes = 0;
  }
  return found;
}

}  // namespace hpsweep
