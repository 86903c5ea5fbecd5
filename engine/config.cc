#include "engine/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <utility>

namespace hpsweep {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '"' || s[b] == '\'')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '"' || s[e - 1] == '\'')) --e;
  return std::string(s.substr(b, e - b));
}

Status Bad(std::string_view key, std::string_view value, const std::string& want) {
  return InvalidArgument("key '" + std::string(key) + "': " + want + ", got '" +
                         std::string(value) + "'");
}

// Splits "[64, 32]", "64,32" or "64" into items; "[]" and "" give none.
std::vector<std::string> SplitList(std::string_view value) {
  std::string s = Trim(value);
  if (!s.empty() && s.front() == '[') s.erase(0, 1);
  if (!s.empty() && s.back() == ']') s.pop_back();
  std::vector<std::string> items;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

bool ParseInt(const std::string& s, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool ParseFloat(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

Status IntIn(std::string_view key, std::string_view value, long long lo, long long hi, int* out) {
  long long v;
  if (!ParseInt(Trim(value), &v)) return Bad(key, value, "expected an integer");
  if (v < lo || v > hi) {
    return Bad(key, value,
               "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

// A float in [lo, hi) (hi_open) or [lo, hi].
Status FloatIn(std::string_view key, std::string_view value, double lo, double hi, bool hi_open,
               float* out) {
  double v;
  if (!ParseFloat(Trim(value), &v)) return Bad(key, value, "expected a number");
  if (v < lo || v > hi || (hi_open && v >= hi)) {
    std::ostringstream want;
    want << "expected a number in [" << lo << ", " << hi << (hi_open ? ")" : "]");
    return Bad(key, value, want.str());
  }
  *out = static_cast<float>(v);
  return Status::Ok();
}

// A float in (0, hi] (hi_open false) or (0, hi): a factor that must not be 0.
Status FactorIn(std::string_view key, std::string_view value, double hi, bool hi_open, float* out) {
  double v;
  if (!ParseFloat(Trim(value), &v)) return Bad(key, value, "expected a number");
  if (v <= 0 || v > hi || (hi_open && v >= hi)) {
    std::ostringstream want;
    want << "expected a number in (0, " << hi << (hi_open ? ")" : "]");
    return Bad(key, value, want.str());
  }
  *out = static_cast<float>(v);
  return Status::Ok();
}

Status DoubleIn(std::string_view key, std::string_view value, double lo, double hi, double* out) {
  double v;
  if (!ParseFloat(Trim(value), &v)) return Bad(key, value, "expected a number");
  if (v < lo || v >= hi) {
    std::ostringstream want;
    want << "expected a number in [" << lo << ", " << hi << ")";
    return Bad(key, value, want.str());
  }
  *out = v;
  return Status::Ok();
}

Status ParseBool(std::string_view key, std::string_view value, bool* out) {
  std::string s = Trim(value);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "1" || s == "yes") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no") {
    *out = false;
  } else {
    return Bad(key, value, "expected true or false");
  }
  return Status::Ok();
}

// `value` as one of `names` (a name and its value; aliases are more names with the same value);
// otherwise an error that says what was `expected`.
template <typename T>
Status ParseName(std::string_view key, std::string_view value,
                 std::initializer_list<std::pair<const char*, T>> names, const char* expected,
                 T* out) {
  const std::string s = Trim(value);
  for (const auto& [name, v] : names) {
    if (s == name) {
      *out = v;
      return Status::Ok();
    }
  }
  return Bad(key, value, expected);
}

Status ParseActivation(std::string_view key, std::string_view value, Activation* out) {
  return ParseName(key, value,
                   {{"linear", Activation::kLinear},
                    {"relu", Activation::kRelu},
                    {"tanh", Activation::kTanh},
                    {"sigmoid", Activation::kSigmoid}},
                   "expected one of linear, relu, tanh, sigmoid", out);
}

// The shortest text that reads back as exactly v: 0.001f prints as "0.001", not "0.00100000005".
std::string FormatFloat(float v) {
  char buf[32];
  for (int p = 6; p <= 9; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

std::string FormatDouble(double v) {
  char buf[40];
  for (int p = 6; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string FormatItem(float v) { return FormatFloat(v); }
std::string FormatItem(int v) { return std::to_string(v); }

template <typename T>
std::string JoinList(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + FormatItem(v[i]);
  return s + "]";
}

}  // namespace

const char* CellName(Cell c) {
  switch (c) {
    case Cell::kDense: return "dense";
    case Cell::kSimpleRnn: return "simple_rnn";
    case Cell::kLstm: return "lstm";
    case Cell::kGru: return "gru";
  }
  return "?";
}

const char* ActivationName(Activation a) {
  switch (a) {
    case Activation::kLinear: return "linear";
    case Activation::kRelu: return "relu";
    case Activation::kTanh: return "tanh";
    case Activation::kSigmoid: return "sigmoid";
    case Activation::kSoftmax: return "softmax";
  }
  return "?";
}

const char* OptimizerName(Optimizer o) {
  switch (o) {
    case Optimizer::kSgd: return "sgd";
    case Optimizer::kAdam: return "adam";
    case Optimizer::kRmsprop: return "rmsprop";
  }
  return "?";
}

const char* TaskName(Task t) { return t == Task::kRegression ? "regression" : "classification"; }

const char* LossName(Loss l) {
  switch (l) {
    case Loss::kAuto: return "auto";
    case Loss::kSparseCategorical: return "sparse_categorical_crossentropy";
    case Loss::kCategorical: return "categorical_crossentropy";
    case Loss::kMse: return "mse";
    case Loss::kMae: return "mae";
    case Loss::kHuber: return "huber";
  }
  return "?";
}

bool IsRegressionLoss(Loss l) { return l == Loss::kMse || l == Loss::kMae || l == Loss::kHuber; }

const char* LrScheduleName(LrSchedule s) {
  switch (s) {
    case LrSchedule::kConstant: return "constant";
    case LrSchedule::kStep: return "step";
    case LrSchedule::kExponential: return "exponential";
    case LrSchedule::kCosine: return "cosine";
    case LrSchedule::kReduceOnPlateau: return "reduce_on_plateau";
  }
  return "?";
}

const char* KeepName(Keep k) { return k == Keep::kBest ? "best" : "last"; }

const char* TrialPrecisionName(TrialPrecision p) {
  switch (p) {
    case TrialPrecision::kFp32: return "fp32";
    case TrialPrecision::kBf16: return "bf16";
    case TrialPrecision::kAuto: return "auto";
  }
  return "?";
}

float ModelConfig::DropoutAfter(int i) const {
  if (dropout.empty()) return 0.0f;
  if (dropout.size() == 1) return dropout[0];
  return i < static_cast<int>(dropout.size()) ? dropout[i] : 0.0f;
}

float TrainConfig::EffectiveLearningRate() const {
  if (learning_rate > 0) return learning_rate;
  return optimizer == Optimizer::kSgd ? 0.01f : 0.001f;
}

Loss TrainConfig::EffectiveLoss(Task task) const {
  if (loss != Loss::kAuto) return loss;
  return task == Task::kRegression ? Loss::kMse : Loss::kSparseCategorical;
}

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> keys = {
      "cell",          "units",      "layers",           "activation", "recurrent_dropout",
      "dropout",       "dense",      "dense_activation", "output",     "optimizer",
      "learning_rate", "momentum",   "nesterov",         "batch_size", "epochs",
      "loss",          "validation", "validation_split", "seed",       "train_limit",
      "clipnorm",      "clipvalue",  "global_clipnorm",  "weight_decay", "lr_schedule",
      "lr_drop",       "lr_every",   "lr_decay_rate",    "lr_decay_steps", "warmup_epochs",
      "lr_factor",     "lr_patience", "lr_min",
      "validation_shuffle", "validation_stratify",
      // which weights a trial keeps; early stopping
      "keep", "early_stopping", "patience", "min_delta", "restore_best_weights",
      // Keras's Bidirectional around every recurrent layer
      "bidirectional",
      // the precision of the matrix products
      "precision",
      // classification or regression (README.md, "Regression")
      "task", "huber_delta"};
  return keys;
}

bool IsConfigKey(std::string_view key) {
  for (const auto& k : ConfigKeys()) {
    if (k == key) return true;
  }
  return false;
}

namespace {

// The keys of clipping, weight decay and the learning-rate schedule; NotFound for any other key.
Status ApplyScheduleKey(std::string_view key, std::string_view value, TrainConfig* t) {
  if (key == "clipnorm") return FloatIn(key, value, 0.0, 1e6, false, &t->clipnorm);
  if (key == "clipvalue") return FloatIn(key, value, 0.0, 1e6, false, &t->clipvalue);
  if (key == "global_clipnorm") return FloatIn(key, value, 0.0, 1e6, false, &t->global_clipnorm);
  if (key == "weight_decay") return FloatIn(key, value, 0.0, 1.0, false, &t->weight_decay);
  if (key == "lr_schedule") {
    return ParseName(key, value,
                     {{"constant", LrSchedule::kConstant},
                      {"step", LrSchedule::kStep},
                      {"exponential", LrSchedule::kExponential},
                      {"cosine", LrSchedule::kCosine},
                      {"reduce_on_plateau", LrSchedule::kReduceOnPlateau}},
                     "expected one of constant, step, exponential, cosine, reduce_on_plateau",
                     &t->lr_schedule);
  }
  if (key == "lr_drop") return FactorIn(key, value, 1.0, false, &t->lr_drop);
  if (key == "lr_every") return IntIn(key, value, 1, 10000, &t->lr_every);
  if (key == "lr_decay_rate") return FactorIn(key, value, 1.0, false, &t->lr_decay_rate);
  if (key == "lr_decay_steps") return IntIn(key, value, 1, 1000000000, &t->lr_decay_steps);
  if (key == "warmup_epochs") return IntIn(key, value, 0, 10000, &t->warmup_epochs);
  if (key == "lr_factor") return FactorIn(key, value, 1.0, true, &t->lr_factor);  // Keras: < 1
  if (key == "lr_patience") return IntIn(key, value, 0, 10000, &t->lr_patience);
  if (key == "lr_min") return FloatIn(key, value, 0.0, 10.0, false, &t->lr_min);
  return NotFound("");
}

// The keys of the kept weights and early stopping; NotFound for any other key.
Status ApplyKeepKey(std::string_view key, std::string_view value, TrainConfig* t) {
  if (key == "keep") {
    return ParseName(key, value, {{"best", Keep::kBest}, {"last", Keep::kLast}},
                     "expected best or last", &t->keep);
  }
  if (key == "early_stopping") return ParseBool(key, value, &t->early_stopping);
  if (key == "patience") return IntIn(key, value, 0, 10000, &t->patience);
  if (key == "min_delta") {
    return DoubleIn(key, value, 0.0, std::numeric_limits<double>::infinity(), &t->min_delta);
  }
  if (key == "restore_best_weights") return ParseBool(key, value, &t->restore_best_weights);
  return NotFound("");
}

}  // namespace

Status ApplyKey(std::string_view key, std::string_view value, TrialConfig* config) {
  ModelConfig& m = config->model;
  TrainConfig& t = config->train;
  const std::string v = Trim(value);
  if (key == "cell") {
    return ParseName(key, value,
                     {{"dense", Cell::kDense},
                      {"mlp", Cell::kDense},
                      {"simple_rnn", Cell::kSimpleRnn},
                      {"rnn", Cell::kSimpleRnn},
                      {"simplernn", Cell::kSimpleRnn},
                      {"lstm", Cell::kLstm},
                      {"gru", Cell::kGru}},
                     "expected one of dense, simple_rnn, lstm, gru", &m.cell);
  }
  if (key == "units") return IntIn(key, value, 1, 4096, &m.units);
  if (key == "layers") return IntIn(key, value, 0, 16, &m.layers);
  if (key == "activation") return ParseActivation(key, value, &m.activation);
  if (key == "bidirectional") return ParseBool(key, value, &m.bidirectional);
  if (key == "dense_activation") return ParseActivation(key, value, &m.dense_activation);
  if (key == "recurrent_dropout") {
    return FloatIn(key, value, 0.0, 1.0, true, &m.recurrent_dropout);
  }
  if (key == "dropout") {
    std::vector<float> rates;
    for (const std::string& item : SplitList(value)) {
      float r;
      HPSWEEP_RETURN_IF_ERROR(FloatIn(key, item, 0.0, 1.0, true, &r));
      rates.push_back(r);
    }
    m.dropout = rates;
    return Status::Ok();
  }
  if (key == "dense") {
    std::vector<int> widths;
    for (const std::string& item : SplitList(value)) {
      int w;
      HPSWEEP_RETURN_IF_ERROR(IntIn(key, item, 1, 8192, &w));
      widths.push_back(w);
    }
    m.dense = widths;
    return Status::Ok();
  }
  if (key == "output") {
    return ParseName(key, value, {{"softmax", false}, {"logits", true}, {"linear", true}},
                     "expected softmax or logits", &m.logits);
  }
  if (key == "optimizer") {
    return ParseName(
        key, value,
        {{"sgd", Optimizer::kSgd}, {"adam", Optimizer::kAdam}, {"rmsprop", Optimizer::kRmsprop}},
        "expected one of sgd, adam, rmsprop", &t.optimizer);
  }
  if (key == "learning_rate") return FloatIn(key, value, 1e-8, 10.0, false, &t.learning_rate);
  if (key == "momentum") return FloatIn(key, value, 0.0, 1.0, true, &t.momentum);
  if (key == "nesterov") return ParseBool(key, value, &t.nesterov);
  if (key == "batch_size") return IntIn(key, value, 1, 65536, &t.batch_size);
  if (key == "epochs") return IntIn(key, value, 1, 10000, &t.epochs);
  if (key == "loss") {
    return ParseName(key, value,
                     {{"sparse_categorical_crossentropy", Loss::kSparseCategorical},
                      {"sparse", Loss::kSparseCategorical},
                      {"categorical_crossentropy", Loss::kCategorical},
                      {"categorical", Loss::kCategorical},
                      {"mse", Loss::kMse},
                      {"mean_squared_error", Loss::kMse},
                      {"mae", Loss::kMae},
                      {"mean_absolute_error", Loss::kMae},
                      {"huber", Loss::kHuber}},
                     "expected sparse_categorical_crossentropy or categorical_crossentropy "
                     "(classification), or mse, mae or huber (regression)",
                     &t.loss);
  }
  if (key == "task") {
    return ParseName(key, value,
                     {{"classification", Task::kClassification}, {"regression", Task::kRegression}},
                     "expected classification or regression", &m.task);
  }
  if (key == "huber_delta") return FactorIn(key, value, 1e6, false, &t.huber_delta);
  if (key == "validation") {
    return ParseName(key, value, {{"split", Validation::kSplit}, {"test", Validation::kTest}},
                     "expected split or test", &t.validation);
  }
  if (key == "validation_split") {
    return DoubleIn(key, value, 0.0, 1.0, &t.validation_split);
  }
  if (key == "validation_shuffle") return ParseBool(key, value, &t.validation_shuffle);
  if (key == "validation_stratify") return ParseBool(key, value, &t.validation_stratify);
  if (key == "train_limit") {
    long long n;
    if (!ParseInt(v, &n) || n < 0) return Bad(key, value, "expected a non-negative integer");
    t.train_limit = n;
    return Status::Ok();
  }
  if (key == "seed") {
    char* end = nullptr;
    errno = 0;
    const unsigned long long s = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || errno != 0 || *end != '\0') {
      return Bad(key, value, "expected an integer in [0, 2^64)");
    }
    t.seed = static_cast<uint64_t>(s);
    return Status::Ok();
  }
  if (key == "precision") {
    return ParseName(key, value,
                     {{"fp32", TrialPrecision::kFp32},
                      {"bf16", TrialPrecision::kBf16},
                      {"auto", TrialPrecision::kAuto}},
                     "expected fp32, bf16 or auto", &t.precision);
  }
  if (Status s = ApplyScheduleKey(key, value, &t); s.code() != StatusCode::kNotFound) return s;
  if (Status s = ApplyKeepKey(key, value, &t); s.code() != StatusCode::kNotFound) return s;
  return InvalidArgument("unknown key '" + std::string(key) + "'");
}

std::string GetKey(const TrialConfig& config, std::string_view key) {
  const ModelConfig& m = config.model;
  const TrainConfig& t = config.train;
  if (key == "cell") return CellName(m.cell);
  if (key == "units") return std::to_string(m.units);
  if (key == "layers") return std::to_string(m.layers);
  if (key == "activation") return ActivationName(m.activation);
  if (key == "recurrent_dropout") return FormatFloat(m.recurrent_dropout);
  if (key == "bidirectional") return m.bidirectional ? "true" : "false";
  if (key == "dropout") return JoinList(m.dropout);
  if (key == "dense") return JoinList(m.dense);
  if (key == "dense_activation") return ActivationName(m.dense_activation);
  if (key == "output") {
    if (m.task == Task::kRegression) return "linear";  // a regression model's output is linear
    return m.logits ? "logits" : "softmax";
  }
  if (key == "optimizer") return OptimizerName(t.optimizer);
  if (key == "learning_rate") return FormatFloat(t.EffectiveLearningRate());
  if (key == "momentum") return FormatFloat(t.momentum);
  if (key == "nesterov") return t.nesterov ? "true" : "false";
  if (key == "batch_size") return std::to_string(t.batch_size);
  if (key == "epochs") return std::to_string(t.epochs);
  if (key == "loss") return LossName(t.EffectiveLoss(m.task));
  if (key == "validation") return t.validation == Validation::kTest ? "test" : "split";
  if (key == "validation_split") return FormatDouble(t.validation_split);
  if (key == "validation_shuffle") return t.validation_shuffle ? "true" : "false";
  if (key == "validation_stratify") return t.validation_stratify ? "true" : "false";
  if (key == "seed") return std::to_string(t.seed);
  if (key == "train_limit") return std::to_string(t.train_limit);
  if (key == "clipnorm") return FormatFloat(t.clipnorm);
  if (key == "clipvalue") return FormatFloat(t.clipvalue);
  if (key == "global_clipnorm") return FormatFloat(t.global_clipnorm);
  if (key == "weight_decay") return FormatFloat(t.weight_decay);
  if (key == "lr_schedule") return LrScheduleName(t.lr_schedule);
  if (key == "lr_drop") return FormatFloat(t.lr_drop);
  if (key == "lr_every") return std::to_string(t.lr_every);
  if (key == "lr_decay_rate") return FormatFloat(t.lr_decay_rate);
  if (key == "lr_decay_steps") return std::to_string(t.lr_decay_steps);
  if (key == "warmup_epochs") return std::to_string(t.warmup_epochs);
  if (key == "lr_factor") return FormatFloat(t.lr_factor);
  if (key == "lr_patience") return std::to_string(t.lr_patience);
  if (key == "lr_min") return FormatFloat(t.lr_min);
  // which weights a trial keeps; early stopping
  if (key == "keep") return KeepName(t.keep);
  if (key == "early_stopping") return t.early_stopping ? "true" : "false";
  if (key == "patience") return std::to_string(t.patience);
  if (key == "min_delta") return FormatDouble(t.min_delta);
  if (key == "restore_best_weights") return t.restore_best_weights ? "true" : "false";
  if (key == "precision") return TrialPrecisionName(t.precision);
  if (key == "task") return TaskName(m.task);
  if (key == "huber_delta") return FormatFloat(t.huber_delta);
  return "";
}

namespace {

// Clipping (one kind at most, as Keras) and the schedule's parameters (each only with its own
// schedule, changed from its default; cosine's warmup shorter than the training).
Status ValidateSchedule(const TrialConfig& config) {
  const TrainConfig& t = config.train;
  const TrainConfig defaults;
  std::vector<std::string> clips;
  const std::pair<const char*, float> clip_keys[] = {
      {"clipnorm", t.clipnorm}, {"clipvalue", t.clipvalue}, {"global_clipnorm", t.global_clipnorm}};
  for (const auto& [k, v] : clip_keys) {
    if (v > 0) clips.push_back(k);
  }
  if (clips.size() > 1) {
    return InvalidArgument("key '" + clips[1] + "': only one of clipnorm, clipvalue, " +
                           "global_clipnorm may be set (as Keras), got " + clips[0] + "=" +
                           GetKey(config, clips[0]) + " and " + clips[1] + "=" +
                           GetKey(config, clips[1]));
  }
  struct Owned {
    const char* key;
    bool changed;
    LrSchedule owner;
  };
  const Owned owned[] = {
      {"lr_drop", t.lr_drop != defaults.lr_drop, LrSchedule::kStep},
      {"lr_every", t.lr_every != defaults.lr_every, LrSchedule::kStep},
      {"lr_decay_rate", t.lr_decay_rate != defaults.lr_decay_rate, LrSchedule::kExponential},
      {"lr_decay_steps", t.lr_decay_steps != defaults.lr_decay_steps, LrSchedule::kExponential},
      {"warmup_epochs", t.warmup_epochs != defaults.warmup_epochs, LrSchedule::kCosine},
      {"lr_factor", t.lr_factor != defaults.lr_factor, LrSchedule::kReduceOnPlateau},
      {"lr_patience", t.lr_patience != defaults.lr_patience, LrSchedule::kReduceOnPlateau},
      {"lr_min", t.lr_min != defaults.lr_min, LrSchedule::kReduceOnPlateau},
  };
  for (const Owned& o : owned) {
    if (o.changed && t.lr_schedule != o.owner) {
      return InvalidArgument("key '" + std::string(o.key) + "': only lr_schedule=" +
                             LrScheduleName(o.owner) + " uses it (lr_schedule is " +
                             LrScheduleName(t.lr_schedule) + ")");
    }
  }
  if (t.lr_schedule == LrSchedule::kCosine && t.warmup_epochs >= t.epochs) {
    return InvalidArgument("key 'warmup_epochs': must be less than epochs (" +
                           std::to_string(t.epochs) + "), got " + std::to_string(t.warmup_epochs));
  }
  if ((t.validation_shuffle || t.validation_stratify) &&
      (t.validation != Validation::kSplit || t.validation_split <= 0)) {
    return InvalidArgument(
        std::string("key '") + (t.validation_stratify ? "validation_stratify" : "validation_shuffle") +
        "': chooses the rows validation_split takes; it needs validation=split and "
        "validation_split > 0");
  }
  if (t.lr_schedule == LrSchedule::kReduceOnPlateau && t.validation == Validation::kSplit &&
      t.validation_split <= 0) {
    return InvalidArgument(
        "key 'lr_schedule': reduce_on_plateau watches val_loss; it needs validation data "
        "(validation_split > 0 or validation=test)");
  }
  return Status::Ok();
}

// Early stopping's parameters only with it on; it watches validation data, so it needs some.
Status ValidateEarlyStopping(const TrainConfig& t) {
  const TrainConfig defaults;
  const std::pair<const char*, bool> owned[] = {
      {"patience", t.patience != defaults.patience},
      {"min_delta", t.min_delta != defaults.min_delta},
      {"restore_best_weights", t.restore_best_weights != defaults.restore_best_weights}};
  for (const auto& [key, changed] : owned) {
    if (changed && !t.early_stopping) {
      return InvalidArgument("key '" + std::string(key) +
                             "': only early_stopping=true uses it (early_stopping is false)");
    }
  }
  if (t.early_stopping && t.validation == Validation::kSplit && t.validation_split <= 0) {
    return InvalidArgument(
        "key 'early_stopping': it watches the sweep's metric on validation data; it needs "
        "validation data (validation_split > 0 or validation=test)");
  }
  return Status::Ok();
}

// The loss fits the task; huber_delta only with huber; what a regression model cannot have.
Status ValidateTask(const TrialConfig& config) {
  const TrainConfig& t = config.train;
  const Task task = config.model.task;
  const Loss loss = t.EffectiveLoss(task);
  if (task == Task::kRegression && !IsRegressionLoss(loss)) {
    return InvalidArgument(std::string("key 'loss': ") + LossName(loss) +
                           " is a classification loss; task is regression: use mse, mae or huber");
  }
  if (task == Task::kClassification && IsRegressionLoss(loss)) {
    return InvalidArgument(std::string("key 'loss': ") + LossName(loss) +
                           " is a regression loss; task is classification: use "
                           "sparse_categorical_crossentropy or categorical_crossentropy (or set "
                           "task: regression)");
  }
  if (t.huber_delta != TrainConfig().huber_delta && loss != Loss::kHuber) {
    return InvalidArgument(std::string("key 'huber_delta': only loss=huber uses it (loss is ") +
                           LossName(loss) + ")");
  }
  if (task == Task::kRegression && t.validation_stratify) {
    return InvalidArgument(
        "key 'validation_stratify': draws validation rows class by class; task is regression, "
        "whose targets have no classes (use validation_shuffle)");
  }
  return Status::Ok();
}

}  // namespace

Status Validate(const TrialConfig& config) {
  const ModelConfig& m = config.model;
  if (m.cell != Cell::kDense && m.layers < 1) {
    return InvalidArgument("key 'layers': a recurrent model needs at least 1 layer, got " +
                           std::to_string(m.layers));
  }
  const size_t hidden = static_cast<size_t>(m.hidden_layers());
  if (m.dropout.size() > 1 && m.dropout.size() != hidden) {
    return InvalidArgument("key 'dropout': give one rate, or one per hidden layer (" +
                           std::to_string(hidden) + " here: " + std::to_string(m.layers) + " " +
                           CellName(m.cell) + " layer(s), then the dense head), got " +
                           std::to_string(m.dropout.size()));
  }
  if (m.cell == Cell::kDense && m.bidirectional) {
    return InvalidArgument(
        "key 'bidirectional': only recurrent cells (simple_rnn, lstm, gru) can be bidirectional "
        "(cell is dense)");
  }
  if (m.cell == Cell::kDense && m.recurrent_dropout > 0) {
    return InvalidArgument("key 'recurrent_dropout': only recurrent cells have it (cell is dense)");
  }
  if (config.train.optimizer != Optimizer::kSgd &&
      (config.train.momentum > 0 || config.train.nesterov)) {
    return InvalidArgument("key 'momentum': only the sgd optimizer takes momentum/nesterov");
  }
  HPSWEEP_RETURN_IF_ERROR(ValidateSchedule(config));
  HPSWEEP_RETURN_IF_ERROR(ValidateTask(config));
  return ValidateEarlyStopping(config.train);
}

int64_t ParamCount(const TrialConfig& config) {
  const ModelConfig& m = config.model;
  const int64_t H = m.units;
  int64_t n = 0;
  int64_t f = m.cell == Cell::kDense ? int64_t{m.steps} * m.features : m.features;
  const int64_t dirs = m.bidirectional && m.cell != Cell::kDense ? 2 : 1;
  for (int l = 0; l < m.layers; ++l) {
    switch (m.cell) {
      case Cell::kDense: n += f * H + H; break;
      case Cell::kSimpleRnn: n += dirs * H * (f + H + 1); break;
      case Cell::kLstm: n += dirs * 4 * H * (f + H + 1); break;
      case Cell::kGru: n += dirs * 3 * H * (f + H + 2); break;
    }
    f = dirs * H;
  }
  for (int width : m.dense) {
    n += f * width + width;
    f = width;
  }
  return n + f * m.classes + m.classes;
}

int64_t TrainingBytesEstimate(const TrialConfig& config) {
  const ModelConfig& m = config.model;
  const int64_t P = ParamCount(config);
  const int64_t B = config.train.batch_size, T = m.steps, H = m.units;
  const int64_t slots = config.train.optimizer == Optimizer::kSgd ? 1 : 2;
  int64_t floats = P * (2 + slots);
  const TrainConfig& t = config.train;
  const bool validates = t.validation == Validation::kTest || t.validation_split > 0;
  if (validates && (t.keep == Keep::kBest || (t.early_stopping && t.restore_best_weights))) {
    floats += P;  // the best epoch's weights (engine/trainer.cc, WeightKeeper)
  }
  floats += B * T * m.features;  // the input batch
  int hidden = 0;
  auto dropout = [&](int64_t steps, int64_t width) {
    if (m.DropoutAfter(hidden++) > 0) floats += 3 * B * std::max<int64_t>(steps, 1) * width;
  };
  int64_t f = m.cell == Cell::kDense ? T * m.features : m.features;
  for (int l = 0; l < m.layers; ++l) {
    if (m.cell == Cell::kDense) {
      floats += B * (3 * H + f);
      dropout(0, H);
      f = H;
    } else {
      const int64_t k = m.cell == Cell::kSimpleRnn ? 5 : 13;
      const int64_t dirs = m.bidirectional ? 2 : 1;
      floats += dirs * B * T * (k * H + f);
      if (m.bidirectional) floats += B * T * (f + 4 * H);
      dropout(l + 1 < m.layers ? T : 0, dirs * H);
      f = dirs * H;
    }
  }
  for (int width : m.dense) {
    floats += B * (3 * width + f);
    dropout(0, width);
    f = width;
  }
  floats += B * (3 * m.classes + f);
  return 4 * floats;
}

}  // namespace hpsweep
