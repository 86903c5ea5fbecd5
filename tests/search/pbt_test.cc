// Tests for method: pbt in the sweep file (search/sweep_pbt.cc) and the population's decisions,
// exploration and schedules (search/pbt.h).
#include "search/pbt.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "search/sweep_file.h"

namespace hpsweep::pbt_test {
namespace {

std::string File(const std::string& pbt, const std::string& extra = "") {
  return "name: pbt\nmethod: pbt\nseed: 7\nfixed: {cell: lstm, units: 8, epochs: 6}\n" + extra +
         "parameters:\n"
         "  learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.1}\n"
         "  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n"
         "  batch_size: {values: [32, 64, 128]}\n"
         "  recurrent_dropout: {values: [0.0, 0.1, 0.2]}\n"
         "pbt: " + pbt + "\n";
}

SweepSpec MustParse(const std::string& yaml) {
  auto spec = ParseSweep(yaml, "p.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : SweepSpec();
}

std::string ErrorOf(const std::string& yaml) {
  auto spec = ParseSweep(yaml, "p.yaml");
  EXPECT_FALSE(spec.ok()) << yaml;
  return spec.ok() ? "" : spec.status().message();
}

TEST(PbtSweepFileTest, ReadsThePopulationAndDrawsItAsRandomTrials) {
  SweepSpec spec = MustParse(
      File("{population: 6, interval: 2, quantile: 0.5, resample_probability: 0.1, "
           "mutable: [learning_rate, dropout]}"));
  EXPECT_EQ(spec.method, SweepMethod::kPbt);
  EXPECT_EQ(spec.pbt.population, 6);
  EXPECT_EQ(spec.pbt.interval, 2);
  EXPECT_DOUBLE_EQ(spec.pbt.quantile, 0.5);
  EXPECT_DOUBLE_EQ(spec.pbt.resample_probability, 0.1);
  EXPECT_EQ(spec.pbt.epochs, 6);
  EXPECT_EQ(spec.pbt.mutable_params, (std::vector<std::string>{"learning_rate", "dropout"}));
  auto trials = ExpandSweep(spec, "p.yaml");
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 6u);
  std::set<std::string> rates;
  for (const TrialSpec& t : *trials) rates.insert(t.params.at("learning_rate"));
  EXPECT_GT(rates.size(), 1u);  // drawn, not one value
}

TEST(PbtSweepFileTest, RefusesWhatAPopulationCannotBe) {
  EXPECT_NE(ErrorOf(File("{population: 1, interval: 2, mutable: [dropout]}"))
                .find("'pbt.population': expected an integer in [2, 256]"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, quantile: 0.6, mutable: [dropout]}"))
                .find("'pbt.quantile': expected a fraction in (0, 0.5]"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, quantile: 0, mutable: [dropout]}"))
                .find("(0, 0.5]"),
            std::string::npos);
  const std::string typo = ErrorOf(File("{population: 4, interval: 2, mutable: [lerning_rate]}"));
  EXPECT_NE(typo.find("p.yaml:"), std::string::npos) << typo;
  EXPECT_NE(typo.find("did you mean 'learning_rate'?"), std::string::npos) << typo;
  const std::string units = ErrorOf(File("{population: 4, interval: 2, mutable: [units]}"));
  EXPECT_NE(units.find("'units' cannot change during training"), std::string::npos) << units;
  const std::string fixed =
      ErrorOf(File("{population: 4, interval: 2, mutable: [weight_decay]}"));
  EXPECT_NE(fixed.find("'weight_decay' is not a parameter of the sweep"), std::string::npos)
      << fixed;
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 6, mutable: [dropout]}"))
                .find("leave no second segment"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, mutable: [dropout]}", "max_trials: 9\n"))
                .find("its population"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, mutable: [dropout]}",
                         "early_terminate: {type: hyperband, min_iter: 1}\n"))
                .find("not with method: pbt"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, mutable: [dropout]}", "reuse: true\n"))
                .find("key 'reuse': not with method: pbt"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, mutable: [dropout, dropout]}"))
                .find("named twice"),
            std::string::npos);
  EXPECT_NE(ErrorOf(File("{population: 4, interval: 2, mutabel: [dropout]}"))
                .find("did you mean 'mutable'"),
            std::string::npos);
  // pbt without method: pbt, and method: pbt without pbt.
  const std::string grid = "name: g\nmethod: grid\nparameters:\n  units: {values: [8]}\n"
                           "pbt: {population: 4, interval: 2, mutable: [dropout]}\n";
  EXPECT_NE(ErrorOf(grid).find("needs method: pbt"), std::string::npos);
  EXPECT_NE(ErrorOf("name: p\nmethod: pbt\nparameters:\n  dropout: {values: [0.1, 0.2]}\n")
                .find("method: pbt needs 'pbt'"),
            std::string::npos);
}

// A program's mutable keys are any of its parameters; its epochs come from fixed (1 otherwise).
// learning_rate under reduce_on_plateau cannot change (the schedule keeps its own rate).
TEST(PbtSweepFileTest, ProgramsMayMarkAnyParameterAndPlateauKeepsItsRate) {
  SweepSpec spec = MustParse(
      "name: p\nprogram: prog\nmethod: pbt\nmetric: {name: score, goal: maximize}\n"
      "fixed: {epochs: 4}\nparameters:\n  x: {values: [1, 2, 3]}\n"
      "pbt: {population: 3, interval: 2, mutable: [x]}\n");
  EXPECT_EQ(spec.pbt.epochs, 4);
  EXPECT_NE(ErrorOf("name: p\nprogram: prog\nmethod: pbt\nmetric: {name: score, goal: maximize}\n"
                    "parameters:\n  x: {values: [1, 2, 3]}\n"
                    "pbt: {population: 3, interval: 1, mutable: [x]}\n")
                .find("of the members' 1 epochs"),
            std::string::npos);
  const std::string plateau = ErrorOf(
      "name: p\nmethod: pbt\nfixed: {epochs: 6, lr_schedule: reduce_on_plateau}\nparameters:\n"
      "  learning_rate: {distribution: log_uniform, min: 0.0001, max: 0.1}\n"
      "pbt: {population: 4, interval: 2, mutable: [learning_rate]}\n");
  EXPECT_NE(plateau.find("learning_rate cannot change under lr_schedule: reduce_on_plateau"),
            std::string::npos)
      << plateau;
}

std::vector<PbtMember> Members(const SweepSpec& spec, int n) {
  auto trials = ExpandSweep(spec, "p.yaml");
  EXPECT_TRUE(trials.ok());
  std::vector<PbtMember> out;
  for (int i = 0; i < n && trials.ok(); ++i) {
    out.push_back({100 + i, i + 1, 0.1 * (i + 1), (*trials)[static_cast<size_t>(i)].params});
  }
  return out;
}

TEST(PbtDecisionTest, TheBottomQuantileCopiesTheTopAndExploresOnlyMutableParams) {
  SweepSpec spec = MustParse(
      File("{population: 8, interval: 2, mutable: [learning_rate, dropout, recurrent_dropout]}"));
  std::vector<PbtMember> members = Members(spec, 8);  // value rises with the number
  std::vector<PbtDecision> d = DecidePopulation(spec, members, 2);
  ASSERT_EQ(d.size(), 2u);  // ceil(8 * 0.25)
  std::set<int64_t> bottom, parents;
  for (const PbtDecision& x : d) {
    bottom.insert(x.member);
    parents.insert(x.parent_number);
    const PbtMember& parent = members[static_cast<size_t>(x.parent_number - 1)];
    EXPECT_EQ(x.parent, parent.id);
    for (const auto& [key, value] : x.params) {  // the parent's params, mutables aside
      if (key == "learning_rate" || key == "dropout" || key == "recurrent_dropout") continue;
      EXPECT_EQ(value, parent.params.at(key)) << key;
    }
    const double lr = std::strtod(x.params.at("learning_rate").c_str(), nullptr);
    EXPECT_GE(lr, 0.0001);
    EXPECT_LE(lr, 0.1);
    const double dropout = std::strtod(x.params.at("dropout").c_str(), nullptr);
    EXPECT_GE(dropout, 0.0);
    EXPECT_LE(dropout, 0.5);
    const std::string& rd = x.params.at("recurrent_dropout");
    EXPECT_TRUE(rd == "0" || rd == "0.1" || rd == "0.2") << rd;
  }
  EXPECT_EQ(bottom, (std::set<int64_t>{100, 101}));  // values 0.1 and 0.2
  for (int n : parents) EXPECT_TRUE(n == 7 || n == 8) << n;
  // The same inputs decide the same (a restart decides as before).
  std::vector<PbtDecision> again = DecidePopulation(spec, members, 2);
  ASSERT_EQ(again.size(), d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(again[i].parent, d[i].parent);
    EXPECT_EQ(again[i].params, d[i].params);
  }
  // Minimising: the other end is the bottom. A member without a value ranks last.
  spec.maximize = false;
  members[3].value = kNoMetric;
  std::set<int64_t> low;
  for (const PbtDecision& x : DecidePopulation(spec, members, 2)) low.insert(x.member);
  EXPECT_EQ(low, (std::set<int64_t>{103, 107}));
}

TEST(PbtDecisionTest, PerturbsByAFifthOrMovesToANeighbour) {
  SweepSpec spec = MustParse(File(
      "{population: 4, interval: 2, resample_probability: 0, mutable: [learning_rate, "
      "recurrent_dropout]}"));
  std::map<std::string, std::string> params = {{"learning_rate", "0.01"},
                                                {"recurrent_dropout", "0.1"}};
  std::set<std::string> rates, sizes;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    auto out = ExploreParams(spec, params, seed);
    rates.insert(out.at("learning_rate"));
    sizes.insert(out.at("recurrent_dropout"));
  }
  EXPECT_EQ(rates, (std::set<std::string>{"0.008", "0.012"}));
  EXPECT_EQ(sizes, (std::set<std::string>{"0", "0.2"}));
  // At a bound it stays within: 0.1 * 1.2 is kept at 0.1.
  params["learning_rate"] = "0.1";
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const double lr = std::strtod(ExploreParams(spec, params, seed).at("learning_rate").c_str(),
                                  nullptr);
    EXPECT_LE(lr, 0.1);
  }
}

TEST(PbtScheduleTest, RoundTripsAndRefusesBadSchedules) {
  std::vector<ScheduleEntry> s = {{0, 0, {{"learning_rate", "0.001"}}},
                                  {4, 3, {{"learning_rate", "0.0012"}, {"dropout", "0.1"}}}};
  const std::string json = ScheduleJson(s);
  const std::vector<std::string> keys = {"learning_rate", "dropout"};
  auto back = ParseScheduleEntries(json, "s.json", 10, keys);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].epoch, 4);
  EXPECT_EQ((*back)[1].from, 3);
  EXPECT_EQ((*back)[1].params.at("dropout"), "[0.1]");  // (the engine's form: per layer)
  // An export's trial entry holds it under "schedule".
  EXPECT_TRUE(ParseScheduleEntries("{\"number\": 2, \"schedule\": " + json + "}", "t.json", 10, keys).ok());
  auto bad = [&](const std::string& text) {
    auto r = ParseScheduleEntries(text, "s.json", 10, keys);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(bad("[").find("s.json: not valid JSON"), std::string::npos);
  EXPECT_NE(bad("[]").find("expected a list"), std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 1, "params": {}}])").find("entry 1: epoch 1"), std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 0, "params": {}}, {"epoch": 0, "params": {}}])").find("entry 2"),
            std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 0, "params": {}}, {"epoch": 10, "params": {}}])").find("below"),
            std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 0, "params": {"unit": 3}}])").find("cannot change during training"),
            std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 0, "params": {"dropuot": 0.1}}])").find("did you mean 'dropout'"),
            std::string::npos);
  EXPECT_NE(bad(R"([{"epoch": 0, "params": {"dropout": {}}}])").find("a string, a number"),
            std::string::npos);
}

}  // namespace
}  // namespace hpsweep::pbt_test
