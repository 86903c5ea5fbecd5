// Internal to the sweep-file code (sweep_file.cc, sweep_sections.cc, sweep_plan.cc and
// sweep_data.cc); callers use search/sweep_file.h. It holds what those files share: the
// small helpers of their messages, the grid and list checks that both parsing and expansion run,
// and Parser, whose members sweep_file.cc (the top level) and sweep_sections.cc (the sections
// under it) define.
//
// Ownership: a Parser refers to the file name it is given, which must outlive it; it keeps
// pointers into the YamlDocument it reads only during Parse.
// Thread-safety: the functions are pure; a Parser serves one Parse call on one thread.
#ifndef HPSWEEP_SEARCH_SWEEP_FILE_INTERNAL_H_
#define HPSWEEP_SEARCH_SWEEP_FILE_INTERNAL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "search/sweep_file.h"
#include "search/yaml_tree.h"
#include "base/status.h"

namespace hpsweep {
namespace sweep_internal {

// The keys of `data` (sweep_file.cc): UnknownKey points a data key given elsewhere there.
const std::vector<std::string>& DataKeys();

bool Contains(const std::vector<std::string>& v, std::string_view s);
// "a, b, c"
std::string JoinKeys(const std::vector<std::string>& keys);
const char* TypeName(const YamlNode* n);

// %.6g, the form random draws take in trial parameters.
std::string Format6(double v);
// 82186, or 2.14e9 past 100,000: how messages give parameter counts.
std::string FormatCount(int64_t n);
// "12.5 GiB", "340 MiB".
std::string FormatBytes(int64_t bytes);

bool ParseInt64(const std::string& s, int64_t* out);
// A finite number written whole ("0.5", "1e-3"); false for anything else. (sweep_sections.cc)
bool ParseDouble(const std::string& s, double* out);
// [A-Za-z0-9._-]{1,128}
bool IsSafeName(const std::string& s);
// The sweep's name names files of exports: at most this long (and a warm_start entry naming it).
constexpr size_t kMaxSweepNameLength = 64;

// "file:12: message", or "file: message" when the line is unknown (a spec built by hand). Text
// quoted from the file (or the file name) is escaped: a message is valid UTF-8 on one line.
Status ErrorAt(const std::string& file, int line, const std::string& message);
// lines[key], or fallback when absent.
int LineOr(const std::map<std::string, int>& lines, const std::string& key, int fallback);

// The grid checks shared by ParseSweep and ExpandSweep: no distributions, no empty axis, at most
// kMaxTrialsPerSweep points, and no more than max_trials when it is set. For method: list the
// count is the items times the grid points. (sweep_plan.cc)
Status CheckGrid(const SweepSpec& spec, const std::string& file, uint64_t* count);
// The checks of a list sweep shared by ParseSweep and ExpandSweep: at least one item, item keys
// that are config keys and not swept, no two items that make the same trial (fixed merged with
// the item, labels aside: every trial would run twice), and the grid checks on the product.
// (sweep_plan.cc)
Status CheckList(const SweepSpec& spec, const std::string& file, uint64_t* count);

// A grid with conditional parameters (sweep_conditions.cc): its size, a parameter counted only
// where it applies (UINT64_MAX once it is past kMaxTrialsPerSweep, not counted further), and its points as value indices per parameter (0
// for one that does not apply), in file order with the last axis fastest. `fixed` gives the
// values of fixed parents (spec.fixed, or a list item's keys merged over it).
uint64_t ConditionalGridSize(const SweepSpec& spec, const std::map<std::string, std::string>& fixed);
std::vector<std::vector<size_t>> ConditionalGridPoints(
    const SweepSpec& spec, const std::map<std::string, std::string>& fixed);

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Entry {
  std::string key;
  int line = 0;  // of the key
  const YamlNode* value = nullptr;
};

// A key under data that folds into the config, remembered until fixed and parameters are known.
struct DataKey {
  std::string key;
  std::string text;
  int line = 0;
};

// Reads one sweep file's tree into a SweepSpec, checking as it goes; Parse once per Parser.
class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file) {}

  StatusOr<SweepSpec> Parse(const YamlNode* root);

 private:
  Status Err(int line, const std::string& message) const { return ErrorAt(file_, line, message); }

  static int LineOf(const YamlNode* node, int fallback) {
    return node->line > 0 ? node->line : fallback;
  }

  // The entries of mapping `node`, in file order; every key must be one of `known` and appear
  // once. `section` is "" for the top level, else the path used in messages ("data", "fixed",
  // "parameters.units").
  Status ReadMapping(const YamlNode* node, const std::string& section,
                     const std::vector<std::string>& known, std::vector<Entry>* out) const;
  std::string UnknownKey(const std::string& key, const std::string& section,
                         const std::vector<std::string>& known) const;
  // A single value (not a list, mapping or nothing) under `what` ("name", "data.seed").
  Status Scalar(const Entry& e, const std::string& what, std::string* out) const;
  // The text form of a config value: a scalar as written, a list of scalars as "[a, b]".
  Status ConfigText(const std::string& key, const YamlNode* node, int fallback_line,
                    std::string* out) const;
  // Checks `text` for `key` with ApplyKey on a default config; `canonical` gets GetKey's form.
  Status CheckConfigValue(const std::string& key, const std::string& text, int line,
                          const std::string& hint, std::string* canonical) const;
  Status IntInRange(const Entry& e, const std::string& what, int64_t lo, int64_t hi,
                    int64_t* out) const;

  // Parse, one key group at a time.
  Status ReadTopLevelKey(const Entry& e, SweepSpec* spec);
  Status ReadName(const Entry& e, SweepSpec* spec);
  // program: NAME (read before the other keys: it decides how they read).
  Status ReadProgram(const Entry& e, SweepSpec* spec);
  // After the whole file: the keys a program sweep refuses (data, reuse), and
  // max_trial_seconds without a program.
  Status CheckProgramKeys(const SweepSpec& spec) const;
  Status ReadDescription(const Entry& e, SweepSpec* spec);
  Status ReadMethod(const Entry& e, SweepSpec* spec);
  // After the whole file: no key both fixed and swept.
  Status CheckFixedOrSwept(const SweepSpec& spec) const;
  // After the whole file: the data keys that are config keys join `fixed`; the seed and
  // train_limit they imply.
  Status FoldDataKeys(SweepSpec* spec);
  // After the whole file: the keys each method needs or refuses, and the grid or list checks.
  Status CheckMethod(const SweepSpec& spec) const;

  Status ReadData(const Entry& e, SweepSpec* spec);
  Status ReadMetric(const Entry& e, SweepSpec* spec);
  // metric: as a list of objectives, and constraints (search/ranking.h); sweep_objectives.cc.
  Status ReadObjectives(const Entry& e, SweepSpec* spec);
  Status ReadConstraints(const Entry& e, SweepSpec* spec);
  // After the whole file (the task and program known): every objective and constraint is one
  // the sweep measures.
  Status CheckObjectives(const SweepSpec& spec) const;
  Status ReadEarlyTerminate(const Entry& e, SweepSpec* spec);
  // After the whole file: a hyperband whose first rung is not below the fixed epochs.
  Status CheckEarlyTerminate(const SweepSpec& spec) const;
  // data: the keys of a user's own data set fit its format (after ReadData).
  Status CheckDataForm(const SweepSpec& spec) const;
  // task: regression (README.md, "Regression"): only under fixed; csv data, whose targets
  // default to 1; the metric a regression one (default val_mse, minimised). A regression
  // metric or data.targets without it is refused. sweep_sections.cc.
  Status CheckTask(SweepSpec* spec) const;
  Status ReadFixed(const Entry& e, SweepSpec* spec);
  // One model/training key as under `fixed` or in a list item: its text form, checked.
  Status ReadConfigEntry(const Entry& f, std::string* text) const;
  Status ReadParameters(const Entry& e, SweepSpec* spec);
  Status ReadTrials(const Entry& e, SweepSpec* spec);
  Status ReadParameter(const Entry& e, ParameterSpec* p);
  // ReadParameter's two forms: {values: [...]}, and {distribution: ..., min: ..., max: ...}
  // (min and max may be null: missing).
  Status ReadValues(const std::string& key, const Entry& values, ParameterSpec* p) const;
  Status ReadStep(const std::string& key, const Entry& q, ParameterSpec* p) const;
  Status ReadDistribution(const std::string& key, const Entry& distribution, const Entry* min,
                          const Entry* max, ParameterSpec* p) const;
  // A parameter's `when` (sweep_conditions.cc): read here, checked against the whole file by
  // CheckConditions (after FoldDataKeys: a parent may be a data key folded into fixed).
  Status ReadWhen(const std::string& key, const Entry& when, ParameterSpec* p) const;
  Status ReadWhenRange(const std::string& what, int line, const YamlNode* v, Condition* c) const;
  Status CheckCondition(const SweepSpec& spec, const ParameterSpec& p, Condition* c) const;
  Status CheckConditions(SweepSpec* spec) const;
  Status ReadBayes(const Entry& e, SweepSpec* spec);
  Status ReadWarmStart(const Entry& e, SweepSpec* spec);
  // pbt: {population, interval, quantile, resample_probability, mutable} (sweep_pbt.cc), and
  // after the whole file the checks of method: pbt.
  Status ReadPbt(const Entry& e, SweepSpec* spec);
  Status CheckPbt(SweepSpec* spec) const;

  const std::string& file_;
  std::vector<DataKey> data_keys_;
  bool top_level_seed_ = false;
  std::string data_seed_;
  int trials_line_ = 0;  // of the top-level `trials` key, 0 when absent
  int bayes_line_ = 0;   // of the top-level `bayes` key, 0 when absent
  int pbt_line_ = 0;     // of the top-level `pbt` key, 0 when absent
  bool program_ = false;  // a program sweep: free parameter names and metric
};

}  // namespace sweep_internal
}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_SWEEP_FILE_INTERNAL_H_
