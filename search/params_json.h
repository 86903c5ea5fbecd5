// A trial's params as typed JSON: numbers as numbers, lists as lists, booleans as booleans.
//
// The coordinator keeps every param in its text form (engine/config.h GetKey: "128", "0.001",
// "[64, 32]", "true"), the one form that ApplyKey parses back; the protobuf messages carry that
// text too. Whatever shows params to people or programs as JSON (ExportSweep, `hpsweep
// leaderboard --format json`, `hpsweep train --json`, the Python client's mirror of this table in
// python/hpsweep/_params.py) types them here, by key:
//
//   integer:           units layers batch_size epochs train_limit seed (seed unsigned 64-bit)
//                      lr_every lr_decay_steps warmup_epochs lr_patience patience
//   number:            learning_rate momentum recurrent_dropout validation_split clipnorm
//                      clipvalue global_clipnorm weight_decay lr_drop lr_decay_rate lr_factor
//                      lr_min min_delta
//   boolean:           nesterov validation_shuffle validation_stratify early_stopping
//                      restore_best_weights bidirectional
//   list of integers:  dense          list of numbers: dropout
//   string:            cell activation dense_activation output optimizer loss validation label
//                      lr_schedule keep
//   any other key:     a boolean, integer, number or list of numbers if its text is one, else text
//
// A text that does not parse as its key's type (a database written by another version) stays a
// string: nothing is lost, and nothing is invented. NaN and infinities stay strings (JSON has
// none). ParamText is the way back, for CSV columns and tables: a string as it is, anything else in
// the GetKey form ("[64, 32]"), so that an export from an older coordinator (all strings) and a
// newer one (typed) print the same.
//
// Thread-safety: pure functions.
#ifndef HPSWEEP_SEARCH_PARAMS_JSON_H_
#define HPSWEEP_SEARCH_PARAMS_JSON_H_

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace hpsweep {

// The typed JSON value of one param, `text` in its GetKey form.
nlohmann::json ParamValueJson(const std::string& key, const std::string& text);

// Every param of a trial, typed: a JSON object with the same keys.
nlohmann::json ParamsJson(const std::map<std::string, std::string>& params);

// A trial's measured value (val_accuracy, val_loss, test_accuracy, test_loss) as JSON: the
// number, or null when it has none: TrialRow's -1 (a pruned or running trial never ran the test
// pass) or NaN. JSON readers then need no sentinel to know "not measured".
nlohmann::json MeasuredJson(double v);

// The text form of a param's JSON value, typed or not: "128", "0.001", "[64, 32]", "true", "lstm".
std::string ParamText(const nlohmann::json& value);

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_PARAMS_JSON_H_
