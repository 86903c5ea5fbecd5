#include "cli/report_commands.h"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "cli/client.h"
#include "cli/trials.h"
#include "engine/dataset.h"
#include "engine/mnist.h"
#include "report/report.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError(path + ": cannot open for writing");
  out << text;
  out.close();
  if (!out) return IoError(path + ": write failed");
  return Status::Ok();
}

// `report 3 4`: the sweeps side by side.
int RunCompareReport(const Flags& flags) {
  if (flags.sweeps.size() > 8) {  // CompareReportHtml's bound, before fetching any
    return Fail(InvalidArgument("report: at most 8 sweeps to compare, got " +
                                std::to_string(flags.sweeps.size())));
  }
  std::vector<std::string> exports;
  for (int64_t id : flags.sweeps) {
    auto text = ExportText(flags.db, flags.coordinator, flags.client, id);
    if (!text.ok()) return Fail(text.status());
    exports.push_back(std::move(*text));
  }
  auto html = CompareReportHtml(exports);
  if (!html.ok()) return Fail(html.status());
  Status s = WriteText(flags.output, *html);
  if (!s.ok()) return Fail(s);
  std::cerr << "comparison of " << exports.size() << " sweeps written to " << flags.output << "\n";
  return 0;
}

// data-report's data set: MNIST from --data-dir, or --data-format idx|csv as `hpsweep train`
// takes them (the same flags and messages).
StatusOr<DataSpec> DataReportSpec(const Flags& f) {
  DataSpec spec;
  StatusOr<DataFormat> format = ParseDataFormat(f.data_format);
  if (!format.ok()) {
    return InvalidArgument("--data-format: expected idx, csv or mnist, got '" +
                           f.data_format.substr(0, 32) + "'");
  }
  spec.format = *format;
  if (spec.format != DataFormat::kCsv) {
    if (!f.train_file.empty() || !f.test_file.empty() || f.sequence_length != 0) {
      return InvalidArgument(
          "--train-file, --test-file and --sequence-length are for --data-format csv");
    }
    if (spec.format == DataFormat::kIdx && f.data_path.empty()) {
      return InvalidArgument("--data-format idx needs --data-path DIR (the IDX folder)");
    }
    spec.path = spec.format == DataFormat::kIdx ? f.data_path : f.data_dir;
    return spec;
  }
  if (!f.data_path.empty()) {
    return InvalidArgument("--data-path is for idx; csv takes --train-file and --test-file");
  }
  if (f.train_file.empty() || f.test_file.empty()) {
    return InvalidArgument("--data-format csv needs --train-file FILE and --test-file FILE");
  }
  spec.train_file = f.train_file;
  spec.test_file = f.test_file;
  spec.sequence_length = f.sequence_length == 0 ? 1 : f.sequence_length;
  return spec;
}

}  // namespace

int RunReport(const Flags& flags) {
  if (flags.sweeps.size() > 1) return RunCompareReport(flags);
  Flags f = flags;
  if (!f.sweeps.empty()) f.sweep = f.sweeps[0];
  auto text = ExportText(f.db, f.coordinator, f.client, f.sweep);
  if (!text.ok()) return Fail(text.status());
  // The best trial's model, for the grid of predicted test images.
  std::string model;
  int64_t best_id = 0, sweep_id = 0;
  bool own_data = false;
  // The report's own ranking (the sweep's Objective) names the best trial.
  auto ranked = RankedTrialIds(*text);
  if (!ranked.ok()) return Fail(ranked.status());
  if (!ranked->empty()) best_id = ranked->front();
  try {  // the JSON may come over the network: a wrong shape is an error, not an abort
    json ex = json::parse(*text);
    const json& id = ex.at("sweep").at("id");
    if (!id.is_number_integer()) {  // (get<int64_t>() of 1e300 is undefined)
      return Fail(ExportShapeError("the sweep's 'id' is not an integer"));
    }
    sweep_id = id.get<int64_t>();
    // A sweep of its own data (engine/dataset.h): MNIST's data section would be about other data.
    for (const json& t : ex["trials"]) {
      if (t.contains("params") && t["params"].contains("data.format")) own_data = true;
    }
  } catch (const json::exception& e) {
    return Fail(ExportShapeError(e.what()));
  }
  if (best_id > 0) {
    auto m = FetchModelById(f.db, f.coordinator, f.client, best_id);
    if (m.ok()) model = *m;
  }
  StatusOr<Mnist> data = InvalidArgument("the sweep trained on its own data set");
  if (!own_data) data = LoadMnist(f.data_dir);
  if (!data.ok()) {
    std::cerr << "hpsweep: no data set (" << data.status().message()
              << "): the report leaves out the test-image grid and the data section\n";
  }
  auto html = SweepReportHtml(*text, model, data.ok() ? &*data : nullptr);
  if (!html.ok()) return Fail(html.status());
  Status s = WriteText(f.output, *html);
  if (!s.ok()) return Fail(s);
  std::cerr << "report of sweep " << sweep_id << " written to " << f.output << "\n";
  return 0;
}

int RunDataReport(const Flags& f) {
  if (!(f.validation_split >= 0 && f.validation_split < 1)) {
    return Fail(InvalidArgument("--validation-split: expected a number in [0, 1), got " +
                                std::to_string(f.validation_split)));
  }
  if (f.train_limit < 0) {
    return Fail(InvalidArgument("--train-limit: expected 0 (all) or more, got " +
                                std::to_string(f.train_limit)));
  }
  StatusOr<DataSpec> spec = DataReportSpec(f);
  if (!spec.ok()) return Fail(spec.status());
  auto data = LoadDataset(*spec);
  if (!data.ok()) return Fail(data.status());
  std::string source;  // "" is MNIST
  if (spec->format == DataFormat::kIdx) source = "idx " + spec->path;
  if (spec->format == DataFormat::kCsv) source = "csv " + spec->train_file + ", " + spec->test_file;
  const std::string html = DataReportPage(*data, f.validation_split, f.train_limit, source);
  Status s = WriteText(f.output, html);
  if (!s.ok()) return Fail(s);
  std::cerr << "data report written to " << f.output << "\n";
  return 0;
}

}  // namespace hpsweep
