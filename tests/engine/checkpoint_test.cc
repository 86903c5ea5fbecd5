// Tests for engine/checkpoint.h: a run stopped after epoch k, checkpointed, parsed back and resumed
// in a fresh Train ends bit for bit like the uninterrupted run (history with each epoch's learning
// rate, model bytes, test metrics), for every optimizer, with dropout and several threads, and with
// clipping, weight decay and every learning-rate schedule (reduce_on_plateau's counter included)
// and a bidirectional model;
// version-1 checkpoints still resume; and the parser refuses truncated, oversized, garbage and
// mismatched input with a message naming the problem.
#include "engine/checkpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/gemm.h"
#include "engine/model_io.h"
#include "engine/network.h"

namespace hpsweep::checkpoint_test {
namespace {

TrialConfig Config(const std::vector<std::pair<std::string, std::string>>& kv) {
  TrialConfig c;
  for (const auto& [k, v] : kv) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << "=" << v << ": " << s.ToString();
  }
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  return c;
}

// Random 28x28 images with random labels: enough to train on and compare bits.
Dataset Random(int64_t n, uint32_t seed) {
  Dataset d;
  d.count = n;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> px(0.0f, 1.0f);
  d.images.resize(n * 28 * 28);
  for (float& v : d.images) v = px(rng);
  d.labels.resize(n);
  for (uint8_t& l : d.labels) l = static_cast<uint8_t>(rng() % 10);
  return d;
}

Mnist Data() {
  Mnist m;
  m.train = Random(300, 1);
  m.test = Random(100, 2);
  return m;
}

void ExpectSameRun(const TrainResult& a, const TrainResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a.history[i].epoch, b.history[i].epoch);
    // Exact: the resumed run must compute the same floats, not nearly the same.
    EXPECT_EQ(a.history[i].train_loss, b.history[i].train_loss);
    EXPECT_EQ(a.history[i].train_accuracy, b.history[i].train_accuracy);
    EXPECT_EQ(a.history[i].val_loss, b.history[i].val_loss);
    EXPECT_EQ(a.history[i].val_accuracy, b.history[i].val_accuracy);
    EXPECT_EQ(a.history[i].lr, b.history[i].lr);
  }
  // The model file, byte for byte (EXPECT_TRUE: a mismatch would print megabytes).
  EXPECT_TRUE(SerializeModel(a.model) == SerializeModel(b.model));
  EXPECT_EQ(a.test.loss, b.test.loss);
  EXPECT_EQ(a.test.accuracy, b.test.accuracy);
  EXPECT_EQ(a.test.confusion, b.test.confusion);
  EXPECT_EQ(a.weights_epoch, b.weights_epoch);
  EXPECT_EQ(a.stopped_epoch, b.stopped_epoch);
}

// Equal, or both NaN (the "none" of a best value).
void ExpectSameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << a << " vs " << b;
  } else {
    EXPECT_EQ(a, b);
  }
}

// The kept weights' and early stopping's state of two checkpoints.
void ExpectSameKept(const TrainCheckpoint& a, const TrainCheckpoint& b) {
  EXPECT_EQ(a.kept.epoch, b.kept.epoch);
  ExpectSameValue(a.kept.value, b.kept.value);
  EXPECT_TRUE(a.kept.params == b.kept.params);
  ExpectSameValue(a.early_stopping.best, b.early_stopping.best);
  EXPECT_EQ(a.early_stopping.wait, b.early_stopping.wait);
}

struct ResumeCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> keys;
  int threads;
};

void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTest, ResumedRunEndsBitForBitLikeTheUninterruptedOne) {
  const ResumeCase& rc = GetParam();
  for (const auto& [k, v] : rc.keys) {
    if (k == "precision" && v == "bf16" && !Bf16Supported()) {
      GTEST_SKIP() << "this CPU has no avx512_bf16 (or it was turned off): bf16 is not run here";
    }
  }
  std::vector<std::pair<std::string, std::string>> keys = {{"units", "12"},
                                                           {"epochs", "4"},
                                                           {"batch_size", "32"},
                                                           {"validation_split", "0.2"},
                                                           {"seed", "5"}};
  keys.insert(keys.end(), rc.keys.begin(), rc.keys.end());
  const TrialConfig config = Config(keys);
  const Mnist data = Data();

  // Uninterrupted, keeping every checkpoint it makes (as serialized bytes).
  std::vector<std::string> saved;
  TrainOptions straight;
  straight.threads = rc.threads;
  straight.on_checkpoint = [&](const TrainCheckpoint& c) {
    EXPECT_EQ(c.epoch, static_cast<int>(saved.size()) + 1);
    saved.push_back(SerializeCheckpoint(config, c));
  };
  StatusOr<TrainResult> full = Train(config, data, straight);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_EQ(saved.size(), 3u);  // after epochs 1..3, not after the last

  for (int k = 1; k <= 3; ++k) {
    SCOPED_TRACE("resumed after epoch " + std::to_string(k));
    // An interrupted run: stops after epoch k (as a killed worker would, its checkpoint sent).
    std::string bytes;
    TrainOptions part;
    part.threads = rc.threads;
    std::atomic<bool> cancel{false};
    part.cancel = &cancel;
    part.on_epoch = [&](const EpochMetrics& m) {
      if (m.epoch == k) cancel = true;  // the next batch ends it: killed mid-epoch k+1
      return true;
    };
    part.checkpoint_due = [&](const EpochMetrics& m) { return m.epoch == k; };
    part.on_checkpoint = [&](const TrainCheckpoint& c) { bytes = SerializeCheckpoint(config, c); };
    StatusOr<TrainResult> cut = Train(config, data, part);
    ASSERT_TRUE(cut.ok()) << cut.status().ToString();
    EXPECT_TRUE(cut->cancelled);
    // A fresh trainer (another worker): parse, resume, finish.
    StatusOr<TrainCheckpoint> c = ParseCheckpoint(bytes, config, "test.ckpt");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    // The same state as the uninterrupted run's at epoch k (all but the epochs' timings).
    StatusOr<TrainCheckpoint> same = ParseCheckpoint(saved[k - 1], config, "saved.ckpt");
    ASSERT_TRUE(same.ok()) << same.status().ToString();
    EXPECT_EQ(c->step, same->step);
    EXPECT_TRUE(c->params == same->params);
    EXPECT_TRUE(c->slot_m == same->slot_m);
    EXPECT_TRUE(c->slot_v == same->slot_v);
    EXPECT_EQ(c->plateau.lr, same->plateau.lr);
    EXPECT_EQ(c->plateau.wait, same->plateau.wait);
    EXPECT_EQ(c->plateau.best, same->plateau.best);
    ExpectSameKept(*c, *same);
    EXPECT_EQ(c->epoch, k);
    EXPECT_EQ(PeekCheckpointEpoch(bytes), k);
    TrainOptions resume;
    resume.threads = rc.threads;
    resume.resume = &*c;
    std::vector<int> reported;
    resume.on_epoch = [&](const EpochMetrics& m) {
      reported.push_back(m.epoch);
      return true;
    };
    StatusOr<TrainResult> rest = Train(config, data, resume);
    ASSERT_TRUE(rest.ok()) << rest.status().ToString();
    std::vector<int> want;
    for (int e = k + 1; e <= 4; ++e) want.push_back(e);
    EXPECT_EQ(reported, want);  // only the epochs after the checkpoint are reported again
    ExpectSameRun(*full, *rest);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, ResumeTest,
    ::testing::Values(
        ResumeCase{"adam_lstm_dropout_2threads",
                   {{"cell", "lstm"}, {"recurrent_dropout", "0.2"}, {"dropout", "0.1"}},
                   2},
        ResumeCase{
            "sgd_momentum_gru", {{"cell", "gru"}, {"optimizer", "sgd"}, {"momentum", "0.9"}}, 1},
        ResumeCase{
            "rmsprop_dense", {{"cell", "dense"}, {"optimizer", "rmsprop"}, {"dense", "[16]"}}, 1},
        ResumeCase{"plain_sgd_simple_rnn", {{"cell", "simple_rnn"}, {"optimizer", "sgd"}}, 1},
        // Both directions' weights and Adam slots, and each direction's recurrent-dropout mask.
        ResumeCase{"adam_bidirectional_gru_stacked_dropout_2threads",
                   {{"cell", "gru"},
                    {"bidirectional", "true"},
                    {"layers", "2"},
                    {"recurrent_dropout", "0.2"},
                    {"dropout", "0.1"}},
                   2},
        // Per-step schedules: the rate depends on the optimizer's step count.
        ResumeCase{"adamw_cosine_warmup_clipnorm_2threads",
                   {{"lr_schedule", "cosine"},
                    {"warmup_epochs", "1"},
                    {"clipnorm", "0.5"},
                    {"weight_decay", "0.01"}},
                   2},
        ResumeCase{"rmsprop_exponential_global_clipnorm",
                   {{"optimizer", "rmsprop"},
                    {"lr_schedule", "exponential"},
                    {"lr_decay_rate", "0.5"},
                    {"lr_decay_steps", "7"},
                    {"global_clipnorm", "1"}},
                   1},
        ResumeCase{"sgd_step_clipvalue_weight_decay",
                   {{"optimizer", "sgd"},
                    {"momentum", "0.9"},
                    {"lr_schedule", "step"},
                    {"lr_every", "1"},
                    {"lr_drop", "0.5"},
                    {"clipvalue", "0.05"},
                    {"weight_decay", "0.1"}},
                   1},
        // The kept weights (keep: best, the default, in every case here) and early stopping's
        // best and wait travel in the checkpoint.
        // bf16 products (engine/gemm.h): the same checkpoint, resumed in bf16, goes on bit for
        // bit; skipped on a CPU without avx512_bf16.
        ResumeCase{"bf16_adam_lstm_dropout_2threads",
                   {{"cell", "lstm"},
                    {"recurrent_dropout", "0.2"},
                    {"dropout", "0.1"},
                    {"precision", "bf16"}},
                   2},
        ResumeCase{"bf16_sgd_bidirectional_gru_dense_head",
                   {{"cell", "gru"},
                    {"bidirectional", "true"},
                    {"optimizer", "sgd"},
                    {"momentum", "0.9"},
                    {"dense", "[16]"},
                    {"precision", "bf16"}},
                   1},
        ResumeCase{"keep_best_early_stopping",
                   {{"learning_rate", "0.05"}, {"early_stopping", "true"}, {"patience", "3"}},
                   2},
        ResumeCase{"keep_last_restore_best_weights",
                   {{"learning_rate", "0.05"},
                    {"keep", "last"},
                    {"early_stopping", "true"},
                    {"patience", "5"},
                    {"min_delta", "0.001"},
                    {"restore_best_weights", "true"}},
                   1},
        // The plateau's rate, best and wait travel in the checkpoint.
        ResumeCase{"sgd_reduce_on_plateau",
                   {{"optimizer", "sgd"},
                    {"learning_rate", "0.3"},
                    {"lr_schedule", "reduce_on_plateau"},
                    {"lr_factor", "0.5"},
                    {"lr_patience", "1"}},
                   1}),
    [](const ::testing::TestParamInfo<ResumeCase>& i) { return std::string(i.param.name); });

// The acceptance case: 4 epochs straight, and 2 + a resumed 2, with clipnorm, weight decay and
// reduce_on_plateau whose counter is running at the checkpoint: the same weights and the same
// learning rate in every epoch. (Random labels, Adam at 0.1: val_loss is best after epoch 1, so
// the wait is 1 at the checkpoint after epoch 2 and reaches the patience of 2 after epoch 3: the
// rates are .1 .1 .1 .05.)
TEST(CheckpointResumeTest, PlateauCounterAndRatesResumeBitForBit) {
  const TrialConfig config = Config({{"units", "12"},
                                     {"epochs", "4"},
                                     {"batch_size", "32"},
                                     {"validation_split", "0.2"},
                                     {"seed", "5"},
                                     {"learning_rate", "0.1"},
                                     {"clipnorm", "1"},
                                     {"weight_decay", "0.05"},
                                     {"lr_schedule", "reduce_on_plateau"},
                                     {"lr_factor", "0.5"},
                                     {"lr_patience", "2"}});
  const Mnist data = Data();
  std::vector<PlateauState> states;
  TrainOptions straight;
  straight.on_checkpoint = [&](const TrainCheckpoint& c) { states.push_back(c.plateau); };
  StatusOr<TrainResult> full = Train(config, data, straight);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_EQ(states.size(), 3u);
  std::string lrs;
  for (const EpochMetrics& m : full->history) {
    lrs += " " + std::to_string(m.lr) + " (val_loss " + std::to_string(m.val_loss) + ")";
  }
  // The test means something only if the counter is running at epoch 2 and the rate moves.
  EXPECT_GT(states[1].wait, 0) << "lr per epoch:" << lrs;
  EXPECT_EQ(full->history[2].lr, 0.1f) << "lr per epoch:" << lrs;
  EXPECT_EQ(full->history[3].lr, 0.05f) << "lr per epoch:" << lrs;

  // Trained 2 epochs (killed in the third), checkpointed after the second.
  std::string bytes;
  TrainOptions to_two;
  std::atomic<bool> cancel{false};
  to_two.cancel = &cancel;
  to_two.on_epoch = [&](const EpochMetrics& m) {
    if (m.epoch == 2) cancel = true;
    return true;
  };
  to_two.checkpoint_due = [](const EpochMetrics& m) { return m.epoch == 2; };
  to_two.on_checkpoint = [&](const TrainCheckpoint& c) { bytes = SerializeCheckpoint(config, c); };
  ASSERT_TRUE(Train(config, data, to_two).ok());
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(bytes, config, "two.ckpt");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->epoch, 2);
  EXPECT_EQ(c->plateau.wait, states[1].wait);
  EXPECT_EQ(c->plateau.lr, states[1].lr);
  EXPECT_EQ(c->plateau.best, states[1].best);
  TrainOptions rest_options;
  rest_options.resume = &*c;
  StatusOr<TrainResult> rest = Train(config, data, rest_options);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ExpectSameRun(*full, *rest);
  EXPECT_TRUE(full->model.params == rest->model.params);
}

// A version-2 checkpoint (before the kept weights and early stopping) made from a version-3 one:
// the same bytes with version 2, without the keep block and the kept weights.
std::string AsVersion2(const std::string& v3, const TrialConfig& config) {
  uint32_t n_history, kept_epoch;
  std::memcpy(&n_history, &v3[56], 4);  // after magic, version, epoch and 4 counts
  const size_t keep_at =
      kCheckpointHeaderBytes + n_history * kCheckpointEpochBytes + kCheckpointScheduleBytes;
  std::memcpy(&kept_epoch, &v3[keep_at], 4);
  const size_t n_kept = kept_epoch > 0 ? static_cast<size_t>(CountParams(config.model)) : 0;
  std::string out = v3.substr(0, keep_at);
  const uint32_t two = 2;
  std::memcpy(&out[8], &two, 4);
  const size_t floats_at = keep_at + kCheckpointKeepBytes;
  out += v3.substr(floats_at, v3.size() - 4 - floats_at - n_kept * sizeof(float));
  const uint32_t crc = Crc32(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

// A version-1 checkpoint (before the schedules) made from a version-2 one: the same header with
// version 1, epochs without lr, no schedule state.
std::string AsVersion1(const std::string& v2) {
  uint32_t n_history;
  std::memcpy(&n_history, &v2[56], 4);  // after magic, version, epoch and 4 counts
  std::string out = v2.substr(0, kCheckpointHeaderBytes);
  const uint32_t one = 1;
  std::memcpy(&out[8], &one, 4);
  size_t at = kCheckpointHeaderBytes;
  for (uint32_t i = 0; i < n_history; ++i, at += kCheckpointEpochBytes) {
    out += v2.substr(at, kCheckpointEpochBytesV1);
  }
  at += kCheckpointScheduleBytes;
  out += v2.substr(at, v2.size() - 4 - at);
  const uint32_t crc = Crc32(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

// The straight run of config (into *full) and the checkpoint it made after epoch 1; "" if it
// failed.
std::string FirstCheckpoint(const TrialConfig& config, const Mnist& data, TrainResult* full) {
  std::string bytes;
  TrainOptions straight;
  straight.checkpoint_due = [](const EpochMetrics& m) { return m.epoch == 1; };
  straight.on_checkpoint = [&](const TrainCheckpoint& c) { bytes = SerializeCheckpoint(config, c); };
  StatusOr<TrainResult> r = Train(config, data, straight);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return "";
  *full = std::move(*r);
  return bytes;
}

// A run stopped early by early_stopping, resumed from each of its checkpoints, stops at the same
// epoch with the same kept weights. (Random labels: no epoch improves val_accuracy by 1, so with
// patience 2 it stops after epoch 3, and the checkpoints are after epochs 1 and 2.)
TEST(CheckpointResumeTest, EarlyStoppedRunResumesBitForBit) {
  const TrialConfig config = Config({{"units", "12"},
                                     {"epochs", "6"},
                                     {"validation_split", "0.2"},
                                     {"seed", "7"},
                                     {"learning_rate", "0.05"},
                                     {"early_stopping", "true"},
                                     {"patience", "2"},
                                     {"min_delta", "1"}});
  const Mnist data = Data();
  std::vector<std::string> saved;
  TrainOptions straight;
  straight.on_checkpoint = [&](const TrainCheckpoint& c) {
    saved.push_back(SerializeCheckpoint(config, c));
  };
  StatusOr<TrainResult> full = Train(config, data, straight);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->stopped_epoch, 3);
  EXPECT_EQ(full->history.size(), 3u);
  EXPECT_FALSE(full->stopped);
  EXPECT_GT(full->test.count, 0);
  ASSERT_EQ(saved.size(), 2u);
  for (int k = 1; k <= 2; ++k) {
    SCOPED_TRACE("resumed after epoch " + std::to_string(k));
    StatusOr<TrainCheckpoint> c = ParseCheckpoint(saved[k - 1], config, "es.ckpt");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->early_stopping.wait, k - 1);  // epoch 1 improved on none; later ones did not
    EXPECT_GE(c->kept.epoch, 1);
    TrainOptions resume;
    resume.resume = &*c;
    StatusOr<TrainResult> rest = Train(config, data, resume);
    ASSERT_TRUE(rest.ok()) << rest.status().ToString();
    ExpectSameRun(*full, *rest);
  }
}

// A version-2 checkpoint resumes with nothing kept and early stopping's initial state: the
// resumed keep: best run keeps the best of the epochs after it.
TEST(CheckpointResumeTest, Version2CheckpointResumesWithNothingKept) {
  const TrialConfig config = Config({{"units", "12"},
                                     {"epochs", "3"},
                                     {"learning_rate", "0.05"},
                                     {"validation_split", "0.2"},
                                     {"seed", "3"}});
  const Mnist data = Data();
  TrainResult full;
  const std::string v3 = FirstCheckpoint(config, data, &full);
  ASSERT_FALSE(v3.empty());
  const std::string v2 = AsVersion2(v3, config);
  ASSERT_EQ(v2.size(), v3.size() - kCheckpointKeepBytes -
                           CountParams(config.model) * sizeof(float));  // epoch 1 was kept
  EXPECT_EQ(PeekCheckpointEpoch(v2), 1);
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(v2, config, "v2.ckpt");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kept.epoch, 0);
  EXPECT_TRUE(c->kept.params.empty());
  EXPECT_TRUE(std::isnan(c->early_stopping.best));
  EXPECT_EQ(c->early_stopping.wait, 0);
  TrainOptions resume;
  resume.resume = &*c;
  StatusOr<TrainResult> rest = Train(config, data, resume);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  const bool third = full.history[2].val_accuracy > full.history[1].val_accuracy;
  EXPECT_EQ(rest->weights_epoch, third ? 3 : 2);
  // Its truncations are refused like a version-3 checkpoint's.
  for (size_t n = 0; n < v2.size(); n += 13) {
    EXPECT_FALSE(ParseCheckpoint(v2.substr(0, n), config, "cut.ckpt").ok()) << n;
  }
}

TEST(CheckpointResumeTest, Version1CheckpointStillResumes) {
  // keep: last, so that the resumed run (which keeps no weights from before its checkpoint) ends
  // with the same weights.
  const TrialConfig config = Config({{"units", "12"},
                                     {"keep", "last"},
                                     {"epochs", "3"},
                                     {"learning_rate", "0.002"},
                                     {"validation_split", "0.2"},
                                     {"seed", "3"}});
  const Mnist data = Data();
  TrainResult full;
  const std::string v3 = FirstCheckpoint(config, data, &full);
  ASSERT_FALSE(v3.empty());
  const std::string v2 = AsVersion2(v3, config);
  ASSERT_EQ(v2.size(), v3.size() - kCheckpointKeepBytes);  // keep: last keeps no weights
  const std::string v1 = AsVersion1(v2);
  ASSERT_EQ(v1.size(), v2.size() - (kCheckpointEpochBytes - kCheckpointEpochBytesV1) -
                           kCheckpointScheduleBytes);
  EXPECT_EQ(PeekCheckpointEpoch(v1), 1);
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(v1, config, "v1.ckpt");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->history[0].lr, 0.002f);  // the constant rate of a version-1 trial
  EXPECT_EQ(c->plateau.lr, 0.002f);
  TrainOptions resume;
  resume.resume = &*c;
  StatusOr<TrainResult> rest = Train(config, data, resume);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ExpectSameRun(full, *rest);
  // Its truncations are refused like a version-2 checkpoint's.
  for (size_t n = 0; n < v1.size(); n += 13) {
    EXPECT_FALSE(ParseCheckpoint(v1.substr(0, n), config, "cut.ckpt").ok()) << n;
  }
}

// The fingerprint as version 1 computed it, over the keys it knew: a version-1 checkpoint of a
// trial still matches that trial after the new keys came (they count only when set).
uint64_t Version1Fingerprint(const TrialConfig& config) {
  const char* const keys[] = {"cell",          "units",      "layers",           "activation",
                              "recurrent_dropout", "dropout", "dense",           "dense_activation",
                              "output",        "optimizer",  "learning_rate",    "momentum",
                              "nesterov",      "batch_size", "epochs",           "loss",
                              "validation",    "validation_split", "seed",       "train_limit"};
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  for (const char* key : keys) mix(std::string(key) + "=" + GetKey(config, key) + "\n");
  mix("steps=" + std::to_string(config.model.steps) + "\nfeatures=" +
      std::to_string(config.model.features) + "\nclasses=" + std::to_string(config.model.classes));
  return h;
}

TEST(CheckpointParseTest, FingerprintOfAVersion1TrialIsUnchanged) {
  EXPECT_EQ(ConfigFingerprint(TrialConfig()), Version1Fingerprint(TrialConfig()));
  const TrialConfig c =
      Config({{"cell", "gru"}, {"optimizer", "sgd"}, {"momentum", "0.9"}, {"epochs", "7"}});
  EXPECT_EQ(ConfigFingerprint(c), Version1Fingerprint(c));
  // Any new key set makes another trial.
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"clipnorm", "1"},
           {"weight_decay", "0.01"},
           {"lr_schedule", "cosine"},
           {"keep", "last"},
           {"early_stopping", "true"},
           {"bidirectional", "true"}}) {
    TrialConfig d = c;
    ASSERT_TRUE(ApplyKey(k, v, &d).ok());
    EXPECT_NE(ConfigFingerprint(d), ConfigFingerprint(c)) << k;
  }
}

// A valid checkpoint of a small model, for the parser tests.
struct Small {
  TrialConfig config = Config({{"cell", "lstm"}, {"units", "4"}, {"epochs", "3"}});
  std::string bytes;
  Small() {
    TrainCheckpoint c;
    c.epoch = 2;
    c.step = 30;  // (not 2 epochs of 10 batches: CheckpointFromOtherDataIsRefused)
    c.optimizer_steps = 30;
    const size_t n = static_cast<size_t>(CountParams(config.model));
    c.params.assign(n, 0.5f);
    c.slot_m.assign(n, 0.25f);
    c.slot_v.assign(n, 0.125f);
    for (int e = 1; e <= 2; ++e) {
      EpochMetrics m;
      m.epoch = e;
      m.train_loss = 1.0 / e;
      m.lr = 0.001 / e;
      c.history.push_back(m);
    }
    c.plateau.lr = 0.0125f;
    c.plateau.wait = 1;
    c.plateau.best = 0.75;
    c.kept.epoch = 1;
    c.kept.value = 0.375;
    c.kept.params.assign(n, 0.0625f);
    c.early_stopping.best = 0.5;
    c.early_stopping.wait = 1;
    bytes = SerializeCheckpoint(config, c);
  }
};

TEST(CheckpointParseTest, RoundTrips) {
  Small s;
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes, s.config, "x.ckpt");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->epoch, 2);
  EXPECT_EQ(c->step, 30u);
  EXPECT_EQ(c->history.size(), 2u);
  EXPECT_EQ(c->history[1].train_loss, 0.5);
  EXPECT_EQ(c->history[1].lr, 0.0005);
  EXPECT_EQ(c->plateau.lr, 0.0125f);
  EXPECT_EQ(c->plateau.wait, 1);
  EXPECT_EQ(c->plateau.best, 0.75);
  EXPECT_EQ(c->kept.epoch, 1);
  EXPECT_EQ(c->kept.value, 0.375);
  ASSERT_EQ(c->kept.params.size(), static_cast<size_t>(CountParams(s.config.model)));
  EXPECT_EQ(c->kept.params[0], 0.0625f);
  EXPECT_EQ(c->early_stopping.best, 0.5);
  EXPECT_EQ(c->early_stopping.wait, 1);
  EXPECT_EQ(SerializeCheckpoint(s.config, *c), s.bytes);
}

TEST(CheckpointParseTest, BadKeptOrEarlyStoppingStateIsRefused) {
  Small s;
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes, s.config, "x.ckpt");
  ASSERT_TRUE(c.ok());
  TrainCheckpoint late = *c;
  late.kept.epoch = 3;  // an epoch not yet run
  StatusOr<TrainCheckpoint> bad =
      ParseCheckpoint(SerializeCheckpoint(s.config, late), s.config, "kept.ckpt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("kept_epoch"), std::string::npos)
      << bad.status().message();
  TrainCheckpoint waited = *c;
  waited.early_stopping.wait = 3;
  bad = ParseCheckpoint(SerializeCheckpoint(s.config, waited), s.config, "wait.ckpt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("early stopping's wait"), std::string::npos)
      << bad.status().message();
  // Nothing kept: no weights follow, and it round-trips too.
  TrainCheckpoint none = *c;
  none.kept = KeptWeights();
  const std::string bytes = SerializeCheckpoint(s.config, none);
  EXPECT_EQ(bytes.size(), s.bytes.size() - c->kept.params.size() * sizeof(float));
  StatusOr<TrainCheckpoint> back = ParseCheckpoint(bytes, s.config, "none.ckpt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kept.epoch, 0);
  EXPECT_TRUE(back->kept.params.empty());
}

TEST(CheckpointParseTest, BadScheduleStateIsRefused) {
  Small s;
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes, s.config, "x.ckpt");
  ASSERT_TRUE(c.ok());
  c->plateau.wait = 3;  // more epochs waited than run
  StatusOr<TrainCheckpoint> bad =
      ParseCheckpoint(SerializeCheckpoint(s.config, *c), s.config, "wait.ckpt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("schedule state"), std::string::npos)
      << bad.status().message();
  c->plateau.wait = 0;
  c->plateau.lr = -1;
  EXPECT_FALSE(ParseCheckpoint(SerializeCheckpoint(s.config, *c), s.config, "lr.ckpt").ok());
}

TEST(CheckpointParseTest, EveryTruncationIsRefused) {
  Small s;
  for (size_t n = 0; n < s.bytes.size(); ++n) {
    StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes.substr(0, n), s.config, "cut.ckpt");
    ASSERT_FALSE(c.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_NE(c.status().message().find("cut.ckpt"), std::string::npos) << c.status().message();
  }
  StatusOr<TrainCheckpoint> c =
      ParseCheckpoint(s.bytes.substr(0, s.bytes.size() - 9), s.config, "cut.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("truncated"), std::string::npos) << c.status().message();
}

TEST(CheckpointParseTest, TrailingBytesAreRefused) {
  Small s;
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes + "x", s.config, "big.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("trailing"), std::string::npos) << c.status().message();
}

TEST(CheckpointParseTest, GarbageAndFlippedBitsAreRefused) {
  Small s;
  EXPECT_FALSE(ParseCheckpoint("", s.config, "g").ok());
  EXPECT_FALSE(ParseCheckpoint(std::string(4096, '\xff'), s.config, "g").ok());
  EXPECT_EQ(PeekCheckpointEpoch("garbage"), -1);
  // Any single flipped byte: refused (a header field's check, or the CRC).
  for (size_t i = 0; i < s.bytes.size(); i += 7) {
    std::string b = s.bytes;
    b[i] ^= 0x40;
    EXPECT_FALSE(ParseCheckpoint(b, s.config, "flip.ckpt").ok()) << "byte " << i;
  }
}

// Writes a u64 at offset `at` of the header.
std::string WithU64(std::string b, size_t at, uint64_t v) {
  std::memcpy(&b[at], &v, sizeof(v));
  return b;
}

TEST(CheckpointParseTest, HostileSizesAreRefusedBeforeAnythingIsRead) {
  Small s;
  // n_params at offset 32: a huge count must be refused by the config check, not allocated.
  StatusOr<TrainCheckpoint> c =
      ParseCheckpoint(WithU64(s.bytes, 32, uint64_t{1} << 62), s.config, "huge.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("n_params"), std::string::npos) << c.status().message();
  // Slot sizes (offsets 40, 48).
  c = ParseCheckpoint(WithU64(s.bytes, 48, 0), s.config, "slots.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("optimizer slots"), std::string::npos);
  // Epoch beyond the trial's epochs (u32 at offset 12).
  std::string b = s.bytes;
  const uint32_t epoch = 9;
  std::memcpy(&b[12], &epoch, 4);
  c = ParseCheckpoint(b, s.config, "epoch.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("epoch is 9"), std::string::npos) << c.status().message();
}

TEST(CheckpointParseTest, AnotherTrialsCheckpointIsRefused) {
  Small s;
  TrialConfig other = s.config;
  other.train.seed = 99;  // same sizes, another trial
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes, other, "other.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("another trial"), std::string::npos);
  other = s.config;
  other.train.lr_schedule = LrSchedule::kCosine;  // another schedule: another trial too
  c = ParseCheckpoint(s.bytes, other, "other.ckpt");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("another trial"), std::string::npos);
}

TEST(CheckpointResumeTest, CheckpointFromOtherDataIsRefused) {
  Small s;
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(s.bytes, s.config, "x.ckpt");
  ASSERT_TRUE(c.ok());
  const Mnist data = Data();  // 300 images, batch 32: 10 steps an epoch, 20 for 2 epochs
  TrainOptions o;
  o.resume = &*c;
  StatusOr<TrainResult> r = Train(s.config, data, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not fit this run"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace hpsweep::checkpoint_test
