// Training checkpoints: everything Train needs to go on from the end of an epoch as if it had
// never stopped, so that a resumed run ends with the same metrics and model bytes as an
// uninterrupted one (same seed, same thread count).
//
// The state of a run between epochs is: the parameters, the optimizer's step count and slots
// (Adam's moments, RMSprop's mean square, SGD's velocity), the number of training steps taken
// (each step's dropout masks are seeded by (seed, step)), and the shuffled order of the training
// samples. The order is not stored: each epoch's shuffle is seeded by (seed, epoch) and applied to
// the previous epoch's order, so Train replays the shuffles of epochs 1..epoch (index swaps only,
// no training) to rebuild it. The history of epochs 1..epoch travels too, so that the resumed
// run's history (and its completion) is the whole 1..n.
//
// Format (version 3), little-endian:
//   "HPSWCKPT" u32 version=3 u32 epoch u64 step u64 optimizer_steps
//   u64 n_params u64 n_m u64 n_v u32 n_history u64 config_fingerprint       (68 bytes)
//   n_history x (i32 epoch, 7 x f64: train_loss train_accuracy val_loss val_accuracy seconds
//                samples_per_second lr)                                     (60 bytes each)
//   the learning-rate schedule's state (engine/schedule.h, PlateauState):
//   f32 lr, u32 wait, f64 best                                              (16 bytes)
//   the kept weights' and early stopping's state (engine/early_stopping.h):
//   u32 kept_epoch (0: none), u32 stopping_wait, f64 kept_value, f64 stopping_best (24 bytes)
//   n_params + n_m + n_v float32 (params, then the optimizer's slots)
//   n_kept float32, the kept epoch's weights: n_params when kept_epoch > 0, else none
//   u32 CRC-32 (zlib) of everything before it
// The other schedules are functions of the step and epoch, which the checkpoint holds already.
// Version 1 (before the schedules) is read too: its epochs are 52 bytes (no lr) and it has no
// schedule state. Its trials had the constant rate (the keys that came with version 2 enter the
// fingerprint only when set off their defaults), so the lr of its epochs is the trial's
// learning_rate and the schedule state the initial one. Versions 1 and 2 have no kept weights or
// early stopping state: they resume with none kept and early stopping's initial state (the keys
// that came with version 3 enter the fingerprint only off their defaults too). A resumed
// keep: best run then keeps the best of the epochs after the checkpoint. SerializeCheckpoint
// writes version 3.
// ParseCheckpoint checks the header against the config it is to resume (fingerprint of every
// config key, parameter count, slot sizes of its optimizer, epoch within its epochs) before it
// reads or allocates anything, and the exact total size: hostile or damaged input is refused
// with a message naming the field, never read past its end.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_ENGINE_CHECKPOINT_H_
#define HPSWEEP_ENGINE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"
#include "base/status.h"
#include "engine/early_stopping.h"
#include "engine/schedule.h"
#include "engine/trainer.h"

namespace hpsweep {

struct TrainCheckpoint {
  int epoch = 0;                      // epochs completed, >= 1
  uint64_t step = 0;                  // training steps taken (batches of epochs 1..epoch)
  std::vector<float> params;          // CountParams(config.model)
  int64_t optimizer_steps = 0;        // OptimizerState::steps(); equals step
  std::vector<float> slot_m;          // OptimizerState's first slot (n_params)
  std::vector<float> slot_v;          // its second slot (n_params, or empty for SGD)
  PlateauState plateau;               // LrScheduler::plateau() after epoch `epoch`
  KeptWeights kept;                   // the best epoch's weights so far (epoch 0: none)
  EarlyStoppingState early_stopping;  // EarlyStopping's best and wait after epoch `epoch`
  std::vector<EpochMetrics> history;  // epochs 1..epoch
};

constexpr int kCheckpointVersion = 3;
constexpr size_t kCheckpointHeaderBytes = 68;
constexpr size_t kCheckpointEpochBytes = 60;
constexpr size_t kCheckpointScheduleBytes = 16;
constexpr size_t kCheckpointKeepBytes = 24;  // version 3: kept weights' and early stopping's
constexpr size_t kCheckpointEpochBytesV1 = 52;  // version 1: no lr

// A fingerprint of every config key's text: a checkpoint resumes only the trial it came from.
// The keys added with versions 2 (clipping, weight decay, the schedule) and 3 (keep, early
// stopping) count only when they differ from their defaults, so that an older checkpoint keeps its
// fingerprint.
uint64_t ConfigFingerprint(const TrialConfig& config);

// The keys that may change between a checkpoint and its resumption (population-based training,
// which resumes a member from another's checkpoint under changed values): learning_rate, dropout,
// recurrent_dropout, weight_decay. The trainer reads each from the config as it goes (the rate at
// every step, the dropouts at every forward pass, weight decay at every update), so a resumed run
// trains with the new values from its first step.
const std::vector<std::string>& MutableKeys();
bool IsMutableKey(std::string_view key);

// The config whose fingerprint a checkpoint carries when it may be resumed under other values of
// mutable_keys: a copy of config with those keys at their defaults. Pass it, for the same
// mutable_keys, to both SerializeCheckpoint and ParseCheckpoint (which reads only the
// fingerprint, the model's shape, the optimizer and the epochs from it, none of them mutable);
// Train takes the real config. Listed keys that are not MutableKeys are ignored, and so is
// learning_rate when lr_schedule is reduce_on_plateau: the checkpoint's plateau state holds the
// rate reached from the old learning_rate, and a resumption under a new one would go on at the old
// rate, so the changed rate is refused (the fingerprint differs) rather than silently dropped.
// With no keys, a copy of config.
TrialConfig FingerprintConfig(const TrialConfig& config,
                              const std::vector<std::string>& mutable_keys);

std::string SerializeCheckpoint(const TrialConfig& config, const TrainCheckpoint& checkpoint);
// source_name names the input in messages. REQUIRES: Validate(config) is ok.
StatusOr<TrainCheckpoint> ParseCheckpoint(std::string_view bytes, const TrialConfig& config,
                                          const std::string& source_name);
// The epoch a checkpoint (version 1, 2 or 3) says it ends (header only, nothing else checked); -1 if
// it is not one.
int PeekCheckpointEpoch(std::string_view bytes);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_CHECKPOINT_H_
