#include "engine/checkpoint.h"

#include <cmath>
#include <cstring>

#include "engine/model_io.h"
#include "engine/network.h"

namespace hpsweep {
namespace {

constexpr char kMagic[8] = {'H', 'P', 'S', 'W', 'C', 'K', 'P', 'T'};

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void PutFloats(std::string* out, const std::vector<float>& v) {
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// Reads fixed-size values from a bounded buffer; the caller has checked the sizes.
struct Reader {
  const char* p;
  template <typename T>
  T Get() {
    T v;
    std::memcpy(&v, p, sizeof(v));
    p += sizeof(v);
    return v;
  }
  void Floats(size_t n, std::vector<float>* out) {
    out->resize(n);
    if (n > 0) std::memcpy(out->data(), p, n * sizeof(float));
    p += n * sizeof(float);
  }
};

// The keys of checkpoint version 1, always in the fingerprint. Every key added since (clipnorm,
// lr_schedule, validation_stratify...) is in it only when off its default, so that a trial
// checkpointed before the key existed still resumes.
bool KeyOfVersion1(const std::string& key) {
  static const char* const kKeys[] = {
      "cell",       "units",         "layers",   "activation", "recurrent_dropout",
      "dropout",    "dense",         "dense_activation", "output", "optimizer",
      "learning_rate", "momentum",   "nesterov", "batch_size", "epochs",
      "loss",       "validation",    "validation_split", "seed", "train_limit"};
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

// The slot sizes OptimizerState keeps (optimizer.cc): m always, v except for SGD.
uint64_t SlotV(const TrialConfig& config, uint64_t n) {
  return config.train.optimizer == Optimizer::kSgd ? 0 : n;
}

// Version 3's kept weights: how many floats of them the checkpoint ends with, from kept_epoch (the
// first field of the keep block at keep_at), checked against the checkpoint's epoch.
StatusOr<uint64_t> KeptCount(std::string_view bytes, uint64_t keep_at, uint32_t epoch,
                             uint64_t n_params, const std::string& where) {
  if (bytes.size() < keep_at + kCheckpointKeepBytes + 4) {
    return DataLoss(where + "checkpoint is " + std::to_string(bytes.size()) +
                    " bytes; its header describes more than " +
                    std::to_string(keep_at + kCheckpointKeepBytes + 4) + " (truncated)");
  }
  uint32_t kept_epoch;
  std::memcpy(&kept_epoch, bytes.data() + keep_at, 4);
  if (kept_epoch > epoch) {
    return InvalidArgument(where + "kept_epoch is " + std::to_string(kept_epoch) +
                           "; it must be at most the epoch, " + std::to_string(epoch));
  }
  return kept_epoch > 0 ? n_params : 0;
}

// Version 3's keep block (after the schedule state), its count checked by KeptCount.
Status ReadKeepBlock(Reader* r, uint32_t epoch, const std::string& where, TrainCheckpoint* c) {
  c->kept.epoch = static_cast<int>(r->Get<uint32_t>());
  const uint32_t wait = r->Get<uint32_t>();
  c->kept.value = r->Get<double>();
  c->early_stopping.best = r->Get<double>();
  if (wait > epoch) {
    return InvalidArgument(where + "early stopping's wait is " + std::to_string(wait) +
                           "; it must be at most the epoch, " + std::to_string(epoch));
  }
  c->early_stopping.wait = static_cast<int>(wait);
  return Status::Ok();
}

}  // namespace

uint64_t ConfigFingerprint(const TrialConfig& config) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64 bits
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  static const TrialConfig defaults;
  for (const std::string& key : ConfigKeys()) {
    const std::string value = GetKey(config, key);
    if (!KeyOfVersion1(key) && value == GetKey(defaults, key)) continue;
    mix(key + "=" + value + "\n");
  }
  mix("steps=" + std::to_string(config.model.steps) + "\nfeatures=" +
      std::to_string(config.model.features) + "\nclasses=" + std::to_string(config.model.classes));
  return h;
}

const std::vector<std::string>& MutableKeys() {
  static const std::vector<std::string> kKeys = {"learning_rate", "dropout", "recurrent_dropout",
                                                 "weight_decay"};
  return kKeys;
}

bool IsMutableKey(std::string_view key) {
  for (const std::string& k : MutableKeys()) {
    if (key == k) return true;
  }
  return false;
}

TrialConfig FingerprintConfig(const TrialConfig& config,
                              const std::vector<std::string>& mutable_keys) {
  static const TrialConfig defaults;
  TrialConfig out = config;
  for (const std::string& key : mutable_keys) {
    if (!IsMutableKey(key)) continue;  // (a lease naming another key changes nothing)
    if (key == "learning_rate" && config.train.lr_schedule == LrSchedule::kReduceOnPlateau) {
      continue;  // see the header: the plateau state holds the old rate
    }
    // A default value always applies; should one not, the key keeps its value (and a change of
    // it is refused, the safe side).
    (void)ApplyKey(key, GetKey(defaults, key), &out);
  }
  return out;
}

std::string SerializeCheckpoint(const TrialConfig& config, const TrainCheckpoint& c) {
  std::string out;
  // Kept weights travel only with their epoch (ParseCheckpoint reads n_params of them then).
  const std::vector<float> none;
  const std::vector<float>& kept = c.kept.epoch > 0 ? c.kept.params : none;
  out.reserve(kCheckpointHeaderBytes + c.history.size() * kCheckpointEpochBytes +
              kCheckpointScheduleBytes + kCheckpointKeepBytes +
              (c.params.size() + c.slot_m.size() + c.slot_v.size() + kept.size()) *
                  sizeof(float) +
              4);
  out.append(kMagic, sizeof(kMagic));
  Put<uint32_t>(&out, kCheckpointVersion);
  Put<uint32_t>(&out, static_cast<uint32_t>(c.epoch));
  Put<uint64_t>(&out, c.step);
  Put<uint64_t>(&out, static_cast<uint64_t>(c.optimizer_steps));
  Put<uint64_t>(&out, c.params.size());
  Put<uint64_t>(&out, c.slot_m.size());
  Put<uint64_t>(&out, c.slot_v.size());
  Put<uint32_t>(&out, static_cast<uint32_t>(c.history.size()));
  Put<uint64_t>(&out, ConfigFingerprint(config));
  for (const EpochMetrics& m : c.history) {
    Put<int32_t>(&out, m.epoch);
    for (double v : {m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy, m.seconds,
                     m.samples_per_second, m.lr}) {
      Put<double>(&out, v);
    }
  }
  Put<float>(&out, c.plateau.lr);
  Put<uint32_t>(&out, static_cast<uint32_t>(c.plateau.wait));
  Put<double>(&out, c.plateau.best);
  Put<uint32_t>(&out, static_cast<uint32_t>(c.kept.epoch));
  Put<uint32_t>(&out, static_cast<uint32_t>(c.early_stopping.wait));
  Put<double>(&out, c.kept.value);
  Put<double>(&out, c.early_stopping.best);
  PutFloats(&out, c.params);
  PutFloats(&out, c.slot_m);
  PutFloats(&out, c.slot_v);
  PutFloats(&out, kept);
  Put<uint32_t>(&out, Crc32(out.data(), out.size()));
  return out;
}

int PeekCheckpointEpoch(std::string_view bytes) {
  if (bytes.size() < kCheckpointHeaderBytes ||
      std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return -1;
  }
  Reader r{bytes.data() + sizeof(kMagic)};
  const uint32_t version = r.Get<uint32_t>();
  if (version < 1 || version > kCheckpointVersion) return -1;
  const uint32_t epoch = r.Get<uint32_t>();
  return epoch > (1u << 20) ? -1 : static_cast<int>(epoch);
}

StatusOr<TrainCheckpoint> ParseCheckpoint(std::string_view bytes, const TrialConfig& config,
                                          const std::string& name) {
  const std::string where = name + ": ";
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return InvalidArgument(where + "not an hpsweep checkpoint (no HPSWCKPT magic)");
  }
  if (bytes.size() < kCheckpointHeaderBytes + 4) {
    return DataLoss(where + "truncated checkpoint: " + std::to_string(bytes.size()) +
                    " bytes, the header alone is " + std::to_string(kCheckpointHeaderBytes + 4));
  }
  Reader r{bytes.data() + sizeof(kMagic)};
  const uint32_t version = r.Get<uint32_t>();
  if (version < 1 || version > kCheckpointVersion) {
    return InvalidArgument(where + "checkpoint version " + std::to_string(version) +
                           "; this build reads versions 1 to " +
                           std::to_string(kCheckpointVersion));
  }
  const bool v1 = version == 1, v3 = version >= 3;
  TrainCheckpoint c;
  const uint32_t epoch = r.Get<uint32_t>();
  c.step = r.Get<uint64_t>();
  const uint64_t opt_steps = r.Get<uint64_t>();
  const uint64_t n_params = r.Get<uint64_t>(), n_m = r.Get<uint64_t>(), n_v = r.Get<uint64_t>();
  const uint32_t n_history = r.Get<uint32_t>();
  const uint64_t fingerprint = r.Get<uint64_t>();

  // Everything against the config first: no size below comes from the input unchecked.
  if (fingerprint != ConfigFingerprint(config)) {
    return InvalidArgument(where + "checkpoint belongs to another trial configuration");
  }
  if (epoch < 1 || epoch > static_cast<uint32_t>(config.train.epochs)) {
    return InvalidArgument(where + "epoch is " + std::to_string(epoch) + "; it must be in [1, " +
                           std::to_string(config.train.epochs) + "] (the trial's epochs)");
  }
  const uint64_t expected = static_cast<uint64_t>(CountParams(config.model));
  if (n_params != expected) {
    return InvalidArgument(where + "n_params is " + std::to_string(n_params) + "; the model has " +
                           std::to_string(expected));
  }
  if (n_m != expected || n_v != SlotV(config, expected)) {
    return InvalidArgument(where + "optimizer slots of " + std::to_string(n_m) + " and " +
                           std::to_string(n_v) + " values; " + GetKey(config, "optimizer") +
                           " on this model keeps " + std::to_string(expected) + " and " +
                           std::to_string(SlotV(config, expected)));
  }
  if (n_history != epoch) {
    return InvalidArgument(where + "history has " + std::to_string(n_history) +
                           " epochs; the checkpoint ends epoch " + std::to_string(epoch));
  }
  if (opt_steps != c.step || c.step < epoch) {
    return InvalidArgument(where + "optimizer_steps " + std::to_string(opt_steps) + " and step " +
                           std::to_string(c.step) + " must be equal and at least the epoch");
  }
  // (each count is at most 2^31 floats or kMaxEpochs records: no overflow)
  const uint64_t keep_at =
      kCheckpointHeaderBytes +
      uint64_t{n_history} * (v1 ? kCheckpointEpochBytesV1 : kCheckpointEpochBytes) +
      (v1 ? 0 : kCheckpointScheduleBytes);
  uint64_t n_kept = 0;
  if (v3) {
    StatusOr<uint64_t> count = KeptCount(bytes, keep_at, epoch, n_params, where);
    if (!count.ok()) return count.status();
    n_kept = *count;
  }
  const uint64_t size = keep_at + (v3 ? kCheckpointKeepBytes : 0) +
                        (n_params + n_m + n_v + n_kept) * sizeof(float) + 4;
  if (bytes.size() != size) {
    return DataLoss(where + "checkpoint is " + std::to_string(bytes.size()) +
                    " bytes; its header describes " + std::to_string(size) +
                    (bytes.size() < size ? " (truncated)" : " (trailing bytes)"));
  }
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + size - 4, 4);
  if (Crc32(bytes.data(), size - 4) != stored) {
    return DataLoss(where + "checksum mismatch: the checkpoint is corrupt");
  }
  c.epoch = static_cast<int>(epoch);
  c.optimizer_steps = static_cast<int64_t>(opt_steps);
  c.history.resize(n_history);
  for (uint32_t i = 0; i < n_history; ++i) {
    EpochMetrics& m = c.history[i];
    m.epoch = r.Get<int32_t>();
    for (double* v : {&m.train_loss, &m.train_accuracy, &m.val_loss, &m.val_accuracy, &m.seconds,
                      &m.samples_per_second}) {
      *v = r.Get<double>();
    }
    // Version 1 trials ran at the constant rate (see the header).
    m.lr = v1 ? config.train.EffectiveLearningRate() : r.Get<double>();
    if (m.epoch != static_cast<int>(i) + 1) {
      return InvalidArgument(where + "history[" + std::to_string(i) + "].epoch is " +
                             std::to_string(m.epoch) + "; it must be " + std::to_string(i + 1));
    }
  }
  c.plateau.lr = config.train.EffectiveLearningRate();
  if (!v1) {
    c.plateau.lr = r.Get<float>();
    const uint32_t wait = r.Get<uint32_t>();
    c.plateau.best = r.Get<double>();
    if (!std::isfinite(c.plateau.lr) || c.plateau.lr < 0 || wait > epoch) {
      return InvalidArgument(where + "schedule state: lr " + std::to_string(c.plateau.lr) +
                             " and wait " + std::to_string(wait) +
                             "; lr must be finite and >= 0, wait at most the epoch");
    }
    c.plateau.wait = static_cast<int>(wait);
  }
  if (v3) HPSWEEP_RETURN_IF_ERROR(ReadKeepBlock(&r, epoch, where, &c));
  r.Floats(n_params, &c.params);
  r.Floats(n_m, &c.slot_m);
  r.Floats(n_v, &c.slot_v);
  r.Floats(n_kept, &c.kept.params);
  return c;
}

}  // namespace hpsweep
