#include "engine/trainer.h"

#include <malloc.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/early_stopping.h"
#include "engine/optimizer.h"
#include "engine/schedule.h"
#include "engine/split.h"

namespace hpsweep {

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Evaluation runs in fixed chunks so that sums come out the same for any thread count.
constexpr int kEvalChunk = 500;

}  // namespace

struct TrainStepper::Shard {
  Shard(const ModelConfig& m, const float* params, int64_t n)
      : grads(n, 0.0f), net(m, params, grads.data()) {}
  std::vector<float, Eigen::aligned_allocator<float>> grads;  // 64-byte aligned
  Network<float> net;
  Tensor<float> x;
  Mat<float> dlogits, targets;
  std::vector<uint8_t> labels;
  LossResult result;
};

void TuneAllocatorForTraining() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

Precision ResolvePrecision(TrialPrecision p) {
  if (p == TrialPrecision::kFp32 || !Bf16Supported()) return Precision::kFp32;
  return Precision::kBf16;
}

Status CheckPrecision(const TrainConfig& config) {
  if (config.precision == TrialPrecision::kBf16 && !Bf16Supported()) {
    return FailedPrecondition(
        "precision: bf16 needs a CPU with avx512_bf16 and this worker's has none (use fp32, or "
        "auto for bf16 where a worker has it)");
  }
  return Status::Ok();
}

Monitor DefaultMonitor(const TrialConfig& config) {
  return config.model.task == Task::kRegression ? Monitor::kValMse : Monitor::kValAccuracy;
}

Model InitModel(const TrialConfig& config) {
  Model model;
  model.config = config;
  model.params.resize(CountParams(config.model));
  Network<float>::Init(config.model, config.train.seed, model.params.data());
  return model;
}

void FillInput(const ModelConfig& m, Samples images, const int64_t* idx, int n,
               Tensor<float>* x) {
  const int64_t pixels = static_cast<int64_t>(m.steps) * m.features;
  if (m.cell == Cell::kDense) {
    x->steps = 1;
    x->data.resize(n, pixels);
    for (int b = 0; b < n; ++b) {
      images.Copy(idx[b] * pixels, pixels, x->data.row(b).data());
    }
    return;
  }
  x->steps = m.steps;
  x->data.resize(static_cast<Eigen::Index>(m.steps) * n, m.features);
  for (int b = 0; b < n; ++b) {
    const int64_t img = idx[b] * pixels;
    for (int t = 0; t < m.steps; ++t) {
      images.Copy(img + t * m.features, m.features, x->data.row(t * n + b).data());
    }
  }
}

TrainStepper::TrainStepper(const TrialConfig& config, const float* params, int threads)
    : config_(config), threads_(std::max(1, threads)) {
  // All threading is ours (one shard per thread); Eigen's GEMMs stay single-threaded.
  Eigen::setNbThreads(1);
  const int64_t n = CountParams(config.model);
  const Precision precision = ResolvePrecision(config.train.precision);
  for (int s = 0; s < threads_; ++s) {
    shards_.push_back(std::make_unique<Shard>(config.model, params, n));
    shards_.back()->net.SetPrecision(precision);
  }
}

TrainStepper::~TrainStepper() = default;

const float* TrainStepper::grads() const { return shards_[0]->grads.data(); }

LossResult TrainStepper::Step(Samples images, const uint8_t* labels, const int64_t* idx, int n,
                              uint64_t step_seed, const float* targets) {
  const int shards = std::min(threads_, n);
  const bool categorical = config_.train.loss == Loss::kCategorical;
  const bool regression = config_.model.task == Task::kRegression;
  const Loss loss = config_.train.EffectiveLoss(config_.model.task);
  const double delta = config_.train.huber_delta;
  const float scale = 1.0f / static_cast<float>(n);
  const bool clip = !config_.model.logits;
  const int classes = config_.model.classes;
#pragma omp parallel for num_threads(shards) schedule(static, 1)
  for (int s = 0; s < shards; ++s) {
    Shard& sh = *shards_[s];
    const int lo = static_cast<int>(static_cast<int64_t>(n) * s / shards);
    const int hi = static_cast<int>(static_cast<int64_t>(n) * (s + 1) / shards);
    const int m = hi - lo;
    // No clearing of sh.grads: Backward writes every gradient (2.7 MB a step for the MLP).
    FillInput(config_.model, images, idx + lo, m, &sh.x);
    Rng rng(Rng::Mix(step_seed, static_cast<uint64_t>(s)));
    ForwardContext ctx{true, &rng};
    const Mat<float>& logits = sh.net.Forward(sh.x, ctx);
    if (regression) {
      sh.targets.resize(m, classes);
      for (int b = 0; b < m; ++b) {
        const float* y = targets + idx[lo + b] * classes;
        for (int k = 0; k < classes; ++k) sh.targets(b, k) = y[k];
      }
      sh.result = RegressionLoss<float>(logits, sh.targets, loss, delta, scale, &sh.dlogits);
      sh.net.Backward(sh.dlogits);
      continue;
    }
    sh.labels.resize(m);
    for (int b = 0; b < m; ++b) sh.labels[b] = labels[idx[lo + b]];
    if (categorical) {
      sh.targets.setZero(m, classes);
      for (int b = 0; b < m; ++b) sh.targets(b, sh.labels[b]) = 1.0f;
      sh.result =
          SoftmaxCrossEntropy<float>(logits, nullptr, &sh.targets, clip, scale, &sh.dlogits);
    } else {
      sh.result =
          SoftmaxCrossEntropy<float>(logits, sh.labels.data(), nullptr, clip, scale, &sh.dlogits);
    }
    sh.net.Backward(sh.dlogits);
  }
  LossResult total;
  for (int s = 0; s < shards; ++s) total.Add(shards_[s]->result);
  // Sum the shard gradients into shard 0's, in shard order (deterministic).
  if (shards > 1) {
    float* g0 = shards_[0]->grads.data();
    const int64_t np = static_cast<int64_t>(shards_[0]->grads.size());
    std::vector<const float*> others;
    for (int s = 1; s < shards; ++s) others.push_back(shards_[s]->grads.data());
    // Each element is g0 + g1 + g2 ... in that order, as before; the loop over elements is the
    // inner one so that it vectorises (reaching each shard's buffer through shards_ per element
    // kept it scalar: a quarter of an MLP's 2-thread step).
#pragma omp parallel num_threads(shards)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t lo = np * t / nt, hi = np * (t + 1) / nt;
      for (const float* g : others) {
        float* __restrict out = g0;
        const float* __restrict in = g;
        for (int64_t i = lo; i < hi; ++i) out[i] += in[i];
      }
    }
  }
  return total;
}

void TrainStepper::Logits(Samples images, const int64_t* idx, int n, Mat<float>* logits) {
  Shard& sh = *shards_[omp_in_parallel() ? omp_get_thread_num() % threads_ : 0];
  FillInput(config_.model, images, idx, n, &sh.x);
  ForwardContext ctx{false, nullptr};
  *logits = sh.net.Forward(sh.x, ctx);
}

std::vector<ClassMetrics> PerClassMetrics(const Evaluation& e) {
  std::vector<ClassMetrics> out(e.classes);
  for (int c = 0; c < e.classes; ++c) {
    int64_t tp = e.confusion[c * e.classes + c], row = 0, col = 0;
    for (int k = 0; k < e.classes; ++k) {
      row += e.confusion[c * e.classes + k];
      col += e.confusion[k * e.classes + c];
    }
    ClassMetrics& m = out[c];
    m.support = row;
    m.precision = col > 0 ? static_cast<double>(tp) / col : 0.0;
    m.recall = row > 0 ? static_cast<double>(tp) / row : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
  }
  return out;
}

namespace {

// EvaluateRows for a regression model: loss, mse and mae over the rows (sums in double, in
// fixed chunks as for classification), the outputs kept when asked for.
Evaluation EvaluateRegression(const Model& model, const Dataset& data,
                              const std::vector<int64_t>& rows, int threads, bool keep_values) {
  Evaluation ev;
  const int K = model.config.model.classes;
  ev.classes = K;
  ev.accuracy = -1;
  ev.count = static_cast<int64_t>(rows.size());
  if (ev.count == 0) return ev;
  if (keep_values) ev.values.resize(static_cast<size_t>(ev.count) * K);
  threads = std::max(1, threads);
  const Loss loss = model.config.train.EffectiveLoss(Task::kRegression);
  const double delta = model.config.train.huber_delta;
  TrainStepper stepper(model.config, model.params.data(), threads);
  const int64_t chunks = (ev.count + kEvalChunk - 1) / kEvalChunk;
  std::vector<LossResult> sums(chunks);
#pragma omp parallel num_threads(threads)
  {
    Mat<float> out, y;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t lo = k * kEvalChunk, hi = std::min(ev.count, lo + kEvalChunk);
      const int n = static_cast<int>(hi - lo);
      stepper.Logits(data.samples(), rows.data() + lo, n, &out);
      y.resize(n, K);
      for (int b = 0; b < n; ++b) {
        const float* t = data.targets.data() + rows[lo + b] * K;
        for (int j = 0; j < K; ++j) y(b, j) = t[j];
        if (keep_values) {
          for (int j = 0; j < K; ++j) ev.values[(lo + b) * K + j] = out(b, j);
        }
      }
      sums[k] = RegressionLoss<float>(out, y, loss, delta, 1.0f, nullptr);
    }
  }
  double l = 0, sq = 0, ab = 0;
  for (const LossResult& r : sums) {
    l += r.loss_sum;
    sq += r.sq_sum;
    ab += r.abs_sum;
  }
  ev.loss = l / ev.count;
  ev.mse = sq / ev.count;
  ev.mae = ab / ev.count;
  return ev;
}

}  // namespace

Evaluation Evaluate(const Model& model, const Dataset& data, int64_t begin, int64_t end,
                    int threads, bool keep_predictions) {
  std::vector<int64_t> rows(static_cast<size_t>(std::max<int64_t>(0, end - begin)));
  std::iota(rows.begin(), rows.end(), begin);
  return EvaluateRows(model, data, rows, threads, keep_predictions);
}

Evaluation EvaluateRows(const Model& model, const Dataset& data, const std::vector<int64_t>& rows,
                        int threads, bool keep_predictions) {
  if (model.config.model.task == Task::kRegression) {
    return EvaluateRegression(model, data, rows, threads, keep_predictions);
  }
  Evaluation ev;
  const int C = model.config.model.classes;
  ev.classes = C;
  ev.confusion.assign(static_cast<size_t>(C) * C, 0);
  ev.count = static_cast<int64_t>(rows.size());
  if (ev.count == 0) return ev;
  if (keep_predictions) ev.predictions.resize(ev.count);
  threads = std::max(1, threads);
  TrainStepper stepper(model.config, model.params.data(), threads);
  const int64_t chunks = (ev.count + kEvalChunk - 1) / kEvalChunk;
  std::vector<double> loss(chunks, 0.0);
  std::vector<std::vector<int64_t>> conf(threads, std::vector<int64_t>(C * C, 0));
#pragma omp parallel num_threads(threads)
  {
    Mat<float> logits;
    std::vector<uint8_t> labels;
    std::vector<int64_t>& my_conf = conf[omp_get_thread_num()];
#pragma omp for schedule(static)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t lo = k * kEvalChunk, hi = std::min(ev.count, lo + kEvalChunk);
      const int n = static_cast<int>(hi - lo);
      labels.resize(n);
      for (int b = 0; b < n; ++b) labels[b] = data.labels[rows[lo + b]];
      stepper.Logits(data.samples(), rows.data() + lo, n, &logits);
      loss[k] = SoftmaxCrossEntropy<float>(logits, labels.data(), nullptr,
                                           !model.config.model.logits, 1.0f, nullptr)
                    .loss_sum;
      for (int b = 0; b < n; ++b) {
        Eigen::Index pred;
        logits.row(b).maxCoeff(&pred);
        my_conf[labels[b] * C + pred]++;
        if (keep_predictions) ev.predictions[lo + b] = static_cast<uint8_t>(pred);
      }
    }
  }
  int64_t correct = 0;
  for (const auto& c : conf) {
    for (int i = 0; i < C * C; ++i) ev.confusion[i] += c[i];
  }
  for (int c = 0; c < C; ++c) correct += ev.confusion[c * C + c];
  ev.loss = std::accumulate(loss.begin(), loss.end(), 0.0) / ev.count;
  ev.accuracy = static_cast<double>(correct) / ev.count;
  return ev;
}

Mat<float> PredictProba(const Model& model, Samples images, int64_t n, int threads) {
  TrainStepper stepper(model.config, model.params.data(), 1);
  Mat<float> probs(n, model.config.model.classes), logits, p;
  std::vector<int64_t> idx;
  for (int64_t lo = 0; lo < n; lo += kEvalChunk) {
    const int m = static_cast<int>(std::min<int64_t>(kEvalChunk, n - lo));
    idx.resize(m);
    std::iota(idx.begin(), idx.end(), lo);
    stepper.Logits(images, idx.data(), m, &logits);
    if (model.config.model.task == Task::kRegression) {
      probs.middleRows(lo, m) = logits;  // a regression model's outputs are its predictions
      continue;
    }
    Softmax(logits, &p);
    probs.middleRows(lo, m) = p;
  }
  return probs;
}

namespace {

// The kept weights and early stopping of one run (engine/early_stopping.h). Weights are copied
// only when some epoch's may be wanted at the end: keep: best, or restore_best_weights, with
// validation data.
class WeightKeeper {
 public:
  WeightKeeper(const TrainConfig& tc, Monitor monitor, bool has_validation)
      : maximize_(monitor == Monitor::kValAccuracy),
        monitor_(monitor),
        early_stopping_(tc.early_stopping && has_validation),
        patience_(tc.patience),
        min_delta_(tc.min_delta),
        // keep: best ranks epochs as the leaderboard does (no min_delta); restore_best_weights
        // as Keras's EarlyStopping does (with it).
        keep_delta_(tc.keep == Keep::kBest ? 0.0 : tc.min_delta),
        track_(has_validation && (tc.keep == Keep::kBest ||
                                  (tc.early_stopping && tc.restore_best_weights))) {}

  // After epoch em whose end weights are params: true when early stopping ends training.
  bool EndEpoch(const EpochMetrics& em, const std::vector<float>& params) {
    const double value = monitor_ == Monitor::kValLoss  ? em.val_loss
                         : monitor_ == Monitor::kValMse ? em.val_mse
                         : monitor_ == Monitor::kValMae ? em.val_mae
                                                        : em.val_accuracy;
    if (track_ && KeepsEpoch(em.epoch, value, maximize_, keep_delta_, &kept_)) {
      kept_.params = params;
    }
    return early_stopping_ &&
           EarlyStoppingEnd(em.epoch, value, maximize_, min_delta_, patience_, &stopping_);
  }

  // Puts the kept weights (if any) into *params; the epoch they are from (`last` when none).
  int Finish(int last, std::vector<float>* params) const {
    if (!track_ || kept_.epoch == 0) return last;
    std::copy(kept_.params.begin(), kept_.params.end(), params->begin());  // in place
    return kept_.epoch;
  }

  // The state a checkpoint carries; a checkpoint's, checked against this run.
  const KeptWeights& kept() const { return kept_; }
  const EarlyStoppingState& stopping() const { return stopping_; }
  Status Restore(const KeptWeights& kept, const EarlyStoppingState& stopping, size_t n_params) {
    if (kept.epoch > 0 && kept.params.size() != n_params) {
      return InvalidArgument("checkpoint keeps " + std::to_string(kept.params.size()) +
                             " weights of epoch " + std::to_string(kept.epoch) +
                             "; the model has " + std::to_string(n_params));
    }
    if (track_) kept_ = kept;
    stopping_ = stopping;
    return Status::Ok();
  }

 private:
  bool maximize_;
  Monitor monitor_;
  bool early_stopping_;
  int patience_;
  double min_delta_, keep_delta_;
  bool track_;
  KeptWeights kept_;
  EarlyStoppingState stopping_;
};

// Puts a checkpoint's state into a fresh run (model just initialised, optimizer at step 0) whose
// epochs have `batches` steps each. The checkpoint was parsed against this config, so its sizes
// fit; its step count is checked against this data (a checkpoint made on other data is refused).
Status ResumeFrom(const TrainCheckpoint& c, int64_t batches, Model* model, OptimizerState* opt,
                  LrScheduler* scheduler, WeightKeeper* keeper,
                  std::vector<EpochMetrics>* history) {
  if (c.epoch < 1 || c.epoch > model->config.train.epochs ||
      c.step != static_cast<uint64_t>(c.epoch) * static_cast<uint64_t>(batches)) {
    return InvalidArgument("checkpoint at epoch " + std::to_string(c.epoch) + " after " +
                           std::to_string(c.step) + " steps does not fit this run (" +
                           std::to_string(batches) + " batches an epoch): other data?");
  }
  if (c.params.size() != model->params.size() || c.history.size() != static_cast<size_t>(c.epoch)) {
    return InvalidArgument("checkpoint holds " + std::to_string(c.params.size()) +
                           " parameters and " + std::to_string(c.history.size()) +
                           " epochs; the model has " + std::to_string(model->params.size()));
  }
  HPSWEEP_RETURN_IF_ERROR(opt->Restore(c.optimizer_steps, c.slot_m, c.slot_v));
  HPSWEEP_RETURN_IF_ERROR(keeper->Restore(c.kept, c.early_stopping, model->params.size()));
  scheduler->set_plateau(c.plateau);
  // In place: the stepper holds a pointer to the buffer.
  std::copy(c.params.begin(), c.params.end(), model->params.begin());
  *history = c.history;
  return Status::Ok();
}

// The state to resume from after `epoch`.
TrainCheckpoint Snapshot(int epoch, uint64_t step, const Model& model, const OptimizerState& opt,
                         const LrScheduler& scheduler, const WeightKeeper& keeper,
                         const std::vector<EpochMetrics>& history) {
  TrainCheckpoint c;
  c.epoch = epoch;
  c.step = step;
  c.params = model.params;
  c.optimizer_steps = opt.steps();
  c.slot_m = opt.slot_m();
  c.slot_v = opt.slot_v();
  c.plateau = scheduler.plateau();
  c.kept = keeper.kept();
  c.early_stopping = keeper.stopping();
  c.history = history;
  return c;
}

// A run that ends early (a sweep's STOP): its model holds the kept epoch's weights when there
// are some, else where training stopped (weights_epoch = the last finished epoch between epochs,
// 0 during one).
void EndStopped(const WeightKeeper& keeper, bool between_epochs, TrainResult* res) {
  res->stopped = true;
  const int last = res->history.empty() || !between_epochs ? 0 : res->history.back().epoch;
  res->weights_epoch = keeper.Finish(last, &res->model.params);
}

// An epoch's metrics from its training sums over n rows, and its validation on val_rows of
// val_set (none when empty). A regression model's accuracies are -1, its mse and mae measured.
EpochMetrics MeasureEpoch(int epoch, const LossResult& sums, int64_t n, const Model& model,
                          const Dataset& val_set, const std::vector<int64_t>& val_rows,
                          int threads) {
  EpochMetrics em;
  em.epoch = epoch;
  em.train_loss = sums.loss_sum / n;
  em.train_accuracy = static_cast<double>(sums.correct) / n;
  if (model.config.model.task == Task::kRegression) {
    em.train_accuracy = em.val_accuracy = -1;
    em.train_mse = sums.sq_sum / n;
    em.train_mae = sums.abs_sum / n;
  }
  if (!val_rows.empty()) {
    Evaluation ev = EvaluateRows(model, val_set, val_rows, threads);
    em.val_loss = ev.loss;
    em.val_accuracy = ev.accuracy;
    em.val_mse = ev.mse;
    em.val_mae = ev.mae;
  }
  return em;
}

// Keras shuffles the training part (the first split_at rows of *order) before each epoch; each
// shuffle applies to the last epoch's order.
void ShuffleForEpoch(uint64_t seed, int epoch, int64_t split_at, std::vector<int64_t>* order) {
  Rng shuffle(Rng::Mix(seed, 1000 + epoch));
  for (int64_t i = split_at - 1; i > 0; --i) {
    std::swap((*order)[i], (*order)[shuffle.Below(static_cast<uint64_t>(i + 1))]);
  }
}

// The model reads the data's images and has an output for each of its classes (or targets).
Status CheckDataFits(const ModelConfig& mc, const Mnist& data) {
  if (data.train.rows != mc.steps || data.train.cols != mc.features) {
    return InvalidArgument("model reads " + std::to_string(mc.steps) + "x" +
                           std::to_string(mc.features) + " images, data has " +
                           std::to_string(data.train.rows) + "x" + std::to_string(data.train.cols));
  }
  const bool regression = mc.task == Task::kRegression;
  if (regression != (data.train.num_targets > 0) || regression != (data.test.num_targets > 0)) {
    return InvalidArgument(regression ? "task is regression but the data have class labels, not "
                                        "real-valued targets (a csv data set with targets)"
                                      : "the data have real-valued targets: set task: regression");
  }
  if (regression && (data.train.num_targets != mc.classes || data.test.num_targets != mc.classes)) {
    return InvalidArgument("the data have " + std::to_string(data.train.num_targets) +
                           " targets but the model outputs " + std::to_string(mc.classes));
  }
  if (data.train.num_classes > mc.classes) {
    return InvalidArgument("the data have " + std::to_string(data.train.num_classes) +
                           " classes but the model outputs " + std::to_string(mc.classes));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<TrainResult> Train(const TrialConfig& config, const Mnist& data,
                            const TrainOptions& options) {
  HPSWEEP_RETURN_IF_ERROR(Validate(config));
  HPSWEEP_RETURN_IF_ERROR(CheckPrecision(config.train));
  const ModelConfig& mc = config.model;
  const TrainConfig& tc = config.train;
  HPSWEEP_RETURN_IF_ERROR(CheckDataFits(mc, data));
  TrainResult res;
  const int64_t n =
      tc.train_limit > 0 ? std::min<int64_t>(tc.train_limit, data.train.count) : data.train.count;
  int64_t split_at = n;
  if (tc.validation == Validation::kSplit && tc.validation_split > 0) {
    split_at = static_cast<int64_t>(static_cast<double>(n) * (1.0 - tc.validation_split));  // Keras
  }
  if (split_at <= 0) {
    return InvalidArgument("validation_split " + GetKey(config, "validation_split") +
                           " leaves no training data out of " + std::to_string(n) + " images");
  }
  TrainSplit split = SplitTraining(tc, data.train, n, split_at);
  res.validation_warning = split.warning;
  if (!split.warning.empty() && options.on_warning) options.on_warning(split.warning);
  const Dataset& val_set = tc.validation == Validation::kTest ? data.test : data.train;
  if (tc.validation == Validation::kTest) {
    split.val.resize(static_cast<size_t>(data.test.count));
    std::iota(split.val.begin(), split.val.end(), 0);
  }
  res.train_count = split_at;
  res.val_count = static_cast<int64_t>(split.val.size());

  res.model = InitModel(config);
  Model& model = res.model;
  const int threads = std::max(1, options.threads);
  TrainStepper stepper(config, model.params.data(), threads);
  OptimizerState opt(tc, static_cast<int64_t>(model.params.size()), WeightTensorSizes(mc));
  std::vector<int64_t> order = std::move(split.train);  // rows; reshuffled each epoch below
  const int B = tc.batch_size;
  const int64_t batches = (split_at + B - 1) / B;
  res.batches_per_epoch = batches;
  LrScheduler scheduler(tc, batches);
  // A regression model has no accuracy: the default monitor becomes val_mse.
  const Monitor monitor = mc.task == Task::kRegression && options.monitor == Monitor::kValAccuracy
                              ? Monitor::kValMse
                              : options.monitor;
  WeightKeeper keeper(tc, monitor, res.val_count > 0);
  uint64_t step = 0;
  int first_epoch = 1;
  if (options.resume != nullptr) {
    HPSWEEP_RETURN_IF_ERROR(
        ResumeFrom(*options.resume, batches, &model, &opt, &scheduler, &keeper, &res.history));
    step = options.resume->step;
    first_epoch = options.resume->epoch + 1;
    // The order the run had reached.
    for (int e = 1; e < first_epoch; ++e) ShuffleForEpoch(tc.seed, e, split_at, &order);
  }

  for (int epoch = first_epoch; epoch <= tc.epochs; ++epoch) {
    const double t0 = Now();
    ShuffleForEpoch(tc.seed, epoch, split_at, &order);
    LossResult sums;
    int64_t seen = 0;
    const int64_t report_every = std::max<int64_t>(1, batches / 50);
    for (int64_t k = 0; k < batches; ++k) {
      if (options.cancel && options.cancel->load()) {
        res.cancelled = true;
        return res;
      }
      if (options.stop && options.stop->load()) {  // STOP during the epoch: end it here
        res.stopped_at_batch = k;
        EndStopped(keeper, k == 0, &res);
        return res;
      }
      const int64_t lo = k * B;
      const int m = static_cast<int>(std::min<int64_t>(B, split_at - lo));
      opt.set_learning_rate(scheduler.Rate(epoch, opt.steps()));
      LossResult r = stepper.Step(data.train.samples(), data.train.labels.data(),
                                  order.data() + lo, m, Rng::Mix(tc.seed, ++step),
                                  data.train.targets.data());
      opt.Step(model.params.data(), stepper.grads());
      sums.Add(r);
      seen += m;
      if (options.on_progress && ((k + 1) % report_every == 0 || k + 1 == batches)) {
        options.on_progress(epoch, seen, split_at, sums.loss_sum / seen,
                            static_cast<double>(sums.correct) / seen);
      }
    }
    const double t1 = Now();
    EpochMetrics em = MeasureEpoch(epoch, sums, split_at, model, val_set, split.val, threads);
    em.seconds = Now() - t0;
    em.samples_per_second = split_at / std::max(1e-9, t1 - t0);
    em.lr = opt.learning_rate();
    if (res.val_count > 0) scheduler.EndEpoch(em.val_loss);  // the next epoch's rate
    res.history.push_back(em);
    const bool early_stop = keeper.EndEpoch(em, model.params);
    if (options.on_epoch && !options.on_epoch(em)) {
      EndStopped(keeper, true, &res);
      return res;  // a stopped trial is not tested
    }
    if (early_stop) {  // complete, and tested: Keras's early stopping
      res.stopped_epoch = epoch;
      break;
    }
    const bool pause = epoch == options.pause_after_epoch && epoch < tc.epochs;
    if (options.on_checkpoint && epoch < tc.epochs &&
        (pause || !options.checkpoint_due || options.checkpoint_due(em))) {
      options.on_checkpoint(Snapshot(epoch, step, model, opt, scheduler, keeper, res.history));
    }
    if (pause) {  // the end of a segment: the next resumes from the checkpoint just made
      res.paused = true;
      res.weights_epoch = epoch;
      return res;
    }
  }
  res.weights_epoch = keeper.Finish(res.history.back().epoch, &model.params);
  res.test = Evaluate(model, data.test, 0, data.test.count, threads, /*keep_predictions=*/true);
  return res;
}

}  // namespace hpsweep
