// Tests for search/params_json.h: every config key's text form (engine/config.h GetKey)
// becomes a JSON value of its type, text that is not of its type stays text, and ParamText gives
// the GetKey form back.
#include "search/params_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "search/sweep_file.h"
#include "engine/config.h"

namespace hpsweep::params_json_test {
namespace {

using json = nlohmann::json;

TEST(ParamsJsonTest, EveryConfigKeyOfADefaultTrialIsTyped) {
  TrialConfig config;
  std::map<std::string, std::string> params;
  for (const std::string& key : ConfigKeys()) params[key] = GetKey(config, key);
  params["label"] = "A1";
  const json j = ParamsJson(params);
  ASSERT_EQ(j.size(), params.size());
  EXPECT_EQ(j["units"], 128);
  EXPECT_TRUE(j["units"].is_number_integer());
  EXPECT_EQ(j["layers"], 1);
  EXPECT_EQ(j["batch_size"], 32);
  EXPECT_EQ(j["epochs"], 1);
  EXPECT_EQ(j["train_limit"], 0);
  EXPECT_TRUE(j["seed"].is_number_unsigned());
  EXPECT_TRUE(j["learning_rate"].is_number_float());
  EXPECT_DOUBLE_EQ(j["learning_rate"].get<double>(), 0.001);
  EXPECT_TRUE(j["momentum"].is_number_float());
  EXPECT_TRUE(j["recurrent_dropout"].is_number_float());
  EXPECT_TRUE(j["validation_split"].is_number_float());
  EXPECT_EQ(j["nesterov"], false);
  EXPECT_EQ(j["bidirectional"], false);
  EXPECT_EQ(j["dense"], json::array());
  EXPECT_EQ(j["dropout"], json::array());
  EXPECT_EQ(j["cell"], "lstm");
  EXPECT_EQ(j["optimizer"], "adam");
  EXPECT_EQ(j["label"], "A1");
  // Every key's text comes back from its typed value.
  for (const auto& [key, text] : params) EXPECT_EQ(ParamText(j[key]), text) << key;
}

TEST(ParamsJsonTest, ListsAndNumbers) {
  EXPECT_EQ(ParamValueJson("dense", "[64, 32]"), json::parse("[64, 32]"));
  EXPECT_EQ(ParamValueJson("dense", "64,32"), json::parse("[64, 32]"));
  EXPECT_EQ(ParamValueJson("dropout", "[0.2, 0.1, 0.5]"), json::parse("[0.2, 0.1, 0.5]"));
  EXPECT_EQ(ParamValueJson("dropout", "0.2"), json::parse("[0.2]"));
  EXPECT_EQ(ParamValueJson("learning_rate", "1e-05"), json(1e-05));
  EXPECT_EQ(ParamValueJson("validation_split", "0.2"), json(0.2));
  EXPECT_EQ(ParamValueJson("seed", "18446744073709551615"), json(UINT64_MAX));
  EXPECT_EQ(ParamValueJson("nesterov", "true"), json(true));
  EXPECT_EQ(ParamValueJson("bidirectional", "true"), json(true));
  EXPECT_EQ(ParamText(json::parse("[64, 32]")), "[64, 32]");
  EXPECT_EQ(ParamText(json::parse("[0.2, 0.1]")), "[0.2, 0.1]");
  EXPECT_EQ(ParamText(json(0.0)), "0");
  EXPECT_EQ(ParamText(json(1e-05)), "1e-05");
}

TEST(ParamsJsonTest, TextNotOfItsTypeStaysText) {
  // A label that looks like a number is still a label.
  EXPECT_EQ(ParamValueJson("label", "1"), json("1"));
  EXPECT_EQ(ParamValueJson("cell", "true"), json("true"));
  for (const char* bad : {"", "12abc", "0x10", " 12", "1.5", "nan", "99999999999999999999"}) {
    EXPECT_EQ(ParamValueJson("units", bad), json(bad)) << bad;
  }
  for (const char* bad : {"nan", "inf", "-inf", "1e999", "0x1p3", "", "."}) {
    EXPECT_EQ(ParamValueJson("learning_rate", bad), json(bad)) << bad;
  }
  EXPECT_EQ(ParamValueJson("seed", "-1"), json("-1"));
  EXPECT_EQ(ParamValueJson("nesterov", "1"), json("1"));
  EXPECT_EQ(ParamValueJson("bidirectional", "1"), json("1"));  // typed as a boolean, not a number
  EXPECT_EQ(ParamValueJson("dense", "[64, x]"), json("[64, x]"));
  EXPECT_EQ(ParamValueJson("dense", "[64"), json("[64"));
  EXPECT_EQ(ParamValueJson("dense", "[64, 1.5]"), json("[64, 1.5]"));
}

TEST(ParamsJsonTest, AKeyTheTableDoesNotKnowIsTypedByItsText) {
  EXPECT_EQ(ParamValueJson("weight_decay", "0.0001"), json(0.0001));
  EXPECT_EQ(ParamValueJson("patience", "3"), json(3));
  EXPECT_EQ(ParamValueJson("clip", "false"), json(false));
  EXPECT_EQ(ParamValueJson("widths", "[1, 2.5]"), json::parse("[1, 2.5]"));
  EXPECT_EQ(ParamValueJson("schedule", "cosine"), json("cosine"));
  EXPECT_EQ(ParamValueJson("schedule", "[a]"), json("[a]"));
}

TEST(ParamsJsonTest, ExpandedSweepTrialsAreTyped) {
  const std::string yaml =
      "name: typed\nmethod: list\nfixed: {epochs: 2}\n"
      "trials:\n  - {label: '7', cell: dense, dense: [64, 32], dropout: [0.2, 0.1, 0.3]}\n";
  auto spec = ParseSweep(yaml, "typed.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto trials = ExpandSweep(*spec, "typed.yaml", SweepLimits{});
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 1u);
  const json j = ParamsJson((*trials)[0].params);
  EXPECT_EQ(j["label"], "7");
  EXPECT_EQ(j["cell"], "dense");
  EXPECT_EQ(j["epochs"], 2);
  EXPECT_EQ(j["dense"], json::parse("[64, 32]"));
  EXPECT_EQ(j["dropout"], json::parse("[0.2, 0.1, 0.3]"));
}

// A value not measured (TrialRow's -1, NaN) is null; a measured one, 0 included, its number.
TEST(ParamsJsonTest, MeasuredJsonIsNullWhenNotMeasured) {
  EXPECT_TRUE(MeasuredJson(-1).is_null());
  EXPECT_TRUE(MeasuredJson(std::nan("")).is_null());
  EXPECT_TRUE(MeasuredJson(HUGE_VAL).is_null());
  EXPECT_EQ(MeasuredJson(0), 0.0);
  EXPECT_DOUBLE_EQ(MeasuredJson(0.9612).get<double>(), 0.9612);
}

}  // namespace
}  // namespace hpsweep::params_json_test
