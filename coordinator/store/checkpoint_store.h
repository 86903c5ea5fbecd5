// CheckpointStore: where the scheduler keeps the latest checkpoint of each trial that may resume
// (Scheduler::SaveCheckpoint in coordinator/scheduler.h): one file per trial, trial-<id>.ckpt in
// a folder, or, with no folder (a coordinator on ":memory:", tests), the bytes in memory. The
// file side only: which lease may save, how much room is left, and when a checkpoint goes are
// the scheduler's rules. The bytes are opaque here, except that Scan reads their epoch from the
// header (engine/checkpoint.h).
//
// A checkpoint is replaced whole: it is written to a temporary file beside its name
// (trial-<id>.ckpt.tmp<n>), fsynced and renamed over it, so a crash leaves the old one or the
// new one; Scan removes the temporary files a crash left.
//
// Ownership: the store owns the files named trial-* in its folder (and the bytes it holds in
// memory); it does not own the folder, which it makes if missing, or any other file in it,
// which it leaves alone.
//
// Thread-safety: not thread-safe; the scheduler calls it under its lock. So that megabytes are
// not written or read under that lock, a Put can be split (StartPut under the lock, WriteTemp
// outside it, FinishPut or AbandonPut under it again) and a Get read by path (PathOf under the
// lock, ReadFile outside it): the static functions touch only the path they are given.
#ifndef HPSWEEP_COORDINATOR_STORE_CHECKPOINT_STORE_H_
#define HPSWEEP_COORDINATOR_STORE_CHECKPOINT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace hpsweep {

class CheckpointStore {
 public:
  // folder: where the files go; "" keeps the bytes in memory. max_bytes: the largest checkpoint
  // Get reads back (the caller refuses larger ones before a Put).
  CheckpointStore(std::string folder, size_t max_bytes);

  CheckpointStore(const CheckpointStore&) = delete;
  CheckpointStore& operator=(const CheckpointStore&) = delete;

  bool in_memory() const { return folder_.empty(); }

  // Keeps bytes as trial_id's checkpoint, replacing its last, durably: StartPut, WriteTemp and
  // FinishPut in one call. IoError naming the path when a write or the rename fails; nothing is
  // left then, and the last checkpoint, if any, stays.
  Status Put(int64_t trial_id, const std::string& bytes);
  // The temporary file a Put of trial_id writes, a name no other Put uses; "" in memory.
  std::string StartPut(int64_t trial_id);
  // Writes and fsyncs bytes at tmp (a no-op for ""). IoError naming tmp; nothing is left then.
  static Status WriteTemp(const std::string& tmp, const std::string& bytes);
  // Renames tmp (written by WriteTemp) over trial_id's checkpoint; in memory, keeps bytes.
  // IoError "PATH: rename failed: <errno text>", tmp removed.
  Status FinishPut(int64_t trial_id, const std::string& tmp, const std::string& bytes);
  // A Put given up after its StartPut: removes tmp (nothing for "").
  static void AbandonPut(const std::string& tmp);

  // The bytes of trial_id's checkpoint: ReadFile(PathOf(trial_id)), or the bytes in memory
  // (NotFound "trial <id>: no checkpoint" if none).
  StatusOr<std::string> Get(int64_t trial_id) const;
  // Where trial_id's checkpoint is: <folder>/trial-<id>.ckpt; "" in memory.
  std::string PathOf(int64_t trial_id) const;
  // The checkpoint file at path, at most max_bytes; a rename replaces it whole, so this reads one
  // version. NotFound "PATH: no checkpoint"; DataLoss "PATH: checkpoint over its size limit"
  // (said too of anything but a regular file); IoError when a read fails.
  static StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes);

  // Forgets trial_id's checkpoint (removes its file); nothing if it has none.
  void Drop(int64_t trial_id);

  // What the store holds, in trial id order: each checkpoint's epoch as its header says
  // (PeekCheckpointEpoch; -1 for a file shorter than a header) and its size (0 if it cannot be
  // read). For a folder: makes it if missing, removes the temporary files of writes a crash
  // left unfinished (trial-*.tmp*), and ignores every file not named trial-<id>.ckpt.
  struct Entry {
    int64_t trial_id = 0;
    int epoch = -1;
    uint64_t bytes = 0;
  };
  std::vector<Entry> Scan();

 private:
  std::vector<Entry> ScanFolder();  // Scan of the folder, in no order

  const std::string folder_;
  const size_t max_bytes_;
  uint64_t tmp_counter_ = 0;                                  // names StartPut's temporary files
  std::unordered_map<int64_t, std::string> bytes_in_memory_;  // when folder_ is ""
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_STORE_CHECKPOINT_STORE_H_
