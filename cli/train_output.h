// What `hpsweep train` prints after its epochs (the test report: a classification model's
// per-class table and confusion matrix, a regression model's mse and mae) and what `train` and
// `predict` print for a model with task: regression (README.md, "Regression"): its epochs' mse
// and mae and the predicted values of CSV rows.
//
// Thread-safety: functions that write to stdout/stderr; call from one thread.
#ifndef HPSWEEP_CLI_TRAIN_OUTPUT_H_
#define HPSWEEP_CLI_TRAIN_OUTPUT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/dataset.h"
#include "engine/trainer.h"

namespace hpsweep {

// A classification test pass as JSON: loss, accuracy, confusion_matrix, per_class.
nlohmann::json EvaluationJson(const Evaluation& ev);
// One epoch of train's --json history (RegressionEpochJson for a regression model).
nlohmann::json EpochJson(const EpochMetrics& m, bool regression);
// The test pass into train's --json object: test_loss, test_accuracy, confusion_matrix,
// per_class (and class_names when the training CSV's labels are names); a regression model's
// test_loss, test_mse and test_mae.
void AddTestJson(const TrainResult& result, const Dataset& train, nlohmann::json* j);
// `train`'s text report of a classification model after the epochs: test metrics, per-class
// table and confusion matrix (classes by name when the CSV's labels are names).
void PrintTestReport(const TrainResult& result, const Mnist& data, DataFormat format,
                     double seconds);

// "Epoch 3/10 - 0.1s - 900 samples/s - loss: ... - mse: ... - mae: ... - val_loss: ...
// - val_mse: ... - val_mae: ..." (the val_ ones only with validation data).
void PrintRegressionEpoch(const EpochMetrics& m, int epochs);
// The JSON of one epoch (train's --json history): loss, mse, mae and the val_ ones (null when
// not measured).
nlohmann::json RegressionEpochJson(const EpochMetrics& m);
// "test_loss: ... - test_mse: ... - test_mae: ... (N rows, weights of epoch E) - Ts total".
void PrintRegressionTest(const TrainResult& result, double seconds);
// Sets test_loss, test_mse and test_mae of train's --json object.
void AddRegressionTestJson(const TrainResult& result, nlohmann::json* j);

// `predict --csv FILE...` with a regression model: each row's predicted targets, one line a row,
// comma-separated (a CSV of K columns; rows that begin with their K targets are read too, and
// the mse and mae over them go to stderr). as_json: out gets {"input": "FILE:LINE", "values":
// [...]} per row (and "targets" when the row has them). Errors name file:line.
Status PredictRegression(const Model& model, const std::vector<std::string>& csv_files,
                         bool as_json, nlohmann::json* out);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_TRAIN_OUTPUT_H_
