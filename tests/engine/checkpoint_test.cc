// Tests for engine/checkpoint.h: a run stopped after epoch k, checkpointed, parsed back and resumed
// in a fresh Train ends bit for bit like the uninterrupted run (history, model bytes, test
// metrics), for every optimizer, with dropout and several threads; and the parser refuses
// truncated, oversized, garbage and mismatched input with a message naming the problem.
#include "engine/checkpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/model_io.h"
#include "engine/network.h"

namespace hpsweep {
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
  }
  // The model file, byte for byte (EXPECT_TRUE: a mismatch would print megabytes).
  EXPECT_TRUE(SerializeModel(a.model) == SerializeModel(b.model));
  EXPECT_EQ(a.test.loss, b.test.loss);
  EXPECT_EQ(a.test.accuracy, b.test.accuracy);
  EXPECT_EQ(a.test.confusion, b.test.confusion);
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
        ResumeCase{"plain_sgd_simple_rnn", {{"cell", "simple_rnn"}, {"optimizer", "sgd"}}, 1}),
    [](const ::testing::TestParamInfo<ResumeCase>& i) { return std::string(i.param.name); });

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
      c.history.push_back(m);
    }
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
  EXPECT_EQ(SerializeCheckpoint(s.config, *c), s.bytes);
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
}  // namespace hpsweep
