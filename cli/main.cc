// hpsweep: the command-line tool. One binary, subcommands, like git:
//   hpsweep train   [model and training flags] [--data-dir DIR] [--json] [--save FILE]
//                   [--schedule FILE]   (a population member's params by epoch, cli/train_schedule.h)
//                   [--data-format idx --data-path DIR | --data-format csv --train-file F
//                    --test-file F --sequence-length T]   (a user's own data, engine/dataset.h)
//                   [--task regression --targets N]   (real-valued CSV targets, README "Regression")
//   hpsweep summary [model flags]
//   hpsweep bench   [model flags] --batch-size B --threads T
//   hpsweep run FILE, coordinator, worker, dashboard, submit, status, workers, leaderboard,
//     cancel, export
//     (cli/sweep_commands.h)
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "base/cpu_info.h"
#include "cli/auth_commands.h"
#include "cli/client.h"
#include "cli/train_output.h"
#include "cli/train_schedule.h"
#include "cli/sweep_commands.h"
#include "search/params_json.h"
#include "search/sweep_file.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/digit_image.h"
#include "engine/idx.h"
#include "engine/mnist.h"
#include "engine/model_io.h"
#include "engine/network.h"
#include "engine/torch_export.h"
#include "engine/trainer.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

std::string Dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// The model and training flags shared by train, summary and bench: one per config key.
struct ModelFlags {
  std::map<std::string, std::string> values;

  void Add(CLI::App* app) {
    for (const std::string& key : ConfigKeys()) {
      app->add_option("--" + Dashed(key), values[key], KeyHelp(key));
    }
  }

  StatusOr<TrialConfig> Build() const {
    TrialConfig config;
    for (const std::string& key : ConfigKeys()) {
      auto it = values.find(key);
      if (it == values.end() || it->second.empty()) continue;
      Status s = ApplyKey(key, it->second, &config);
      if (!s.ok()) return InvalidArgument("--" + Dashed(key) + ": " + s.message());
    }
    HPSWEEP_RETURN_IF_ERROR(Validate(config));
    return config;
  }
};

// Where MNIST is looked for when --data-dir is not given, in order: $HPSWEEP_DATA_DIR,
// ./data/mnist, beside the binary (<exe dir>/../data/mnist for an installed bin/hpsweep,
// <exe dir>/../../data/mnist for build/cli/hpsweep), /usr/share/hpsweep/mnist. Nothing about the
// build machine is compiled in: a copied binary must not read another tree's files.
std::vector<std::string> DataDirCandidates() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("HPSWEEP_DATA_DIR"); env != nullptr && *env != '\0') {
    dirs.push_back(env);
  }
  dirs.push_back("data/mnist");
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/') + 1);
    dirs.push_back(dir + "../data/mnist");
    dirs.push_back(dir + "../../data/mnist");
  }
  dirs.push_back("/usr/share/hpsweep/mnist");
  return dirs;
}

// The first candidate that exists; "" when none does (see NoDataDir).
std::string DefaultDataDir() {
  for (const std::string& d : DataDirCandidates()) {
    if (access(d.c_str(), F_OK) == 0) return d;
  }
  return "";
}

Status NoDataDir() {
  std::string looked;
  for (const std::string& d : DataDirCandidates()) looked += (looked.empty() ? "" : ", ") + d;
  return NotFound("no MNIST folder: looked in " + looked +
                  " ($HPSWEEP_DATA_DIR first when set); run scripts/bootstrap.sh to fetch it, "
                  "or pass --data-dir DIR");
}

json ConfigJson(const TrialConfig& config) {
  json j;
  for (const std::string& key : ConfigKeys()) j[key] = ParamValueJson(key, GetKey(config, key));
  return j;
}

void PrintProgress(int epoch, int64_t done, int64_t total, double loss, double acc,
                   double elapsed) {
  const int width = 30;
  const int filled = static_cast<int>(width * done / std::max<int64_t>(1, total));
  std::fprintf(stderr, "\r%6lld/%lld [%s>%s] - %.0fs - loss: %.4f - accuracy: %.4f",
               static_cast<long long>(done), static_cast<long long>(total),
               std::string(filled, '=').c_str(), std::string(width - filled, '.').c_str(), elapsed,
               loss, acc);
  std::fflush(stderr);
}

// `hpsweep train`'s own-data flags (engine/dataset.h); format "mnist" reads --data-dir.
struct DataFlags {
  std::string format = "mnist", path, train_file, test_file;
  int sequence_length = 0;  // 0: not given (1 for csv)
  int targets = 0;          // 0: not given (1 for task: regression)

  StatusOr<DataSpec> Build(const std::string& data_dir, Task task) const {
    DataSpec spec;
    if (task == Task::kRegression && format != "csv") {
      return InvalidArgument("--task regression reads real-valued targets from csv data "
                             "(--data-format csv); " + format.substr(0, 32) +
                             " labels are classes");
    }
    if (targets != 0 && task != Task::kRegression) {
      return InvalidArgument("--targets is for --task regression");
    }
    spec.targets = task == Task::kRegression ? std::max(1, targets) : 0;
    StatusOr<DataFormat> f = ParseDataFormat(format);
    if (!f.ok())
      return InvalidArgument("--data-format: expected idx, csv or mnist, got '" +
                             format.substr(0, 32) + "'");
    spec.format = *f;
    if (spec.format != DataFormat::kCsv) {
      if (!train_file.empty() || !test_file.empty() || sequence_length != 0) {
        return InvalidArgument(
            "--train-file, --test-file and --sequence-length are for --data-format csv");
      }
      if (spec.format == DataFormat::kIdx && path.empty()) {
        return InvalidArgument("--data-format idx needs --data-path DIR (the IDX folder)");
      }
      spec.path = spec.format == DataFormat::kIdx ? path : (path.empty() ? data_dir : path);
      if (spec.path.empty()) return NoDataDir();
      return spec;
    }
    if (!path.empty())
      return InvalidArgument(
          "--data-path is for idx; csv takes --train-file "
          "and --test-file");
    if (train_file.empty() || test_file.empty()) {
      return InvalidArgument("--data-format csv needs --train-file FILE and --test-file FILE");
    }
    spec.train_file = train_file;
    spec.test_file = test_file;
    spec.sequence_length = sequence_length == 0 ? 1 : sequence_length;
    return spec;
  }

  // The flags above, on `train`.
  void Add(CLI::App* train) {
    train
        ->add_option("--data-format", format,
                     "mnist (from --data-dir), idx (--data-path DIR) or csv (--train-file, "
                     "--test-file, --sequence-length)")
        ->capture_default_str();
    train->add_option("--data-path", path,
                      "your own IDX folder: train-images-idx3-ubyte... (plain or .gz)");
    train->add_option("--train-file", train_file, "CSV rows label,f1,f2,... to train on");
    train->add_option("--test-file", test_file, "CSV rows of the same shape to test on");
    train
        ->add_option("--sequence-length", sequence_length,
                     "CSV: steps per row (features per step = row length / steps); default 1")
        ->check(CLI::Range(1, kMaxSequenceLength));
    train
        ->add_option("--targets", targets,
                     "CSV, --task regression: each row begins with N real targets; default 1")
        ->check(CLI::Range(1, kMaxTargets));
  }
};

// A schedule's segments as JSON: their epochs and the keys each changes.
json ScheduleJson(const std::vector<ScheduleSegment>& segments) {
  json out = json::array();
  for (const ScheduleSegment& seg : segments) {
    json params = json::object();
    for (const auto& [key, value] : seg.changes) {
      params[key] = ParamValueJson(key, value);
    }
    out.push_back({{"first_epoch", seg.first_epoch}, {"last_epoch", seg.last_epoch},
                   {"params", params}});
  }
  return out;
}

int RunTrain(const ModelFlags& flags, const DataFlags& data_flags, const std::string& data_dir,
             int threads, bool as_json, const std::string& save_path, const std::string& metric,
             const std::string& schedule_path) {
  StatusOr<TrialConfig> config = flags.Build();
  if (!config.ok()) return Fail(config.status());
  std::vector<ScheduleSegment> schedule;  // --schedule: read before the data, to fail fast
  if (!schedule_path.empty()) {
    StatusOr<std::vector<ScheduleSegment>> s = ReadSchedule(schedule_path, *config);
    if (!s.ok()) return Fail(s.status());
    schedule = std::move(*s);
  }
  const bool regression = config->model.task == Task::kRegression;
  if (metric != "val_accuracy" && metric != "val_loss" &&
      !(regression && (metric == "val_mse" || metric == "val_mae"))) {
    return Fail(InvalidArgument("--metric: expected val_accuracy or val_loss (regression: "
                                "val_mse, val_mae or val_loss), got '" + metric.substr(0, 32) +
                                "'"));
  }
  StatusOr<DataSpec> spec = data_flags.Build(data_dir, config->model.task);
  if (!spec.ok()) return Fail(spec.status());
  TuneAllocatorForTraining();
  StatusOr<Mnist> data = LoadDataset(*spec);
  if (!data.ok()) return Fail(data.status());
  // The model reads the data's shape: steps x features in, one output per class.
  ShapeModelToData(*data, &config->model);
  for (ScheduleSegment& seg : schedule) ShapeModelToData(*data, &seg.config.model);
  const bool tty = isatty(STDERR_FILENO) && !as_json;
  TrainOptions options;
  options.threads = threads;
  // (val_accuracy, the default, is val_mse for a regression model: engine/trainer.h)
  options.monitor = metric == "val_loss"  ? Monitor::kValLoss
                    : metric == "val_mae" ? Monitor::kValMae
                    : metric == "val_mse" ? Monitor::kValMse
                                          : Monitor::kValAccuracy;
  auto start = std::chrono::steady_clock::now();
  auto epoch_start = start;
  const int epochs = config->train.epochs;
  if (!as_json) {
    options.on_progress = [&](int epoch, int64_t done, int64_t total, double loss, double acc) {
      if (!tty) return;
      if (done <= total / 50 + config->train.batch_size) {
        std::fprintf(stderr, "\rEpoch %d/%d\n", epoch, epochs);
      }
      double el =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      PrintProgress(epoch, done, total, loss, acc, el);
    };
    options.on_epoch = [&](const EpochMetrics& m) {
      if (tty) std::fprintf(stderr, "\r%s\r", std::string(100, ' ').c_str());
      epoch_start = std::chrono::steady_clock::now();
      if (regression) {
        PrintRegressionEpoch(m, epochs);
        return true;
      }
      std::printf(
          "Epoch %d/%d - %.1fs - %.0f samples/s - loss: %.4f - accuracy: %.4f - val_loss: %.4f "
          "- val_accuracy: %.4f\n",
          m.epoch, epochs, m.seconds, m.samples_per_second, m.train_loss, m.train_accuracy,
          m.val_loss, m.val_accuracy);
      std::fflush(stdout);
      return true;
    };
  }
  options.on_warning = [](const std::string& warning) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  };
  StatusOr<TrainResult> result =
      schedule.empty() ? Train(*config, *data, options)
                       : TrainSchedule(schedule, *data, options, [&](const ScheduleSegment& seg) {
                           if (!as_json) std::printf("%s\n", SegmentLine(seg).c_str());
                         });
  if (!result.ok()) return Fail(result.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!save_path.empty()) {
    Status s = SaveModel(result->model, save_path);
    if (!s.ok()) return Fail(s);
  }
  if (as_json) {
    json j;
    j["config"] = ConfigJson(result->model.config);  // --schedule: the last segment's
    if (!schedule.empty()) j["schedule"] = ScheduleJson(schedule);
    // "param_count": "params" is what exports and leaderboards call the hyperparameters.
    j["param_count"] = CountParams(config->model);
    j["train_samples"] = result->train_count;
    j["val_samples"] = result->val_count;
    if (!result->validation_warning.empty()) j["validation_warning"] = result->validation_warning;
    json history = json::array();
    for (const EpochMetrics& m : result->history) history.push_back(EpochJson(m, regression));
    j["history"] = history;
    j["weights_epoch"] = result->weights_epoch;  // the epoch test_* and --save come from
    j["stopped_epoch"] = result->stopped_epoch;  // early stopping ended it there; 0: it did not
    AddTestJson(*result, data->train, &j);
    j["seconds"] = seconds;
    j["threads"] = threads;
    if (!save_path.empty()) j["model_file"] = save_path;
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (regression) {
    PrintRegressionTest(*result, seconds);
  } else {
    PrintTestReport(*result, *data, spec->format, seconds);
  }
  if (!save_path.empty()) std::printf("model saved to %s\n", save_path.c_str());
  return 0;
}

struct TrialRef {
  std::string trial, db, coordinator = "127.0.0.1:50051";
  std::string objective;  // --objective: with --trial best on a sweep of several objectives
  ClientSecurity security;
  int64_t sweep = 0;
};

// The model of --model FILE, or of --trial (from a database or a coordinator).
StatusOr<Model> ModelFrom(const std::string& model_path, const TrialRef& ref) {
  if (!ref.trial.empty()) {
    StatusOr<std::string> bytes =
        FetchTrialModel(ref.db, ref.coordinator, ref.security, ref.sweep, ref.trial, ref.objective);
    if (!bytes.ok()) return bytes.status();
    return ParseModel(*bytes, "trial " + ref.trial);
  }
  if (model_path.empty()) return InvalidArgument("give --model FILE or --trial N|best");
  return LoadModel(model_path);
}

int RunSummary(const ModelFlags& flags, const std::string& model_path, const TrialRef& ref) {
  TrialConfig config;
  if (!ref.trial.empty() || !model_path.empty()) {
    StatusOr<Model> model = ModelFrom(model_path, ref);
    if (!model.ok()) return Fail(model.status());
    config = model->config;
  } else {
    StatusOr<TrialConfig> built = flags.Build();
    if (!built.ok()) return Fail(built.status());
    config = *built;
  }
  std::cout << Summary(config.model);
  return 0;
}

// `export-model`'s own flags.
struct ExportModelFlags {
  std::string format = "torch", out;
};

// Writes the model of --model FILE or --trial as a folder PyTorch loads (engine/torch_export.h,
// python/hpsweep/torch.py).
int RunExportModel(const std::string& model_path, const TrialRef& ref,
                   const ExportModelFlags& flags) {
  const std::string& format = flags.format;
  const std::string& out = flags.out;
  if (format != "torch") {
    return Fail(InvalidArgument("--format " + format + ": the only format is torch"));
  }
  if (out.empty()) return Fail(InvalidArgument("give -o DIR, a new or empty folder"));
  if (!model_path.empty() && !ref.trial.empty()) {
    return Fail(InvalidArgument("give --model FILE or --trial N, not both"));
  }
  StatusOr<Model> model = ModelFrom(model_path, ref);
  if (!model.ok()) return Fail(model.status());
  Status s = ExportTorch(*model, out);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %s (load it with hpsweep.torch.load)\n", out.c_str());
  return 0;
}

// `export-model`: its flags, into the variables RunExportModel reads.
CLI::App* AddExportModelCommand(CLI::App* app, std::string* model_path, TrialRef* ref,
                                ExportModelFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "export-model", "write a saved model as a folder for PyTorch (hpsweep.torch.load)");
  cmd->add_option("--model", *model_path, "a saved model file");
  cmd->add_option("--trial", ref->trial, "trial #N of --sweep, or 'best'");
  cmd->add_option("--sweep", ref->sweep,
                  "the sweep of --trial (default: the latest; for best, the latest not cancelled)");
  cmd->add_option("--db", ref->db, "read the trial from this SQLite file");
  cmd->add_option("--objective", ref->objective,
                  "with --trial best on a sweep of several objectives: the best on this one");
  cmd->add_option("--coordinator", ref->coordinator, "else ask this coordinator")
      ->capture_default_str();
  AddClientSecurityOptions(cmd, &ref->security);
  cmd->add_option("--format", flags->format, "torch (the only one)")->capture_default_str();
  cmd->add_option("-o,--out", flags->out, "a new or empty folder to write")->required();
  return cmd;
}

// Inputs for `predict` shaped as the model's data set (engine/dataset.h): CSV rows (--csv) or
// an IDX image file of the model's image size (--idx).
struct PredictFiles {
  std::vector<std::string> csv, idx;
};

// What the model reads, for messages: "8 steps of 2 features".
std::string ModelShape(const ModelConfig& m) {
  return std::to_string(m.steps) + " steps of " + std::to_string(m.features) + " features";
}

// Classifies the rows of --csv files and the images of --idx files: per row its class and the
// probabilities (and its label, when the rows have one). Returns the exit code.
int PredictRows(const Model& model, const PredictFiles& files, bool as_json, json* out) {
  const ModelConfig& m = model.config.model;
  int64_t labeled = 0, right = 0;
  auto classify = [&](const std::string& file, const ModelInputs& in) {
    const int64_t px = int64_t{m.steps} * m.features;
    constexpr int64_t kBatch = 4096;  // bounds the probabilities held at once
    for (int64_t lo = 0; lo < in.data.count; lo += kBatch) {
      const int64_t n = std::min(kBatch, in.data.count - lo);
      const Mat<float> probs = PredictProba(model, in.data.samples().At(lo * px), n, 1);
      for (int64_t i = 0; i < n; ++i) {
        const Eigen::Index r = static_cast<Eigen::Index>(i);
        Eigen::Index k;
        probs.row(r).maxCoeff(&k);
        const int label = in.data.labels[lo + i];
        if (in.labeled) {
          ++labeled;
          right += label == k;
        }
        // A CSV row by its line in the file (as its errors and an editor name it); an image by
        // its number.
        const int64_t row = lo + i;
        const std::string where =
            file + ":" +
            std::to_string(row < static_cast<int64_t>(in.lines.size()) ? in.lines[row] : row + 1);
        if (as_json) {
          json p = json::array();
          for (Eigen::Index c = 0; c < probs.cols(); ++c) p.push_back(probs(r, c));
          json row = {{"input", where}, {"class", k}, {"probabilities", p}};
          if (in.labeled) row["label"] = label;
          out->push_back(row);
          continue;
        }
        std::printf("%s: %d (%.1f%%)", where.c_str(), static_cast<int>(k), 100.0 * probs(r, k));
        if (in.labeled) std::printf(" label %d%s", label, label == k ? "" : " WRONG");
        std::printf("  ");
        for (Eigen::Index c = 0; c < probs.cols(); ++c) {
          std::printf(" %d:%.3f", static_cast<int>(c), probs(r, c));
        }
        std::printf("\n");
      }
    }
  };
  for (const std::string& f : files.csv) {
    StatusOr<ModelInputs> in = LoadCsvForModel(f, m.steps, m.features);
    if (!in.ok()) return Fail(in.status());
    classify(f, *in);
  }
  for (const std::string& f : files.idx) {
    StatusOr<IdxImages> images = ReadIdxImages(f);
    if (!images.ok()) return Fail(images.status());
    if (images->rows != m.steps || images->cols != m.features) {
      return Fail(InvalidArgument(f + ": images are " + std::to_string(images->rows) + "x" +
                                  std::to_string(images->cols) + ", but the model reads " +
                                  ModelShape(m) + " (" + std::to_string(m.steps) + "x" +
                                  std::to_string(m.features) + " images, one row a step)"));
    }
    ModelInputs in;
    in.data.count = images->count;
    in.data.rows = images->rows;
    in.data.cols = images->cols;
    in.data.pixels = std::move(images->pixels);  // read as training reads them (engine/mnist.h)
    in.data.labels.assign(static_cast<size_t>(images->count), 0);
    classify(f, in);
  }
  if (labeled > 0 && !as_json) {
    std::printf("accuracy: %.4f (%lld of %lld labeled rows)\n", double(right) / labeled,
                static_cast<long long>(right), static_cast<long long>(labeled));
  }
  return 0;
}

// Classifies digit images with a trained model: the digit and the ten probabilities. A model of
// another shape (trained on a user's own data) reads --csv rows or --idx images instead.
int RunPredict(const std::string& model_path, const TrialRef& ref,
               const std::vector<std::string>& images, const PredictFiles& files, bool as_json) {
  if (images.empty() && files.csv.empty() && files.idx.empty()) {
    return Fail(InvalidArgument("give image files, --csv FILE or --idx FILE to classify"));
  }
  StatusOr<Model> model = ModelFrom(model_path, ref);
  if (!model.ok()) return Fail(model.status());
  const ModelConfig& m = model->config.model;
  json rows = json::array();
  if (m.task == Task::kRegression) {  // its predicted values (cli/train_output.h)
    if (!images.empty() || !files.idx.empty()) {
      return Fail(InvalidArgument("a regression model reads --csv rows (" + ModelShape(m) + ")"));
    }
    Status s = PredictRegression(*model, files.csv, as_json, &rows);
    if (!s.ok()) return Fail(s);
    if (as_json) std::cout << rows.dump(1) << "\n";
    return 0;
  }
  if (!files.csv.empty() || !files.idx.empty()) {
    const int code = PredictRows(*model, files, as_json, &rows);
    if (code != 0) return code;
    if (images.empty()) {
      if (as_json) std::cout << rows.dump(1) << "\n";
      return 0;
    }
  }
  if (m.steps * m.features != 28 * 28) {
    return Fail(
        InvalidArgument("the model reads " + ModelShape(m) +
                        ", not 28x28 digit images: give its inputs as --csv FILE (rows of " +
                        std::to_string(m.steps * m.features) + " values) or --idx FILE (" +
                        std::to_string(m.steps) + "x" + std::to_string(m.features) + " images)"));
  }
  // A bad image is reported and skipped: the others are still classified (exit 1 if any failed).
  std::vector<float> pixels;
  std::vector<std::string> errors(images.size());
  std::vector<size_t> good;
  Status first_error;
  for (size_t i = 0; i < images.size(); ++i) {
    StatusOr<std::vector<float>> img = LoadDigitImage(images[i]);
    if (!img.ok()) {
      std::cerr << "hpsweep: " << img.status().ToString() << "\n";
      errors[i] = img.status().ToString();
      if (first_error.ok()) first_error = img.status();
      continue;
    }
    good.push_back(i);
    pixels.insert(pixels.end(), img->begin(), img->end());
  }
  Mat<float> probs;
  if (!good.empty()) {
    probs = PredictProba(*model, pixels.data(), static_cast<int64_t>(good.size()), 1);
  }
  json out = std::move(rows);
  size_t row = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    if (!errors[i].empty()) {
      if (as_json) out.push_back({{"image", images[i]}, {"error", errors[i]}});
      continue;
    }
    const Eigen::Index r = static_cast<Eigen::Index>(row++);
    Eigen::Index digit;
    probs.row(r).maxCoeff(&digit);
    if (as_json) {
      json p = json::array();
      for (Eigen::Index c = 0; c < probs.cols(); ++c) p.push_back(probs(r, c));
      out.push_back({{"image", images[i]}, {"digit", digit}, {"probabilities", p}});
      continue;
    }
    std::printf("%s: %d (%.1f%%)  ", images[i].c_str(), static_cast<int>(digit),
                100.0 * probs(r, digit));
    for (Eigen::Index c = 0; c < probs.cols(); ++c) {
      std::printf(" %d:%.3f", static_cast<int>(c), probs(r, c));
    }
    std::printf("\n");
  }
  if (as_json) std::cout << out.dump(1) << "\n";
  if (first_error.ok()) return 0;
  // Every image bad: the code of the error (2: not found or not an image); some bad: 1.
  return good.empty() ? ExitCodeOf(first_error) : 1;
}

// Times training steps on random data of MNIST's shape; prints the median of `rounds` rounds.
int RunBench(const ModelFlags& flags, int threads, double seconds, int rounds) {
  StatusOr<TrialConfig> config = flags.Build();
  if (!config.ok()) return Fail(config.status());
  if (Status s = CheckPrecision(config->train); !s.ok()) return Fail(s);
  TuneAllocatorForTraining();
  const ModelConfig& m = config->model;
  const int B = config->train.batch_size;
  const int64_t pool = 4096;
  const int64_t pixels = static_cast<int64_t>(m.steps) * m.features;
  std::vector<float> images(pool * pixels);
  std::vector<uint8_t> labels(pool);
  Rng rng(1);
  for (float& p : images) p = rng.UniformFloat();
  for (uint8_t& l : labels) l = static_cast<uint8_t>(rng.Below(m.classes));
  std::vector<int64_t> idx(pool);
  std::iota(idx.begin(), idx.end(), 0);
  Model model = InitModel(*config);
  TrainStepper stepper(*config, model.params.data(), threads);
  std::vector<double> rates;
  int64_t step = 0;
  auto one_step = [&] {
    const int64_t lo = (step * B) % (pool - B);
    stepper.Step(images.data(), labels.data(), idx.data() + lo, B, ++step);
  };
  for (int i = 0; i < 3; ++i) one_step();  // warm-up: buffers sized, caches filled
  std::printf(
      "bench: %s%s units=%d layers=%d dense=%s batch=%d threads=%d params=%lld precision=%s\n",
      m.bidirectional ? "bidirectional " : "", CellName(m.cell), m.units, m.layers,
      GetKey(*config, "dense").c_str(), B, threads, static_cast<long long>(model.params.size()),
      ResolvePrecision(config->train.precision) == Precision::kBf16 ? "bf16" : "fp32");
  std::printf("cpu: %s; this CPU's products: %s\n", CpuSummary().c_str(),
              Bf16Description().c_str());
  for (int r = 0; r < rounds; ++r) {
    int64_t steps = 0;
    auto t0 = std::chrono::steady_clock::now();
    double el = 0;
    while (el < seconds) {
      one_step();
      ++steps;
      el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    rates.push_back(steps * B / el);
    std::printf("round %d: %.0f samples/s (%lld steps in %.2fs)\n", r + 1, rates.back(),
                static_cast<long long>(steps), el);
  }
  std::sort(rates.begin(), rates.end());
  std::printf("median training samples/s:\n%.0f\n", rates[rates.size() / 2]);
  return 0;
}

// Every subcommand takes extras (allow_extras) so that an unknown flag is reported here, with
// the nearest real one, instead of CLI11's "The following arguments were not expected".
void AllowExtras(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    sub->allow_extras();
    AllowExtras(sub);
  }
}

// 0, or 2 after saying which argument of the parsed subcommand (or its own subcommands) is unknown.
int CheckExtras(CLI::App* app, const std::string& path) {
  for (CLI::App* sub : app->get_subcommands()) {
    const std::string name = path + " " + sub->get_name();
    const std::vector<std::string> extra = sub->remaining();
    if (!extra.empty()) {
      const std::string& arg = extra.front();
      if (arg.size() < 2 || arg[0] != '-') {
        std::cerr << name << ": unexpected argument '" << arg << "'; see " << name << " --help\n";
        return 2;
      }
      // Flags as keys: dashes to underscores, so the sweep-file aliases (num_units...) apply.
      const size_t start = arg.find_first_not_of('-');
      std::string key = start == std::string::npos ? "" : arg.substr(start);
      key = key.substr(0, key.find('='));
      std::replace(key.begin(), key.end(), '-', '_');
      std::vector<std::string> known;
      for (const CLI::Option* o : sub->get_options()) {
        for (std::string n : o->get_lnames()) {
          std::replace(n.begin(), n.end(), '-', '_');
          known.push_back(n);
        }
      }
      const std::string near = NearestKey(key, known);
      std::cerr << name << ": unknown flag " << arg.substr(0, arg.find('='));
      if (!near.empty()) std::cerr << "; did you mean --" << Dashed(near) << "?";
      std::cerr << " (see " << name << " --help)\n";
      return 2;
    }
    if (int code = CheckExtras(sub, name); code != 0) return code;
  }
  return 0;
}

}  // namespace
}  // namespace hpsweep

int main(int argc, char** argv) {
  using namespace hpsweep;
  // A write past the file-size limit (ulimit -f) then fails with EFBIG, which SQLite and every
  // other writer report as an error, instead of SIGXFSZ killing the process with nothing logged
  // (and a coordinator with it). Inherited by the workers `run` starts.
  signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"hpsweep: hyperparameter sweeps of RNN/LSTM/MLP models on MNIST"};
  app.set_version_flag("--version", HPSWEEP_VERSION);
  app.require_subcommand(1);

  ModelFlags train_flags, summary_flags, bench_flags;
  std::string data_dir = DefaultDataDir(), save_path, model_path;
  int threads = 1, rounds = 5;
  bool as_json = false;
  double seconds = 2.0;

  CLI::App* train = app.add_subcommand("train", "train one model on MNIST, validate, test");
  train_flags.Add(train);
  train->add_option("--data-dir", data_dir, "folder with the four MNIST IDX files")
      ->capture_default_str();
  DataFlags data_flags;
  data_flags.Add(train);
  train->add_option("--threads", threads, "OpenMP threads")->check(CLI::Range(1, 256));
  train->add_flag("--json", as_json, "print one JSON object instead of progress");
  train->add_option("--save", save_path, "write the trained model to this file");
  std::string schedule_path;
  train->add_option("--schedule", schedule_path,
                    "replay a population member's params by epoch: a JSON list of {epoch, "
                    "params} (or an export's trial with a \"schedule\" key)");
  std::string train_metric = "val_accuracy";
  train
      ->add_option("--metric", train_metric,
                   "val_accuracy (highest) or val_loss (lowest): the best epoch for keep: best "
                   "and what early_stopping watches; --task regression: val_mse (for "
                   "val_accuracy) or val_mae")
      ->capture_default_str();

  CLI::App* summary = app.add_subcommand("summary", "print the model like Keras's summary()");
  summary_flags.Add(summary);
  summary->add_option("--model", model_path, "summarise a saved model file instead");
  TrialRef ref;
  summary->add_option("--trial", ref.trial, "summarise trial #N of --sweep, or 'best'");
  summary->add_option(
      "--sweep", ref.sweep,
      "the sweep of --trial (default: the latest; for best, the latest not cancelled)");
  summary->add_option("--db", ref.db, "read the trial from this SQLite file");
  summary->add_option("--objective", ref.objective,
                  "with --trial best on a sweep of several objectives: the best on this one");
  summary->add_option("--coordinator", ref.coordinator, "else ask this coordinator")
      ->capture_default_str();
  AddClientSecurityOptions(summary, &ref.security);

  CLI::App* predict =
      app.add_subcommand("predict",
                         "classify digit images, or --csv rows / --idx images of a model trained "
                         "on your own data");
  std::vector<std::string> predict_images;
  predict->add_option("images", predict_images,
                      "PNG, JPEG, BMP, GIF or PGM files, any size (a model of 28x28 digits)");
  PredictFiles predict_files;
  predict->add_option("--csv", predict_files.csv,
                      "CSV rows of the model's steps x features values (a label first is "
                      "allowed, as in training files); repeatable");
  predict->add_option("--idx", predict_files.idx,
                      "an IDX image file (plain or .gz) of the model's image size; repeatable");
  predict->add_option("--model", model_path, "a saved model file");
  predict->add_option("--trial", ref.trial, "trial #N of --sweep, or 'best'");
  predict->add_option(
      "--sweep", ref.sweep,
      "the sweep of --trial (default: the latest; for best, the latest not cancelled)");
  predict->add_option("--db", ref.db, "read the trial from this SQLite file");
  predict->add_option("--objective", ref.objective,
                  "with --trial best on a sweep of several objectives: the best on this one");
  predict->add_option("--coordinator", ref.coordinator, "else ask this coordinator")
      ->capture_default_str();
  AddClientSecurityOptions(predict, &ref.security);
  predict->add_flag("--json", as_json, "print a JSON list");

  ExportModelFlags export_flags;
  CLI::App* export_model = AddExportModelCommand(&app, &model_path, &ref, &export_flags);
  CLI::App* bench = app.add_subcommand("bench", "time training steps; last line: samples/s");
  bench_flags.Add(bench);
  bench->add_option("--threads", threads, "OpenMP threads")->check(CLI::Range(1, 256));
  bench->add_option("--seconds", seconds, "length of one timed round")
      ->check(CLI::Range(0.1, 600.0));
  bench->add_option("--rounds", rounds, "timed rounds (the median is reported)")
      ->check(CLI::Range(1, 100));

  // The sweep commands' workers report a missing folder themselves (naming the path).
  std::function<int()> run_sweep_command =
      AddSweepCommands(&app, data_dir.empty() ? "data/mnist" : data_dir);
  std::function<int()> run_auth_command = AddAuthCommands(&app);

  AllowExtras(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // An unknown flag's value may have landed in a positional ("Could not convert: sweep = csv"
    // for --formt csv): the unknown flag is the news.
    if (e.get_exit_code() != 0) {
      if (int code = CheckExtras(&app, "hpsweep"); code != 0) return code;
    }
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (int code = CheckExtras(&app, "hpsweep"); code != 0) return code;
  if (*train) {
    return RunTrain(train_flags, data_flags, data_dir, threads, as_json, save_path, train_metric,
                    schedule_path);
  }
  if (*summary) return RunSummary(summary_flags, model_path, ref);
  if (*predict) return RunPredict(model_path, ref, predict_images, predict_files, as_json);
  if (*export_model) return RunExportModel(model_path, ref, export_flags);
  if (*bench) return RunBench(bench_flags, threads, seconds, rounds);
  int code = run_sweep_command();
  if (code < 0) code = run_auth_command();
  return code >= 0 ? code : 2;
}
