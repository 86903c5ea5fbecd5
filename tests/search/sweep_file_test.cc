// Tests for search/sweep_file.h: the DESIGN.md example and sweeps/quickstart.yaml parse; grids
// expand in file order (last axis fastest); random sweeps are deterministic, in range, without
// duplicates; and every kind of bad file is InvalidArgument naming the file, the line and the key.
#include "search/sweep_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "search/sampler.h"
#include "engine/config.h"

namespace hpsweep::sweep_file_test {
namespace {

constexpr char kFile[] = "bad.yaml";

// The example of DESIGN.md ("Sweep files"), verbatim. Its learning_rate axis is marked "random
// only", so as written (method: grid) it is refused; with method: random it is a valid sweep.
constexpr char kDesignExample[] = R"(name: lstm-units
description: Effect of LSTM width (seed B3)
data: {dataset: mnist, validation_split: 0.2, seed: 7}
method: grid                      # grid | random (| tpe later)
metric: {name: val_accuracy, goal: maximize}
max_trials: 50                    # needed for random
max_attempts: 3                   # a trial whose worker dies is re-leased up to this many times
fixed:                            # the same in every trial
  cell: lstm
  epochs: 5
  optimizer: adam
  recurrent_dropout: 0.15
parameters:                       # the axes of the sweep
  units: {values: [32, 48, 96, 256]}
  layers: {values: [1, 2]}
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}   # random only
)";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

SweepSpec MustParse(const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  return spec.ok() ? spec.value() : SweepSpec();
}

std::vector<TrialSpec> MustExpand(const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  if (!spec.ok()) return {};
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, kFile);
  EXPECT_TRUE(trials.ok()) << trials.status().ToString() << "\n" << yaml;
  return trials.ok() ? trials.value() : std::vector<TrialSpec>();
}

// Expects `status` to be InvalidArgument starting "bad.yaml:LINE:" and containing every part.
void ExpectErrorIn(const Status& status, int line, const std::vector<std::string>& parts,
                   const std::string& yaml) {
  SCOPED_TRACE(yaml);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  const std::string prefix = std::string(kFile) + ":" + std::to_string(line) + ":";
  EXPECT_EQ(status.message().rfind(prefix, 0), 0u)
      << "want prefix '" << prefix << "', got: " << status.message();
  for (const std::string& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "want '" << part << "' in: " << status.message();
  }
}

// A file that ParseSweep refuses.
void ExpectParseError(const std::string& yaml, int line, const std::vector<std::string>& parts) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  ASSERT_FALSE(spec.ok()) << "parsed, but should not:\n" << yaml;
  ExpectErrorIn(spec.status(), line, parts, yaml);
}

// A file that parses but whose expansion is refused.
void ExpectExpandError(const std::string& yaml, int line, const std::vector<std::string>& parts) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, kFile);
  ASSERT_FALSE(trials.ok()) << "expanded, but should not:\n" << yaml;
  ExpectErrorIn(trials.status(), line, parts, yaml);
}

// ---------------------------------------------------------------------------------------------
// Good files.

TEST(SweepFileTest, DesignExampleAsWrittenAsksForRandom) {
  // Line 16 is the learning_rate distribution, which a grid cannot take.
  ExpectParseError(kDesignExample, 16, {"learning_rate", "log_uniform", "use method: random"});
}

TEST(SweepFileTest, DesignExampleParsesWithMethodRandom) {
  const std::string yaml = Replace(kDesignExample, "method: grid ", "method: random");
  const SweepSpec spec = MustParse(yaml);
  EXPECT_EQ(spec.name, "lstm-units");
  EXPECT_EQ(spec.description, "Effect of LSTM width (seed B3)");
  EXPECT_EQ(spec.dataset, "mnist");
  EXPECT_EQ(spec.train_limit, 0);
  EXPECT_EQ(spec.method, SweepMethod::kRandom);
  EXPECT_EQ(spec.metric, "val_accuracy");
  EXPECT_TRUE(spec.maximize);
  EXPECT_EQ(spec.max_trials, 50);
  EXPECT_EQ(spec.max_attempts, 3);
  EXPECT_EQ(spec.seed, 7u);  // data.seed, no top-level seed
  const std::map<std::string, std::string> want_fixed = {
      {"cell", "lstm"},      {"epochs", "5"},
      {"optimizer", "adam"}, {"recurrent_dropout", "0.15"},
      {"seed", "7"},         {"validation_split", "0.2"}};
  EXPECT_EQ(spec.fixed, want_fixed);
  ASSERT_EQ(spec.parameters.size(), 3u);
  EXPECT_EQ(spec.parameters[0].key, "units");
  EXPECT_EQ(spec.parameters[0].distribution, Distribution::kValues);
  EXPECT_EQ(spec.parameters[0].values, (std::vector<std::string>{"32", "48", "96", "256"}));
  EXPECT_EQ(spec.parameters[0].line, 14);
  EXPECT_EQ(spec.parameters[1].key, "layers");
  EXPECT_EQ(spec.parameters[1].line, 15);
  EXPECT_EQ(spec.parameters[2].key, "learning_rate");
  EXPECT_EQ(spec.parameters[2].distribution, Distribution::kLogUniform);
  EXPECT_DOUBLE_EQ(spec.parameters[2].min, 1e-4);
  EXPECT_DOUBLE_EQ(spec.parameters[2].max, 1e-2);
  EXPECT_EQ(spec.parameters[2].line, 16);
  EXPECT_EQ(spec.lines.at("max_trials"), 6);
  EXPECT_EQ(spec.lines.at("fixed.epochs"), 10);

  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, kFile);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 50u);
  const std::set<std::string> units = {"32", "48", "96", "256"};
  for (const TrialSpec& t : *trials) {
    EXPECT_EQ(t.params.at("cell"), "lstm");
    EXPECT_EQ(t.params.at("epochs"), "5");
    EXPECT_EQ(t.params.at("seed"), "7");
    EXPECT_TRUE(units.count(t.params.at("units"))) << t.params.at("units");
    EXPECT_EQ(t.config.train.seed, 7u);
    EXPECT_FLOAT_EQ(t.config.train.validation_split, 0.2f);
    EXPECT_FLOAT_EQ(t.config.model.recurrent_dropout, 0.15f);
    EXPECT_GE(t.config.train.learning_rate, 1e-4f * 0.9999f);
    EXPECT_LE(t.config.train.learning_rate, 1e-2f * 1.0001f);
  }
}

TEST(SweepFileTest, DesignExampleWithoutDistributionIsAGridOf8) {
  std::string yaml = Replace(kDesignExample,
                             "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: "
                             "1.0e-2}   # random only\n",
                             "");
  const std::vector<TrialSpec> trials = MustExpand(yaml);
  ASSERT_EQ(trials.size(), 8u);
  EXPECT_EQ(trials.front().params.at("units"), "32");
  EXPECT_EQ(trials.front().params.at("layers"), "1");
  EXPECT_EQ(trials.back().params.at("units"), "256");
  EXPECT_EQ(trials.back().params.at("layers"), "2");
}

TEST(SweepFileTest, QuickstartSweepParsesAndIsSmall) {
  StatusOr<SweepSpec> spec =
      ParseSweepFile(std::string(HPSWEEP_SOURCE_DIR) + "/sweeps/quickstart.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "quickstart");
  EXPECT_EQ(spec->dataset, "mnist");
  EXPECT_EQ(spec->train_limit, 0);  // the full training set
  EXPECT_EQ(spec->method, SweepMethod::kGrid);
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, "quickstart.yaml");
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 6u);
  std::set<std::string> cells;
  for (const TrialSpec& t : *trials) {
    cells.insert(t.params.at("cell"));
    EXPECT_LE(t.config.train.epochs, 3);
    EXPECT_FLOAT_EQ(t.config.train.validation_split, 0.2f);
    EXPECT_EQ(t.config.train.batch_size, 64);
  }
  EXPECT_EQ(cells, (std::set<std::string>{"lstm", "gru", "simple_rnn"}));
}

TEST(SweepFileTest, Grid4x2InFileOrderLastAxisFastest) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: grid-4x2
fixed: {epochs: 3, optimizer: sgd, momentum: 0.9}
parameters:
  units: {values: [16, 32, 64, 128]}
  cell: {values: [lstm, gru]}
)");
  ASSERT_EQ(trials.size(), 8u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"16", "lstm"}, {"16", "gru"}, {"32", "lstm"},  {"32", "gru"},
      {"64", "lstm"}, {"64", "gru"}, {"128", "lstm"}, {"128", "gru"}};
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialSpec& t = trials[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(t.number, static_cast<int>(i) + 1);
    EXPECT_EQ(t.params.at("units"), want[i].first);
    EXPECT_EQ(t.params.at("cell"), want[i].second);
    EXPECT_EQ(t.config.model.units, std::stoi(want[i].first));
    EXPECT_EQ(t.config.model.cell, want[i].second == "lstm" ? Cell::kLstm : Cell::kGru);
    EXPECT_EQ(t.params.at("epochs"), "3");
    EXPECT_EQ(t.params.at("optimizer"), "sgd");
    EXPECT_EQ(t.config.train.epochs, 3);
    EXPECT_FLOAT_EQ(t.config.train.momentum, 0.9f);
    // Every key of the vocabulary, in GetKey form.
    EXPECT_EQ(t.params.size(), ConfigKeys().size());
    for (const std::string& key : ConfigKeys()) {
      ASSERT_TRUE(t.params.count(key)) << key;
      EXPECT_EQ(t.params.at(key), GetKey(t.config, key)) << key;
    }
  }
}

TEST(SweepFileTest, GridWithoutParametersIsOneTrial) {
  const std::vector<TrialSpec> trials = MustExpand("name: one\nfixed: {cell: gru, units: 8}\n");
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].params.at("cell"), "gru");
  EXPECT_EQ(trials[0].config.model.units, 8);
}

TEST(SweepFileTest, GridEqualToMaxTrialsIsAccepted) {
  EXPECT_EQ(MustExpand("name: g\nmax_trials: 4\nparameters:\n  units: {values: [1, 2]}\n"
                       "  layers: {values: [1, 2]}\n")
                .size(),
            4u);
}

TEST(SweepFileTest, ListValuedParametersExpandAndRoundTrip) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: heads
fixed:
  layers: 2
  dropout: [0.2, 0.1, 0.3]
parameters:
  dense: {values: [[64], [32]]}
  cell: {values: [lstm]}
)");
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].params.at("dense"), "[64]");
  EXPECT_EQ(trials[1].params.at("dense"), "[32]");
  EXPECT_EQ(trials[0].config.model.dense, (std::vector<int>{64}));
  EXPECT_EQ(trials[0].config.model.dropout.size(), 3u);

  const std::vector<TrialSpec> heads = MustExpand(R"(name: heads
parameters:
  dense: {values: [[64], [64, 32], []]}
)");
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_EQ(heads[0].params.at("dense"), "[64]");
  EXPECT_EQ(heads[1].params.at("dense"), "[64, 32]");
  EXPECT_EQ(heads[2].params.at("dense"), "[]");
  EXPECT_EQ(heads[1].config.model.dense, (std::vector<int>{64, 32}));
  EXPECT_TRUE(heads[2].config.model.dense.empty());
  // The params map is enough to rebuild the trial (what a worker receives).
  for (const TrialSpec& t : heads) {
    TrialConfig rebuilt;
    for (const auto& [key, value] : t.params) {
      ASSERT_TRUE(ApplyKey(key, value, &rebuilt).ok()) << key << "=" << value;
    }
    EXPECT_EQ(rebuilt.model.dense, t.config.model.dense);
    EXPECT_EQ(rebuilt.model.dropout, t.config.model.dropout);
    EXPECT_EQ(rebuilt.model.units, t.config.model.units);
    for (const std::string& key : ConfigKeys()) {
      EXPECT_EQ(GetKey(rebuilt, key), t.params.at(key)) << key;
    }
  }

  // Dropout lists as values: one rate per hidden layer (2 LSTM layers + a dense head).
  const std::vector<TrialSpec> drops = MustExpand(R"(name: drops
fixed: {layers: 2, dense: [64]}
parameters:
  dropout: {values: [[0.2, 0.1, 0.2], [0.5], []]}
)");
  ASSERT_EQ(drops.size(), 3u);
  EXPECT_EQ(drops[0].config.model.dropout.size(), 3u);
  EXPECT_FLOAT_EQ(drops[0].config.model.dropout[1], 0.1f);
  EXPECT_EQ(drops[1].config.model.dropout, (std::vector<float>{0.5f}));
  EXPECT_TRUE(drops[2].config.model.dropout.empty());
}

TEST(SweepFileTest, DataKeysFoldIntoTheConfig) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: data
data:
  dataset: fashion-mnist
  train_limit: 5000
  validation: test
  validation_split: 0.1
parameters:
  units: {values: [8]}
)");
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].config.train.validation, Validation::kTest);
  EXPECT_FLOAT_EQ(trials[0].config.train.validation_split, 0.1f);
  EXPECT_EQ(trials[0].params.at("validation"), "test");
  // Which rows validate: under data (they describe the split) or as any key.
  const std::vector<TrialSpec> drawn = MustExpand(
      "name: d\ndata: {validation_split: 0.2, validation_stratify: true}\n"
      "parameters:\n  units: {values: [8]}\n");
  ASSERT_EQ(drawn.size(), 1u);
  EXPECT_TRUE(drawn[0].config.train.validation_stratify);
  EXPECT_FALSE(drawn[0].config.train.validation_shuffle);
  ExpectParseError("name: x\ndata: {validation_shuffle: yes please}\n", 2,
                   {"key 'validation_shuffle'"});
  ExpectExpandError("name: x\ndata: {validation_stratify: true}\nparameters:\n"
                   "  units: {values: [8]}\n", 2, {"validation_stratify", "validation_split > 0"});
  const SweepSpec spec = MustParse("name: d\ndata: {dataset: fashion-mnist, train_limit: 5000}\n");
  EXPECT_EQ(spec.dataset, "fashion-mnist");
  EXPECT_EQ(spec.train_limit, 5000);
  if (IsConfigKey("train_limit")) {  // the engine's vocabulary has it: trials carry it too
    EXPECT_EQ(trials[0].params.at("train_limit"), "5000");
    EXPECT_EQ(MustParse("name: d\nfixed: {train_limit: 300}\n").train_limit, 300);
    ExpectParseError("name: d\ndata: {train_limit: 10}\nfixed: {train_limit: 20}\n", 2,
                     {"key 'train_limit'", "under data", "fixed (line 3)"});
  }
}

TEST(SweepFileTest, MetricDefaultsAndGoals) {
  EXPECT_TRUE(MustParse("name: m\n").maximize);
  EXPECT_EQ(MustParse("name: m\n").metric, "val_accuracy");
  const SweepSpec loss = MustParse("name: m\nmetric: {name: val_loss}\n");
  EXPECT_EQ(loss.metric, "val_loss");
  EXPECT_FALSE(loss.maximize);
  EXPECT_TRUE(MustParse("name: m\nmetric: {name: test_accuracy, goal: maximize}\n").maximize);
}

TEST(SweepFileTest, SeedsOfTrials) {
  // No seed anywhere: every trial gets seed 0.
  for (const TrialSpec& t : MustExpand("name: s\nparameters:\n  units: {values: [1, 2]}\n")) {
    EXPECT_EQ(t.config.train.seed, 0u);
  }
  // The top-level seed is every trial's seed, so trials differ only by their axes.
  for (const TrialSpec& t :
       MustExpand("name: s\nseed: 11\nparameters:\n  units: {values: [1, 2, 3]}\n")) {
    EXPECT_EQ(t.config.train.seed, 11u);
    EXPECT_EQ(t.params.at("seed"), "11");
  }
  // data.seed is the trials' seed; the top-level seed still drives the draws.
  const std::string both =
      "name: s\nseed: 11\ndata: {seed: 7}\nmethod: random\nmax_trials: 3\n"
      "parameters:\n  units: {values: [1, 2, 3, 4, 5, 6, 7, 8]}\n";
  EXPECT_EQ(MustParse(both).seed, 11u);
  for (const TrialSpec& t : MustExpand(both)) EXPECT_EQ(t.config.train.seed, 7u);
  // A fixed seed wins over data.seed.
  for (const TrialSpec& t : MustExpand("name: s\ndata: {seed: 7}\nfixed: {seed: 3}\n")) {
    EXPECT_EQ(t.config.train.seed, 3u);
  }
  // Sweeping the seed measures seed-to-seed spread.
  const std::vector<TrialSpec> seeds =
      MustExpand("name: s\ndata: {seed: 7}\nparameters:\n  seed: {values: [1, 2, 3]}\n");
  ASSERT_EQ(seeds.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(seeds[i].config.train.seed, static_cast<uint64_t>(i + 1));
}

// ---------------------------------------------------------------------------------------------
// Random sweeps.

constexpr char kRandom[] = R"(name: random
method: random
max_trials: 40
seed: 5
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-1}
  recurrent_dropout: {distribution: uniform, min: 0.1, max: 0.4}
  units: {distribution: int_uniform, min: 16, max: 64}
  cell: {values: [lstm, gru]}
)";

TEST(SweepFileRandomTest, CountRangesAndTypes) {
  const std::vector<TrialSpec> trials = MustExpand(kRandom);
  ASSERT_EQ(trials.size(), 40u);
  std::set<std::string> cells;
  for (const TrialSpec& t : trials) {
    const double lr = std::stod(t.params.at("learning_rate"));
    EXPECT_GE(lr, 1e-5 * 0.9999);
    EXPECT_LE(lr, 1e-1 * 1.0001);
    const double rd = std::stod(t.params.at("recurrent_dropout"));
    EXPECT_GE(rd, 0.1 - 1e-6);
    EXPECT_LE(rd, 0.4 + 1e-6);
    // int_uniform: an integer in [min, max].
    const std::string& units = t.params.at("units");
    EXPECT_EQ(units.find_first_not_of("0123456789"), std::string::npos) << units;
    EXPECT_GE(t.config.model.units, 16);
    EXPECT_LE(t.config.model.units, 64);
    cells.insert(t.params.at("cell"));
  }
  EXPECT_EQ(cells.size(), 2u);
}

TEST(SweepFileRandomTest, DeterministicForASeedAndDifferentAcrossSeeds) {
  const std::vector<TrialSpec> a = MustExpand(kRandom);
  const std::vector<TrialSpec> b = MustExpand(kRandom);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].params, b[i].params) << i;
    EXPECT_EQ(a[i].number, static_cast<int>(i) + 1);
  }
  const std::vector<TrialSpec> c = MustExpand(Replace(kRandom, "seed: 5", "seed: 6"));
  ASSERT_EQ(c.size(), a.size());
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i)
    same += a[i].params.at("learning_rate") == c[i].params.at("learning_rate");
  EXPECT_LT(same, 3);
}

TEST(SweepFileRandomTest, NoDuplicateTrials) {
  const std::vector<TrialSpec> trials = MustExpand(kRandom);
  std::set<std::map<std::string, std::string>> distinct;
  for (const TrialSpec& t : trials) distinct.insert(t.params);
  EXPECT_EQ(distinct.size(), trials.size());

  // 3 x 4 = 12 points, 12 trials: every point once (draws repeat; the last ones come from the
  // points not drawn yet).
  const std::vector<TrialSpec> all = MustExpand(R"(name: small
method: random
max_trials: 12
parameters:
  cell: {values: [lstm, gru, simple_rnn]}
  units: {distribution: int_uniform, min: 1, max: 4}
)");
  ASSERT_EQ(all.size(), 12u);
  std::set<std::pair<std::string, std::string>> points;
  for (const TrialSpec& t : all) points.insert({t.params.at("cell"), t.params.at("units")});
  EXPECT_EQ(points.size(), 12u);
}

TEST(SweepFileRandomTest, ExhaustedSpaceCutsTheSweepShort) {
  const std::vector<TrialSpec> trials = MustExpand(
      "name: tiny\nmethod: random\nmax_trials: 10\nparameters:\n  units: {values: [8, 16, 32]}\n");
  ASSERT_EQ(trials.size(), 3u);
  std::set<std::string> units;
  for (const TrialSpec& t : trials) units.insert(t.params.at("units"));
  EXPECT_EQ(units, (std::set<std::string>{"8", "16", "32"}));
  EXPECT_EQ(MustExpand("name: none\nmethod: random\nmax_trials: 5\n").size(), 1u);
}

TEST(SweepFileRandomTest, LogUniformSpreadsOverDecades) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: lr
method: random
max_trials: 400
seed: 1
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-1}
)");
  ASSERT_EQ(trials.size(), 400u);
  int decades[4] = {0, 0, 0, 0};  // [1e-5, 1e-4), ..., [1e-2, 1e-1]
  for (const TrialSpec& t : trials) {
    const double lr = std::stod(t.params.at("learning_rate"));
    const int d = std::min(3, std::max(0, static_cast<int>(std::floor(std::log10(lr) + 5))));
    ++decades[d];
  }
  // About 100 per decade; a uniform draw would put ~90% in the last one.
  for (int d = 0; d < 4; ++d) {
    EXPECT_GT(decades[d], 60) << "decade " << d;
    EXPECT_LT(decades[d], 140) << "decade " << d;
  }
}

TEST(SweepFileRandomTest, UniformFormattedWithSixDigits) {
  const std::vector<TrialSpec> trials = MustExpand(
      "name: u\nmethod: random\nmax_trials: 20\nparameters:\n"
      "  momentum: {distribution: uniform, min: 0.5, max: 0.99}\nfixed: {optimizer: sgd}\n");
  ASSERT_EQ(trials.size(), 20u);
  for (const TrialSpec& t : trials) {
    EXPECT_GE(t.config.train.momentum, 0.5f);
    EXPECT_LE(t.config.train.momentum, 0.99f);
  }
}

// ---------------------------------------------------------------------------------------------
// Bad files: every one names the file, the line and the key.

TEST(SweepFileErrorTest, UnknownKeys) {
  ExpectParseError("name: x\nparamters:\n  units: {values: [1]}\n", 2,
                   {"unknown key 'paramters'", "did you mean 'parameters'?"});
  ExpectParseError("name: x\nmethod: grid\nunits: 32\n", 3,
                   {"unknown key 'units'", "under 'fixed'", "'parameters'"});
  ExpectParseError("name: x\nfixed:\n  cell: lstm\n  unit: 64\n", 4,
                   {"unknown key 'unit'", "under 'fixed'", "did you mean 'units'?"});
  ExpectParseError("name: x\nfixed:\n  lr: 0.01\n", 3, {"'lr'", "did you mean 'learning_rate'?"});
  ExpectParseError("name: x\nfixed:\n  colour: red\n", 3, {"'colour'", "known keys: cell"});
  ExpectParseError("name: x\nparameters:\n  units: {value: [1, 2]}\n", 3,
                   {"unknown key 'value'", "parameters.units", "did you mean 'values'?"});
  ExpectParseError("name: x\nparameters:\n  untis: {values: [1, 2]}\n", 3,
                   {"'untis'", "did you mean 'units'?"});
  ExpectParseError("name: x\ndata:\n  dataset: mnist\n  train_limt: 10\n", 4,
                   {"'train_limt'", "under 'data'", "did you mean 'train_limit'?"});
  ExpectParseError("name: x\nmetric: {name: val_loss, direction: minimize}\n", 2,
                   {"'direction'", "under 'metric'"});
  ExpectParseError("name: x\nfixed:\n  dataset: mnist\n", 3, {"'dataset'", "under 'data'"});
  ExpectParseError("name: x\ndataset: mnist\n", 2, {"'dataset'", "under 'data'"});
  ExpectParseError("name: x\nseed: 1\nmax_trials: 3\nseed: 2\n", 4,
                   {"'seed' appears twice", "line 2"});
}

TEST(SweepFileErrorTest, WrongTypes) {
  ExpectParseError("name: {first: x}\n", 1, {"key 'name'", "expected a single value", "a mapping"});
  ExpectParseError("name: x\nfixed: [cell, lstm]\n", 2, {"'fixed'", "expected a mapping"});
  ExpectParseError("name: x\nfixed:\n  units: {min: 1}\n", 3, {"key 'units'", "a mapping"});
  ExpectParseError("name: x\nfixed:\n  units: [32, 64]\n", 3,
                   {"key 'units'", "expected an integer", "under parameters"});
  ExpectParseError("name: x\nfixed:\n  units:\n  cell: lstm\n", 3, {"key 'units'", "no value"});
  ExpectParseError("name: x\nparameters:\n  units: {values: 32}\n", 3,
                   {"key 'units'", "values must be a list"});
  ExpectParseError("name: x\nparameters:\n  units: [32, 64]\n", 3,
                   {"key 'units'", "{values: [...]}"});
  ExpectParseError("name: x\nparameters:\n  units: 32\n", 3, {"key 'units'", "under 'fixed'"});
  ExpectParseError("name: x\nparameters:\n  dense: {values: [[[64]]]}\n", 3,
                   {"key 'dense'", "inside the list"});
  ExpectParseError("name: x\nmax_trials: many\n", 2, {"key 'max_trials'", "expected an integer"});
  ExpectParseError("name: x\nmetric: val_accuracy\n", 2, {"'metric'", "expected a mapping"});
  ExpectParseError("- name: x\n", 1, {"expected a mapping of sweep keys", "a list"});
}

TEST(SweepFileErrorTest, OutOfRangeValuesGiveTheEnginesMessage) {
  ExpectParseError("name: x\nfixed:\n  cell: lstm\n  units: 0\n", 4,
                   {"key 'units': expected an integer in [1, 4096], got '0'"});
  ExpectParseError("name: x\nfixed:\n  dropout: 1.0\n", 3, {"key 'dropout'", "[0, 1)", "'1.0'"});
  ExpectParseError("name: x\nfixed:\n  dropout: [0.2, 1.0]\n", 3, {"key 'dropout'", "'1.0'"});
  ExpectParseError("name: x\nfixed:\n  optimizer: adamw\n", 3,
                   {"key 'optimizer': expected one of sgd, adam, rmsprop, got 'adamw'"});
  // A bad value inside a block list points at its own line.
  ExpectParseError("name: x\nparameters:\n  units:\n    values:\n      - 32\n      - 0\n", 6,
                   {"key 'units'", "got '0'"});
  ExpectParseError("name: x\nparameters:\n  cell: {values: [lstm, transformer]}\n", 3,
                   {"key 'cell'", "'transformer'"});
  ExpectParseError("name: x\ndata: {validation_split: 1.5}\n", 2, {"key 'validation_split'"});
  ExpectParseError("name: x\ndata: {validation: holdout}\n", 2, {"key 'validation'", "split"});
  ExpectParseError("name: x\ndata: {train_limit: -1}\n", 2, {"data.train_limit"});
  ExpectParseError("name: x\ndata: {dataset: ../secret}\n", 2, {"data.dataset", "no path"});
  ExpectParseError("name: x\nseed: -3\n", 2, {"key 'seed'"});
  ExpectParseError("name: x\nmax_attempts: 0\n", 2, {"key 'max_attempts'", "[1, 100]"});
  ExpectParseError("name: x\nmax_attempts: 101\n", 2, {"key 'max_attempts'"});
  ExpectParseError("name: x\nmax_trials: 0\n", 2, {"key 'max_trials'", "[1, 10000]"});
  ExpectParseError("name: x\nmethod: bayse\n", 2,
                   {"key 'method'", "grid or random", "'bayse'", "did you mean 'bayes'?"});
  ExpectParseError("name: x\nmethod: tpe\n", 2, {"key 'method'", "did you mean 'bayes'?"});
  ExpectParseError("name: x\nmetric: {name: accuracy}\n", 2,
                   {"metric.name", "did you mean 'val_accuracy'?"});
  ExpectParseError("name: x\nmetric: {name: val_loss, goal: maximize}\n", 2,
                   {"metric.goal", "minimized"});
  // int_uniform/log_uniform bounds are checked by the engine too.
  ExpectParseError(
      "name: x\nmethod: random\nmax_trials: 2\nparameters:\n"
      "  units: {distribution: int_uniform,\n          min: 0, max: 8}\n",
      6, {"key 'units'", "got '0'"});
}

TEST(SweepFileErrorTest, NameIsRequiredAndSafe) {
  ExpectParseError("fixed: {cell: lstm}\n", 1, {"missing required key 'name'"});
  ExpectParseError("name: my sweep/1\n", 1, {"key 'name'", "'my sweep/1'"});
}

TEST(SweepFileErrorTest, EmptyValues) {
  ExpectParseError("name: x\nparameters:\n  layers: {values: [1]}\n  units: {values: []}\n", 4,
                   {"key 'units'", "empty"});
  ExpectParseError("name: x\nparameters:\n  units: {values: [32, 64, 32]}\n", 3,
                   {"key 'units'", "listed twice"});
  ExpectParseError("name: x\nparameters:\n  units: {}\n", 3, {"key 'units'", "give values"});
}

TEST(SweepFileErrorTest, FixedAndSwept) {
  ExpectParseError(R"(name: x
fixed:
  cell: lstm
  units: 64
parameters:
  units: {values: [32, 64]}
)",
                   6, {"key 'units'", "both fixed (line 4) and swept"});
  ExpectParseError("name: x\ndata: {validation_split: 0.2}\nfixed: {validation_split: 0.1}\n", 2,
                   {"key 'validation_split'", "under data", "fixed (line 3)"});
}

TEST(SweepFileErrorTest, RandomNeedsMaxTrials) {
  ExpectParseError("name: x\nmethod: random\nparameters:\n  units: {values: [1, 2]}\n", 2,
                   {"method: random", "max_trials"});
}

TEST(SweepFileErrorTest, DistributionsAreForRandom) {
  ExpectParseError(R"(name: x
method: grid
parameters:
  units: {values: [32, 64]}
  learning_rate: {distribution: uniform, min: 0.001, max: 0.01}
)",
                   5, {"key 'learning_rate'", "use method: random"});
  // The default method is grid.
  ExpectParseError("name: x\nparameters:\n  units: {distribution: int_uniform, min: 1, max: 9}\n",
                   3, {"key 'units'", "use method: random"});
}

TEST(SweepFileErrorTest, DistributionBounds) {
  const std::string head = "name: x\nmethod: random\nmax_trials: 5\nparameters:\n";
  ExpectParseError(head + "  learning_rate: {distribution: uniform, min: 0.01, max: 0.001}\n", 5,
                   {"key 'learning_rate'", "min (0.01) must be smaller than max (0.001)"});
  ExpectParseError(head + "  units: {distribution: int_uniform, min: 8, max: 8}\n", 5,
                   {"key 'units'", "smaller than max"});
  ExpectParseError(head + "  learning_rate: {distribution: log_uniform, min: 0, max: 0.1}\n", 5,
                   {"key 'learning_rate'", "log_uniform needs min > 0"});
  ExpectParseError(head + "  momentum: {distribution: log_uniform, min: -1, max: 0.5}\n", 5,
                   {"key 'momentum'", "min > 0"});
  ExpectParseError(head + "  units: {distribution: int_uniform, min: 1.5, max: 8}\n", 5,
                   {"key 'units'", "integer min"});
  ExpectParseError(head + "  units: {distribution: uniform, min: 8, max: 64}\n", 5,
                   {"key 'units'", "int_uniform"});
  ExpectParseError(head + "  units: {distribution: normal, min: 8, max: 64}\n", 5,
                   {"key 'units'", "uniform, int_uniform, log_uniform or int_log_uniform", "'normal'"});
  ExpectParseError(head + "  units: {distribution: int_uniform, min: 8}\n", 5,
                   {"key 'units'", "max is missing"});
  ExpectParseError(head + "  units: {values: [1, 2], min: 8}\n", 5, {"key 'units'", "not both"});
  ExpectParseError(head + "  learning_rate: {distribution: uniform, min: 0.001, max: 20}\n", 5,
                   {"key 'learning_rate'", "got '20'"});
}

TEST(SweepFileErrorTest, GridOverTheCapIsRefused) {
  // 5 axes of 10 values: 100,000 trials.
  const std::string ten = "{values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}";
  const std::string yaml = "name: huge\nfixed: {cell: dense}\nparameters:\n  units: " + ten +
                           "\n  layers: " + ten + "\n  epochs: " + ten + "\n  batch_size: " + ten +
                           "\n  seed: " + ten + "\n";
  ExpectParseError(yaml, 3,
                   {"units (10) x layers (10) x epochs (10) x batch_size (10) x seed (10)",
                    "100000 trials", "10000"});
  // ExpandSweep refuses it too (for specs not read by ParseSweep).
  SweepSpec spec;
  spec.name = "huge";
  for (const char* key : {"units", "layers", "epochs", "batch_size", "seed"}) {
    ParameterSpec p;
    p.key = key;
    p.values = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"};
    spec.parameters.push_back(p);
  }
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, "built.yaml");
  ASSERT_FALSE(trials.ok());
  EXPECT_EQ(trials.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(trials.status().message().find("built.yaml: "), std::string::npos);
  EXPECT_NE(trials.status().message().find("100000"), std::string::npos);
}

TEST(SweepFileErrorTest, GridLargerThanMaxTrialsIsRefused) {
  ExpectParseError(
      R"(name: x
max_trials: 5
parameters:
  units: {values: [1, 2, 3, 4]}
  layers: {values: [1, 2]}
)",
      2, {"key 'max_trials'", "5 is smaller than the grid", "units (4) x layers (2)", "8 trials"});
}

TEST(SweepFileErrorTest, MalformedYamlNamesTheLine) {
  ExpectParseError("name: x\nparameters:\n  units: {values: [32, 64}\n", 3, {"malformed YAML"});
  ExpectParseError("name: x\nfixed:\n\tcell: lstm\n", 3, {"malformed YAML"});
  ExpectParseError("name: x\ndescription: one\n  two: three\n", 3, {"malformed YAML"});
  ExpectParseError("name: x\n---\nname: y\n", 3, {"one YAML document"});
}

TEST(SweepFileErrorTest, EmptyDocument) {
  for (const char* yaml : {"", "\n\n", "# nothing but a comment\n", "---\n", "~\n"}) {
    ExpectParseError(yaml, 1, {"empty"});
  }
}

TEST(SweepFileErrorTest, InvalidCombinationsNameTheTrialAndKeys) {
  // Trials 3 and 4 have 2 LSTM layers, so a 3-rate dropout list no longer fits (2 layers + head 1
  // = 3 fits; 1 layer + head = 2 does not): trial 1 is the first bad one.
  ExpectExpandError(R"(name: x
fixed:
  dense: [64]
  dropout: [0.2, 0.1, 0.2]
parameters:
  layers: {values: [1, 2]}
  units: {values: [16, 32]}
)",
                    4, {"trial 1", "layers=1, units=16", "key 'dropout'"});
  ExpectExpandError(R"(name: x
fixed:
  optimizer: adam
parameters:
  momentum: {values: [0, 0.9]}
)",
                    5, {"trial 2", "momentum=0.9", "key 'momentum'", "sgd"});
  ExpectExpandError("name: x\nfixed:\n  cell: dense\n  recurrent_dropout: 0.2\n", 4,
                    {"trial 1", "key 'recurrent_dropout'"});
  // The training keys' cross checks (engine/config.cc) name their line too.
  ExpectExpandError("name: x\nfixed:\n  clipnorm: 1\n  clipvalue: 0.5\n", 4,
                    {"trial 1", "key 'clipvalue'", "only one of clipnorm, clipvalue"});
  ExpectExpandError(R"(name: x
fixed:
  lr_every: 5
parameters:
  lr_schedule: {values: [step, cosine]}
)",
                    3, {"trial 2", "lr_schedule=cosine", "key 'lr_every'", "lr_schedule=step"});
}

TEST(SweepFileTest, BidirectionalFixedAndSwept) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: bidir
fixed: {cell: gru, layers: 2}
parameters:
  bidirectional: {values: [true, false]}
)");
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_TRUE(trials[0].config.model.bidirectional);
  EXPECT_EQ(trials[0].params.at("bidirectional"), "true");
  EXPECT_FALSE(trials[1].config.model.bidirectional);
  EXPECT_EQ(trials[1].params.at("bidirectional"), "false");
  const std::vector<TrialSpec> fixed = MustExpand("name: x\nfixed:\n  bidirectional: yes\n");
  ASSERT_EQ(fixed.size(), 1u);
  EXPECT_TRUE(fixed[0].config.model.bidirectional);
  EXPECT_EQ(fixed[0].config.model.cell, Cell::kLstm);
}

TEST(SweepFileErrorTest, BidirectionalRefusedForDenseAndBadValues) {
  ExpectExpandError("name: x\nfixed:\n  cell: dense\n  bidirectional: true\n", 4,
                    {"trial 1", "key 'bidirectional'", "cell is dense"});
  const char* yaml = "name: x\nfixed:\n  bidirectional: both\n";
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  Status st = spec.status();
  if (spec.ok()) st = ExpandSweep(*spec, kFile).status();
  ExpectErrorIn(st, 3, {"key 'bidirectional'", "expected true or false"}, yaml);
}

TEST(SweepFileErrorTest, TrainingKeyOutOfRangeNamesLineAndKey) {
  for (const char* yaml :
       {"name: x\nfixed:\n  lr_drop: 0\n", "name: x\nfixed:\n  lr_drop: 1.5\n"}) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
    Status st = spec.status();
    if (spec.ok()) st = ExpandSweep(*spec, kFile).status();
    ExpectErrorIn(st, 3, {"key 'lr_drop'", "(0, 1]"}, yaml);
  }
}

// keep and early stopping's keys (flat keys, as the schedules' parameters): every out-of-range
// value is refused naming the file, its line and the key.
TEST(SweepFileErrorTest, KeepAndEarlyStoppingOutOfRangeNameLineAndKey) {
  const struct {
    const char* yaml;
    int line;
    std::vector<std::string> parts;
  } cases[] = {
      {"name: x\nfixed:\n  keep: first\n", 3, {"key 'keep'", "best or last"}},
      {"name: x\nfixed:\n  validation_split: 0.1\n  early_stopping: true\n  patience: 10001\n",
       5, {"key 'patience'", "[0, 10000]"}},
      {"name: x\nfixed:\n  validation_split: 0.1\n  early_stopping: true\n  patience: -1\n", 5,
       {"key 'patience'", "[0, 10000]"}},
      {"name: x\nfixed:\n  validation_split: 0.1\n  early_stopping: true\n  min_delta: -0.1\n",
       5, {"key 'min_delta'", "[0, inf)"}},
      {"name: x\nfixed:\n  validation_split: 0.1\n  early_stopping: true\n  min_delta: .inf\n",
       5, {"key 'min_delta'", "expected a number"}},
      {"name: x\nfixed:\n  validation_split: 0.1\n  early_stopping: true\n  min_delta: .nan\n",
       5, {"key 'min_delta'", "expected a number"}},
      {"name: x\nfixed:\n  early_stopping: maybe\n", 3, {"key 'early_stopping'", "true or false"}},
      {"name: x\nfixed:\n  restore_best_weights: 3\n", 3,
       {"key 'restore_best_weights'", "true or false"}},
  };
  for (const auto& c : cases) {
    StatusOr<SweepSpec> spec = ParseSweep(c.yaml, kFile);
    Status st = spec.status();
    if (spec.ok()) st = ExpandSweep(*spec, kFile).status();
    ExpectErrorIn(st, c.line, c.parts, c.yaml);
  }
  // Early stopping's keys without it, and early stopping without validation data, name theirs.
  ExpectExpandError("name: x\nfixed:\n  validation_split: 0.1\n  patience: 3\n", 4,
                    {"trial 1", "key 'patience'", "only early_stopping=true uses it"});
  ExpectExpandError("name: x\nfixed:\n  early_stopping: true\n", 3,
                    {"trial 1", "key 'early_stopping'", "needs validation data"});
  // In range, searched like any key.
  StatusOr<SweepSpec> spec = ParseSweep(R"(name: x
fixed:
  validation_split: 0.1
  early_stopping: true
  keep: last
  restore_best_weights: true
parameters:
  patience: {values: [0, 10000]}
  min_delta: {values: [0, 0.5]}
)",
                                        kFile);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, kFile);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  EXPECT_EQ(trials->size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Hostile files: parsed by libyaml under limits (search/yaml_tree.h).

// Inputs on which the yaml-cpp parser spun forever eating memory; ctest gives this file 60 s.
TEST(SweepFileHostileTest, FormerHangsEndInAnError) {
  const std::vector<std::string> inputs = {
      ",\n",
      ", ,",
      "[",
      "{",
      "- - - [",
      "name: x\n,\n",
      std::string(100000, '['),
      "a: &a [*a]\n",
      ", cu'",
      ",-e1.y&a{,",
      "&b-e,l&",
      "\n,  layers:{ 1\n",
      "\n  seed: 1\n,&method:* grid\nmetric: ,",
      " ,{&label:{: B1}\n  - {label",
  };
  for (const std::string& yaml : inputs) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
    ASSERT_FALSE(spec.ok()) << yaml.substr(0, 40);
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message().rfind(kFile, 0), 0u) << spec.status().message();
  }
  ExpectParseError(",\n", 1, {"malformed YAML"});
  ExpectParseError("name: x\nfixed: &f {cell: lstm}\n", 2, {"anchors"});
  std::string big = "name: x\ndescription: |\n";
  while (big.size() < (10u << 20)) big += "  la la la la la la la la la la la la la la\n";
  StatusOr<SweepSpec> huge = ParseSweep(big, kFile);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("over the limit of 1048576"), std::string::npos)
      << huge.status().message();
}

// Files are read only up to one byte past the limit: an endless file is refused, not read.
TEST(SweepFileHostileTest, FilesAreReadUpToTheLimit) {
  StatusOr<SweepSpec> zero = ParseSweepFile("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("over the limit of 1048576"), std::string::npos)
      << zero.status().message();
  const std::string path = ::testing::TempDir() + "/sweep_file_test_big.yaml";
  {
    std::ofstream out(path);
    out << "name: big\ndescription: |\n";
    for (int i = 0; i < 40000; ++i) out << "  la la la la la la la la la la la la la\n";
  }
  StatusOr<SweepSpec> big = ParseSweepFile(path);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message().rfind(path + ": the file is 1048577 bytes", 0), 0u)
      << big.status().message();
  std::remove(path.c_str());
}

TEST(SweepFileHostileTest, NameIsShortAndNotADirectory) {
  ExpectParseError("name: .\n", 1, {"key 'name'", "not '.' or '..'"});
  ExpectParseError("name: ..\n", 1, {"key 'name'", "not '.' or '..'"});
  ExpectParseError("name: " + std::string(65, 'a') + "\n", 1, {"key 'name'", "at most 64"});
  EXPECT_EQ(MustParse("name: " + std::string(64, 'a') + "\n").name, std::string(64, 'a'));
  EXPECT_EQ(MustParse("name: .hidden..x\n").name, ".hidden..x");
}

TEST(SweepFileHostileTest, DescriptionIsShortUtf8Text) {
  ExpectParseError("name: x\ndescription: caf\xe9\n", 2,
                   {"key 'description'", "not valid UTF-8", "\\xe9"});
  ExpectParseError("name: x\ndescription: \"\xff\"\n", 2, {"key 'description'", "\\xff"});
  ExpectParseError("name: x\ndescription: " + std::string(4097, 'd') + "\n", 2,
                   {"key 'description'", "4097 bytes, over the limit of 4096"});
  EXPECT_EQ(MustParse("name: x\ndescription: caf\xc3\xa9\n").description, "caf\xc3\xa9");
  EXPECT_EQ(MustParse("name: x\ndescription: " + std::string(4096, 'd') + "\n").description,
            std::string(4096, 'd'));
}

// A model that would kill its workers with bad_alloc is refused before any worker sees it.
TEST(SweepFileHostileTest, ModelsOverTheSizeLimitsAreRefused) {
  ExpectExpandError(R"(name: big
parameters:
  units: {values: [64, 4096]}
  layers: {values: [16]}
)",
                    3,
                    {"trial 2 (units=4096, layers=16)", "2.08e9 parameters",
                     "over the limit of 5e7 (--max-model-params)"});
  ExpectExpandError("name: x\nfixed: {units: 4096}\nparameters:\n  layers: {values: [1, 2]}\n", 2,
                    {"trial 1 (layers=1)", "6.76e7 parameters"});
  // Memory: activations kept for BPTT grow with the batch.
  ExpectExpandError(
      "name: x\nfixed: {units: 512, layers: 3}\nparameters:\n"
      "  batch_size: {values: [32, 65536]}\n",
      4,
      {"trial 2 (batch_size=65536)", "training needs about", "GiB", "batch_size 65536 x 28 steps",
       "over the limit of 8 GiB (--max-training-memory-mb)"});
  // A list sweep names the item.
  ExpectExpandError(
      "name: x\nmethod: list\ntrials:\n  - {label: ok, units: 64}\n"
      "  - {label: huge, units: 4096, layers: 4}\n",
      5, {"trial 2 (item 2 (huge) of 'trials')", "parameters, over the limit"});
  // Random sweeps are checked trial by trial too.
  ExpectExpandError(
      "name: x\nmethod: random\nmax_trials: 5\nfixed: {layers: 16}\nparameters:\n"
      "  units: {distribution: int_uniform, min: 3000, max: 4096}\n",
      6, {"trial 1 (units=", "over the limit of 5e7"});

  // The limits are the caller's.
  const SweepSpec spec = MustParse("name: x\nparameters:\n  units: {values: [8, 128]}\n");
  SweepLimits tight;
  tight.max_params = 10000;
  StatusOr<std::vector<TrialSpec>> refused = ExpandSweep(spec, kFile, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("trial 2 (units=128): 81674 parameters, over the "
                                            "limit of 10000"),
            std::string::npos)
      << refused.status().message();
  tight = SweepLimits();
  tight.max_training_bytes = 1 << 20;
  refused = ExpandSweep(spec, kFile, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("over the limit of 1 MiB"), std::string::npos)
      << refused.status().message();
  SweepLimits loose;
  loose.max_params = int64_t{1} << 40;
  loose.max_training_bytes = int64_t{1} << 50;
  const SweepSpec big = MustParse("name: x\nfixed: {units: 4096, layers: 16}\n");
  EXPECT_TRUE(ExpandSweep(big, kFile, loose).ok());
}

// Messages go to terminals and into protobuf strings (which must be UTF-8): text quoted from the
// file never carries raw bytes that are not printable UTF-8.
TEST(SweepFileHostileTest, MessagesAreEscapedPrintableUtf8) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"name: x\nfixed:\n  cell: l\xffstm\n", "\\xff"},
      {"name: x\nfixed:\n  cell: \"l\\x1bstm\"\n", "\\x1b"},
      {"name: x\nfixed:\n  cell: \"l\\tstm\"\n", "l\\tstm"},
      {"name: x\nmethod: \"a\\nb\"\n", "a\\nb"},
      {"name: \"x\\u0007\"\n", "\\x07"},
      {"name: x\nfixed: {cell: \"\\x7f\"}\n", "\\x7f"},
      {"\xfe\xff", "\\xfe"},
      {"name: x\n\x01\n", "control characters"},
  };
  for (const auto& [yaml, want] : cases) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, "bad\xff.yaml");
    ASSERT_FALSE(spec.ok()) << yaml;
    const std::string& m = spec.status().message();
    EXPECT_EQ(m.rfind("bad\\xff.yaml:", 0), 0u) << m;
    EXPECT_NE(m.find(want), std::string::npos) << "want '" << want << "' in: " << m;
    bool printable_utf8 = true;
    for (size_t i = 0; i < m.size(); ++i) {
      const auto c = static_cast<unsigned char>(m[i]);
      if (c < 0x20 || c == 0x7f || c >= 0x80) printable_utf8 = false;  // all escapes are ASCII
    }
    EXPECT_TRUE(printable_utf8) << m;
  }
}

// ---------------------------------------------------------------------------------------------
// Files.

TEST(SweepFileTest, ParseSweepFileReadsAndNamesThePath) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/sweep_file_test_good.yaml";
  {
    std::ofstream out(path);
    out << "name: from-file\nfixed:\n  cell: gru\n  units: 0\n";
  }
  StatusOr<SweepSpec> bad = ParseSweepFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(path + ":4: key 'units'", 0), 0u)
      << bad.status().message();
  {
    std::ofstream out(path);
    out << "name: from-file\nfixed:\n  cell: gru\n";
  }
  StatusOr<SweepSpec> good = ParseSweepFile(path);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->name, "from-file");
  std::remove(path.c_str());

  const std::string missing = dir + "/no_such_sweep.yaml";
  StatusOr<SweepSpec> none = ParseSweepFile(missing);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find(missing), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// method: list (a family of heterogeneous experiments, one trial per item of `trials`).

constexpr char kList[] = R"(name: family
data: {validation_split: 0.2, seed: 1}
method: list
fixed:
  epochs: 10
  optimizer: adam
  batch_size: 128
trials:
  - label: A1
    cell: simple_rnn
    activation: relu
    dense: [64]
    batch_size: 64
  - {label: A3, cell: lstm, dense: [64], dense_activation: tanh}
  - {cell: lstm, units: 256, activation: relu, validation_split: 0.1}
)";

TEST(SweepFileListTest, ItemsMergeWithFixedAndCarryTheirLabels) {
  const SweepSpec spec = MustParse(kList);
  EXPECT_EQ(spec.method, SweepMethod::kList);
  ASSERT_EQ(spec.items.size(), 3u);
  EXPECT_EQ(spec.items[0].label, "A1");
  EXPECT_EQ(spec.items[0].line, 9);
  EXPECT_EQ(spec.items[0].lines.at("activation"), 11);
  EXPECT_EQ(spec.items[0].params.at("dense"), "[64]");
  EXPECT_EQ(spec.items[0].params.count("label"), 0u);  // the label is not a config key
  EXPECT_EQ(spec.items[2].label, "");

  const std::vector<TrialSpec> trials = MustExpand(kList);
  ASSERT_EQ(trials.size(), 3u);
  for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].number, static_cast<int>(i) + 1);
  // A1: an item key (batch_size) overrides the fixed one; the rest comes from fixed and data.
  const TrialSpec& a1 = trials[0];
  EXPECT_EQ(a1.label, "A1");
  EXPECT_EQ(a1.params.at(kLabelKey), "A1");
  EXPECT_EQ(a1.config.model.cell, Cell::kSimpleRnn);
  EXPECT_EQ(a1.config.model.activation, Activation::kRelu);
  EXPECT_EQ(a1.config.model.dense, (std::vector<int>{64}));
  EXPECT_EQ(a1.config.train.batch_size, 64);
  EXPECT_EQ(a1.config.train.epochs, 10);
  EXPECT_EQ(a1.config.train.seed, 1u);
  EXPECT_FLOAT_EQ(a1.config.train.validation_split, 0.2f);
  // A3 keeps the fixed batch size.
  EXPECT_EQ(trials[1].label, "A3");
  EXPECT_EQ(trials[1].config.train.batch_size, 128);
  EXPECT_EQ(trials[1].config.model.dense_activation, Activation::kTanh);
  // No label: no "label" param. An item may override a data key too.
  EXPECT_EQ(trials[2].label, "");
  EXPECT_EQ(trials[2].params.count(kLabelKey), 0u);
  EXPECT_EQ(trials[2].params.size(), ConfigKeys().size());
  EXPECT_EQ(trials[2].config.model.units, 256);
  EXPECT_FLOAT_EQ(trials[2].config.train.validation_split, 0.1f);
  // The label is not a config key: the params rebuild the trial once it is skipped, as the
  // worker does.
  EXPECT_FALSE(IsConfigKey(kLabelKey));
  for (const TrialSpec& t : trials) {
    EXPECT_EQ(t.params.size(), ConfigKeys().size() + (t.label.empty() ? 0 : 1));
    TrialConfig rebuilt;
    for (const auto& [key, value] : t.params) {
      if (key == kLabelKey) {
        EXPECT_FALSE(ApplyKey(key, value, &rebuilt).ok());
        continue;
      }
      ASSERT_TRUE(ApplyKey(key, value, &rebuilt).ok()) << key << "=" << value;
    }
    for (const std::string& key : ConfigKeys()) {
      EXPECT_EQ(GetKey(rebuilt, key), t.params.at(key)) << key;
    }
  }
}

TEST(SweepFileListTest, ParametersAreCrossedWithTheList) {
  const std::vector<TrialSpec> trials = MustExpand(R"(name: cross
method: list
fixed: {epochs: 2}
trials:
  - {label: rnn, cell: simple_rnn}
  - {label: lstm, cell: lstm}
parameters:
  units: {values: [32, 64]}
  batch_size: {values: [32, 64, 128]}
)");
  ASSERT_EQ(trials.size(), 12u);  // 2 items x 2 x 3
  // Item-major, then the grid with its last axis fastest.
  for (size_t i = 0; i < trials.size(); ++i) {
    SCOPED_TRACE(i);
    const TrialSpec& t = trials[i];
    EXPECT_EQ(t.number, static_cast<int>(i) + 1);
    EXPECT_EQ(t.label, i < 6 ? "rnn" : "lstm");
    EXPECT_EQ(t.params.at("cell"), i < 6 ? "simple_rnn" : "lstm");
    EXPECT_EQ(t.config.model.units, (i % 6) < 3 ? 32 : 64);
    EXPECT_EQ(t.config.train.batch_size, std::vector<int>({32, 64, 128})[i % 3]);
    EXPECT_EQ(t.config.train.epochs, 2);
  }
  // Without parameters, max_trials is an upper bound as for grids.
  EXPECT_EQ(MustExpand("name: l\nmethod: list\nmax_trials: 2\ntrials:\n  - {units: 1}\n"
                       "  - {units: 2}\n")
                .size(),
            2u);
  // An empty item is the fixed keys alone.
  const std::vector<TrialSpec> plain =
      MustExpand("name: l\nmethod: list\nfixed: {units: 7}\ntrials:\n  - {}\n  - {units: 8}\n");
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].config.model.units, 7);
  EXPECT_EQ(plain[1].config.model.units, 8);
}

TEST(SweepFileListTest, TrialsAndMethodListGoTogether) {
  ExpectParseError("name: x\ntrials:\n  - {units: 8}\n", 2, {"key 'trials'", "needs method: list"});
  ExpectParseError("name: x\nmethod: grid\ntrials:\n  - {units: 8}\n", 3,
                   {"key 'trials'", "needs method: list", "grid"});
  ExpectParseError("name: x\nmethod: random\nmax_trials: 2\ntrials:\n  - {units: 8}\n", 4,
                   {"key 'trials'", "needs method: list", "random"});
  ExpectParseError("name: x\nmethod: list\nfixed: {units: 8}\n", 2,
                   {"method: list needs 'trials'"});
  ExpectParseError("name: x\nmethod: list\nparameters:\n  units: {values: [1, 2]}\n", 2,
                   {"method: list needs 'trials'"});
  ExpectParseError("name: x\nmethod: lists\n", 2, {"key 'method'", "list", "'lists'"});
  // A hand-built list spec without items is refused by ExpandSweep too.
  SweepSpec spec;
  spec.name = "x";
  spec.method = SweepMethod::kList;
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(spec, "built.yaml");
  ASSERT_FALSE(trials.ok());
  EXPECT_EQ(trials.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(trials.status().message().find("needs 'trials'"), std::string::npos);
}

TEST(SweepFileListTest, EmptyOrMalformedLists) {
  ExpectParseError("name: x\nmethod: list\ntrials: []\n", 3, {"key 'trials'", "empty"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n", 3, {"key 'trials'", "empty"});
  ExpectParseError("name: x\nmethod: list\ntrials: {units: 8}\n", 3,
                   {"key 'trials'", "expected a list of items", "a mapping"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {units: 8}\n  - lstm\n", 5,
                   {"item 2 of 'trials'", "expected a mapping", "a single value"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {units: 8}\n  -\n", 3,
                   {"item 2 of 'trials' is empty"});
}

TEST(SweepFileListTest, ItemKeysAreCheckedAsFixedKeysAre) {
  // Unknown keys, with did-you-mean, naming the item and the line.
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - cell: lstm\n    unit: 64\n", 5,
                   {"unknown key 'unit'", "under item 1 of 'trials'", "did you mean 'units'?"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {units: 8}\n  - {lr: 0.01}\n", 5,
                   {"unknown key 'lr'", "item 2 of 'trials'", "did you mean 'learning_rate'?"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {lable: A1}\n", 4,
                   {"unknown key 'lable'", "did you mean 'label'?"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {dataset: mnist}\n", 4,
                   {"'dataset'", "under 'data'"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {units: 8, units: 9}\n", 4,
                   {"'units' appears twice", "item 1 of 'trials'"});
  // Values: the engine's messages, at the value's line.
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - cell: lstm\n    units: 0\n", 5,
                   {"key 'units': expected an integer in [1, 4096], got '0'"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {units: [32, 64]}\n", 4,
                   {"key 'units'", "under parameters"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {optimizer: adamw}\n", 4,
                   {"key 'optimizer'", "'adamw'"});
  // Labels: a short single value, unique.
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {label: [A, B]}\n", 4,
                   {"key 'label'", "expected a single value"});
  ExpectParseError("name: x\nmethod: list\ntrials:\n  - {label: " + std::string(65, 'a') + "}\n", 4,
                   {"key 'label'", "1 to 64 characters"});
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {label: A1, units: 8}\n"
      "  - {label: A1, units: 9}\n",
      5, {"key 'label'", "'A1' is used twice", "line 4"});
}

TEST(SweepFileListTest, DuplicateItemsAreRefused) {
  // Identical items.
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {units: 8, cell: gru}\n"
      "  - {cell: gru, units: 8}\n",
      5, {"item 2 of 'trials'", "same trial as item 1", "line 4"});
  // Labels aside, and once merged with fixed and the defaults (lstm is the default cell; the
  // fixed units make the items equal).
  ExpectParseError(
      "name: x\nmethod: list\nfixed: {units: 16}\ntrials:\n"
      "  - {label: a, cell: lstm}\n  - {label: b, units: 16}\n",
      6, {"item 2 (b) of 'trials'", "same trial as item 1 (a)", "labels aside"});
  // Equal values in another spelling ("1e-3" and "0.001").
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {learning_rate: 1e-3}\n"
      "  - {learning_rate: 0.001}\n",
      5, {"same trial"});
  // Items that differ only by a key that is then swept cannot be told apart either: the swept key
  // may not be set in an item.
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {units: 8}\nparameters:\n"
      "  units: {values: [1, 2]}\n",
      4, {"key 'units'", "item 1 of 'trials'", "swept under parameters (line 6)"});
}

TEST(SweepFileListTest, GridRulesApplyToTheProduct) {
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {units: 8}\nparameters:\n"
      "  learning_rate: {distribution: uniform, min: 0.001, max: 0.01}\n",
      6, {"key 'learning_rate'", "cannot be crossed with a list"});
  ExpectParseError(
      "name: x\nmethod: list\nmax_trials: 3\ntrials:\n  - {units: 8}\n"
      "  - {units: 9}\nparameters:\n  layers: {values: [1, 2]}\n",
      3, {"key 'max_trials'", "trials (2) x layers (2) = 4 trials"});
  std::string hundred = "{values: [";
  for (int i = 1; i <= 100; ++i) hundred += (i > 1 ? ", " : "") + std::to_string(i);
  hundred += "]}";
  ExpectParseError(
      "name: x\nmethod: list\ntrials:\n  - {cell: dense}\n  - {cell: gru}\n"
      "parameters:\n  seed: " +
          hundred + "\n  epochs: " + hundred + "\n",
      6, {"trials (2) x seed (100) x epochs (100)", "20000 trials", "10000"});
}

TEST(SweepFileListTest, InvalidCombinationsNameTheItem) {
  // The item's dropout list does not fit its 1 layer + no head: the item's dropout line.
  ExpectExpandError(R"(name: x
method: list
fixed: {layers: 2}
trials:
  - {label: ok, dropout: [0.2, 0.1]}
  - label: bad
    layers: 1
    dropout: [0.2, 0.1]
)",
                    8, {"trial 2", "item 2 (bad) of 'trials'", "key 'dropout'"});
  // A fixed key at fault points at the fixed line; grid values are named too.
  ExpectExpandError(R"(name: x
method: list
fixed:
  recurrent_dropout: 0.2
trials:
  - {cell: lstm}
  - {cell: dense}
parameters:
  units: {values: [8, 16]}
)",
                    4, {"trial 3", "item 2 of 'trials'; units=8", "key 'recurrent_dropout'"});
}

// Every sweep file of the project parses and expands, and the seed files say what SEEDS.md says.
TEST(SweepFileTest, ProjectSweepFilesParseAndExpand) {
  const std::string dir = std::string(HPSWEEP_SOURCE_DIR) + "/sweeps";
  std::map<std::string, std::vector<TrialSpec>> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
    SCOPED_TRACE(name);
    StatusOr<SweepSpec> spec = ParseSweepFile(entry.path().string());
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, name);
    ASSERT_TRUE(trials.ok()) << trials.status().ToString();
    if (spec->method == SweepMethod::kBayes) {  // proposed at lease time: check the first one
      EXPECT_TRUE(trials->empty());
      StatusOr<std::unique_ptr<Sampler>> sampler = MakeSampler(*spec, name);
      ASSERT_TRUE(sampler.ok()) << sampler.status().ToString();
      StatusOr<TrialSpec> first = (*sampler)->Propose(1, {});
      ASSERT_TRUE(first.ok()) << first.status().ToString();
      continue;
    }
    EXPECT_FALSE(trials->empty());
    files[name] = *trials;
    if (name.rfind("seed-", 0) == 0) {
      EXPECT_EQ(spec->method, SweepMethod::kList);
      for (const TrialSpec& t : *trials) {
        EXPECT_EQ(t.config.train.seed, 1u) << t.label;
        EXPECT_EQ(t.params.at("seed"), "1") << t.label;
      }
    }
  }
  for (const char* name : {"quickstart.yaml", "seed-a.yaml", "seed-b.yaml", "seed-c.yaml",
                           "seed-d.yaml", "seed-e.yaml", "design-grid.yaml"}) {
    ASSERT_TRUE(files.count(name)) << "missing sweeps/" << name;
  }
  auto labels = [&files](const std::string& name) {
    std::vector<std::string> out;
    for (const TrialSpec& t : files[name]) out.push_back(t.label);
    return out;
  };
  auto by_label = [&files](const std::string& name, const std::string& label) {
    for (const TrialSpec& t : files[name]) {
      if (t.label == label) return t;
    }
    ADD_FAILURE() << name << " has no trial " << label;
    return TrialSpec();
  };

  // A1-A4: 10 epochs (the write-up gives none), validation_split 0.2.
  EXPECT_EQ(labels("seed-a.yaml"), (std::vector<std::string>{"A1", "A2", "A3", "A4"}));
  for (const TrialSpec& t : files["seed-a.yaml"]) {
    EXPECT_EQ(t.config.train.epochs, 10);
    EXPECT_DOUBLE_EQ(t.config.train.validation_split, 0.2);
    EXPECT_EQ(t.config.train.loss, Loss::kSparseCategorical);
  }
  const TrialSpec a1 = by_label("seed-a.yaml", "A1");
  EXPECT_EQ(a1.config.model.cell, Cell::kSimpleRnn);
  EXPECT_EQ(a1.config.model.activation, Activation::kRelu);
  EXPECT_EQ(a1.config.model.dense, (std::vector<int>{64}));
  EXPECT_EQ(a1.config.model.dense_activation, Activation::kRelu);
  EXPECT_EQ(a1.config.train.batch_size, 64);
  EXPECT_EQ(a1.config.train.optimizer, Optimizer::kAdam);
  const TrialSpec a2 = by_label("seed-a.yaml", "A2");
  EXPECT_EQ(a2.config.model.cell, Cell::kSimpleRnn);
  EXPECT_EQ(a2.config.model.dense_activation, Activation::kTanh);
  EXPECT_EQ(a2.config.train.optimizer, Optimizer::kRmsprop);
  const TrialSpec a3 = by_label("seed-a.yaml", "A3");
  EXPECT_EQ(a3.config.model.cell, Cell::kLstm);
  EXPECT_EQ(a3.config.model.units, 128);
  EXPECT_EQ(a3.config.train.batch_size, 128);
  const TrialSpec a4 = by_label("seed-a.yaml", "A4");
  EXPECT_EQ(a4.params.at("units"), "256");
  EXPECT_EQ(a4.config.model.activation, Activation::kRelu);
  EXPECT_TRUE(a4.config.model.dense.empty());
  EXPECT_EQ(a4.config.train.batch_size, 128);

  // B1-B3: LSTM 32 with recurrent dropout, one-hot targets, 80/20 split, Keras's batch 32.
  EXPECT_EQ(labels("seed-b.yaml"),
            (std::vector<std::string>{"B1", "B2", "B3-48", "B3-96", "B3-256"}));
  for (const TrialSpec& t : files["seed-b.yaml"]) {
    EXPECT_EQ(t.config.model.cell, Cell::kLstm);
    EXPECT_FLOAT_EQ(t.config.model.recurrent_dropout, 0.15f);
    EXPECT_EQ(t.config.train.loss, Loss::kCategorical);
    EXPECT_DOUBLE_EQ(t.config.train.validation_split, 0.2);
    EXPECT_EQ(t.config.train.batch_size, 32);
    EXPECT_EQ(t.config.train.epochs, 10);
  }
  EXPECT_EQ(by_label("seed-b.yaml", "B1").config.model.units, 32);
  EXPECT_EQ(by_label("seed-b.yaml", "B2").config.model.layers, 2);
  EXPECT_EQ(by_label("seed-b.yaml", "B2").config.model.units, 32);
  EXPECT_EQ(by_label("seed-b.yaml", "B3-256").config.model.units, 256);
  EXPECT_EQ(by_label("seed-b.yaml", "B3-256").config.model.layers, 1);

  // C1: 2 stacked LSTMs, dropout after each hidden layer, logits, validated on the test set.
  ASSERT_EQ(files["seed-c.yaml"].size(), 1u);
  const TrialSpec c1 = files["seed-c.yaml"][0];
  EXPECT_EQ(c1.label, "C1");
  EXPECT_EQ(c1.params.at("dropout"), GetKey(c1.config, "dropout"));
  EXPECT_EQ(c1.config.model.dropout, (std::vector<float>{0.2f, 0.1f, 0.2f}));
  EXPECT_EQ(c1.config.model.layers, 2);
  EXPECT_EQ(c1.config.model.dense, (std::vector<int>{32}));
  EXPECT_TRUE(c1.config.model.logits);
  EXPECT_EQ(c1.config.train.validation, Validation::kTest);
  EXPECT_EQ(c1.config.train.epochs, 5);
  EXPECT_EQ(c1.config.train.batch_size, 32);

  // D1-D4: MLPs on the flat pixels.
  EXPECT_EQ(labels("seed-d.yaml"), (std::vector<std::string>{"D1", "D2", "D3", "D4"}));
  for (const TrialSpec& t : files["seed-d.yaml"]) {
    EXPECT_EQ(t.config.model.cell, Cell::kDense);
    EXPECT_DOUBLE_EQ(t.config.train.validation_split, 0.2);
  }
  const TrialSpec d1 = by_label("seed-d.yaml", "D1");
  EXPECT_EQ(d1.params.at("layers"), "0");
  EXPECT_EQ(d1.config.train.optimizer, Optimizer::kSgd);
  EXPECT_EQ(d1.config.train.loss, Loss::kCategorical);
  EXPECT_EQ(d1.config.train.epochs, 70);
  EXPECT_EQ(d1.config.train.batch_size, 64);
  const TrialSpec d2 = by_label("seed-d.yaml", "D2");
  EXPECT_EQ(d2.config.model.units, 64);
  EXPECT_EQ(d2.config.train.epochs, 100);
  EXPECT_TRUE(d2.config.model.dropout.empty());
  const TrialSpec d3 = by_label("seed-d.yaml", "D3");
  EXPECT_EQ(d3.config.model.dropout, (std::vector<float>{0.3f}));
  EXPECT_EQ(d3.config.train.epochs, 50);
  const TrialSpec d4 = by_label("seed-d.yaml", "D4");
  EXPECT_EQ(d4.config.model.units, 512);
  EXPECT_EQ(d4.config.train.optimizer, Optimizer::kAdam);
  EXPECT_EQ(d4.config.train.batch_size, 128);
  EXPECT_EQ(d4.config.train.epochs, 31);

  // E1.
  ASSERT_EQ(files["seed-e.yaml"].size(), 1u);
  const TrialSpec e1 = files["seed-e.yaml"][0];
  EXPECT_EQ(e1.label, "E1");
  EXPECT_EQ(e1.config.model.cell, Cell::kSimpleRnn);
  EXPECT_EQ(e1.config.train.epochs, 5);
  EXPECT_EQ(e1.config.train.batch_size, 64);
  EXPECT_DOUBLE_EQ(e1.config.train.validation_split, 0.1);

  // The design grid: 5 x 2 x 3 x 3 x 3 LSTMs, 2 epochs on 12,000 images.
  const std::vector<TrialSpec>& grid = files["design-grid.yaml"];
  ASSERT_EQ(grid.size(), 270u);
  std::map<std::string, std::set<std::string>> seen;
  for (const TrialSpec& t : grid) {
    EXPECT_EQ(t.config.model.cell, Cell::kLstm);
    EXPECT_EQ(t.config.train.epochs, 2);
    EXPECT_EQ(t.config.train.train_limit, 12000);
    EXPECT_EQ(t.label, "");
    for (const char* key : {"units", "activation", "optimizer", "batch_size", "layers"}) {
      seen[key].insert(t.params.at(key));
    }
  }
  EXPECT_EQ(seen["units"], (std::set<std::string>{"32", "48", "96", "128", "256"}));
  EXPECT_EQ(seen["activation"], (std::set<std::string>{"tanh", "relu"}));
  EXPECT_EQ(seen["optimizer"], (std::set<std::string>{"adam", "rmsprop", "sgd"}));
  EXPECT_EQ(seen["batch_size"], (std::set<std::string>{"32", "64", "128"}));
  EXPECT_EQ(seen["layers"], (std::set<std::string>{"1", "2", "3"}));
}

// ---- method: bayes ----

constexpr char kBayes[] = R"(name: b
method: bayes
max_trials: 30
bayes: {n_startup_trials: 5, n_ei_candidates: 12}
parameters:
  units: {distribution: int_uniform, min: 8, max: 64}
  activation: {values: [tanh, relu]}
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
)";

TEST(SweepFileBayesTest, ParsesAndExpandsToNoTrials) {
  StatusOr<SweepSpec> spec = ParseSweep(kBayes, kFile);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->method, SweepMethod::kBayes);
  EXPECT_EQ(spec->bayes.n_startup_trials, 5);
  EXPECT_EQ(spec->bayes.n_ei_candidates, 12);
  EXPECT_EQ(spec->max_trials, 30);
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, kFile);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  EXPECT_TRUE(trials->empty());
  // Defaults: Optuna's.
  spec =
      ParseSweep(Replace(kBayes, "bayes: {n_startup_trials: 5, n_ei_candidates: 12}\n", ""), kFile);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->bayes.n_startup_trials, 10);
  EXPECT_EQ(spec->bayes.n_ei_candidates, 24);
}

TEST(SweepFileBayesTest, ModelIsAutoTpeOrGp) {
  const std::vector<std::pair<std::string, BayesModel>> models = {
      {"auto", BayesModel::kAuto}, {"tpe", BayesModel::kTpe}, {"gp", BayesModel::kGp}};
  for (const auto& [text, model] : models) {
    StatusOr<SweepSpec> spec = ParseSweep(
        Replace(kBayes, "n_ei_candidates: 12}", "n_ei_candidates: 12, model: " + text + "}"),
        kFile);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ(spec->bayes.model, model) << text;
  }
  StatusOr<SweepSpec> spec = ParseSweep(kBayes, kFile);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->bayes.model, BayesModel::kAuto);
  ExpectParseError(Replace(kBayes, "n_ei_candidates: 12}", "n_ei_candidates: 12, model: gpr}"),
                   4, {"key 'bayes.model'", "expected auto, tpe or gp", "got 'gpr'"});
  ExpectParseError(Replace(kBayes, "n_ei_candidates: 12}", "n_ei_candidates: 12, model: [gp]}"),
                   4, {"bayes.model"});
}

TEST(SweepFileBayesTest, BadKeysAreRefusedWithFileLineKey) {
  ExpectParseError(Replace(kBayes, "n_startup_trials: 5", "n_startup_trial: 5"), 4,
                   {"unknown key 'n_startup_trial'", "did you mean 'n_startup_trials'?"});
  ExpectParseError(Replace(kBayes, "n_ei_candidates: 12", "n_candidates: 12"), 4,
                   {"unknown key 'n_candidates'", "did you mean 'n_ei_candidates'?"});
  ExpectParseError(Replace(kBayes, "n_ei_candidates: 12", "n_ei_candidates: 0"), 4,
                   {"bayes.n_ei_candidates", "[1, 1000]", "got '0'"});
  ExpectParseError(Replace(kBayes, "n_startup_trials: 5", "n_startup_trials: -1"), 4,
                   {"bayes.n_startup_trials", "[0, 1000]"});
  ExpectParseError(
      Replace(kBayes, "bayes: {n_startup_trials: 5, n_ei_candidates: 12}", "bayes: [1, 2]"), 4,
      {"key 'bayes'", "expected a mapping"});
  ExpectParseError(Replace(kBayes, "method: bayes", "method: random"), 4,
                   {"key 'bayes'", "needs method: bayes"});
  ExpectParseError(Replace(kBayes, "max_trials: 30\n", ""), 2, {"method: bayes needs max_trials"});
  ExpectParseError("name: b\nmethod: bayes\nmax_trials: 3\n", 2,
                   {"method: bayes needs parameters"});
  ExpectParseError("name: b\nmethod: bayes\nmax_trials: 3\nbayse: {}\n", 4,
                   {"unknown key 'bayse'", "did you mean 'bayes'?"});
  ExpectParseError(Replace(kBayes, "method: bayes", "method: bayesian"), 2,
                   {"key 'method'", "did you mean 'bayes'?"});
  // The vocabulary of random: a float draw for an integer key is refused.
  ExpectParseError(Replace(kBayes, "distribution: int_uniform", "distribution: uniform"), 6,
                   {"key 'units'", "int_uniform"});
  ExpectParseError(std::string(kBayes) + "trials:\n  - {cell: lstm}\n", 9,
                   {"key 'trials'", "needs method: list", "bayes"});
}

}  // namespace
}  // namespace hpsweep::sweep_file_test
