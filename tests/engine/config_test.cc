// Tests for engine/config.h: every key's parser (good values set the field, bad values are
// InvalidArgument naming the key), GetKey/ApplyKey round trips, and the cross-key checks of
// Validate.
#include "engine/config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iomanip>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/network.h"

namespace hpsweep::config_test {
namespace {

TEST(ConfigKeysTest, VocabularyHoldsTheDocumentedKeys) {
  const std::set<std::string> documented = {"cell",
                                            "units",
                                            "layers",
                                            "activation",
                                            "recurrent_dropout",
                                            "bidirectional",
                                            "dropout",
                                            "dense",
                                            "dense_activation",
                                            "output",
                                            "optimizer",
                                            "learning_rate",
                                            "momentum",
                                            "nesterov",
                                            "batch_size",
                                            "epochs",
                                            "loss",
                                            "validation_split",
                                            "validation",
                                            "seed",
                                            "clipnorm",
                                            "clipvalue",
                                            "global_clipnorm",
                                            "weight_decay",
                                            "lr_schedule",
                                            "lr_drop",
                                            "lr_every",
                                            "lr_decay_rate",
                                            "lr_decay_steps",
                                            "warmup_epochs",
                                            "lr_factor",
                                            "lr_patience",
                                            "lr_min",
                                            "keep",
                                            "early_stopping",
                                            "patience",
                                            "min_delta",
                                            "restore_best_weights",
                                            "precision"};
  const std::vector<std::string>& keys = ConfigKeys();
  const std::set<std::string> unique(keys.begin(), keys.end());
  EXPECT_EQ(unique.size(), keys.size()) << "duplicate keys";
  for (const std::string& k : documented) EXPECT_TRUE(unique.count(k)) << "missing key " << k;
  for (const std::string& k : keys) EXPECT_TRUE(IsConfigKey(k)) << k;
  EXPECT_FALSE(IsConfigKey("colour"));
  EXPECT_FALSE(IsConfigKey(""));
  EXPECT_FALSE(IsConfigKey("Units"));
  EXPECT_FALSE(IsConfigKey("steps"));  // model-file shape lines, not keys
}

TEST(ApplyKeyTest, GoodValuesSetTheirFields) {
  TrialConfig c;
  auto ok = [&](const char* k, const char* v) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << "=" << v << ": " << s.ToString();
  };
  ok("cell", "gru");
  EXPECT_EQ(c.model.cell, Cell::kGru);
  ok("cell", "simple_rnn");
  EXPECT_EQ(c.model.cell, Cell::kSimpleRnn);
  ok("cell", "dense");
  EXPECT_EQ(c.model.cell, Cell::kDense);
  ok("cell", "lstm");
  EXPECT_EQ(c.model.cell, Cell::kLstm);
  ok("units", "64");
  EXPECT_EQ(c.model.units, 64);
  ok("layers", "3");
  ok("bidirectional", "true");
  EXPECT_TRUE(c.model.bidirectional);
  ok("bidirectional", "no");
  EXPECT_FALSE(c.model.bidirectional);
  EXPECT_EQ(c.model.layers, 3);
  ok("activation", "relu");
  EXPECT_EQ(c.model.activation, Activation::kRelu);
  ok("recurrent_dropout", "0.25");
  EXPECT_FLOAT_EQ(c.model.recurrent_dropout, 0.25f);
  ok("dropout", "0.2,0.1, 0.3");
  EXPECT_EQ(c.model.dropout, (std::vector<float>{0.2f, 0.1f, 0.3f}));
  ok("dropout", "[0.5]");
  EXPECT_EQ(c.model.dropout, (std::vector<float>{0.5f}));
  ok("dropout", "[]");
  EXPECT_TRUE(c.model.dropout.empty());
  ok("dense", "[64, 32]");
  EXPECT_EQ(c.model.dense, (std::vector<int>{64, 32}));
  ok("dense", "16");
  EXPECT_EQ(c.model.dense, (std::vector<int>{16}));
  ok("dense_activation", "sigmoid");
  EXPECT_EQ(c.model.dense_activation, Activation::kSigmoid);
  ok("output", "logits");
  EXPECT_TRUE(c.model.logits);
  ok("output", "softmax");
  EXPECT_FALSE(c.model.logits);
  ok("optimizer", "sgd");
  EXPECT_EQ(c.train.optimizer, Optimizer::kSgd);
  ok("optimizer", "rmsprop");
  EXPECT_EQ(c.train.optimizer, Optimizer::kRmsprop);
  ok("learning_rate", "0.05");
  EXPECT_FLOAT_EQ(c.train.learning_rate, 0.05f);
  ok("momentum", "0.9");
  EXPECT_FLOAT_EQ(c.train.momentum, 0.9f);
  ok("nesterov", "true");
  EXPECT_TRUE(c.train.nesterov);
  ok("nesterov", "false");
  EXPECT_FALSE(c.train.nesterov);
  ok("batch_size", "128");
  EXPECT_EQ(c.train.batch_size, 128);
  ok("epochs", "7");
  EXPECT_EQ(c.train.epochs, 7);
  ok("loss", "categorical_crossentropy");
  EXPECT_EQ(c.train.loss, Loss::kCategorical);
  ok("loss", "sparse_categorical_crossentropy");
  EXPECT_EQ(c.train.loss, Loss::kSparseCategorical);
  ok("validation", "test");
  EXPECT_EQ(c.train.validation, Validation::kTest);
  ok("validation", "split");
  EXPECT_EQ(c.train.validation, Validation::kSplit);
  ok("validation_split", "0.2");
  EXPECT_FLOAT_EQ(c.train.validation_split, 0.2f);
  ok("seed", "12345");
  EXPECT_EQ(c.train.seed, 12345u);
  ok("train_limit", "2000");
  EXPECT_EQ(c.train.train_limit, 2000);
  ok("clipnorm", "1.5");
  EXPECT_FLOAT_EQ(c.train.clipnorm, 1.5f);
  ok("clipvalue", "0.5");
  EXPECT_FLOAT_EQ(c.train.clipvalue, 0.5f);
  ok("global_clipnorm", "5");
  EXPECT_FLOAT_EQ(c.train.global_clipnorm, 5.0f);
  ok("weight_decay", "0.004");
  EXPECT_FLOAT_EQ(c.train.weight_decay, 0.004f);
  ok("lr_schedule", "step");
  EXPECT_EQ(c.train.lr_schedule, LrSchedule::kStep);
  ok("lr_schedule", "exponential");
  EXPECT_EQ(c.train.lr_schedule, LrSchedule::kExponential);
  ok("lr_schedule", "cosine");
  EXPECT_EQ(c.train.lr_schedule, LrSchedule::kCosine);
  ok("lr_schedule", "reduce_on_plateau");
  EXPECT_EQ(c.train.lr_schedule, LrSchedule::kReduceOnPlateau);
  ok("lr_schedule", "constant");
  EXPECT_EQ(c.train.lr_schedule, LrSchedule::kConstant);
  ok("lr_drop", "1");  // (0, 1]: 1 is allowed (no drop)
  EXPECT_FLOAT_EQ(c.train.lr_drop, 1.0f);
  ok("lr_every", "3");
  EXPECT_EQ(c.train.lr_every, 3);
  ok("lr_decay_rate", "0.96");
  EXPECT_FLOAT_EQ(c.train.lr_decay_rate, 0.96f);
  ok("lr_decay_steps", "500");
  EXPECT_EQ(c.train.lr_decay_steps, 500);
  ok("warmup_epochs", "2");
  EXPECT_EQ(c.train.warmup_epochs, 2);
  ok("lr_factor", "0.2");
  EXPECT_FLOAT_EQ(c.train.lr_factor, 0.2f);
  ok("lr_patience", "0");
  EXPECT_EQ(c.train.lr_patience, 0);
  ok("lr_min", "1e-6");
  EXPECT_FLOAT_EQ(c.train.lr_min, 1e-6f);
  EXPECT_EQ(c.train.keep, Keep::kBest);  // the default
  ok("keep", "last");
  EXPECT_EQ(c.train.keep, Keep::kLast);
  ok("keep", "best");
  EXPECT_EQ(c.train.keep, Keep::kBest);
  EXPECT_FALSE(c.train.early_stopping);
  ok("early_stopping", "true");
  EXPECT_TRUE(c.train.early_stopping);
  ok("patience", "10000");
  EXPECT_EQ(c.train.patience, 10000);
  ok("patience", "0");
  EXPECT_EQ(c.train.patience, 0);
  ok("min_delta", "0.001");
  EXPECT_EQ(c.train.min_delta, 0.001);
  EXPECT_FALSE(c.train.restore_best_weights);
  ok("restore_best_weights", "yes");
  EXPECT_TRUE(c.train.restore_best_weights);
  // Quoted YAML scalars and surrounding blanks.
  ok("units", " \"32\" ");
  EXPECT_EQ(c.model.units, 32);
}

TEST(ApplyKeyTest, EveryKeyAcceptsAGoodValue) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"cell", "lstm"},
      {"units", "16"},
      {"layers", "2"},
      {"activation", "tanh"},
      {"recurrent_dropout", "0"},
      {"bidirectional", "true"},
      {"dropout", "0.1"},
      {"dense", "[8]"},
      {"dense_activation", "relu"},
      {"output", "softmax"},
      {"optimizer", "adam"},
      {"learning_rate", "0.001"},
      {"momentum", "0"},
      {"nesterov", "false"},
      {"batch_size", "32"},
      {"epochs", "1"},
      {"loss", "sparse_categorical_crossentropy"},
      {"validation", "split"},
      {"validation_split", "0"},
      {"seed", "0"},
      {"train_limit", "0"},
      {"clipnorm", "0"},
      {"clipvalue", "1"},
      {"global_clipnorm", "1"},
      {"weight_decay", "0.01"},
      {"lr_schedule", "cosine"},
      {"lr_drop", "0.5"},
      {"lr_every", "10"},
      {"lr_decay_rate", "0.9"},
      {"lr_decay_steps", "10000"},
      {"warmup_epochs", "0"},
      {"lr_factor", "0.1"},
      {"lr_patience", "10"},
      {"lr_min", "0"},
      {"validation_shuffle", "true"},
      {"validation_stratify", "false"},
      {"keep", "best"},
      {"early_stopping", "false"},
      {"patience", "3"},
      {"min_delta", "0"},
      {"restore_best_weights", "false"},
      {"precision", "bf16"},
      {"task", "regression"},
      {"huber_delta", "2.5"}};
  std::set<std::string> covered;
  for (const auto& [k, v] : good) {
    TrialConfig c;
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << "=" << v << ": " << s.ToString();
    covered.insert(k);
  }
  for (const std::string& k : ConfigKeys()) EXPECT_TRUE(covered.count(k)) << "untested key " << k;
}

TEST(ApplyKeyTest, BadValuesAreInvalidArgumentNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"cell", "transformer"},
      {"units", "0"},
      {"units", "abc"},
      {"units", "12.5"},
      {"units", "-3"},
      {"layers", "-1"},
      {"layers", "x"},
      {"activation", "softmax"},  // softmax only as the output
      {"activation", "swish"},
      {"recurrent_dropout", "1.0"},
      {"recurrent_dropout", "-0.1"},
      {"bidirectional", "maybe"},
      {"bidirectional", "2"},
      {"dropout", "1.0"},
      {"dropout", "0.2,abc"},
      {"dropout", "0.2,1.5"},
      {"dense", "0"},
      {"dense", "[64, x]"},
      {"dense_activation", "gelu"},
      {"output", "probabilities"},
      {"optimizer", "foo"},
      {"learning_rate", "0"},
      {"learning_rate", "-0.1"},
      {"learning_rate", "fast"},
      {"momentum", "1.0"},
      {"momentum", "-0.5"},
      {"nesterov", "maybe"},
      {"batch_size", "abc"},
      {"batch_size", "0"},
      {"batch_size", ""},
      {"epochs", "0"},
      {"loss", "rmse"},  // (mse, mae and huber are regression's)
      {"validation", "holdout"},
      {"validation_split", "1.0"},
      {"validation_split", "-0.2"},
      {"validation_split", "nan"},
      {"seed", "-1"},
      {"seed", "x"},
      {"train_limit", "-5"},
      {"train_limit", "many"},
      {"clipnorm", "-1"},
      {"clipnorm", "big"},
      {"clipvalue", "-0.5"},
      {"global_clipnorm", "2e6"},
      {"weight_decay", "-0.1"},
      {"weight_decay", "1.5"},
      {"lr_schedule", "linear"},
      {"lr_schedule", "Cosine"},
      {"lr_drop", "0"},
      {"lr_drop", "1.5"},
      {"lr_every", "0"},
      {"lr_every", "2.5"},
      {"lr_decay_rate", "0"},
      {"lr_decay_rate", "1.1"},
      {"lr_decay_steps", "0"},
      {"warmup_epochs", "-1"},
      {"lr_factor", "1"},  // Keras: ReduceLROnPlateau does not support a factor >= 1
      {"lr_factor", "0"},
      {"lr_patience", "-1"},
      {"lr_min", "-0.001"},
      {"validation_shuffle", "2"},
      {"validation_stratify", "maybe"},
      {"keep", "first"},
      {"keep", "Best"},
      {"early_stopping", "sometimes"},
      {"patience", "-1"},
      {"patience", "10001"},
      {"patience", "2.5"},
      {"min_delta", "-0.01"},
      {"min_delta", "inf"},
      {"min_delta", "nan"},
      {"min_delta", "1e400"},
      {"restore_best_weights", "2"},
      {"precision", "fp16"},
      {"precision", "BF16x"},
      {"task", "Regression"},
      {"task", "forecast"},
      {"huber_delta", "0"},
      {"huber_delta", "-1"},
      {"huber_delta", "2e6"},
  };
  std::set<std::string> covered;
  for (const auto& [k, v] : bad) {
    TrialConfig c;
    Status s = ApplyKey(k, v, &c);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << k << "=" << v << ": " << s.ToString();
    EXPECT_NE(s.message().find(k), std::string::npos) << k << "=" << v << ": " << s.message();
    covered.insert(k);
  }
  for (const std::string& k : ConfigKeys()) EXPECT_TRUE(covered.count(k)) << "untested key " << k;
}

TEST(KeyHelpTest, EveryKeyHasALineWithItsDefault) {
  for (const std::string& k : ConfigKeys()) {
    const std::string help = KeyHelp(k);
    EXPECT_FALSE(help.empty()) << "no --help line for key " << k;
    const std::string value = GetKey(TrialConfig(), k);
    const bool none = value.empty() || value == "[]";
    EXPECT_NE(help.find("(default " + (none ? std::string("none") : value) + ")"),
              std::string::npos)
        << k << ": " << help;
    EXPECT_LE(help.size(), 120u) << k << ": " << help;
  }
  EXPECT_EQ(KeyHelp("colour"), "");
  EXPECT_NE(KeyHelp("units").find("1 to 4096"), std::string::npos) << KeyHelp("units");
}

TEST(ApplyKeyTest, UnknownKeyIsInvalidArgumentNamingIt) {
  TrialConfig c;
  Status s = ApplyKey("colour", "blue", &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("colour"), std::string::npos) << s.message();
}

TEST(ApplyKeyTest, BadValueLeavesListUnchanged) {
  TrialConfig c;
  ASSERT_TRUE(ApplyKey("dropout", "0.2,0.1", &c).ok());
  EXPECT_FALSE(ApplyKey("dropout", "0.3,oops", &c).ok());
  EXPECT_EQ(c.model.dropout, (std::vector<float>{0.2f, 0.1f}));
}

// A config with a non-default value for every key.
TrialConfig NonDefault() {
  TrialConfig c;
  const std::vector<std::pair<std::string, std::string>> kv = {{"cell", "gru"},
                                                               {"units", "48"},
                                                               {"layers", "2"},
                                                               {"activation", "relu"},
                                                               {"recurrent_dropout", "0.15"},
                                                               {"bidirectional", "true"},
                                                               {"dropout", "0.2,0.1,0.3"},
                                                               {"dense", "[24]"},
                                                               {"dense_activation", "tanh"},
                                                               {"output", "logits"},
                                                               {"optimizer", "sgd"},
                                                               {"learning_rate", "0.037"},
                                                               {"momentum", "0.85"},
                                                               {"nesterov", "true"},
                                                               {"batch_size", "77"},
                                                               {"epochs", "9"},
                                                               {"loss", "categorical_crossentropy"},
                                                               {"validation", "test"},
                                                               {"validation_split", "0.1"},
                                                               {"seed", "987654321"},
                                                               {"train_limit", "5000"}};
  for (const auto& [k, v] : kv) EXPECT_TRUE(ApplyKey(k, v, &c).ok()) << k;
  // Clipping, weight decay and reduce_on_plateau's keys; the other schedules' keys below.
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"clipnorm", "2.5"},
           {"weight_decay", "0.004"},
           {"lr_schedule", "reduce_on_plateau"},
           {"lr_factor", "0.3"},
           {"lr_patience", "4"},
           {"lr_min", "1e-5"},
           {"keep", "last"},
           {"early_stopping", "true"},
           {"patience", "7"},
           {"min_delta", "0.0125"},
           {"restore_best_weights", "true"},
           {"precision", "auto"}}) {
    EXPECT_TRUE(ApplyKey(k, v, &c).ok()) << k;
  }
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  return c;
}

// The keys NonDefault cannot hold at once (one clipping, one schedule), in configs of their own.
std::vector<TrialConfig> OtherNonDefaults() {
  const std::vector<std::vector<std::pair<std::string, std::string>>> sets = {
      {{"clipvalue", "0.75"}, {"lr_schedule", "step"}, {"lr_drop", "0.3"}, {"lr_every", "4"}},
      {{"global_clipnorm", "3"},
       {"lr_schedule", "exponential"},
       {"lr_decay_rate", "0.96"},
       {"lr_decay_steps", "250"}},
      {{"lr_schedule", "cosine"}, {"epochs", "5"}, {"warmup_epochs", "2"}},
      {{"validation_split", "0.2"}, {"validation_shuffle", "true"}, {"validation_stratify", "true"}},
      {{"task", "regression"}, {"loss", "huber"}, {"huber_delta", "0.25"}}};
  std::vector<TrialConfig> out;
  for (const auto& kv : sets) {
    TrialConfig c;
    for (const auto& [k, v] : kv) EXPECT_TRUE(ApplyKey(k, v, &c).ok()) << k;
    EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
    out.push_back(c);
  }
  return out;
}

void ExpectSameConfig(const TrialConfig& a, const TrialConfig& b) {
  EXPECT_EQ(a.model.cell, b.model.cell);
  EXPECT_EQ(a.model.units, b.model.units);
  EXPECT_EQ(a.model.layers, b.model.layers);
  EXPECT_EQ(a.model.activation, b.model.activation);
  EXPECT_EQ(a.model.recurrent_dropout, b.model.recurrent_dropout);
  EXPECT_EQ(a.model.bidirectional, b.model.bidirectional);
  EXPECT_EQ(a.model.dropout, b.model.dropout);
  EXPECT_EQ(a.model.dense, b.model.dense);
  EXPECT_EQ(a.model.dense_activation, b.model.dense_activation);
  // (a regression model's output is linear whatever the flag: its key reads "linear")
  if (a.model.task == Task::kClassification) {
    EXPECT_EQ(a.model.logits, b.model.logits);
  }
  EXPECT_EQ(a.model.task, b.model.task);
  EXPECT_EQ(a.train.optimizer, b.train.optimizer);
  EXPECT_EQ(a.train.EffectiveLearningRate(), b.train.EffectiveLearningRate());
  EXPECT_EQ(a.train.momentum, b.train.momentum);
  EXPECT_EQ(a.train.nesterov, b.train.nesterov);
  EXPECT_EQ(a.train.batch_size, b.train.batch_size);
  EXPECT_EQ(a.train.epochs, b.train.epochs);
  // (a default loss, kAuto, reads back as the task's loss by name)
  EXPECT_EQ(a.train.EffectiveLoss(a.model.task), b.train.EffectiveLoss(b.model.task));
  EXPECT_EQ(a.train.huber_delta, b.train.huber_delta);
  EXPECT_EQ(a.train.validation, b.train.validation);
  EXPECT_EQ(a.train.validation_split, b.train.validation_split);
  EXPECT_EQ(a.train.seed, b.train.seed);
  EXPECT_EQ(a.train.train_limit, b.train.train_limit);
  EXPECT_EQ(a.train.clipnorm, b.train.clipnorm);
  EXPECT_EQ(a.train.clipvalue, b.train.clipvalue);
  EXPECT_EQ(a.train.global_clipnorm, b.train.global_clipnorm);
  EXPECT_EQ(a.train.weight_decay, b.train.weight_decay);
  EXPECT_EQ(a.train.lr_schedule, b.train.lr_schedule);
  EXPECT_EQ(a.train.lr_drop, b.train.lr_drop);
  EXPECT_EQ(a.train.lr_every, b.train.lr_every);
  EXPECT_EQ(a.train.lr_decay_rate, b.train.lr_decay_rate);
  EXPECT_EQ(a.train.lr_decay_steps, b.train.lr_decay_steps);
  EXPECT_EQ(a.train.warmup_epochs, b.train.warmup_epochs);
  EXPECT_EQ(a.train.lr_factor, b.train.lr_factor);
  EXPECT_EQ(a.train.lr_patience, b.train.lr_patience);
  EXPECT_EQ(a.train.lr_min, b.train.lr_min);
  EXPECT_EQ(a.train.validation_shuffle, b.train.validation_shuffle);
  EXPECT_EQ(a.train.validation_stratify, b.train.validation_stratify);
  EXPECT_EQ(a.train.keep, b.train.keep);
  EXPECT_EQ(a.train.early_stopping, b.train.early_stopping);
  EXPECT_EQ(a.train.patience, b.train.patience);
  EXPECT_EQ(a.train.min_delta, b.train.min_delta);
  EXPECT_EQ(a.train.restore_best_weights, b.train.restore_best_weights);
  EXPECT_EQ(a.train.precision, b.train.precision);
}

TEST(GetKeyTest, RoundTripsEveryKey) {
  std::vector<TrialConfig> configs = OtherNonDefaults();
  configs.push_back(TrialConfig());
  configs.push_back(NonDefault());
  // Every key off its default in at least one of them.
  std::set<std::string> changed;
  for (const TrialConfig& c : configs) {
    for (const std::string& k : ConfigKeys()) {
      if (GetKey(c, k) != GetKey(TrialConfig(), k)) changed.insert(k);
    }
  }
  for (const std::string& k : ConfigKeys()) EXPECT_TRUE(changed.count(k)) << "untested key " << k;
  for (const TrialConfig& src : configs) {
    TrialConfig dst;
    for (const std::string& k : ConfigKeys()) {
      const std::string text = GetKey(src, k);
      Status s = ApplyKey(k, text, &dst);
      EXPECT_TRUE(s.ok()) << k << "='" << text << "': " << s.ToString();
    }
    ExpectSameConfig(src, dst);
    for (const std::string& k : ConfigKeys()) EXPECT_EQ(GetKey(dst, k), GetKey(src, k)) << k;
  }
}

TEST(GetKeyTest, FloatsRoundTripExactly) {
  for (const char* v : {"0.1", "0.3", "0.123456789", "1e-05", "0.7"}) {
    TrialConfig a, b;
    ASSERT_TRUE(ApplyKey("learning_rate", v, &a).ok());
    ASSERT_TRUE(ApplyKey("learning_rate", GetKey(a, "learning_rate"), &b).ok());
    EXPECT_EQ(a.train.learning_rate, b.train.learning_rate) << v;
    ASSERT_TRUE(ApplyKey("recurrent_dropout", v, &a).ok());
    ASSERT_TRUE(ApplyKey("recurrent_dropout", GetKey(a, "recurrent_dropout"), &b).ok());
    EXPECT_EQ(a.model.recurrent_dropout, b.model.recurrent_dropout) << v;
  }
}

TEST(GetKeyTest, DropoutRatesRoundTripExactly) {
  // A sweep samples rates such as 0.123456789; the list form must keep all of a float's digits
  // like the scalar keys do (GetKey: "floats round-trip exactly").
  for (const char* v : {"0.1", "0.123456789", "0.2371846", "1e-05"}) {
    TrialConfig a, b;
    ASSERT_TRUE(ApplyKey("dropout", std::string(v) + "," + v, &a).ok());
    const std::string text = GetKey(a, "dropout");
    ASSERT_TRUE(ApplyKey("dropout", text, &b).ok());
    EXPECT_EQ(a.model.dropout, b.model.dropout)
        << v << " -> '" << text << "' -> " << std::setprecision(9) << b.model.dropout[0];
  }
}

TEST(GetKeyTest, ShowsTheEffectiveLearningRate) {
  TrialConfig c;
  c.train.optimizer = Optimizer::kSgd;
  TrialConfig d;
  ASSERT_TRUE(ApplyKey("learning_rate", GetKey(c, "learning_rate"), &d).ok());
  EXPECT_FLOAT_EQ(d.train.learning_rate, 0.01f);
}

TEST(GetKeyTest, LargeSeedRoundTrips) {
  // TrainConfig::seed is a uint64_t; GetKey promises ApplyKey(key, GetKey(key)) round-trips.
  for (uint64_t seed : {uint64_t{1} << 62, (uint64_t{1} << 63) + 5, ~uint64_t{0}}) {
    TrialConfig c, d;
    c.train.seed = seed;
    Status s = ApplyKey("seed", GetKey(c, "seed"), &d);
    EXPECT_TRUE(s.ok()) << "seed " << seed << ": " << s.ToString();
    EXPECT_EQ(d.train.seed, seed);
  }
}

TEST(DropoutAfterTest, OneRateOrOnePerHiddenLayer) {
  ModelConfig m;
  EXPECT_EQ(m.DropoutAfter(0), 0.0f);
  m.dropout = {0.3f};
  EXPECT_EQ(m.DropoutAfter(0), 0.3f);
  EXPECT_EQ(m.DropoutAfter(5), 0.3f);
  m.dropout = {0.2f, 0.1f, 0.4f};
  EXPECT_EQ(m.DropoutAfter(0), 0.2f);
  EXPECT_EQ(m.DropoutAfter(1), 0.1f);
  EXPECT_EQ(m.DropoutAfter(2), 0.4f);
  m.layers = 2;
  m.dense = {32};
  EXPECT_EQ(m.hidden_layers(), 3);
}

Status ValidateKeys(const std::vector<std::pair<std::string, std::string>>& kv) {
  TrialConfig c;
  for (const auto& [k, v] : kv) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return Validate(c);
}

TEST(ValidateTest, DropoutListMustMatchHiddenLayers) {
  EXPECT_TRUE(Validate(TrialConfig()).ok());
  // 1 LSTM layer, no head: one hidden layer, so two rates are one too many.
  Status s = ValidateKeys({{"cell", "lstm"}, {"layers", "1"}, {"dropout", "0.2,0.3"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("dropout"), std::string::npos) << s.message();
  // 2 LSTM layers + Dense(32): three hidden layers.
  EXPECT_TRUE(ValidateKeys({{"layers", "2"}, {"dense", "[32]"}, {"dropout", "0.2,0.1,0.2"}}).ok());
  EXPECT_FALSE(ValidateKeys({{"layers", "2"}, {"dense", "[32]"}, {"dropout", "0.2,0.1"}}).ok());
  EXPECT_FALSE(
      ValidateKeys({{"layers", "2"}, {"dense", "[32]"}, {"dropout", "0.2,0.1,0.2,0.1"}}).ok());
  // One rate is always fine.
  EXPECT_TRUE(ValidateKeys({{"layers", "3"}, {"dropout", "0.5"}}).ok());
  // MLP: layers count hidden Dense layers.
  EXPECT_TRUE(ValidateKeys({{"cell", "dense"}, {"layers", "2"}, {"dropout", "0.2,0.3"}}).ok());
}

TEST(ValidateTest, MomentumOnlyWithSgd) {
  Status s = ValidateKeys({{"optimizer", "adam"}, {"momentum", "0.9"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("momentum"), std::string::npos) << s.message();
  EXPECT_FALSE(ValidateKeys({{"optimizer", "rmsprop"}, {"nesterov", "true"}}).ok());
  EXPECT_TRUE(ValidateKeys({{"optimizer", "sgd"}, {"momentum", "0.9"}, {"nesterov", "true"}}).ok());
}

TEST(ValidateTest, RecurrentModelsNeedALayerAndDenseHasNoRecurrentDropout) {
  Status s = ValidateKeys({{"cell", "lstm"}, {"layers", "0"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layers"), std::string::npos) << s.message();
  EXPECT_TRUE(ValidateKeys({{"cell", "dense"}, {"layers", "0"}}).ok());
  Status r = ValidateKeys({{"cell", "dense"}, {"recurrent_dropout", "0.2"}});
  EXPECT_EQ(r.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.message().find("recurrent_dropout"), std::string::npos) << r.message();
}

TEST(ValidateTest, BidirectionalOnlyForRecurrentCells) {
  for (const char* cell : {"simple_rnn", "lstm", "gru"}) {
    EXPECT_TRUE(ValidateKeys({{"cell", cell}, {"bidirectional", "true"}}).ok()) << cell;
  }
  Status s = ValidateKeys({{"cell", "dense"}, {"bidirectional", "true"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("key 'bidirectional'", 0), 0u) << s.message();
  EXPECT_NE(s.message().find("cell is dense"), std::string::npos) << s.message();
  // false is the default, which a dense model's file writes too.
  EXPECT_TRUE(ValidateKeys({{"cell", "dense"}, {"bidirectional", "false"}}).ok());
}

TEST(GetKeyTest, BidirectionalDefaultsToFalseAndRoundTrips) {
  TrialConfig c;
  EXPECT_FALSE(c.model.bidirectional);
  EXPECT_EQ(GetKey(c, "bidirectional"), "false");
  for (const char* text : {"true", "false"}) {
    TrialConfig a, b;
    ASSERT_TRUE(ApplyKey("bidirectional", text, &a).ok());
    ASSERT_TRUE(ApplyKey("bidirectional", GetKey(a, "bidirectional"), &b).ok());
    EXPECT_EQ(GetKey(b, "bidirectional"), text);
    EXPECT_EQ(a.model.bidirectional, b.model.bidirectional);
  }
}

// Each refusal names the key (a sweep file reports its line) and says why.
void ExpectRefused(const std::vector<std::pair<std::string, std::string>>& kv,
                   const std::string& key, const std::string& why) {
  Status s = ValidateKeys(kv);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument) << key << ": " << s.ToString();
  EXPECT_EQ(s.message().rfind("key '" + key + "'", 0), 0u) << s.message();
  EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
}

TEST(ValidateTest, OneClippingAtMost) {
  ExpectRefused({{"clipnorm", "1"}, {"clipvalue", "0.5"}}, "clipvalue", "only one of clipnorm");
  ExpectRefused({{"clipnorm", "1"}, {"global_clipnorm", "5"}}, "global_clipnorm", "clipnorm=1");
  ExpectRefused({{"clipvalue", "1"}, {"global_clipnorm", "5"}}, "global_clipnorm", "clipvalue=1");
  for (const char* k : {"clipnorm", "clipvalue", "global_clipnorm"}) {
    EXPECT_TRUE(ValidateKeys({{k, "1"}, {"weight_decay", "0.1"}}).ok()) << k;
  }
  // 0 is off: setting the others to 0 is no second clipping.
  EXPECT_TRUE(ValidateKeys({{"clipnorm", "1"}, {"clipvalue", "0"}, {"global_clipnorm", "0"}}).ok());
}

TEST(ValidateTest, ScheduleKeysOnlyWithTheirSchedule) {
  ExpectRefused({{"lr_every", "5"}}, "lr_every", "only lr_schedule=step uses it");
  ExpectRefused({{"lr_schedule", "cosine"}, {"epochs", "3"}, {"lr_drop", "0.1"}}, "lr_drop",
                "(lr_schedule is cosine)");
  ExpectRefused({{"lr_schedule", "step"}, {"lr_decay_rate", "0.5"}}, "lr_decay_rate",
                "lr_schedule=exponential");
  ExpectRefused({{"lr_decay_steps", "100"}}, "lr_decay_steps", "lr_schedule=exponential");
  ExpectRefused({{"warmup_epochs", "1"}, {"epochs", "3"}}, "warmup_epochs",
                "lr_schedule=cosine");
  ExpectRefused({{"lr_factor", "0.5"}, {"validation_split", "0.1"}}, "lr_factor",
                "lr_schedule=reduce_on_plateau");
  ExpectRefused({{"lr_schedule", "exponential"}, {"lr_patience", "3"}}, "lr_patience",
                "reduce_on_plateau");
  ExpectRefused({{"lr_min", "0.0001"}}, "lr_min", "reduce_on_plateau");
  // Each with its own schedule is fine.
  EXPECT_TRUE(ValidateKeys({{"lr_schedule", "step"}, {"lr_every", "5"}, {"lr_drop", "0.1"}}).ok());
  EXPECT_TRUE(ValidateKeys({{"lr_schedule", "exponential"},
                            {"lr_decay_rate", "0.5"},
                            {"lr_decay_steps", "100"}})
                  .ok());
  EXPECT_TRUE(ValidateKeys({{"lr_schedule", "reduce_on_plateau"},
                            {"validation", "test"},
                            {"lr_factor", "0.5"},
                            {"lr_patience", "2"},
                            {"lr_min", "1e-5"}})
                  .ok());
  // A parameter at its default is no parameter set: a model file writes them all.
  EXPECT_TRUE(ValidateKeys({{"lr_every", "10"}, {"lr_factor", "0.1"}}).ok());
}

TEST(ValidateTest, CosineWarmupShorterThanTheRun) {
  ExpectRefused({{"lr_schedule", "cosine"}, {"epochs", "3"}, {"warmup_epochs", "3"}},
                "warmup_epochs", "less than epochs (3)");
  EXPECT_TRUE(
      ValidateKeys({{"lr_schedule", "cosine"}, {"epochs", "3"}, {"warmup_epochs", "2"}}).ok());
  EXPECT_TRUE(ValidateKeys({{"lr_schedule", "cosine"}}).ok());  // 1 epoch, no warmup
}

TEST(ValidateTest, PlateauNeedsValidationData) {
  ExpectRefused({{"lr_schedule", "reduce_on_plateau"}}, "lr_schedule", "val_loss");
  EXPECT_TRUE(
      ValidateKeys({{"lr_schedule", "reduce_on_plateau"}, {"validation_split", "0.1"}}).ok());
  EXPECT_TRUE(ValidateKeys({{"lr_schedule", "reduce_on_plateau"}, {"validation", "test"}}).ok());
}

TEST(ValidateTest, EarlyStoppingKeysOnlyWithItAndValidationData) {
  ExpectRefused({{"patience", "3"}, {"validation_split", "0.1"}}, "patience",
                "only early_stopping=true uses it");
  ExpectRefused({{"min_delta", "0.01"}, {"validation_split", "0.1"}}, "min_delta",
                "early_stopping=true");
  ExpectRefused({{"restore_best_weights", "true"}, {"validation_split", "0.1"}},
                "restore_best_weights", "early_stopping=true");
  ExpectRefused({{"early_stopping", "true"}}, "early_stopping", "needs validation data");
  EXPECT_TRUE(ValidateKeys({{"early_stopping", "true"},
                            {"validation_split", "0.1"},
                            {"patience", "3"},
                            {"min_delta", "0.01"},
                            {"restore_best_weights", "true"}})
                  .ok());
  EXPECT_TRUE(ValidateKeys({{"early_stopping", "true"}, {"validation", "test"}}).ok());
  // keep needs no validation data: without it, best is the last epoch.
  EXPECT_TRUE(ValidateKeys({{"keep", "best"}}).ok());
  EXPECT_TRUE(ValidateKeys({{"keep", "last"}}).ok());
  // At their defaults they are no keys set (a model file writes them all).
  EXPECT_TRUE(ValidateKeys({{"patience", "0"}, {"min_delta", "0"}}).ok());
}

// ParamCount is arithmetic on the config; it must equal what the engine really builds.
TEST(ParamCountTest, EqualsTheBuiltNetwork) {
  int checked = 0;
  for (const char* cell : {"dense", "simple_rnn", "lstm", "gru"}) {
    for (int layers = 1; layers <= 3; ++layers) {
      for (const char* dense : {"[]", "[64]", "[32, 16]"}) {
        for (const char* units : {"1", "7", "48"}) {
          TrialConfig c;
          ASSERT_TRUE(ApplyKey("cell", cell, &c).ok());
          ASSERT_TRUE(ApplyKey("layers", std::to_string(layers), &c).ok());
          ASSERT_TRUE(ApplyKey("dense", dense, &c).ok());
          ASSERT_TRUE(ApplyKey("units", units, &c).ok());
          ASSERT_TRUE(Validate(c).ok());
          const int64_t n = ParamCount(c);
          std::vector<float> params(static_cast<size_t>(n)), grads(static_cast<size_t>(n));
          Network<float> net(c.model, params.data(), grads.data());
          EXPECT_EQ(n, net.NumParams())
              << cell << " layers=" << layers << " dense=" << dense << " units=" << units;
          EXPECT_EQ(n, CountParams(c.model));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 4 * 3 * 3 * 3);
  // Bidirectional: twice each recurrent layer's count, the next layer reading 2H features.
  for (const char* cell : {"simple_rnn", "lstm", "gru"}) {
    for (int layers = 1; layers <= 3; ++layers) {
      TrialConfig c;
      ASSERT_TRUE(ApplyKey("cell", cell, &c).ok());
      ASSERT_TRUE(ApplyKey("layers", std::to_string(layers), &c).ok());
      ASSERT_TRUE(ApplyKey("dense", "[9]", &c).ok());
      ASSERT_TRUE(ApplyKey("units", "7", &c).ok());
      ASSERT_TRUE(ApplyKey("bidirectional", "true", &c).ok());
      ASSERT_TRUE(Validate(c).ok());
      EXPECT_EQ(ParamCount(c), CountParams(c.model)) << cell << " layers=" << layers;
    }
  }
  // Keras: Bidirectional(LSTM(128)) on 28 features is 2 x 80,384 = 160,768, + Dense(256 -> 10).
  TrialConfig bi;
  ASSERT_TRUE(ApplyKey("bidirectional", "true", &bi).ok());
  EXPECT_EQ(ParamCount(bi), 160768 + 256 * 10 + 10);
  // The dense cell with no hidden layer is logistic regression on the pixels.
  TrialConfig d;
  ASSERT_TRUE(ApplyKey("cell", "dense", &d).ok());
  ASSERT_TRUE(ApplyKey("layers", "0", &d).ok());
  EXPECT_EQ(ParamCount(d), 784 * 10 + 10);
  // Keras: LSTM(128) on 28 features + Dense(10) has 81,674 parameters.
  EXPECT_EQ(ParamCount(TrialConfig()), 4 * 128 * (28 + 128 + 1) + 128 * 10 + 10);
  // The model that used to kill workers: LSTM(4096) x 16.
  TrialConfig big;
  ASSERT_TRUE(ApplyKey("units", "4096", &big).ok());
  ASSERT_TRUE(ApplyKey("layers", "16", &big).ok());
  EXPECT_EQ(ParamCount(big),
            4LL * 4096 * (28 + 4096 + 1) + 15 * 4LL * 4096 * (4096 + 4096 + 1) + 4096 * 10 + 10);
}

TEST(TrainingBytesEstimateTest, FollowsTheDocumentedFormula) {
  // Default: LSTM(128), Adam, batch 32, 28 steps of 28 features, no head.
  TrialConfig c;
  const int64_t P = ParamCount(c), B = 32, T = 28, H = 128;
  const int64_t floats = 4 * P + B * T * 28 + B * T * (13 * H + 28) + B * (3 * 10 + H);
  EXPECT_EQ(TrainingBytesEstimate(c), 4 * floats);
  // SGD keeps one slot, not two.
  TrialConfig sgd = c;
  ASSERT_TRUE(ApplyKey("optimizer", "sgd", &sgd).ok());
  EXPECT_EQ(TrainingBytesEstimate(c) - TrainingBytesEstimate(sgd), 4 * P);
  // keep: best (the default) with validation data keeps one more copy of the weights; keep: last
  // or no validation data, none.
  TrialConfig kept = c;
  ASSERT_TRUE(ApplyKey("validation_split", "0.1", &kept).ok());
  EXPECT_EQ(TrainingBytesEstimate(kept) - TrainingBytesEstimate(c), 4 * P);
  ASSERT_TRUE(ApplyKey("keep", "last", &kept).ok());
  EXPECT_EQ(TrainingBytesEstimate(kept), TrainingBytesEstimate(c));
  ASSERT_TRUE(ApplyKey("early_stopping", "true", &kept).ok());
  ASSERT_TRUE(ApplyKey("restore_best_weights", "true", &kept).ok());
  EXPECT_EQ(TrainingBytesEstimate(kept) - TrainingBytesEstimate(c), 4 * P);
  // Activations grow with the batch; parameters do not.
  TrialConfig wide = c;
  ASSERT_TRUE(ApplyKey("batch_size", "64", &wide).ok());
  EXPECT_EQ(TrainingBytesEstimate(wide) - TrainingBytesEstimate(c), 4 * (floats - 4 * P));
  // Dropout layers add their mask, output and gradient.
  TrialConfig drop = c;
  ASSERT_TRUE(ApplyKey("dropout", "0.2", &drop).ok());
  EXPECT_EQ(TrainingBytesEstimate(drop) - TrainingBytesEstimate(c), 4 * 3 * B * H);
  // A bidirectional layer: twice the layer, plus its reversed input, output and gradients.
  TrialConfig bi = c;
  ASSERT_TRUE(ApplyKey("bidirectional", "true", &bi).ok());
  const int64_t bfloats = 4 * ParamCount(bi) + B * T * 28 + 2 * B * T * (13 * H + 28) +
                          B * T * (28 + 4 * H) + B * (3 * 10 + 2 * H);
  EXPECT_EQ(TrainingBytesEstimate(bi), 4 * bfloats);
  // LSTM(4096) x 16 at batch 256 needs far more than 8 GiB.
  TrialConfig big;
  ASSERT_TRUE(ApplyKey("units", "4096", &big).ok());
  ASSERT_TRUE(ApplyKey("layers", "16", &big).ok());
  ASSERT_TRUE(ApplyKey("batch_size", "256", &big).ok());
  EXPECT_GT(TrainingBytesEstimate(big), 8LL << 30);
}

}  // namespace
}  // namespace hpsweep::config_test
