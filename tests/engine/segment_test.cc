// Tests for training in segments (engine/trainer.h, TrainOptions::pause_after_epoch) and for
// resuming under changed mutable keys (engine/checkpoint.h, FingerprintConfig): a run paused after
// epoch 2 and resumed from the checkpoint it handed over ends bit for bit like the run trained in
// one go; early stopping at the pause epoch, a stop there and a pause at the last epoch end the
// run as without a pause; a checkpoint resumes under a changed learning_rate and dropout when
// they are listed (and trains with the new rate), and is refused for an unlisted key or, under
// reduce_on_plateau, for a changed learning_rate.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/model_io.h"
#include "engine/trainer.h"

namespace hpsweep::segment_test {
namespace {

using Keys = std::vector<std::pair<std::string, std::string>>;

TrialConfig Config(const Keys& extra) {
  Keys keys = {{"units", "12"},           {"epochs", "4"}, {"batch_size", "32"},
               {"validation_split", "0.2"}, {"seed", "5"},  {"dropout", "0.1"}};
  keys.insert(keys.end(), extra.begin(), extra.end());
  TrialConfig c;
  for (const auto& [k, v] : keys) {
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

const Mnist& Data() {
  static const Mnist* data = [] {
    auto* m = new Mnist;
    m->train = Random(300, 1);
    m->test = Random(100, 2);
    return m;
  }();
  return *data;
}

void ExpectSameRun(const TrainResult& a, const TrainResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(a.history[i].epoch, b.history[i].epoch);
    EXPECT_EQ(a.history[i].train_loss, b.history[i].train_loss);
    EXPECT_EQ(a.history[i].train_accuracy, b.history[i].train_accuracy);
    EXPECT_EQ(a.history[i].val_loss, b.history[i].val_loss);
    EXPECT_EQ(a.history[i].val_accuracy, b.history[i].val_accuracy);
    EXPECT_EQ(a.history[i].lr, b.history[i].lr);
  }
  EXPECT_TRUE(SerializeModel(a.model) == SerializeModel(b.model));
  EXPECT_EQ(a.test.count, b.test.count);
  EXPECT_EQ(a.test.loss, b.test.loss);
  EXPECT_EQ(a.test.accuracy, b.test.accuracy);
}

// Trains config with a pause after `pause`; the checkpoints it hands over, serialized with the
// fingerprint of FingerprintConfig(config, mutable_keys).
struct Segment {
  TrainResult result;
  std::vector<std::string> checkpoints;
  std::vector<int> reported;  // epochs passed to on_epoch
};

Segment TrainSegment(const TrialConfig& config, int pause,
                     const std::vector<std::string>& mutable_keys = {}, int threads = 2) {
  Segment seg;
  TrainOptions options;
  options.threads = threads;
  options.pause_after_epoch = pause;
  options.checkpoint_due = [](const EpochMetrics&) { return false; };  // the pause's only
  options.on_checkpoint = [&](const TrainCheckpoint& c) {
    seg.checkpoints.push_back(SerializeCheckpoint(FingerprintConfig(config, mutable_keys), c));
  };
  options.on_epoch = [&](const EpochMetrics& m) {
    seg.reported.push_back(m.epoch);
    return true;
  };
  StatusOr<TrainResult> r = Train(config, Data(), options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (r.ok()) seg.result = std::move(*r);
  return seg;
}

// Resumes config from bytes (parsed against FingerprintConfig(config, mutable_keys)).
StatusOr<TrainResult> Resume(const TrialConfig& config, const std::string& bytes,
                             const std::vector<std::string>& mutable_keys = {}) {
  StatusOr<TrainCheckpoint> c =
      ParseCheckpoint(bytes, FingerprintConfig(config, mutable_keys), "segment.ckpt");
  if (!c.ok()) return c.status();
  TrainOptions options;
  options.threads = 2;
  options.resume = &*c;
  return Train(config, Data(), options);
}

TEST(SegmentTest, PausedAndResumedRunEqualsTheRunInOneGo) {
  const TrialConfig config = Config({});
  Segment straight = TrainSegment(config, 0);
  EXPECT_FALSE(straight.result.paused);
  EXPECT_TRUE(straight.checkpoints.empty());  // checkpoint_due says no, and no pause

  Segment first = TrainSegment(config, 2);
  EXPECT_TRUE(first.result.paused);
  EXPECT_FALSE(first.result.stopped);
  EXPECT_FALSE(first.result.cancelled);
  EXPECT_EQ(first.result.history.size(), 2u);
  EXPECT_EQ(first.result.test.count, 0);  // nothing tested
  EXPECT_EQ(first.result.weights_epoch, 2);
  EXPECT_EQ(first.reported, (std::vector<int>{1, 2}));
  ASSERT_EQ(first.checkpoints.size(), 1u);  // made for the pause although checkpoint_due said no
  EXPECT_EQ(PeekCheckpointEpoch(first.checkpoints[0]), 2);

  StatusOr<TrainResult> rest = Resume(config, first.checkpoints[0]);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_FALSE(rest->paused);
  EXPECT_EQ(rest->test.count, 100);
  ExpectSameRun(straight.result, *rest);
}

TEST(SegmentTest, PauseAtOrPastTheLastEpochIsNoPause) {
  const TrialConfig config = Config({});
  Segment straight = TrainSegment(config, 0);
  for (int pause : {4, 9}) {
    SCOPED_TRACE("pause after " + std::to_string(pause));
    Segment seg = TrainSegment(config, pause);
    EXPECT_FALSE(seg.result.paused);
    EXPECT_TRUE(seg.checkpoints.empty());
    ExpectSameRun(straight.result, seg.result);
  }
}

TEST(SegmentTest, EarlyStoppingAtThePauseEpochEndsTheRun) {
  // min_delta 1: no epoch after the first improves on it, so patience 1 ends the run at epoch 2.
  const TrialConfig config =
      Config({{"early_stopping", "true"}, {"patience", "1"}, {"min_delta", "1"}});
  Segment straight = TrainSegment(config, 0);
  ASSERT_EQ(straight.result.stopped_epoch, 2);
  Segment seg = TrainSegment(config, 2);
  EXPECT_FALSE(seg.result.paused);
  EXPECT_EQ(seg.result.stopped_epoch, 2);
  EXPECT_TRUE(seg.checkpoints.empty());
  ExpectSameRun(straight.result, seg.result);  // complete and tested
}

TEST(SegmentTest, StopAtThePauseEpochIsAStopWithoutCheckpoint) {
  const TrialConfig config = Config({});
  TrainOptions options;
  options.pause_after_epoch = 2;
  int checkpoints = 0;
  options.on_checkpoint = [&](const TrainCheckpoint&) { ++checkpoints; };
  options.on_epoch = [](const EpochMetrics& m) { return m.epoch < 2; };
  StatusOr<TrainResult> r = Train(config, Data(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->stopped);
  EXPECT_FALSE(r->paused);
  EXPECT_EQ(r->history.size(), 2u);
  EXPECT_EQ(checkpoints, 1);  // after epoch 1 only (checkpoint_due null: every epoch)
}

TEST(SegmentTest, ResumesUnderChangedMutableKeysWithTheNewRate) {
  const std::vector<std::string> keys = {"learning_rate", "dropout"};
  const TrialConfig config = Config({{"learning_rate", "0.001"}});
  const TrialConfig changed = Config({{"learning_rate", "0.003"}, {"dropout", "0.3"}});
  Segment first = TrainSegment(config, 2, keys);
  ASSERT_EQ(first.checkpoints.size(), 1u);

  StatusOr<TrainResult> same = Resume(config, first.checkpoints[0], keys);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  ExpectSameRun(TrainSegment(config, 0).result, *same);  // listing keys changes nothing else

  StatusOr<TrainResult> other = Resume(changed, first.checkpoints[0], keys);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_EQ(other->history.size(), 4u);
  EXPECT_EQ(other->history[1].lr, same->history[1].lr);  // the checkpoint's epochs as they were
  EXPECT_FLOAT_EQ(other->history[2].lr, 0.003);          // then the new rate
  EXPECT_FLOAT_EQ(other->history[3].lr, 0.003);
  EXPECT_NE(other->history[2].train_loss, same->history[2].train_loss);
  EXPECT_FALSE(SerializeModel(other->model) == SerializeModel(same->model));

  // Without the keys listed, the changed config is refused, and so is a listed key's change
  // together with an unlisted one's.
  StatusOr<TrainResult> unlisted = Resume(changed, first.checkpoints[0]);
  ASSERT_FALSE(unlisted.ok());
  EXPECT_NE(unlisted.status().message().find("another trial configuration"), std::string::npos)
      << unlisted.status().ToString();
  const TrialConfig decayed = Config({{"learning_rate", "0.003"}, {"weight_decay", "0.01"}});
  EXPECT_FALSE(Resume(decayed, first.checkpoints[0], keys).ok());
}

TEST(SegmentTest, EachMutableKeyAloneResumes) {
  const Keys values = {{"learning_rate", "0.002"},
                       {"dropout", "0.25"},
                       {"recurrent_dropout", "0.2"},
                       {"weight_decay", "0.004"}};
  const TrialConfig config = Config({});
  Segment first = TrainSegment(config, 2, MutableKeys());
  ASSERT_EQ(first.checkpoints.size(), 1u);
  for (const auto& [key, value] : values) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(IsMutableKey(key));
    const TrialConfig changed = Config({{key, value}});
    EXPECT_NE(ConfigFingerprint(changed), ConfigFingerprint(config));
    EXPECT_EQ(ConfigFingerprint(FingerprintConfig(changed, MutableKeys())),
              ConfigFingerprint(FingerprintConfig(config, MutableKeys())));
    StatusOr<TrainResult> r = Resume(changed, first.checkpoints[0], MutableKeys());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(Resume(changed, first.checkpoints[0], {"units", "no_such_key"}).ok());
  }
  EXPECT_FALSE(IsMutableKey("units"));
  EXPECT_FALSE(IsMutableKey("epochs"));
  // A lease that names a key no segment may change (a forged or broken one) changes nothing:
  // batch_size keeps every shape, yet a checkpoint does not resume under another one.
  EXPECT_FALSE(Resume(Config({{"batch_size", "16"}}), first.checkpoints[0], {"batch_size"}).ok());
}

TEST(SegmentTest, PlateauRefusesAChangedLearningRateButNotAChangedDropout) {
  const Keys plateau = {{"lr_schedule", "reduce_on_plateau"}, {"lr_patience", "1"}};
  const std::vector<std::string> keys = {"learning_rate", "dropout"};
  const TrialConfig config = Config(plateau);
  Keys faster = plateau, dropped = plateau;
  faster.push_back({"learning_rate", "0.003"});
  dropped.push_back({"dropout", "0.3"});
  Segment first = TrainSegment(config, 2, keys);
  ASSERT_EQ(first.checkpoints.size(), 1u);
  StatusOr<TrainResult> refused = Resume(Config(faster), first.checkpoints[0], keys);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("another trial configuration"), std::string::npos)
      << refused.status().ToString();
  StatusOr<TrainResult> ok = Resume(Config(dropped), first.checkpoints[0], keys);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

}  // namespace
}  // namespace hpsweep::segment_test
