// KeyHelp: one line per config key for `--help` (train, summary, bench): what the key is, the values
// ApplyKey takes, and its default (from a default TrialConfig, so it cannot drift from the code).
#include <string>
#include <string_view>
#include <utility>

#include "engine/config.h"

namespace hpsweep {
namespace {

// Values and ranges as ApplyKey checks them (engine/config.cc).
const std::pair<const char*, const char*> kKeyHelp[] = {
    {"cell", "dense (an MLP), simple_rnn, lstm or gru (Keras's reset_after=True)"},
    {"units", "width of each recurrent (or MLP hidden) layer, 1 to 4096"},
    {"layers", "recurrent layers stacked, or MLP hidden layers (0: a perceptron), 0 to 16"},
    {"activation", "of the recurrent cell or MLP layers: tanh, relu, sigmoid, linear"},
    {"recurrent_dropout", "rate on h(t-1), one mask per sequence as Keras, in [0, 1)"},
    {"bidirectional", "true: Keras's Bidirectional(concat) around each recurrent layer"},
    {"dropout", "rate after every hidden layer, or a list of one per hidden layer, in [0, 1)"},
    {"dense", "hidden Dense widths of the head, e.g. 64 or [64, 32]"},
    {"dense_activation", "of the head's Dense layers: relu, tanh, sigmoid, linear"},
    {"output", "softmax (probabilities) or logits"},
    {"optimizer", "adam, rmsprop or sgd"},
    {"learning_rate", "in [1e-8, 10]; Keras's default for the optimizer (SGD: 0.01)"},
    {"momentum", "SGD only, in [0, 1)"},
    {"nesterov", "SGD only: true or false"},
    {"batch_size", "1 to 65536"},
    {"epochs", "1 to 10000"},
    {"loss", "sparse_ or categorical_crossentropy; regression: mse, mae, huber"},
    {"validation", "split (the last validation_split of the training rows) or test"},
    {"validation_split", "fraction of the training rows that validates, in [0, 1)"},
    {"validation_shuffle", "true: validation_split's rows drawn at random, not the last ones"},
    {"validation_stratify", "true: validation_split's rows drawn class by class"},
    {"seed", "initialisation, shuffling and dropout masks, 0 to 2^64-1"},
    {"train_limit", "only the first N training rows (0: all)"},
    {"clipnorm", "each weight tensor's gradient to an L2 norm of at most this, [0, 1e6], 0 off"},
    {"clipvalue", "each gradient value clipped to [-v, v], [0, 1e6], 0 off"},
    {"global_clipnorm", "all gradients together to an L2 norm of at most this, [0, 1e6], 0 off"},
    {"weight_decay", "decoupled (AdamW), w -= lr * this * w before each update, in [0, 1]"},
    {"lr_schedule", "constant, step, exponential, cosine or reduce_on_plateau"},
    {"lr_drop", "step: the rate's factor every lr_every epochs, in (0, 1]"},
    {"lr_every", "step: epochs between drops, 1 to 10000"},
    {"lr_decay_rate", "exponential: factor per lr_decay_steps steps, in (0, 1]"},
    {"lr_decay_steps", "exponential: optimizer steps per lr_decay_rate, 1 to 1e9"},
    {"warmup_epochs", "cosine: epochs of linear warm-up first, less than epochs"},
    {"lr_factor", "reduce_on_plateau: the rate's factor on a plateau of val_loss, in (0, 1)"},
    {"lr_patience", "reduce_on_plateau: epochs without improvement first, 0 to 10000"},
    {"lr_min", "reduce_on_plateau: the lowest rate, in [0, 10]"},
    {"keep", "best (the best epoch's weights are tested and saved) or last"},
    {"early_stopping", "true: stop when the metric has not improved for patience epochs"},
    {"patience", "early_stopping: epochs without improvement before it stops, 0 to 10000"},
    {"min_delta", "early_stopping: the least change that counts as an improvement, >= 0"},
    {"restore_best_weights", "early_stopping: test the best epoch's weights (Keras's flag)"},
    {"precision", "fp32, bf16 (bfloat16 products, fp32 sums; needs avx512_bf16) or auto"},
    {"task", "classification (softmax over classes) or regression (linear outputs, CSV targets)"},
    {"huber_delta", "loss: huber's delta, where it turns from squared to linear, in (0, 1e6]"},
};

}  // namespace

std::string KeyHelp(std::string_view key) {
  for (const auto& [k, text] : kKeyHelp) {
    if (key != k) continue;
    std::string value = GetKey(TrialConfig(), key);
    if (value.empty() || value == "[]") value = "none";
    return std::string(text) + " (default " + value + ")";
  }
  return "";
}

}  // namespace hpsweep
