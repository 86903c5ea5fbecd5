#include "search/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <unordered_set>
#include <utility>

#include "search/gp.h"
#include "search/objective.h"
#include "search/parzen.h"
#include "search/pruner.h"
#include "search/startup.h"
#include "engine/config.h"
#include "engine/tensor.h"
#include "base/utf8.h"

namespace hpsweep {
namespace {

using tpe::Axis;
using tpe::Parzen;

// Stream of a bayes sweep's draws, so they are independent of the random method's and of
// anything else seeded by the sweep's seed.
constexpr uint64_t kTpeStream = 0x545045ULL;  // "TPE"
constexpr uint64_t kStartupStream = 0x4c4853ULL;  // "LHS": the start-up's strata
// Optuna's default: the good group holds at most this many trials.
constexpr int kGammaCap = 25;
// Draws of a random (startup or fallback) point before giving up on the config checks.
constexpr int kRandomTries = 100;
// Rounds of n_ei_candidates draws from the good estimator before a tried point or a random one.
constexpr int kCandidateRounds = 4;
// A finite bayes space with conditions or a param_count constraint is counted point by point up
// to this many (a few seconds of config checks at submit).
constexpr double kMaxCountedPoints = 10000;
// Corners of a bayes space measured one by one when looking for its smallest model.
constexpr double kMaxCorners = 1024;
// A Gaussian process proposes while the history used has at most this many finished trials (its
// fit costs n^3 per step: 0.2 s at 200); TPE past it, for model: gp too.
constexpr size_t kMaxGpHistory = 200;

class PlanSampler : public Sampler {
 public:
  explicit PlanSampler(std::vector<TrialSpec> plan) : plan_(std::move(plan)) {}
  int planned() const override { return static_cast<int>(plan_.size()); }
  bool needs_history() const override { return false; }
  int64_t ProposalWork(size_t) const override { return 0; }
  StatusOr<TrialSpec> Propose(int number, const std::vector<const TrialRow*>&) const override {
    if (number < 1 || number > planned()) {
      return Internal("trial " + std::to_string(number) + " is past the plan of " +
                      std::to_string(planned()));
    }
    TrialSpec t = plan_[number - 1];
    t.number = number;
    return t;
  }

 private:
  std::vector<TrialSpec> plan_;
};

// One axis as the estimator sees it.
class TpeSampler : public Sampler {
 public:
  TpeSampler(SweepSpec spec, std::string file, SweepLimits limits, SweepData data)
      : spec_(std::move(spec)),
        file_(std::move(file)),
        limits_(limits),
        data_(std::move(data)),
        ranking_(RankingOfSpec(spec_)) {}

  Status Init() {
    for (const ParameterSpec& p : spec_.parameters) {
      Axis ax;
      switch (p.distribution) {
        case Distribution::kValues:
          ax.categorical = true;
          for (const std::string& v : p.values) {
            if (!spec_.program.empty()) {  // a program's values are kept as written
              ax.canonical.push_back(v);
              continue;
            }
            TrialConfig c;
            HPSWEEP_RETURN_IF_ERROR(ApplyKey(p.key, v, &c));
            ax.canonical.push_back(GetKey(c, p.key));
          }
          break;
        case Distribution::kIntUniform:
        case Distribution::kUniform:
          if (p.q > 0 && (p.distribution == Distribution::kUniform || p.q != 1)) {
            ax.integer = true;  // TPE proposes on the grid: bins of the points' index
            ax.step = p.q;
            ax.lo = -0.5;
            ax.hi = static_cast<double>(DistributionPoints(p)) - 0.5;
          } else if (p.distribution == Distribution::kIntUniform) {
            ax.integer = true;
            ax.lo = p.min - 0.5;
            ax.hi = p.max + 0.5;
          } else {
            ax.lo = p.min;
            ax.hi = p.max;
          }
          break;
        case Distribution::kLogUniform:
          ax.log = true;
          ax.lo = std::log(p.min);
          ax.hi = std::log(p.max);
          break;
        case Distribution::kIntLogUniform:
          ax.log = ax.int_log = true;
          ax.lo = std::log(p.min - 0.5);
          ax.hi = std::log(p.max + 0.5);
          break;
      }
      axes_.push_back(std::move(ax));
    }
    // The estimators' groups: the parameters without `when`, then one group per distinct `when`
    // (its parameters are present in the same trials), parents' groups first.
    groups_.assign(1, {});
    std::map<std::string, size_t> by_when;
    for (size_t a : ParameterOrder(spec_)) {
      std::string when;
      for (const Condition& c : spec_.parameters[a].when) {
        when += c.parent + (c.range ? "~" + std::to_string(c.min) + "," + std::to_string(c.max)
                                    : "=");
        for (const std::string& v : c.values) when += v + "|";
        when += ";";
      }
      auto [it, added] = by_when.emplace(when, groups_.size());
      if (added && !when.empty()) groups_.emplace_back();
      groups_[when.empty() ? 0 : it->second].push_back(a);
    }
    for (const std::vector<size_t>& g : groups_) {
      group_axes_.emplace_back();
      for (size_t a : g) group_axes_.back().push_back(axes_[a]);
    }
    HPSWEEP_RETURN_IF_ERROR(CheckModel());
    return CountFinitePoints();
  }

  // gp_: whether a Gaussian process proposes (while the history allows, for model: auto). It
  // models one value over one group of axes: model: gp with `when`, several objectives or
  // constraints is refused (file:line), and auto takes TPE there and with a pruner (whose
  // trials' values come from fewer epochs).
  Status CheckModel() {
    const bool fits = groups_.size() == 1 && !ranking_.ranked_by_fronts();
    if (spec_.bayes.model == BayesModel::kGp && !fits) {
      auto line = spec_.lines.find("bayes.model");
      return InvalidArgument(
          EscapeText(file_) + (line == spec_.lines.end() ? "" : ":" + std::to_string(line->second)) +
          ": bayes.model: gp models one objective over parameters without `when`, and no "
          "constraints; this sweep has " +
          (groups_.size() > 1 ? "conditional parameters" : "several objectives or constraints") +
          " (use model: tpe or auto)");
    }
    gp_ = spec_.bayes.model == BayesModel::kGp ||
          (spec_.bayes.model == BayesModel::kAuto && fits &&
           spec_.early_terminate.type == EarlyTerminateSpec::Type::kNone);
    return Status::Ok();
  }

  // max_trials, or fewer when the space is finite (values lists, integer and stepped axes) and has
  // fewer valid points: each point is tried once (a tried point is not proposed again), so the
  // trials past them would only train the same models again.
  int planned() const override { return planned_; }
  bool needs_history() const override { return true; }

  // InvalidArgument when even the smallest model of the space is over limits_.max_params: every
  // proposal would fail, and the sweep would end with max_trials failed trials. The parameter
  // count grows with each axis that sizes the model (units, layers, ...), so the smallest model
  // is at a corner: every combination of categorical values and numeric bounds is tried when
  // there are at most kMaxCorners, else the axes are minimized one at a time from the lower
  // corner. A corner the config checks refuse is passed over.
  Status CheckSmallestModel() const {
    SweepLimits unlimited;
    unlimited.max_params = std::numeric_limits<int64_t>::max();
    unlimited.max_training_bytes = std::numeric_limits<int64_t>::max();
    std::vector<std::vector<double>> choices;  // per axis, in transformed space
    double corners = 1;
    for (const Axis& ax : axes_) {
      std::vector<double> c;
      if (ax.categorical) {
        for (size_t i = 0; i < ax.canonical.size(); ++i) c.push_back(static_cast<double>(i));
      } else {
        c = {ax.lo, ax.hi};
      }
      corners *= static_cast<double>(c.size());
      choices.push_back(std::move(c));
    }
    int64_t best = -1;
    std::vector<std::string> best_texts;
    // The parameter count of point x (-1 if the config checks refuse it); keeps the smallest.
    auto measure = [&](const std::vector<double>& x) -> int64_t {
      const std::vector<std::string> texts = Texts(x);
      StatusOr<TrialSpec> t = BuildTrial(spec_, 1, texts, file_, unlimited);
      if (!t.ok()) return -1;
      const int64_t n = ParamCount(t->config);
      if (best < 0 || n < best) best = n, best_texts = texts;
      return n;
    };
    std::vector<double> x(axes_.size());
    for (size_t a = 0; a < axes_.size(); ++a) x[a] = choices[a][0];
    if (corners <= kMaxCorners) {
      std::vector<size_t> at(axes_.size(), 0);
      while (true) {
        for (size_t a = 0; a < axes_.size(); ++a) x[a] = choices[a][at[a]];
        if (measure(x) >= 0 && best <= limits_.max_params) return Status::Ok();
        size_t a = 0;
        while (a < at.size() && ++at[a] == choices[a].size()) at[a++] = 0;
        if (a == at.size()) break;
      }
    } else {
      for (int pass = 0; pass < 3; ++pass) {
        for (size_t a = 0; a < axes_.size(); ++a) {
          double keep = x[a];
          int64_t kept = -1;
          for (double v : choices[a]) {
            x[a] = v;
            const int64_t n = measure(x);
            if (n >= 0 && best <= limits_.max_params) return Status::Ok();
            if (n >= 0 && (kept < 0 || n < kept)) kept = n, keep = v;
          }
          x[a] = keep;
        }
      }
    }
    if (best < 0 || best <= limits_.max_params) return Status::Ok();  // (nothing to say)
    std::string point;
    for (size_t a = 0; a < axes_.size(); ++a) {
      point += (a ? ", " : "") + spec_.parameters[a].key + "=" + best_texts[a];
    }
    auto line = spec_.lines.find("parameters");
    const std::string where =
        EscapeText(file_) + (line == spec_.lines.end() ? "" : ":" + std::to_string(line->second)) +
        ": ";
    return InvalidArgument(
        where + "parameters: every model of this bayes space is over the limit of " +
        std::to_string(limits_.max_params) + " parameters (--max-model-params); the smallest has " +
        std::to_string(best) + " (" + EscapeText(point) + ")");
  }

  int64_t ProposalWork(size_t trials) const override {
    // Each candidate is weighed against both estimators: one component per trial they hold.
    const int64_t history = static_cast<int64_t>(std::min<size_t>(trials, 2 * kMaxSamplerHistory));
    if (gp_ && trials <= kMaxGpHistory) {
      // A GP's fit: about 100 factorisations of n^3 / 3 each; its candidates: n^2 each (a
      // density evaluation is about 16 of those multiply-adds); plus about 1,600 candidates'
      // fixed cost, some 3 ms (bench/tpe_scale.cc: 7.5 ms at 40 trials, 0.2 s at 200): every
      // GP proposal is made outside the scheduler's lock.
      return (100 * history * history * history / 3 + 2000 * history * history) / 16 + 250000;
    }
    return static_cast<int64_t>(spec_.bayes.n_ei_candidates) * history *
           static_cast<int64_t>(std::max<size_t>(1, axes_.size()));
  }

  // A finished trial of the history, as the split into good and bad ranks it.
  struct Done {
    int group;     // 0: completed; 1: pruned (ranked after every completed trial)
    int epochs;    // pruned: epochs reached (more ranks first)
    double score;  // the objective's score of its best value (higher is better)
    int number;
    std::vector<double> x;
    const TrialRow* row;
  };

  // Several objectives or constraints (MOTPE's split): a completed trial's score becomes its
  // place in the sweep's ranking (feasible first, then front; within a front of two objectives
  // by hypervolume contribution, else crowding distance: SweepRanking::RankByContribution).
  void ScoreByRanking(std::vector<Done>* done) const {
    std::vector<const TrialRow*> completed;
    std::vector<size_t> which;
    for (size_t i = 0; i < done->size(); ++i) {
      if ((*done)[i].group == 0) completed.push_back((*done)[i].row), which.push_back(i);
    }
    const std::vector<SweepRanking::Place> places = ranking_.RankByContribution(completed);
    for (size_t r = 0; r < places.size(); ++r) {
      (*done)[which[places[r].index]].score = -static_cast<double>(r);
    }
  }

  StatusOr<TrialSpec> Propose(int number,
                              const std::vector<const TrialRow*>& trials) const override {
    Rng rng(Rng::Mix(spec_.seed ^ kTpeStream, static_cast<uint64_t>(number)));
    const Objective objective(spec_.metric, spec_.maximize);
    std::vector<Done> done;
    std::vector<std::vector<double>> pending;  // running and queued: the liar's points
    std::vector<const TrialRow*> pending_rows;
    // Every stored point is tried, whatever its status (a row whose values this space cannot
    // hold matches no proposal). Only the trials the model uses are parsed into points: with a
    // history of 10,000 that is a tenth of them.
    std::unordered_set<uint64_t> tried;
    tried.reserve(trials.size());
    std::vector<std::pair<int, const TrialRow*>> finished;  // (number, row) with a value
    for (const TrialRow* t : trials) {
      tried.insert(PointKey(t->params));
      if (t->status == TrialStatus::kRunning || t->status == TrialStatus::kQueued) {
        std::vector<double> x;
        if (!Point(*t, &x)) continue;  // (a value this space cannot hold: left out)
        pending.push_back(std::move(x));
        pending_rows.push_back(t);
      } else if (t->status == TrialStatus::kCompleted || t->status == TrialStatus::kPruned) {
        if (Objective::HasValue(objective.ValueOf(*t))) finished.emplace_back(t->number, t);
      }
    }
    // Bounded work: the latest completed and pruned trials (by number) whose points this space
    // holds, in number order.
    std::sort(finished.begin(), finished.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [number_done, t] : finished) {
      if (done.size() == static_cast<size_t>(kMaxSamplerHistory)) break;
      std::vector<double> x;
      if (!Point(*t, &x)) continue;
      const bool pruned = t->status == TrialStatus::kPruned;
      done.push_back({pruned ? 1 : 0, pruned ? t->epochs_run : 0,
                      objective.Score(objective.ValueOf(*t)), number_done, std::move(x), t});
    }
    std::reverse(done.begin(), done.end());
    if (ranking_.ranked_by_fronts()) ScoreByRanking(&done);
    if (pending.size() > static_cast<size_t>(kMaxSamplerHistory)) {  // (thousands of workers)
      pending.erase(pending.begin(), pending.end() - kMaxSamplerHistory);
    }
    if (static_cast<int>(done.size()) < spec_.bayes.n_startup_trials) {
      StatusOr<TrialSpec> t = Build(number, Texts(StartupPoint(number, &rng)));
      if (t.ok() && !tried.count(PointKey(t->params))) return t;
      return RandomTrial(number, &rng, tried);  // (refused or tried: a plain draw)
    }
    if (UsesGp(done)) return ProposeByGp(number, done, pending, pending_rows, tried, &rng);

    // Good: the top gamma(n) as Optuna ranks them: completed trials by the objective, then pruned
    // trials by the epochs they reached and then their best value (ties: lower number first); the
    // rest are bad. So a trial pruned early is evidence against its point, as it is in Optuna.
    std::vector<size_t> order(done.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const Done& x = done[a];
      const Done& y = done[b];
      if (x.group != y.group) return x.group < y.group;
      if (x.epochs != y.epochs) return x.epochs > y.epochs;
      if (x.score != y.score) return x.score > y.score;
      return x.number < y.number;
    });
    const size_t n_good = std::min<size_t>(
        static_cast<size_t>(std::ceil(0.1 * static_cast<double>(done.size()))), kGammaCap);
    std::vector<bool> good(done.size(), false);
    for (size_t i = 0; i < n_good; ++i) good[order[i]] = true;
    std::vector<std::vector<double>> below, above;  // each in trial-number order
    for (size_t i = 0; i < done.size(); ++i) (good[i] ? below : above).push_back(done[i].x);
    for (auto& x : pending) above.push_back(std::move(x));  // the constant liar: worst value

    std::vector<Parzen> ls, gs;  // per group: l (good) and g (bad)
    Estimators(below, above, &ls, &gs);
    struct Candidate { double ei; std::vector<double> x; };  // x: group 0's axes
    // The best candidate by l(x)/g(x) that is a point not tried yet. A finite space (values,
    // integers) soon has its good region tried; a point tried again with the same seed trains
    // the same model, so more rounds of candidates are drawn before settling for one.
    Tries tries;
    for (int round = 0; round < kCandidateRounds; ++round) {
      std::vector<Candidate> candidates;
      for (int i = 0; i < spec_.bayes.n_ei_candidates; ++i) {
        std::vector<double> x = ls[0].Sample(&rng);
        const double ei = ls[0].LogPdf(x) - gs[0].LogPdf(x);
        candidates.push_back({ei, std::move(x)});
      }
      std::stable_sort(candidates.begin(), candidates.end(),
                       [](const Candidate& a, const Candidate& b) { return a.ei > b.ei; });
      std::vector<std::vector<double>> chosen = ChooseConditional(ls, gs, &rng);
      for (const Candidate& c : candidates) {
        chosen[0] = c.x;
        if (auto t = Try(number, Assemble(chosen), tried, pending_rows, &tries)) return std::move(*t);
      }
    }
    return Settle(number, &rng, tried, &tries);
  }

 private:
  // The candidates of one proposal, tried in turn: those passed over (TrialSpec::passed_over_*)
  // and the first tried one not being trained, kept in case no candidate is untried.
  struct Tries {
    std::optional<TrialSpec> fallback;
    Status last = Status::Ok();
    int invalid = 0, again = 0;
  };

  // The trial of transformed point x when it passes the checks and is not tried; else counted in
  // *tries.
  std::optional<TrialSpec> Try(int number, const std::vector<double>& x,
                               const std::unordered_set<uint64_t>& tried,
                               const std::vector<const TrialRow*>& pending_rows,
                               Tries* tries) const {
    StatusOr<TrialSpec> t = Build(number, Texts(x));
    if (!t.ok()) {
      tries->last = t.status();
      ++tries->invalid;
      return std::nullopt;
    }
    if (!tried.count(PointKey(t->params))) {
      PassedOver(&*t, tries->invalid, tries->again, tries->last.message());
      return std::move(*t);
    }
    ++tries->again;
    if (!tries->fallback && !SameAsAny(*t, pending_rows)) tries->fallback = std::move(*t);
    return std::nullopt;
  }

  // No candidate was untried (the good region is tried out): an untried point anywhere, as in the
  // startup phase; when the space has none left (or none passes the checks), the best candidate
  // not being trained.
  StatusOr<TrialSpec> Settle(int number, Rng* rng, const std::unordered_set<uint64_t>& tried,
                             Tries* tries) const {
    StatusOr<TrialSpec> t =
        RandomTrial(number, rng, tried, tries->invalid, tries->again, tries->last.message());
    if (t.ok() && (!tried.count(PointKey(t->params)) || !tries->fallback)) return t;
    if (tries->fallback) {
      PassedOver(&*tries->fallback, t.ok() ? t->passed_over_invalid : tries->invalid,
                 (t.ok() ? t->passed_over_tried + 1 : tries->again) - 1,
                 t.ok() ? t->passed_over_reason : tries->last.message());
      return std::move(*tries->fallback);
    }
    return t;
  }

  // Whether a Gaussian process proposes over this history (see CheckModel): it needs two
  // completed trials, and a history past kMaxGpHistory is left to TPE.
  bool UsesGp(const std::vector<Done>& done) const {
    if (!gp_ || done.size() > kMaxGpHistory) {
      return false;
    }
    int completed = 0;
    for (const Done& d : done) completed += d.group == 0;
    return completed >= 2;
  }

  // A Gaussian process's proposal (search/gp.h, ProposeCandidates): fitted to the completed
  // trials' scores, with pruned trials (stopped for being bad) and the running and queued points
  // at the lowest score. Its candidates are tried in turn as TPE's are.
  StatusOr<TrialSpec> ProposeByGp(int number, const std::vector<Done>& done,
                                  const std::vector<std::vector<double>>& pending,
                                  const std::vector<const TrialRow*>& pending_rows,
                                  const std::unordered_set<uint64_t>& tried, Rng* rng) const {
    std::vector<std::vector<double>> x, lies = pending;
    std::vector<double> y;
    for (const Done& d : done) {
      if (d.group != 0) {
        lies.push_back(d.x);
      } else {
        x.push_back(d.x);
        y.push_back(d.score);
      }
    }
    Tries tries;
    const bool elsewhere = number % gp::kElsewhereEvery == 0;
    for (const std::vector<double>& c : gp::ProposeCandidates(axes_, x, y, lies, rng, elsewhere)) {
      if (auto t = Try(number, c, tried, pending_rows, &tries)) return std::move(*t);
    }
    return Settle(number, rng, tried, &tries);
  }

  // The transformed point of a stored trial; false when its axis values are not in this space.
  // A conditional parameter the trial lacks is NaN (its group's estimators leave the trial out).
  bool Point(const TrialRow& t, std::vector<double>* x) const {
    x->resize(axes_.size());
    for (size_t a = 0; a < axes_.size(); ++a) {
      auto it = t.params.find(spec_.parameters[a].key);
      if (it == t.params.end() && !spec_.parameters[a].when.empty()) {
        (*x)[a] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      if (it == t.params.end()) return false;
      const Axis& ax = axes_[a];
      if (ax.categorical) {
        auto c = std::find(ax.canonical.begin(), ax.canonical.end(), it->second);
        if (c == ax.canonical.end()) return false;
        (*x)[a] = static_cast<double>(c - ax.canonical.begin());
        continue;
      }
      // A list-valued key drawn from a distribution (dropout) holds its one value as "[0.25]".
      const std::string& stored = it->second;
      const bool listed = stored.size() > 2 && stored.front() == '[' && stored.back() == ']';
      const std::string text = listed ? stored.substr(1, stored.size() - 2) : stored;
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !std::isfinite(v)) return false;
      if (ax.step > 0) v = std::round((v - spec_.parameters[a].min) / ax.step);  // its index
      if (ax.log) {
        if (v <= 0) return false;
        v = std::log(v);
      }
      if (v < ax.lo - 1e-9 || v > ax.hi + 1e-9) return false;
      (*x)[a] = std::clamp(v, ax.lo, ax.hi);
    }
    return true;
  }

  // Sets t's counts of candidates passed over, and why the last invalid one was refused.
  static void PassedOver(TrialSpec* t, int invalid, int tried, const std::string& reason) {
    t->passed_over_invalid = invalid;
    t->passed_over_tried = tried;
    t->passed_over_reason = invalid > 0 ? reason : "";
  }

  // One estimator pair per group, each from the trials that have its parameters (as Optuna's
  // TPE builds a parameter's estimator from the trials that hold it).
  void Estimators(const std::vector<std::vector<double>>& below,
                  const std::vector<std::vector<double>>& above, std::vector<Parzen>* ls,
                  std::vector<Parzen>* gs) const {
    ls->reserve(groups_.size());
    gs->reserve(groups_.size());
    for (size_t k = 0; k < groups_.size(); ++k) {
      ls->emplace_back(group_axes_[k], Project(below, k));
      gs->emplace_back(group_axes_[k], Project(above, k));
    }
  }

  // Each conditional group's value: its best of n_ei_candidates draws by its own l/g (Optuna's
  // independent sampling). Group 0's is left empty (the caller's candidate). No draws when
  // there are no conditions.
  std::vector<std::vector<double>> ChooseConditional(const std::vector<Parzen>& ls,
                                                     const std::vector<Parzen>& gs,
                                                     Rng* rng) const {
    std::vector<std::vector<double>> chosen(groups_.size());
    for (size_t k = 1; k < groups_.size(); ++k) {
      double best = 0;
      for (int i = 0; i < spec_.bayes.n_ei_candidates; ++i) {
        std::vector<double> x = ls[k].Sample(rng);
        const double ei = ls[k].LogPdf(x) - gs[k].LogPdf(x);
        if (i == 0 || ei > best) best = ei, chosen[k] = std::move(x);
      }
    }
    return chosen;
  }

  // The points of `rows` that have every parameter of group k, as that group's axes see them.
  std::vector<std::vector<double>> Project(const std::vector<std::vector<double>>& rows,
                                           size_t k) const {
    std::vector<std::vector<double>> out;
    for (const std::vector<double>& x : rows) {
      std::vector<double> y;
      for (size_t a : groups_[k]) {
        if (std::isnan(x[a])) break;
        y.push_back(x[a]);
      }
      if (y.size() == groups_[k].size()) out.push_back(std::move(y));
    }
    return out;
  }

  // The whole point of one value per group (each in its group's axis order).
  std::vector<double> Assemble(const std::vector<std::vector<double>>& by_group) const {
    std::vector<double> x(axes_.size());
    for (size_t k = 0; k < groups_.size(); ++k) {
      for (size_t j = 0; j < groups_[k].size(); ++j) x[groups_[k][j]] = by_group[k][j];
    }
    return x;
  }

  // The axis values (text, as a trial's params take them) of a transformed point.
  std::vector<std::string> Texts(const std::vector<double>& x) const {
    std::vector<std::string> texts;
    for (size_t a = 0; a < axes_.size(); ++a) {
      const ParameterSpec& p = spec_.parameters[a];
      const Axis& ax = axes_[a];
      if (ax.categorical) {
        texts.push_back(p.values[static_cast<size_t>(x[a])]);
      } else if (ax.step > 0) {  // a grid point by its index
        const double k = std::clamp(std::round(x[a]), 0.0, ax.hi - 0.5);
        texts.push_back(DistributionText(p, p.min + k * ax.step));
      } else if (ax.int_log) {
        texts.push_back(DistributionText(p, std::exp(x[a])));
      } else if (ax.integer) {
        const double v = std::clamp(std::round(x[a]), p.min, p.max);
        texts.push_back(std::to_string(static_cast<int64_t>(v)));
      } else {
        texts.push_back(DrawText(ax.log ? std::exp(x[a]) : x[a], p.min, p.max));
      }
    }
    return texts;
  }

  // The start-up's point for trial `number` (search/startup.h): deterministic for (seed,
  // number), so a restart proposes the same.
  std::vector<double> StartupPoint(int number, Rng* rng) const {
    return startup::Point(axes_, spec_.seed ^ kStartupStream,
                          std::max(1, spec_.bayes.n_startup_trials), number, rng);
  }

  std::vector<double> RandomPoint(Rng* rng) const {
    std::vector<double> x(axes_.size());
    for (size_t a = 0; a < axes_.size(); ++a) {
      const Axis& ax = axes_[a];
      if (ax.categorical) {
        x[a] = static_cast<double>(rng->Below(ax.canonical.size()));
      } else if (ax.integer) {
        const uint64_t n = static_cast<uint64_t>(ax.hi - ax.lo + 0.5);
        x[a] = ax.lo + 0.5 + static_cast<double>(rng->Below(n));
      } else {
        x[a] = rng->Uniform(ax.lo, ax.hi);
      }
    }
    return x;
  }

  // A uniform draw that passes the config checks; one equal to a tried point (any stored trial)
  // is drawn again, up to kRandomTries draws, then the first valid draw is taken.
  StatusOr<TrialSpec> RandomTrial(int number, Rng* rng,
                                  const std::unordered_set<uint64_t>& tried,
                                  int passed_invalid = 0, int passed_tried = 0,
                                  const std::string& reason = "") const {
    std::optional<TrialSpec> fallback;
    Status last = reason.empty() ? Status::Ok() : InvalidArgument(reason);
    for (int i = 0; i < kRandomTries; ++i) {
      StatusOr<TrialSpec> t = Build(number, Texts(RandomPoint(rng)));
      if (!t.ok()) {
        last = t.status();
        ++passed_invalid;
        continue;
      }
      if (!tried.count(PointKey(t->params))) {
        PassedOver(&*t, passed_invalid, passed_tried, last.message());
        return t;
      }
      ++passed_tried;
      if (!fallback) fallback = std::move(*t);
    }
    if (fallback) {  // (the one taken is not passed over)
      PassedOver(&*fallback, passed_invalid, passed_tried - 1, last.message());
      return std::move(*fallback);
    }
    return Status(last.code(), last.message() + " (no valid trial in " +
                                   std::to_string(kRandomTries) + " draws)");
  }

  // planned_: max_trials, or the number of distinct valid points of a finite space smaller than
  // that (enumerated: at most max_trials <= kMaxTrialsPerSweep points). A finite space none of
  // whose points passes the checks is refused, naming the first point's reason.
  Status CountFinitePoints() {
    planned_ = spec_.max_trials;
    // Conditions and a param_count constraint leave points of the product out, so a product
    // over max_trials may still hold fewer valid points: those spaces are counted up to
    // kMaxCountedPoints (a plain product over max_trials has at least that many).
    bool sparse = ParamCountConstraint(spec_.constraints) != nullptr;
    for (const ParameterSpec& p : spec_.parameters) sparse = sparse || !p.when.empty();
    const double cap = sparse ? std::max<double>(spec_.max_trials, kMaxCountedPoints)
                              : spec_.max_trials;
    std::vector<std::vector<double>> choices;  // per axis, in transformed space
    double points = 1;
    for (size_t a = 0; a < axes_.size(); ++a) {
      const Axis& ax = axes_[a];
      std::vector<double> c;
      if (ax.categorical) {
        for (size_t i = 0; i < ax.canonical.size(); ++i) c.push_back(static_cast<double>(i));
      } else if (ax.integer || ax.int_log) {
        const ParameterSpec& p = spec_.parameters[a];
        const uint64_t n = DistributionPoints(p);
        if (n > cap) return Status::Ok();
        for (uint64_t i = 0; i < n; ++i) {  // in transformed space
          const double v = ax.step > 0 ? static_cast<double>(i) : p.min + static_cast<double>(i);
          c.push_back(ax.int_log ? std::log(v) : v);
        }
      } else {
        return Status::Ok();  // a continuous axis: endless points
      }
      points *= static_cast<double>(c.size());
      if (points > cap) return Status::Ok();
      choices.push_back(std::move(c));
    }
    std::unordered_set<uint64_t> valid;
    Status first = Status::Ok();
    std::vector<size_t> at(axes_.size(), 0);
    std::vector<double> x(axes_.size());
    while (true) {
      for (size_t a = 0; a < axes_.size(); ++a) x[a] = choices[a][at[a]];
      StatusOr<TrialSpec> t = Build(1, Texts(x));
      if (t.ok()) {
        valid.insert(PointKey(t->params));
      } else if (first.ok()) {
        first = t.status();
      }
      size_t a = 0;
      while (a < at.size() && ++at[a] == choices[a].size()) at[a++] = 0;
      if (a == at.size()) break;
    }
    if (valid.empty()) {
      return Status(first.code(), first.message() + " (no point of this bayes space passes)");
    }
    planned_ = std::min<int>(spec_.max_trials, static_cast<int>(valid.size()));
    return Status::Ok();
  }

  // The trial of these axis values, with the sweep's own data attached (its params, and the
  // limits checked with its shape), as a plan's trials have it.
  StatusOr<TrialSpec> Build(int number, const std::vector<std::string>& texts) const {
    StatusOr<TrialSpec> t = BuildTrial(spec_, number, texts, file_, limits_);
    if (!t.ok()) return t;
    HPSWEEP_RETURN_IF_ERROR(ApplySweepData(data_, file_, limits_, &*t));
    // A point outside the param_count constraint is never proposed: passed over as invalid.
    if (const ConstraintSpec* c = ParamCountConstraint(spec_.constraints)) {
      const std::string breaks = ParamCountBreaks(*c, ParamCount(t->config));
      if (!breaks.empty()) {
        return InvalidArgument(EscapeText(file_) + ": trial " + std::to_string(number) + ": " +
                               breaks);
      }
    }
    return t;
  }

  // The swept values of a trial's params as one 64-bit key: FNV-1a over the values with a
  // separator after each (an absent value hashes as empty). A proposal tests its point against
  // every stored one, 10,000 at most, so two different points share a key with odds of about
  // 1e-11 per proposal; then one untried point would be passed over as tried.
  uint64_t PointKey(const std::map<std::string, std::string>& params) const {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
    for (const ParameterSpec& p : spec_.parameters) {
      auto it = params.find(p.key);
      if (it != params.end()) {
        for (char c : it->second) mix(static_cast<unsigned char>(c));
      }
      mix(0x1f);
    }
    return h;
  }

  bool SameAsAny(const TrialSpec& t, const std::vector<const TrialRow*>& rows) const {
    const uint64_t key = PointKey(t.params);
    for (const TrialRow* r : rows) {
      if (PointKey(r->params) == key) return true;
    }
    return false;
  }

  SweepSpec spec_;
  std::string file_;
  SweepLimits limits_;
  SweepData data_;
  SweepRanking ranking_;  // the sweep's objectives and constraints
  std::vector<Axis> axes_;
  // The estimators' groups (Init): indices into axes_; group 0 the parameters without `when`.
  std::vector<std::vector<size_t>> groups_;
  std::vector<std::vector<Axis>> group_axes_;
  bool gp_ = false;  // a Gaussian process proposes (CheckModel)
  int planned_ = 0;
};

}  // namespace

std::unique_ptr<Sampler> MakePlanSampler(std::vector<TrialSpec> plan) {
  return std::make_unique<PlanSampler>(std::move(plan));
}

StatusOr<std::unique_ptr<Sampler>> MakeSampler(const SweepSpec& spec, const std::string& file_name,
                                               const SweepLimits& limits, const SweepData& data) {
  if (spec.method != SweepMethod::kBayes) {
    StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(spec, file_name, limits);
    if (!plan.ok()) return plan.status();
    return MakePlanSampler(std::move(*plan));
  }
  if (spec.max_trials <= 0 || spec.parameters.empty()) {
    return InvalidArgument(file_name + ": method: bayes needs max_trials and parameters");
  }
  auto tpe = std::make_unique<TpeSampler>(spec, file_name, limits, data);
  HPSWEEP_RETURN_IF_ERROR(tpe->Init());
  HPSWEEP_RETURN_IF_ERROR(tpe->CheckSmallestModel());
  return std::unique_ptr<Sampler>(std::move(tpe));
}

}  // namespace hpsweep
