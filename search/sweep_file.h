// Sweep files: YAML in the form W&B and Katib users already write, parsed and expanded into trials.
//
//   name: lstm-units                  # required, [A-Za-z0-9._-]{1,64}, not . or ..
//   description: Effect of LSTM width # at most 4 KiB of UTF-8 text
//   data: {dataset: mnist, validation_split: 0.2, validation: split, train_limit: 0, seed: 7}
//   method: grid                      # grid | random | list | bayes
//   metric: {name: val_accuracy, goal: maximize}   # val_accuracy | val_loss | test_accuracy
//                                  # task: regression: val_mse (default) | val_mae | test_mse ...
//   max_trials: 50                    # required for random and bayes; for grid, an upper bound
//   max_attempts: 3                   # 1..100
//   quarantine_after: 3               # 0..100; 0: off (coordinator/scheduler.h, "Quarantine")
//   early_terminate: {type: hyperband, min_iter: 1, eta: 3}   # or {type: median, ...}: pruner.h
//   seed: 7                           # draws of random sweeps, and each trial's seed unless set
//   reuse: true                       # copy finished identical trials (scheduler.h, "Reuse")
//   fixed: {cell: lstm, epochs: 5}    # model/training keys, the same in every trial
//   parameters:                       # the axes
//     units: {values: [32, 48, 96, 256]}
//     dense: {values: [[64], [64, 32], []]}          # list-valued keys take YAML lists
//     learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}   # random, bayes
//     momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}   # only where optimizer is sgd
//   bayes: {n_startup_trials: 10, n_ei_candidates: 24, model: auto}   # bayes only; optional
//   warm_start: {sweeps: [3, lstm-units]}   # bayes: those sweeps' finished trials as history
//   metric: [{name: val_accuracy, goal: maximize}, {name: param_count, goal: minimize}]
//                                  # several objectives: ranked by front (search/ranking.h)
//   constraints: {param_count: {max: 100000}, epoch_seconds: {max: 5}}   # [min, max] each
//   trials:                           # method: list only: one item per trial
//     - {label: A1, cell: simple_rnn, activation: relu, batch_size: 64}
//     - {label: A4, cell: lstm, units: 256, batch_size: 128}
//
// method: list runs a family of heterogeneous experiments (a different model per row) as one
// sweep. Each item of `trials` is a mapping of model/training keys, read and checked as `fixed` is
// (same messages, with did-you-mean), plus an optional `label` (a short name such as "A1", at most
// 64 printable characters, unique in the file). Trial = default config + seed, then fixed, then the
// item (an item key may override a fixed key, or a data key folded into fixed), then, when
// `parameters` is given, a grid point: the list is crossed with the grid, every item x every grid
// point, item-major (items in file order, the grid's last axis fastest within an item); an item key
// may not also be swept. Refused: `trials` without method: list, method: list without `trials`, an
// empty list, an item that is not a mapping, an unknown key, a duplicate label, two items that make
// the same trial (after merging with fixed; labels aside), distributions in `parameters`, and more
// than kMaxTrialsPerSweep (or max_trials, when set) trials.
//
// Labels: TrialSpec::label, and the params map under the reserved key kLabelKey ("label") so that
// the leaderboard and exports show it. "label" is not a config key: every consumer that applies
// params with ApplyKey must skip it (worker/trial_run.cc does).
//
// Every model/training key of engine/config.h may appear under fixed or parameters; values are
// checked with ApplyKey(), so the messages are the engine's. Errors are InvalidArgument naming the
// file, line and key ("sweeps/x.yaml:12: key 'units': expected an integer in [1, 4096], got '0'");
// an unknown key suggests the nearest known one ("did you mean 'units'?").
//
// data: validation_split and validation are the config keys of that name (giving one both under
// data and under fixed/parameters is an error); data.seed becomes the trials' seed unless fixed or
// parameters set `seed`. data.train_limit (0 = all) sets SweepSpec::train_limit and, where the
// engine has train_limit as a config key, the trials' too (like validation_split). dataset
// ("mnist" or a path-free name, resolved by the runner under its data directory) is sweep-level.
//
// method: bayes (a Gaussian process or a Tree-structured Parzen Estimator, search/sampler.h):
// trials are proposed one at a time, when a worker asks for work, from the results so far;
// max_trials (required) bounds them. `parameters` may mix values lists (categorical), int_uniform, uniform and log_uniform; at
// least one is required. The optional `bayes` mapping: n_startup_trials (0..1000, default 10:
// random trials before the model is used), n_ei_candidates (1..1000, default 24: TPE's draws
// from the good-trial model ranked by l(x)/g(x)), model (auto, tpe or gp; default auto: a Gaussian process
// where it applies, see search/sampler.h). Refused: `bayes` with another method, unknown keys under
// it (with did-you-mean), method: bayes without max_trials or parameters, and `trials`.
//
// A user's own data set (engine/dataset.h), instead of `dataset`:
//   data: {format: idx, path: DIR}        # MNIST's four IDX files (plain or .gz), any image size
//   data: {format: csv, train: FILE, test: FILE, sequence_length: T}   # label,f1,... rows
//   data: {format: csv, ..., targets: N}   # task: regression: y1,...,yN,f1,... rows (N default 1)
// Relative paths are relative to the sweep file's folder. format idx needs path and takes no
// train/test/sequence_length; csv needs train and test and takes no path; sequence_length (csv
// only, default 1) is in [1, 4096]. The files themselves are read by CheckSweepData.
//
// Distributions: uniform and log_uniform draw doubles (printed with %.6g), int_uniform integers in
// [min, max], int_log_uniform integers in [min, max] (min >= 1) uniform in log space. q (a step,
// Optuna's `step`) puts uniform and int_uniform on the grid min + k * q: values are snapped
// (min + round((x - min) / q) * q), and max - min must be a multiple of q (within 1e-9 of one)
// else the key is refused. As Optuna, q is refused with log_uniform, and int_log_uniform takes
// only q: 1; q must be > 0 (an integer for int_uniform). Grids take no distributions. Unlike W&B's `log_uniform` (whose bounds are exponents), min and max here are the
// values themselves, as W&B's `log_uniform_values`.
//
// Conditional parameters: `when` on a parameter makes it apply only where other keys have given
// values; everywhere else it is absent from the trial's params (the engine's default applies; a
// program gets no --name=). Each key of `when` names a parent and what it must be, all of them
// holding:
//   when: {optimizer: sgd}              # the parent's value (compared in the engine's canonical
//   when: {optimizer: [sgd, rmsprop]}   #   form; a program's as written, or as numbers), any of
//   when: {layers: {min: 2}}            # a number in [min, max] (either may be left out)
// A parent is another parameter or a fixed key (in a list sweep, a key its items set too: each
// item's value counts for its trials). A parent that does not apply in a trial holds no
// condition, so chains (nesterov when momentum >= 0.8, momentum when optimizer is sgd) work.
// Refused (file:line:key): a parent that is neither (with did-you-mean), the parameter itself,
// a cycle (a parent conditional on its child, directly or not), a value the parent never takes
// (not among its values; outside its distribution or off its points; a fixed key that never
// matches: "never applies"), an exact value of a continuous distribution (give a range), a range
// over a parent that is not numeric or that it never reaches, min above max, and keys of a range
// other than min and max. Every method takes conditions:
//   grid (and list with parameters): only the combinations where each parameter applies, each
//     once: a parameter is crossed only with the points where it applies (optimizer [adam, sgd]
//     with momentum [0.5, 0.9] under sgd is 3 trials, not 4), in file order with the last axis
//     fastest (an axis that does not apply counts as at its first value); the limits count
//     these trials;
//   random: each draw decides the parameters in ParameterOrder (parents first), drawing a
//     child only where it applies; duplicates are recognised on the parameters that apply;
//   bayes: see search/sampler.h ("Conditional parameters").
// Without `when` every method gives exactly the trials it gave before conditions existed.
//
// Seeds: unless `seed` is fixed or swept, every trial gets the same seed (data.seed, else the
// top-level seed, else 0), so trials differ only by their axes, as in the Keras write-ups that
// compare models on one seed. Sweep `seed` (values: [1, 2, 3]) to measure seed-to-seed spread.
//
// Parsing (search/yaml_tree.h): libyaml under limits: at most kMaxSweepFileBytes, 64 levels
// of nesting, 100,000 values; no anchors, aliases or tags; one document; UTF-8 text without
// control characters. Messages escape any file text they quote (EscapeText).
//
// A program sweep (docs/programs.md) names, instead of an engine model, a program that workers
// offer:
//   program: torch-lstm                 # [A-Za-z0-9._-]{1,64}: a name, never a path or command
//   metric: {name: val_f1, goal: maximize}   # any metric name the program reports; goal needed
//   max_trial_seconds: 600              # an attempt running longer fails; 0..2592000 (30 days)
//   fixed: {epochs: 9}                  # free keys; epochs (1..10000) is the trials' budget
//   parameters: {hidden: {values: [32, 64]}, lr: {distribution: log_uniform, min: 1e-4, max: 0.1}}
// Its keys under fixed, parameters and trials items are free names ([A-Za-z_][A-Za-z0-9_]{0,63})
// with single values (a number, true/false or text, at most 256 bytes, kept as written); the
// engine's keys and checks do not apply, nor the model-size limits. Refused with a program:
// data (a program reads its own data), reuse (hpsweep cannot know that the program is the same),
// and max_trial_seconds without one. A trial's params are the fixed keys, the item's and the
// axes': exactly what the program gets as --name=value.
//
// Several objectives (README.md, "Several objectives"): `metric:` as a list of 2 to 4
// {name, goal}. The first is the sweep's metric as above (the pruners and the best epoch follow
// it); the others are engine metrics measured once per trial (val_accuracy, val_loss: the best
// epoch's; test_accuracy, test_loss, test_mse, test_mae), a measure (param_count of an engine
// model, minimize by default; train_seconds; epoch_seconds), or for a program any metric of its
// final line (goal required). constraints: up to 8 of those names (or the first objective), each
// {min, max}: a param_count outside them is never proposed (grid, list and random leave the
// point out, bayes passes it over), any other makes the trial infeasible, ranked after every
// feasible one. Refused: an unknown name (did you mean), an objective given twice, one the sweep
// never measures (a regression metric on a classification sweep, param_count for a program, a
// program constraint on a metric that is none of its objectives), min above max.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_SEARCH_SWEEP_FILE_H_
#define HPSWEEP_SEARCH_SWEEP_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "search/pruner.h"
#include "search/ranking.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "base/status.h"

namespace hpsweep {

// The known key `key` was most likely meant as, or "" when none is close: a near-miss (edit
// distance 1-3 by length), a few spellings from Keras and other tuners ("lr", "num_layers"), or a
// known key that starts or ends with it. Case-insensitive. Also the CLI's unknown-flag hint.
std::string NearestKey(std::string_view key, const std::vector<std::string>& known);

// Grids larger than this are refused before anything is stored.
constexpr int kMaxTrialsPerSweep = 10000;
// quarantine_after (and the coordinator's --quarantine-after) at most: failures in a row.
constexpr int kMaxQuarantineAfter = 100;
constexpr int kDefaultQuarantineAfter = 3;  // the coordinator's, when neither says

// Sweep files are read and parsed only up to this size; readers stop at one byte past it (a
// path such as /dev/zero ends in an error, not in a read that never ends).
constexpr size_t kMaxSweepFileBytes = size_t{1} << 20;

// The params key that carries a list item's label; not a config key (ApplyKey refuses it).
constexpr char kLabelKey[] = "label";

enum class SweepMethod { kGrid, kRandom, kList, kBayes, kPbt };
enum class Distribution { kValues, kUniform, kIntUniform, kLogUniform, kIntLogUniform };

// One key of a parameter's `when` (see "Conditional parameters" above): its parent holds one of
// `values`, or (range) a number in [min, max].
struct Condition {
  std::string parent;               // another parameter's key, or a fixed key
  std::vector<std::string> values;  // any of these (the parent's canonical text form)
  bool range = false;               // {min: A, max: B}: the parent's value as a number
  double min = 0, max = 0;          // range: -inf / +inf where not given
  int line = 0;                     // of the parent's key under `when`
};

struct ParameterSpec {
  std::string key;  // a config key
  Distribution distribution = Distribution::kValues;
  std::vector<std::string> values;  // text form of each value (kValues); lists as "[64, 32]"
  double min = 0, max = 0;          // for the distributions
  // q, the step (uniform, int_uniform): values are min + k * q within [min, max]; 0: none.
  double q = 0;
  int line = 0;                     // where it was declared
  // `when`: the conditions under which the parameter applies, every one of them; empty: always.
  std::vector<Condition> when;
};

// A distribution's points when they are finite: int_uniform, int_log_uniform, uniform with q
// (min + k * q for k in 0..count - 1; int_log_uniform: every integer in [min, max]); 0 for a
// continuous one (or values).
uint64_t DistributionPoints(const ParameterSpec& p);
// x snapped as Optuna does a stepped value, low + round((x - low) / q) * q, kept within
// [min, max]; int distributions round to an integer (q 1 when none). Others: x.
double SnapToStep(const ParameterSpec& p, double x);
// The text a trial's params take for value v of a numeric distribution (snapped first): an
// integer for int_*, else %.6g within [min, max] (DrawText).
std::string DistributionText(const ParameterSpec& p, double v);
class Rng;  // engine/tensor.h
// One draw of p's distribution (as a random sweep draws it): one of its values, a point of a
// finite distribution, or DrawText of a continuous draw.
std::string DrawParameter(const ParameterSpec& p, Rng* rng);
// The text of point `index` (0..DistributionPoints - 1) of a finite distribution.
std::string PointText(const ParameterSpec& p, uint64_t index);

struct SweepSpec;

// True when a parameter of spec has a `when`.
bool HasConditions(const SweepSpec& spec);
// True when c holds of its parent's value `text`: one of c.values (compared in the engine's GetKey
// form; a program's values as written, or as numbers when both are), or a number in the range.
bool ConditionHolds(const SweepSpec& spec, const Condition& c, const std::string& text);
// The order the parameters are decided in: each after the parameters its `when` names, else in
// file order (file order exactly when there are no conditions).
std::vector<size_t> ParameterOrder(const SweepSpec& spec);
// True when parameter `index` applies, given the values `texts` (one per parameter) and `active`
// of the parameters decided before it in ParameterOrder, and `fixed` (spec.fixed, or a list
// item's keys merged over it): every condition holds of its parent, a parent that does not apply
// holding none.
bool ParameterApplies(const SweepSpec& spec, size_t index, const std::vector<std::string>& texts,
                      const std::vector<bool>& active,
                      const std::map<std::string, std::string>& fixed);
// Which parameters apply in a trial of axis values `texts` (the text of one that does not apply
// is not read): ParameterApplies of each, in ParameterOrder. All true without conditions.
std::vector<bool> ActiveParameters(const SweepSpec& spec, const std::vector<std::string>& texts,
                                   const std::map<std::string, std::string>& fixed);

// One item of a list sweep's `trials`.
struct ListItem {
  std::string label;                          // "" when none was given
  std::map<std::string, std::string> params;  // config key -> text value, as under `fixed`
  std::map<std::string, int> lines;           // config key (and "label") -> 1-based line
  int line = 0;                               // of the item ("- ...")
};

// The `bayes` mapping of a method: bayes sweep (see above; Optuna's TPESampler defaults).
// model: what proposes after the start-up (search/sampler.h, "GP"): auto (a Gaussian process
// while the space and the history allow it, else TPE), tpe, or gp.
enum class BayesModel { kAuto, kTpe, kGp };
struct BayesOptions {
  int n_startup_trials = 10;
  int n_ei_candidates = 24;
  BayesModel model = BayesModel::kAuto;
};

// The `pbt` mapping of method: pbt (population-based training; search/pbt.h, and
// coordinator/scheduler.h "Population-based training"): `population` members, drawn as a random
// sweep's trials, train in segments of `interval` epochs; after each, the bottom `quantile` copy
// a top member's checkpoint and params and explore the `mutable` ones (resampled with
// `resample_probability`, else multiplied by 0.8 or 1.2, or moved to a neighbouring value).
struct PbtOptions {
  int population = 0;  // 2..kMaxPopulation; 0: not a pbt sweep
  int interval = 0;    // epochs per segment, 1..epochs - 1
  double quantile = 0.25;              // (0, 0.5]
  double resample_probability = 0.25;  // [0, 1]
  std::vector<std::string> mutable_params;  // parameters (not fixed), in file order
  int epochs = 0;  // every member's `epochs` (fixed), read from the file
};
constexpr int kMaxPopulation = 256;  // (the keys that may be mutable: engine/checkpoint.h)

// The most sweeps one warm_start may name.
constexpr size_t kMaxWarmStartSweeps = 16;
// The most seconds max_trial_seconds may give an attempt (30 days).
constexpr double kMaxTrialSecondsLimit = 30 * 24 * 3600.0;
// The longest value a program parameter may have, in bytes.
constexpr size_t kMaxProgramValueBytes = 256;

struct SweepSpec {
  std::string name;
  // A program sweep's program name (see above); "" for the engine's models.
  std::string program;
  double max_trial_seconds = 0;  // 0: no limit (program sweeps only)
  std::string description;
  std::string dataset = "mnist";
  DataSpec data;            // format kMnist unless data.format was given (paths already resolved)
  int64_t train_limit = 0;  // 0: the whole training set
  SweepMethod method = SweepMethod::kGrid;
  std::string metric = "val_accuracy";
  bool maximize = true;
  // `metric:` given as a list (search/ranking.h): every objective, the first also in metric and
  // maximize; empty when it is one mapping. `constraints:`, in file order.
  std::vector<ObjectiveSpec> objectives;
  std::vector<ConstraintSpec> constraints;
  int max_trials = 0;  // 0: unset
  int max_attempts = 3;
  // A worker whose last this many attempts failed while this sweep's trials completed on other
  // workers is quarantined; 0: never for this sweep; -1: not set (the coordinator's setting).
  int quarantine_after = -1;
  uint64_t seed = 0;
  // `early_terminate` (search/pruner.h): type kNone when absent. Its keys are checked here:
  // hyperband {type, min_iter 1..10000, eta 2..100, max_iter above min_iter, s 1..10}; median
  // {type, warmup 0..10000, min_trials 1..10000}. Refused too: a hyperband whose first rung is
  // not below the trials' fixed `epochs` (it would never prune), and max_iter without min_iter
  // (W&B's other form, whose `s` counts rungs, not brackets).
  EarlyTerminateSpec early_terminate;
  std::map<std::string, std::string> fixed;  // config key -> text value (data keys folded in)
  std::vector<ParameterSpec> parameters;     // in file order
  std::vector<ListItem> items;               // method: list: the `trials` sequence, in file order
  BayesOptions bayes;                        // method: bayes only
  PbtOptions pbt;                            // method: pbt only
  // `reuse: true`: as --reuse (coordinator/scheduler.h, "Reuse"); true or false, default false.
  bool reuse = false;
  // `warm_start: {sweeps: [ID or name, ...]}` (method: bayes): the TPE sampler also learns from
  // the finished trials of those sweeps (coordinator/scheduler.h, "Warm start"). As written: a
  // sweep id (digits) or a sweep name; at most kMaxWarmStartSweeps, no repeats.
  std::vector<std::string> warm_start;
  // 1-based line where each key was read, for messages: top-level keys by name ("max_trials",
  // "parameters"), others by path ("fixed.units", "data.seed"). Data keys folded into `fixed` are
  // also recorded as "fixed.<key>". Empty for a spec built by hand (messages then omit the line).
  std::map<std::string, int> lines;
};

// One trial of an expanded sweep: every config key with its text value (GetKey form).
struct TrialSpec {
  int number = 0;  // 1-based, in expansion order
  // All ConfigKeys(), plus kLabelKey when the trial's list item has a label.
  std::map<std::string, std::string> params;
  std::string label;  // the list item's label, "" when none (and for grid and random sweeps)
  TrialConfig config;
  // Candidates the sampler passed over before this one (method: bayes): points the config
  // checks or the limits refused, and points tried already. 0 for a plan's trials.
  int passed_over_invalid = 0, passed_over_tried = 0;
  // Why the last invalid one was refused (its message); "" when none was.
  std::string passed_over_reason;
};

// Sizes past which ExpandSweep refuses a trial, so that a sweep cannot hand workers a model that
// kills them with bad_alloc (LSTM(4096) x 16 has 2.08e9 parameters). ParamCount and
// TrainingBytesEstimate (engine/config.h) measure each trial. The defaults fit a worker of a
// few GiB; `hpsweep coordinator` and `hpsweep run` set them with --max-model-params and
// --max-training-memory-mb.
struct SweepLimits {
  int64_t max_params = 50'000'000;
  int64_t max_training_bytes = int64_t{8} << 30;  // 8 GiB
  // Where a sweep's own data may come from. restrict_data false (the CLI, reading its user's own
  // files): anywhere. true (a coordinator): only from under these folders (absolute, links
  // resolved), the real path of every file checked before it is opened; a sweep naming anything
  // else is refused with the path and never a byte of its content (coordinator --data-root).
  bool restrict_data = false;
  std::vector<std::string> data_roots;
};

// InvalidArgument (file:line:key) unless every file of spec's own data lies under one of
// limits.data_roots (nothing to check unless limits.restrict_data, or for MNIST). Reads no file.
Status CheckDataRoots(const SweepSpec& spec, const std::string& file_name,
                      const SweepLimits& limits);
// The same for files a coordinator is about to send (GetDataset): each file's real path now.
Status CheckFilesUnderRoots(const std::vector<std::string>& files, const SweepLimits& limits);

// The sweep's ranking (search/ranking.h): its objectives (or its one metric) and constraints.
SweepRanking RankingOfSpec(const SweepSpec& spec);

// Parses and validates a sweep file's text. file_name is used in messages only.
StatusOr<SweepSpec> ParseSweep(const std::string& yaml, const std::string& file_name);
// A sweep file's text: at most one byte past kMaxSweepFileBytes (ParseSweep refuses the size),
// so an endless file (/dev/zero) ends. NotFound "PATH: no such sweep file"; a folder is refused.
StatusOr<std::string> ReadSweepText(const std::string& path);
StatusOr<SweepSpec> ParseSweepFile(const std::string& path);

// For a sweep of its own data (spec.data.format idx or csv): reads the data set, so that a bad
// file is refused at submit rather than in every trial, and returns its identity
// (DatasetSha256). Every row is checked but one row of each file is kept (LoadDataset(spec, 1,
// 1)), and at most two such checks run at once in a process (the others wait), so the memory of
// concurrent submits does not grow with their files. Errors name the sweep file, the line of the data key and the data file's own
// problem ("s.yaml:4: key 'data.train': d/train.csv:7: ragged row: ..."). For MNIST, "" and Ok.
StatusOr<std::string> CheckSweepData(const SweepSpec& spec, const std::string& file_name,
                                     const SweepLimits& limits = SweepLimits());

// The reserved trial params of a sweep of its own data (not config keys; workers read them):
// data.format, data.path (idx), data.train, data.test, data.sequence_length, data.targets
// (csv; data.targets only for task: regression), and
// data.sha256, the data set's identity, which a worker checks before training.
constexpr char kDataParamPrefix[] = "data.";

// A sweep's own data as each of its trials carries it: the reserved params above and the data's
// shape (a trial's model steps, features and classes). Empty params for MNIST.
struct SweepData {
  std::map<std::string, std::string> params;
  int steps = 0, features = 0, classes = 0;
  int line = 0;  // of data.format in the sweep file, for messages
};

// CheckSweepData (CheckDataRoots, then checks and hashes the files), then the SweepData of the
// spec's data, its shape from that same one read of the files.
StatusOr<SweepData> PrepareSweepData(const SweepSpec& spec, const std::string& file_name,
                                     const SweepLimits& limits = SweepLimits());

// Adds d's params to *t and shapes its model to the data; a trial over `limits` with that shape
// is refused as ExpandSweep refuses one. Nothing when d has no params (MNIST).
Status ApplySweepData(const SweepData& d, const std::string& file_name, const SweepLimits& limits,
                      TrialSpec* t);

// A sweep file ready to submit: parsed, expanded into its planned trials (none for bayes: its
// sampler proposes them), its own data read, hashed and attached to every trial.
struct PreparedSweep {
  SweepSpec spec;
  std::vector<TrialSpec> trials;
  SweepData data;  // empty params for MNIST
};

// The one way from a sweep file's text to a sweep: ParseSweep, ExpandSweep, PrepareSweepData
// and ApplySweepData to each trial, the first error returned (file:line:key). The CLI calls it
// before it submits, the service when a sweep arrives.
StatusOr<PreparedSweep> PrepareSweep(const std::string& text, const std::string& file_name,
                                     const SweepLimits& limits = SweepLimits());

// PrepareSweepData, then ApplySweepData to every trial. Nothing for MNIST. Call after ExpandSweep
// and before storing the trials. (A bayes sweep's sampler applies it to each proposal.)
Status AttachSweepData(const SweepSpec& spec, const std::string& file_name,
                       std::vector<TrialSpec>* trials, const SweepLimits& limits = SweepLimits());

// Expands into trials. Each trial is a default TrialConfig with the seed (see above), then the
// fixed keys, then its axis values applied by ApplyKey(), then checked with Validate(); an invalid
// combination is refused, naming the trial number, its axis values and the line of the key at
// fault. So is a trial over `limits` ("trial 7 (units=4096, layers=16): 2.08e9 parameters, over
// the limit of 5e7 (--max-model-params)").
//
// grid: the cartesian product in file order, last axis fastest. Refused (naming the axes and the
// count) over kMaxTrialsPerSweep, and when max_trials is set but smaller than the grid: trials are
// never dropped silently. Distributions are refused (use method: random).
//
// list: the items in file order, each crossed with the grid of `parameters` (one trial per item
// when there are none); the grid rules above apply to the product. See "method: list" above.
//
// random: max_trials draws from an Rng seeded by spec.seed, each axis drawn in file order (values:
// a uniform choice). A draw equal to an earlier trial is redrawn up to 100 times; when that fails
// and the space is finite (values and int_uniform only, at most 100,000 points), the trial is
// picked among the points not drawn yet. So the sweep is cut short, with fewer than max_trials
// trials and no error, only when the space is exhausted (e.g. random over 3 values with
// max_trials: 10 gives 3 trials). The same spec and seed always give the same trials.
//
// bayes: no trials (a sampler proposes them at lease time, see search/sampler.h); the fixed
// keys and axes are checked as for the others.
StatusOr<std::vector<TrialSpec>> ExpandSweep(const SweepSpec& spec, const std::string& file_name,
                                             const SweepLimits& limits = SweepLimits());

// One trial of a grid, random or bayes sweep (not list) from its axis values `texts` (one per
// parameter, in file order): default config + seed, fixed keys, axes, then the checks and limits
// of ExpandSweep, with its messages. For samplers that propose trials one at a time.
StatusOr<TrialSpec> BuildTrial(const SweepSpec& spec, int number,
                               const std::vector<std::string>& texts, const std::string& file_name,
                               const SweepLimits& limits = SweepLimits());

// A program trial's epochs: its params' "epochs" when that is an integer in 1..10000, else 1.
int ProgramEpochs(const std::map<std::string, std::string>& params);

// True when name may be a program parameter: [A-Za-z_][A-Za-z0-9_]{0,63}. (A metric's name:
// IsMetricName, search/objective.h.)
bool IsProgramParamName(const std::string& name);
// True when name may name a program (the sweep file's program:, a worker's --program NAME=):
// [A-Za-z0-9._-], 1 to 64 characters, not . or ..
bool IsProgramName(std::string_view name);

// "%.6g" of v, moved to the nearest bound (written exactly) when the rounding left [lo, hi]: the
// text form random and bayes sweeps give a draw of uniform or log_uniform.
std::string DrawText(double v, double lo, double hi);

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_SWEEP_FILE_H_
