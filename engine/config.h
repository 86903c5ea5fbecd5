// The trial configuration: one vocabulary for `hpsweep train` flags, sweep files and model files.
//
// Keys (DESIGN.md): cell, units, layers, activation, recurrent_dropout, dropout, dense,
// dense_activation, output, optimizer, learning_rate, momentum, nesterov, batch_size, epochs, loss,
// validation_split, validation, validation_shuffle, validation_stratify, seed, train_limit; and with Keras's names and semantics
// (README.md, "Model and training keys"): clipnorm, clipvalue, global_clipnorm, weight_decay,
// lr_schedule, lr_drop, lr_every, lr_decay_rate, lr_decay_steps, warmup_epochs, lr_factor,
// lr_patience, lr_min; which weights a trial keeps and Keras's EarlyStopping (README.md,
// "Which weights a trial keeps"): keep, early_stopping, patience, min_delta,
// restore_best_weights; bidirectional (Keras's Bidirectional(merge_mode="concat") around every
// recurrent layer); task (classification or regression) and huber_delta (README.md,
// "Regression"). Values are parsed from text so that flags, YAML scalars and the model-file header share one parser (ApplyKey) with one set of error messages.
//
// Thread-safety: plain values.
#ifndef HPSWEEP_ENGINE_CONFIG_H_
#define HPSWEEP_ENGINE_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace hpsweep {

enum class Cell { kDense, kSimpleRnn, kLstm, kGru };
enum class Activation { kLinear, kRelu, kTanh, kSigmoid, kSoftmax };
enum class Optimizer { kSgd, kAdam, kRmsprop };
// What a model predicts: a class (softmax over `classes` outputs) or real-valued targets (a
// linear Dense(targets) output, README "Regression").
enum class Task { kClassification, kRegression };
// Integer labels (Keras sparse_categorical_crossentropy) or one-hot targets (categorical) for
// classification; mean squared error, mean absolute error or Huber (Keras's losses of those names,
// each the mean over the targets of a row) for regression. kAuto: the task's default
// (sparse_categorical_crossentropy, mse), TrainConfig::EffectiveLoss.
enum class Loss { kAuto, kSparseCategorical, kCategorical, kMse, kMae, kHuber };
// Where validation data comes from: the last `validation_split` of the training set (Keras), or
// the test set (seed C1 validated on it).
enum class Validation { kSplit, kTest };
// How the learning rate moves during training (engine/schedule.h has the formulas).
enum class LrSchedule { kConstant, kStep, kExponential, kCosine, kReduceOnPlateau };
// Which weights the test pass and the saved model use: the best epoch's by the sweep's metric, or
// the last epoch's (engine/trainer.h, TrainOptions::monitor).
enum class Keep { kBest, kLast };
// The precision of a trial's matrix products (engine/gemm.h): auto is bf16 where the worker's CPU
// has avx512_bf16, else fp32.
enum class TrialPrecision { kFp32, kBf16, kAuto };

const char* CellName(Cell c);
const char* ActivationName(Activation a);
const char* OptimizerName(Optimizer o);
const char* TaskName(Task t);
const char* LossName(Loss l);
// True for mse, mae and huber.
bool IsRegressionLoss(Loss l);
const char* LrScheduleName(LrSchedule s);
const char* KeepName(Keep k);
const char* TrialPrecisionName(TrialPrecision p);

struct ModelConfig {
  Cell cell = Cell::kLstm;
  int units = 128;  // width of each recurrent layer (or hidden Dense layer for cell=dense)
  int layers = 1;   // recurrent layers (stacked with return_sequences), or MLP hidden layers
  Activation activation = Activation::kTanh;
  float recurrent_dropout = 0.0f;  // one mask per sequence on h(t-1), as Keras
  // Keras's Bidirectional(layer, merge_mode="concat") around every recurrent layer: a second layer
  // with its own weights reads the sequence reversed, and each layer's output is the forward and
  // backward outputs side by side (2*units wide). Recurrent cells only.
  bool bidirectional = false;
  // Dropout after hidden layers: empty = none; one value = after every hidden layer; otherwise one
  // value per hidden layer (the `layers` recurrent/MLP layers first, then the `dense` head).
  std::vector<float> dropout;
  std::vector<int> dense;  // widths of hidden Dense layers in the head, e.g. {64}
  Activation dense_activation = Activation::kRelu;
  bool logits = false;  // output Dense(10) gives logits (true) or softmax probabilities (false)
  // Input shape: recurrent cells read `steps` rows of `features` pixels; dense reads
  // steps*features.
  int steps = 28;
  int features = 28;
  int classes = 10;  // outputs: classes, or targets with task: regression
  Task task = Task::kClassification;

  int hidden_layers() const { return layers + static_cast<int>(dense.size()); }
  // Dropout rate after hidden layer i (0-based, recurrent/MLP layers first, then the head).
  float DropoutAfter(int i) const;
};

struct TrainConfig {
  Optimizer optimizer = Optimizer::kAdam;
  float learning_rate = 0.0f;  // 0 = the Keras default of the optimizer (SGD 0.01, others 0.001)
  float momentum = 0.0f;       // SGD only
  bool nesterov = false;       // SGD only
  int batch_size = 32;
  int epochs = 1;
  Loss loss = Loss::kAuto;   // EffectiveLoss() gives the task's default for kAuto
  float huber_delta = 1.0f;  // loss: huber's delta (Keras's default 1.0), in (0, 1e6]
  Validation validation = Validation::kSplit;
  // Keras: the LAST fraction of the training arrays, before shuffling. A double, as Keras's is,
  // so that int(n * (1 - split)) agrees with it.
  double validation_split = 0.0;
  // Which rows validation_split takes (engine/split.h): the last ones (Keras, both false), a
  // random draw (shuffle), or a random draw class by class (stratify), always the same rows for
  // the same data. For rows ordered by label, where the last ones are a class or two.
  bool validation_shuffle = false;
  bool validation_stratify = false;
  uint64_t seed = 0;
  int64_t train_limit = 0;  // > 0: use only the first train_limit training images

  // Gradient clipping of the batch's mean gradient, Keras's optimizer arguments (0 = off; Keras
  // refuses more than one, and so does Validate): clipnorm rescales each weight tensor's gradient
  // to an L2 norm of at most clipnorm, clipvalue clips each element to [-clipvalue, clipvalue],
  // global_clipnorm rescales all gradients together to a global L2 norm of at most it.
  float clipnorm = 0.0f;
  float clipvalue = 0.0f;
  float global_clipnorm = 0.0f;
  // Decoupled weight decay (Keras's optimizer `weight_decay`, AdamW): w -= lr * weight_decay * w
  // before each update, on every weight tensor (kernels and biases alike, as Keras does when
  // nothing is excluded). 0 = off.
  float weight_decay = 0.0f;
  // The learning-rate schedule and its parameters; each parameter belongs to one schedule and
  // Validate refuses it changed from its default under another.
  LrSchedule lr_schedule = LrSchedule::kConstant;
  float lr_drop = 0.5f;           // step: lr * lr_drop^floor((epoch - 1) / lr_every)
  int lr_every = 10;              // step: epochs between drops
  float lr_decay_rate = 0.9f;     // exponential: lr * lr_decay_rate^(step / lr_decay_steps)
  int lr_decay_steps = 10000;     // exponential: optimizer steps
  int warmup_epochs = 0;          // cosine: linear warmup from 0 over these first epochs
  float lr_factor = 0.1f;         // reduce_on_plateau: lr *= lr_factor after lr_patience epochs
  int lr_patience = 10;           //   without val_loss improving by 1e-4 (Keras's min_delta)
  float lr_min = 0.0f;            //   never below lr_min

  // fp32 | bf16 | auto: bf16 rounds the operands of every matrix product to bfloat16 (fp32
  // sums, fp32 weights and optimizer state); a worker whose CPU lacks avx512_bf16 refuses bf16.
  TrialPrecision precision = TrialPrecision::kFp32;

  // ---- Which weights a trial keeps; early stopping (engine/early_stopping.h) ----
  // keep: best = the weights of the best epoch by the sweep's metric (the last epoch when there
  // is no validation data), last = the last epoch's.
  Keep keep = Keep::kBest;
  // Keras's EarlyStopping(monitor=the sweep's metric, mode from its goal, patience, min_delta,
  // restore_best_weights); patience, min_delta and restore_best_weights only with it on.
  bool early_stopping = false;
  int patience = 0;                   // epochs without improvement before stopping, [0, 10000]
  double min_delta = 0.0;             // an improvement is a change of more than this, >= 0
  bool restore_best_weights = false;  // Keras's default; keep: best already tests the best
  // ---- end of keep / early stopping ----

  float EffectiveLearningRate() const;
  // loss, or for kAuto the task's default: sparse_categorical_crossentropy, mse.
  Loss EffectiveLoss(Task task) const;
};

struct TrialConfig {
  ModelConfig model;
  TrainConfig train;
};

// Sets one key from its text form ("lstm", "128", "0.2,0.1", "[64, 32]", "true").
// Unknown keys, wrong types and out-of-range values are InvalidArgument naming the key.
Status ApplyKey(std::string_view key, std::string_view value, TrialConfig* config);
// True if `key` is part of the vocabulary.
bool IsConfigKey(std::string_view key);
// One line for a key's --help: its meaning, the values it takes and its default ("" for a key
// that is not a config key). engine/config_help.cc.
std::string KeyHelp(std::string_view key);
// All keys, in a stable order.
const std::vector<std::string>& ConfigKeys();
// The text form of one key, such that ApplyKey(key, GetKey(key)) round-trips.
std::string GetKey(const TrialConfig& config, std::string_view key);
// Cross-key checks (dropout list length, softmax only as output, ...).
Status Validate(const TrialConfig& config);

// Sizes of a trial before anything is allocated, so that a sweep can refuse a model that would
// kill its workers (search/sweep_file.h, SweepLimits). Pure arithmetic on the config.
//
// ParamCount: exactly the parameter count of the network engine/network.cc builds (and Keras
// reports), with F the input width of a layer (steps*features for the first Dense layer of
// cell=dense, features for the first recurrent layer, else the previous width):
//   dense F->U: F*U + U;  simple_rnn: H*(F+H+1);  lstm: 4H*(F+H+1);  gru: 3H*(F+H+2);
//   twice that for a bidirectional layer, whose output (the next F) is 2H wide;
//   then each width of the `dense` head, then Dense(classes).
int64_t ParamCount(const TrialConfig& config);

// TrainingBytesEstimate: the memory one training process needs for the trial, in bytes of float:
//   4 * (P params + P gradients + optimizer slots (SGD: P; Adam, RMSprop: 2P) + kept weights (P
//        with keep: best or restore_best_weights and validation data, else 0) + activations),
// where the activations are those kept for backpropagation through time of one batch of B =
// batch_size sequences of T = steps (28) rows of F_0 = features pixels:
//   input:              B*T*F_0                    (B*T*F_0 flat for cell=dense)
//   recurrent layer:    B*T*(k*H + F)              k = 5 simple_rnn, 13 lstm, 13 gru: the
//                                                   pre-activations and their gradients (2 per
//                                                   gate), h, the output, the recurrent-dropout
//                                                   input, the cell state (lstm); F for dx
//   bidirectional:      twice the recurrent layer, plus B*T*(F + 4H): the reversed input, the
//                       concatenated output and its two halves' gradients
//   dense layer F->U:   B*(3U + F)                 output, its gradient, pre-activations; dx
//   dropout on (s, F):  3*B*max(s,1)*F             mask, output, gradient
// An estimate (each extra training thread adds P for its gradient buffer), within a small factor
// of the real peak; its job is to refuse models that cannot fit, not to budget to the byte.
int64_t TrainingBytesEstimate(const TrialConfig& config);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_CONFIG_H_
