// HTML reports: one self-contained file (inline CSS, SVG, PNG data URIs and one small hand-written
// script; nothing from the network) with a sweep's settings, a sortable leaderboard, per-epoch
// curves, parallel coordinates that can be brushed, a scatter of each hyperparameter against the
// sweep's metric, parameter importance (report/importance.h), the effect of each hyperparameter, and
// for the best trial its confusion matrix, per-class metrics and a grid of test images with
// predicted (true) digits; plus the data-set analysis. Every ranking is the sweep's Objective
// (search/objective.h) from the export's metric and goal. Big sweeps are drawn in part (the
// best trials; curves downsampled), and the page says so.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_REPORT_REPORT_H_
#define HPSWEEP_REPORT_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/mnist.h"
#include "base/status.h"

namespace hpsweep {

// The error for an export that is not the shape `hpsweep export` prints: DataLoss, "the sweep's
// export has an unexpected shape: " and `what` (the key or the parser's message).
Status ExportShapeError(const std::string& what);

// export_json: the sweep as `hpsweep export --format json` prints it. best_model: the model-file
// bytes of the best trial (may be empty: no image grid). data may be null (no data section).
StatusOr<std::string> SweepReportHtml(const std::string& export_json, const std::string& best_model,
                                      const Mnist* data);

// The ids of the export's trials that have a value of the sweep's metric, best first by its
// Objective (search/objective.h), ties by trial number: the order of the report's
// leaderboard, whose first is the report's best trial.
StatusOr<std::vector<int64_t>> RankedTrialIds(const std::string& export_json);

// Several sweeps on one page (`hpsweep report 3 4`): each one's best trial and metric side by side,
// the best trials' curves overlaid, each one's leaderboard. 2 to 8 exports.
StatusOr<std::string> CompareReportHtml(const std::vector<std::string>& export_jsons);

// The data-set analysis alone (a section of a page): counts per class in train/validation/test,
// value statistics, the mean image of each class, of the images a trial with this train_limit
// (> 0: the first train_limit training images; 0: all) and validation_split (the last fraction
// of those) uses. source "" is MNIST; else it names a user's own data set (engine/dataset.h) and
// begins with its format: "idx DIR" (images, pixels in [0, 1]) or "csv TRAIN, TEST" (rows of
// features as given: each class's mean row is drawn steps x features, scaled to the means'
// range). Any number of classes up to 256; the means are left out past 64 classes or 256x256
// values a row (the page says so).
std::string DataReportHtml(const Mnist& data, double validation_split, int64_t train_limit = 0,
                           const std::string& source = "");

// DataReportHtml as a whole page, styled as the sweep report (`hpsweep data-report`).
std::string DataReportPage(const Mnist& data, double validation_split, int64_t train_limit,
                           const std::string& source = "");

}  // namespace hpsweep

#endif  // HPSWEEP_REPORT_REPORT_H_
