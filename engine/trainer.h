// Training and evaluation of one model on an image data set (MNIST or any IDX set).
//
// Parallelism: a batch is split into one contiguous shard per thread; each thread runs forward and
// backward of its shard through its own Network (bound to the shared parameters and to its own
// gradient buffer), single-threaded Eigen inside; the shard gradients are then summed in a fixed
// order. Recurrent layers stay sequential in time but are independent across samples, so this
// scales with threads without the small per-step GEMMs having to be split. For a fixed seed and
// thread count the results are identical from run to run.
//
// Ownership: Train returns the trained Model by value. TrainStepper keeps pointers to the
// parameters it is given; they must outlive it.
// Thread-safety: none on the objects here; they use OpenMP threads internally.
#ifndef HPSWEEP_ENGINE_TRAINER_H_
#define HPSWEEP_ENGINE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/loss.h"
#include "engine/mnist.h"
#include "engine/network.h"
#include "base/status.h"

namespace hpsweep {

// A model: its configuration (the whole trial, so that a saved file says how it was trained) and
// its parameters, one flat buffer in the layers' order with Keras's weight layouts.
struct Model {
  TrialConfig config;
  std::vector<float> params;
};

// A model with Keras's default initial values, seeded by config.train.seed.
Model InitModel(const TrialConfig& config);

struct EpochMetrics {
  int epoch = 0;                              // 1-based
  double train_loss = 0, train_accuracy = 0;  // running means over the epoch, dropout on (Keras)
  double val_loss = 0, val_accuracy = 0;      // 0 when there is no validation data
  // task: regression (README.md, "Regression"): the accuracies are -1 (none), and these are the
  // mean squared and mean absolute errors (train: running means, as train_loss); -1 when not
  // measured (classification, or no validation data for the val_ ones).
  double train_mse = -1, train_mae = -1, val_mse = -1, val_mae = -1;
  double seconds = 0;                         // the whole epoch, validation included
  double samples_per_second = 0;              // training samples / training seconds
  // The learning rate of the epoch's last optimizer step (engine/schedule.h): the epoch's rate
  // for the constant, step and reduce_on_plateau schedules; exponential and cosine move it every
  // step, and this is where the epoch left it.
  double lr = 0;
};

struct Evaluation {
  int64_t count = 0;
  double loss = 0, accuracy = 0;  // accuracy -1 for regression
  double mse = -1, mae = -1;      // regression only
  int classes = 10;               // classes, or targets for regression (confusion empty)
  std::vector<int64_t> confusion;    // (classes, classes): row = true digit, column = predicted
  std::vector<uint8_t> predictions;  // one per sample, when asked for (classification)
  std::vector<float> values;         // regression, when asked for: (count, classes) outputs
};

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};
std::vector<ClassMetrics> PerClassMetrics(const Evaluation& eval);

struct TrainCheckpoint;  // engine/checkpoint.h

// The epoch metric that keep: best and early_stopping watch (engine/early_stopping.h): the
// highest val_accuracy, or the lowest val_loss, val_mse or val_mae (regression). A sweep's is its
// metric's epoch rule (search/objective.h, Objective::ForEpochs: val_loss for val_loss and
// test_loss, val_mse for val_mse and test_mse, ...).
enum class Monitor { kValAccuracy, kValLoss, kValMse, kValMae };
// The default for a config: val_mse for regression, val_accuracy otherwise.
Monitor DefaultMonitor(const TrialConfig& config);

struct TrainOptions {
  int threads = 1;
  // After every epoch; return false to stop early (a sweep's STOP): no test evaluation follows.
  std::function<bool(const EpochMetrics&)> on_epoch;
  // About every 2% of an epoch: samples done, samples in the epoch, running loss and accuracy.
  std::function<void(int epoch, int64_t done, int64_t total, double loss, double acc)> on_progress;
  // Once, before the first epoch, with TrainResult::validation_warning when there is one.
  std::function<void(const std::string& warning)> on_warning;
  // Checked before every batch: when it becomes true, training ends at once (no test
  // evaluation) and TrainResult.cancelled is set. May be null.
  const std::atomic<bool>* cancel = nullptr;
  // Resume from a checkpoint (engine/checkpoint.h) instead of starting over: training goes on
  // after resume->epoch, and the result (history, model, test) is bit for bit that of the run
  // that made the checkpoint, given the same thread count. Its epochs are not passed to on_epoch
  // again. May be null; must outlive Train.
  const TrainCheckpoint* resume = nullptr;
  // After every epoch but the last for which on_epoch returned true: when checkpoint_due is null
  // or returns true, on_checkpoint gets the state to resume from after that epoch. Both may be
  // null (on_checkpoint null: no checkpoints are made).
  std::function<bool(const EpochMetrics&)> checkpoint_due;
  std::function<void(const TrainCheckpoint&)> on_checkpoint;
  // Checked before every batch: when it becomes true, training ends at once with the epochs
  // finished so far (the unfinished one is dropped), TrainResult.stopped set and no test
  // evaluation: a sweep's STOP (cancelled or pruned) arriving during an epoch. May be null.
  const std::atomic<bool>* stop = nullptr;
  // What "the best epoch" is for config.train.keep and early_stopping.
  Monitor monitor = Monitor::kValAccuracy;
  // One segment of a longer run (population-based training): after this epoch, when it is below
  // config.train.epochs and on_epoch returned true for it, on_checkpoint (when set) gets the state
  // after it whatever checkpoint_due says, and Train returns with TrainResult::paused: history
  // holds the epochs so far, nothing is tested. A later Train resumes from that checkpoint (under
  // the same config, or one whose mutable keys changed: engine/checkpoint.h, FingerprintConfig).
  // Early stopping that ends the run at this epoch wins: the run is complete and tested. 0 (or an
  // epoch at or past config.train.epochs, or one before the resumed epoch): no pause.
  int pause_after_epoch = 0;
};

struct TrainResult {
  Model model;
  std::vector<EpochMetrics> history;
  Evaluation test;  // the test set, evaluated once after training
  int64_t train_count = 0, val_count = 0;
  // Not empty when the validation rows lack a class the training rows have (engine/split.h):
  // a sentence for the user, who likely wants validation_stratify.
  std::string validation_warning;
  // on_epoch asked to stop, or options.stop was set: history holds the finished epochs, test is
  // empty (count 0).
  bool stopped = false;
  bool cancelled = false;  // options.cancel was set: the result is partial, test is empty
  // When options.stop ended training during an epoch: the batches of that epoch already trained
  // (0 when it stopped between epochs), out of batches_per_epoch.
  int64_t stopped_at_batch = 0, batches_per_epoch = 0;
  // The epoch whose weights model holds (and test measured): the kept best epoch with keep: best
  // (or restore_best_weights), else the last; 0 when training stopped during an epoch and no
  // epoch's weights were kept (the model is where it stopped).
  int weights_epoch = 0;
  // Early stopping ended training after this epoch (Keras's stopped_epoch, 1-based); 0 if not.
  // The run is complete (tested), not `stopped`.
  int stopped_epoch = 0;
  // Training paused after options.pause_after_epoch: history holds epochs 1..that epoch, test is
  // empty (count 0), model holds the last epoch's weights (weights_epoch = that epoch) and the
  // checkpoint to go on from went to on_checkpoint. Neither stopped nor cancelled.
  bool paused = false;
};

// Tunes glibc's allocator for a process that trains (a worker, `train`, `bench`): Eigen's fp32
// products allocate their blocks (over 128 KB) and free them on every call, and by default glibc
// gives the top of the heap back to the OS after each free, so every step paid page faults for
// the same memory again (the MLP 512x2 trained 1.7x faster in fp32 without them). Freed memory
// up to 256 MiB is kept for reuse; allocations of 32 MiB and more are still mapped on their own.
// Call once, early; not in the coordinator, which gives memory back on purpose.
void TuneAllocatorForTraining();

// The precision a trial's products run in on this CPU: bf16 for bf16 and auto where
// Bf16Supported(), else fp32 (a bf16 trial is refused first by CheckPrecision; a bf16 model
// evaluated or used to predict here runs in fp32).
Precision ResolvePrecision(TrialPrecision p);
// FailedPrecondition, saying why, for precision: bf16 on a CPU without avx512_bf16.
Status CheckPrecision(const TrainConfig& config);

// Trains config on data.train (its first train_limit images if set, less the validation split),
// validates every epoch, tests once.
StatusOr<TrainResult> Train(const TrialConfig& config, const Mnist& data,
                            const TrainOptions& options);

// Loss, accuracy and confusion matrix of samples [begin, end) of data.
Evaluation Evaluate(const Model& model, const Dataset& data, int64_t begin, int64_t end,
                    int threads, bool keep_predictions = false);

// The same over the given rows of data, in their order (predictions follow it).
Evaluation EvaluateRows(const Model& model, const Dataset& data, const std::vector<int64_t>& rows,
                        int threads, bool keep_predictions = false);

// Class probabilities of n images (n, rows*cols values, floats or bytes) -> (n, classes); for a
// regression model its outputs, the predicted targets (no softmax).
Mat<float> PredictProba(const Model& model, Samples images, int64_t n, int threads);

// One data-parallel training step at a time (see the file comment). Used by Train and the bench.
class TrainStepper {
 public:
  // REQUIRES: params holds CountParams(config.model) floats and outlives the stepper.
  TrainStepper(const TrialConfig& config, const float* params, int threads);
  ~TrainStepper();

  // Forward and backward over samples idx[0, n) of images/labels (images: pixels per sample =
  // steps * features, floats or bytes read per batch); leaves the mean-loss gradient in grads().
  // step_seed seeds dropout masks. A regression model reads `targets` ((rows, classes) floats,
  // Dataset::targets) instead of labels.
  LossResult Step(Samples images, const uint8_t* labels, const int64_t* idx, int n,
                  uint64_t step_seed, const float* targets = nullptr);
  const float* grads() const;

  // Forward only (inference mode) on samples idx[0, n); logits written to `logits` (n, classes).
  void Logits(Samples images, const int64_t* idx, int n, Mat<float>* logits);

 private:
  struct Shard;
  TrialConfig config_;
  int threads_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// Builds a network input from samples idx[0, n): (steps*n, features) time-major for recurrent
// cells, (n, steps*features) for dense. Byte samples become byte * kPixelScale here, a batch at a
// time, so a data set held as bytes trains as the same values held as floats.
void FillInput(const ModelConfig& config, Samples images, const int64_t* idx, int n,
               Tensor<float>* x);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_TRAINER_H_
