// Tests for `early_terminate` in sweep files (search/sweep_file.h, search/pruner.h):
// W&B's forms parse into an EarlyTerminateSpec; bad keys, types and ranges are InvalidArgument
// naming the file, the line and the key, with a did-you-mean for misspellings; and the sweep
// files shipped in sweeps/ that use it parse.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "search/pruner.h"
#include "search/sweep_file.h"

namespace hpsweep::early_terminate_test {
namespace {

constexpr char kFile[] = "bad.yaml";

// Line 1 name, line 2 fixed (9 epochs), line 3 the early_terminate given.
std::string Yaml(const std::string& early, const std::string& fixed = "{epochs: 9}") {
  return "name: et\nfixed: " + fixed + "\nearly_terminate: " + early +
         "\nparameters:\n  units: {values: [8, 16]}\n";
}

SweepSpec MustParse(const std::string& yaml) {
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << yaml;
  return spec.ok() ? spec.value() : SweepSpec();
}

// Expects InvalidArgument "bad.yaml:LINE: ..." containing every part.
void ExpectParseError(const std::string& yaml, int line, const std::vector<std::string>& parts) {
  SCOPED_TRACE(yaml);
  StatusOr<SweepSpec> spec = ParseSweep(yaml, kFile);
  ASSERT_FALSE(spec.ok()) << "parsed, but should not";
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  const std::string prefix = std::string(kFile) + ":" + std::to_string(line) + ":";
  EXPECT_EQ(spec.status().message().rfind(prefix, 0), 0u)
      << "want prefix '" << prefix << "', got: " << spec.status().message();
  for (const std::string& part : parts) {
    EXPECT_NE(spec.status().message().find(part), std::string::npos)
        << "want '" << part << "' in: " << spec.status().message();
  }
}

TEST(EarlyTerminateTest, AbsentMeansNone) {
  const SweepSpec spec = MustParse("name: et\nparameters:\n  units: {values: [8, 16]}\n");
  EXPECT_EQ(spec.early_terminate.type, EarlyTerminateSpec::Type::kNone);
}

TEST(EarlyTerminateTest, HyperbandInWandbsForm) {
  SweepSpec spec = MustParse(Yaml("{type: hyperband, min_iter: 1, eta: 3}"));
  EXPECT_EQ(spec.early_terminate.type, EarlyTerminateSpec::Type::kHyperband);
  EXPECT_EQ(spec.early_terminate.min_iter, 1);
  EXPECT_EQ(spec.early_terminate.eta, 3);
  EXPECT_EQ(spec.early_terminate.max_iter, 0);
  EXPECT_EQ(spec.early_terminate.brackets, 1);
  EXPECT_EQ(spec.lines.at("early_terminate"), 3);
  // Block form, every key.
  spec = MustParse(
      "name: et\nfixed: {epochs: 30}\nearly_terminate:\n  type: hyperband\n  min_iter: 2\n"
      "  eta: 2\n  max_iter: 27\n  s: 3\n");
  EXPECT_EQ(spec.early_terminate.min_iter, 2);
  EXPECT_EQ(spec.early_terminate.eta, 2);
  EXPECT_EQ(spec.early_terminate.max_iter, 27);
  EXPECT_EQ(spec.early_terminate.brackets, 3);
  EXPECT_EQ(spec.lines.at("early_terminate.s"), 8);
  // Defaults: min_iter 1, eta 3.
  spec = MustParse(Yaml("{type: hyperband}"));
  EXPECT_EQ(spec.early_terminate.min_iter, 1);
  EXPECT_EQ(spec.early_terminate.eta, 3);
}

TEST(EarlyTerminateTest, Median) {
  SweepSpec spec = MustParse(Yaml("{type: median, warmup: 2, min_trials: 4}"));
  EXPECT_EQ(spec.early_terminate.type, EarlyTerminateSpec::Type::kMedian);
  EXPECT_EQ(spec.early_terminate.warmup, 2);
  EXPECT_EQ(spec.early_terminate.min_trials, 4);
  spec = MustParse(Yaml("{type: median}"));
  EXPECT_EQ(spec.early_terminate.warmup, 0);
  EXPECT_EQ(spec.early_terminate.min_trials, 5);
}

TEST(EarlyTerminateTest, BadKeysTypesAndRangesNameFileLineAndKey) {
  ExpectParseError(Yaml("{type: hyperband, min_itr: 1}"), 3,
                   {"unknown key 'min_itr'", "early_terminate", "did you mean 'min_iter'?"});
  ExpectParseError(Yaml("{type: hyperbands}"), 3,
                   {"key 'early_terminate.type'", "hyperband or median", "'hyperbands'",
                    "did you mean 'hyperband'?"});
  ExpectParseError(Yaml("{min_iter: 1, eta: 3}"), 3, {"key 'early_terminate'", "missing 'type'"});
  ExpectParseError(Yaml("hyperband"), 3, {"early_terminate", "mapping"});
  ExpectParseError(Yaml("{type: [hyperband]}"), 3, {"early_terminate.type", "single value"});
  ExpectParseError(Yaml("{type: hyperband, eta: 1}"), 3,
                   {"key 'early_terminate.eta'", "integer in [2, 100]", "'1'"});
  ExpectParseError(Yaml("{type: hyperband, eta: 2.5}"), 3,
                   {"key 'early_terminate.eta'", "integer", "'2.5'"});
  ExpectParseError(Yaml("{type: hyperband, min_iter: 0}"), 3,
                   {"key 'early_terminate.min_iter'", "[1, 10000]", "'0'"});
  ExpectParseError(Yaml("{type: hyperband, s: 11}"), 3, {"key 'early_terminate.s'", "[1, 10]"});
  ExpectParseError(Yaml("{type: hyperband, min_iter: 3, max_iter: 3}"), 3,
                   {"key 'early_terminate.max_iter'", "above min_iter"});
  ExpectParseError(Yaml("{type: hyperband, max_iter: 27, s: 2}"), 3,
                   {"key 'early_terminate.max_iter'", "give min_iter too"});
  // A key of the other type.
  ExpectParseError(Yaml("{type: hyperband, warmup: 2}"), 3,
                   {"key 'early_terminate.warmup'", "not a key of type hyperband"});
  ExpectParseError(Yaml("{type: median, eta: 3}"), 3,
                   {"key 'early_terminate.eta'", "not a key of type median"});
  ExpectParseError(Yaml("{type: median, min_trials: 0}"), 3,
                   {"key 'early_terminate.min_trials'", "[1, 10000]"});
  ExpectParseError(Yaml("{type: median, warmup: -1}"), 3, {"key 'early_terminate.warmup'"});
  // The line of the key at fault, in block form.
  ExpectParseError(
      "name: et\nfixed: {epochs: 9}\nearly_terminate:\n  type: hyperband\n"
      "  eta: 300\n",
      5, {"key 'early_terminate.eta'", "'300'"});
  // Misplaced: a model key, or a typo of the top-level key.
  ExpectParseError("name: et\nearly_terminat: {type: median}\n", 2,
                   {"unknown key 'early_terminat'", "did you mean 'early_terminate'?"});
}

TEST(EarlyTerminateTest, RulesThatCouldNeverPruneAreRefused) {
  // 3 epochs, first rung 3: no rung below the last epoch.
  ExpectParseError(Yaml("{type: hyperband, min_iter: 3}", "{epochs: 3}"), 3,
                   {"key 'early_terminate.min_iter'", "not below the trials' epochs (3)",
                    "no trial would ever be pruned"});
  // The default 1 epoch.
  ExpectParseError(Yaml("{type: hyperband}", "{cell: lstm}"), 3,
                   {"early_terminate.min_iter", "epochs (1)"});
  // Bracket 2 of 3 starts at 1 * 3^2 = 9, not below 9 epochs.
  ExpectParseError(Yaml("{type: hyperband, min_iter: 1, eta: 3, s: 3}"), 3,
                   {"key 'early_terminate.s'", "bracket 2", "fewer brackets"});
  MustParse(Yaml("{type: hyperband, min_iter: 1, eta: 3, s: 2}"));  // bracket 1: rung 3
  ExpectParseError(Yaml("{type: median, warmup: 9}"), 3,
                   {"key 'early_terminate.warmup'", "leave none of the trials' epochs (9)"});
  // warmup 8 of 9 epochs leaves only the last, where no trial is pruned; 7 leaves epoch 8.
  ExpectParseError(Yaml("{type: median, warmup: 8}"), 3,
                   {"key 'early_terminate.warmup'", "never pruned after its last epoch"});
  MustParse(Yaml("{type: median, warmup: 7}"));
  // Swept epochs: checked per trial by the pruner, not here.
  MustParse(
      "name: et\nearly_terminate: {type: hyperband, min_iter: 3}\nparameters:\n"
      "  epochs: {values: [3, 9]}\n");
}

TEST(EarlyTerminateTest, ShippedHyperbandSweepParses) {
  StatusOr<SweepSpec> spec =
      ParseSweepFile(std::string(HPSWEEP_SOURCE_DIR) + "/sweeps/hyperband-lstm.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->early_terminate.type, EarlyTerminateSpec::Type::kHyperband);
  EXPECT_EQ(spec->early_terminate.min_iter, 1);
  EXPECT_EQ(spec->early_terminate.eta, 3);
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, "hyperband-lstm.yaml");
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  EXPECT_GT(trials->size(), 1u);
}

}  // namespace
}  // namespace hpsweep::early_terminate_test
