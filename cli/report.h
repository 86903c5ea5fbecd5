// HTML reports: one self-contained file (inline SVG and PNG data URIs, no scripts, no network)
// with a sweep's leaderboard, per-epoch curves, parallel coordinates, the effect of each
// hyperparameter, and for the best trial its confusion matrix, per-class metrics and a grid of
// test images with predicted (true) digits; plus the data-set analysis.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_CLI_REPORT_H_
#define HPSWEEP_CLI_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/mnist.h"
#include "engine/status.h"

namespace hpsweep {

// export_json: the sweep as `hpsweep export --format json` prints it. best_model: the model-file
// bytes of the best trial (may be empty: no image grid). data may be null (no data section).
StatusOr<std::string> SweepReportHtml(const std::string& export_json, const std::string& best_model,
                                      const Mnist* data);

// The ids of the export's trials that have a value of the sweep's metric, best first by its
// Objective (coordinator/objective.h), ties by trial number: the order of the report's
// leaderboard, whose first is the report's best trial.
StatusOr<std::vector<int64_t>> RankedTrialIds(const std::string& export_json);

// The data-set analysis alone: counts per class in train/validation/test, pixel statistics, the
// mean image of each digit. validation_split: the last fraction of the training set.
std::string DataReportHtml(const Mnist& data, double validation_split);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_REPORT_H_
