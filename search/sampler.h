// Sampler: what proposes a sweep's trials, one sampler per sweep, in the manner of Optuna's
// BaseSampler. The scheduler owns it and asks it for the next trial when the sweep's queue is empty
// at lease time (Propose), and whether the sweep has all its trials (Exhausted). Every method
// goes this way: Submit stores the sweep only, and a trial is stored when it is proposed, in
// the same transaction as its lease. A sweep's `total` is planned(); until every trial is
// proposed the rest are "unproposed" (not stored, not counted as queued); a cancelled sweep
// proposes nothing more, so its unproposed trials never exist.
//
//   grid, random, list  a plan: ExpandSweep's trials in its order (same numbers and parameter
//                       values as before samplers existed), held in memory. Propose(n) is the
//                       plan's n-th trial, O(1); proposals do not depend on results
//                       (needs_history() false), so the scheduler does not gather the sweep's
//                       trials for it, and a lease costs the same for a 100k-trial grid.
//   bayes               after a Latin-hypercube start-up that pairs every two values
//                       (search/startup.h), a Gaussian process (below, "GP") where
//                       the sweep allows it, else a Tree-structured Parzen Estimator as Optuna's
//                       TPESampler (multivariate=True, constant_liar=True). Proposed from the
//                       stored results (needs_history() true). A space whose every point is over
//                       the model-size limit is refused when the sampler is made (at submit).
//
// A sampler holds no state that is not in the database: Propose is a function of the sweep's
// spec, the trial number and the sweep's stored trials, and its randomness comes from (sweep
// seed, trial number), never from a stream that advances. So a restarted coordinator rebuilds
// the sampler from the sweep's stored YAML (a plan: ExpandSweep again, deterministic) and proposes
// the same next trials as if it had not restarted.
//
// TPE (Bergstra et al. 2011; Optuna's defaults):
//   - the first n_startup_trials trials are random (until that many trials are completed or
//     pruned);
//   - completed and pruned trials with a value, ranked as Optuna ranks them: completed trials by
//     the sweep's Objective (search/objective.h, never re-decided here), then pruned trials
//     by the epochs they reached and then their best value; split into good (the top
//     gamma(n) = min(ceil(0.1 n), 25)) and bad. So a pruned trial counts against its point
//     instead of being forgotten (with hyperband most trials are pruned). Running and queued
//     trials join the bad ones (the "constant liar": they count as the worst value, so parallel
//     workers are steered away from points already being trained);
//   - one Parzen estimator per group over all parameters jointly: a mixture with one component per
//     trial plus a prior component (weight 1), trial weights ramping down for old trials past 25
//     (Optuna's default_weights); categorical axes (values lists, numbers included) as smoothed
//     counts; numeric axes as truncated Gaussians in transformed space (log for log_uniform;
//     [min - 0.5, max + 0.5] with unit bins for int_uniform; a stepped axis, q, as unit bins over
//     its points' index, so proposals are on its grid; int_log_uniform in log space over
//     [min - 0.5, max + 0.5], rounded), bandwidth
//     0.2 n^(-1/(d+4)) (high - low), clipped to [(high - low)/min(100, n + 1), high - low];
//   - n_ei_candidates points drawn from the good mixture (a component, then every parameter from
//     it); the one with the largest l(x)/g(x) that is not a tried point (any stored trial) is
//     proposed. Unlike Optuna, a tried point is not proposed again while the space has others:
//     with the sweep's one seed it would train the same model. Up to kCandidateRounds rounds of
//     candidates are drawn, then a random untried point; only a space with none left repeats a
//     point (one not being trained, when it can). Random points avoid tried ones the same way.
//   Work per proposal is bounded: the latest kMaxHistory completed trials are used.
//
// GP (bayes.model: auto, the default, or gp; search/gp.h): once n_startup_trials have a value, a
// Gaussian process (Matérn 5/2, a length scale per axis, fitted by marginal likelihood) models the
// normal scores of the completed trials' values, and the candidate with the largest expected
// improvement over the best posterior mean (uniform draws, draws around the best trials, a local
// refinement; snapped to the space's grid) that is not a tried point is proposed, kept
// gp::kMinDistance from every tried and running point of its cell; candidates passed over, the
// fallbacks and the "never a tried point" rule are TPE's. Every gp::kElsewhereEvery-th trial
// number (5) leaves the best trial's cell of categorical values
// (gp.h): first the best trial's numeric values in another cell (the one of largest expected
// improvement), then the best candidate elsewhere, so a cell that only looked best after the
// start-up is left now and then. Pruned trials and
// running and queued ones join at the lowest value without moving the fit (the constant liar).
// auto takes TPE instead for conditional parameters, several objectives or constraints and a
// pruner (its trials' values come from fewer epochs); model: gp with conditions, several
// objectives or constraints is refused (file:line). Past kMaxGpHistory (200) finished trials
// both take TPE: the fit costs n^3 (0.2 s at 200). Why a GP: on the benchmark of issue 22
// (docs/benchmarks.md) TPE puts about a quarter of the trials after its start-up in the good
// region, the GP up to a half.
//
// Conditional parameters (search/sweep_file.h, `when`): the estimators are split into groups, the
// parameters without `when` (one multivariate estimator, as above) and one group per distinct
// `when` (its parameters are present in the same trials). The good/bad split is made once over
// every finished trial, and each group's estimators are fitted on the trials of each side that
// have its parameters, as Optuna's TPE builds a parameter's estimator from the trials that hold
// it: a trial without momentum (adam) says nothing about momentum. A candidate is the unconditional
// group's draw, ranked by its own l/g as above, with each conditional group's best of
// n_ei_candidates draws by that group's l/g (Optuna's independent sampling); BuildTrial then keeps
// the groups whose conditions the candidate's values meet, in dependency order. So optimizer
// [adam, sgd] with momentum under sgd is proposed on both branches; a sweep without `when` draws
// and proposes exactly as before. TrialSpec::passed_over_reason says why the last invalid
// candidate was refused (`status` shows it).
//
// Thread-safety: the const methods may run on several threads at once (the scheduler proposes a
// costly bayes trial outside its mutex, see ProposalWork); nothing else is safe to share. Propose
// does not keep the pointers it is given.
#ifndef HPSWEEP_SEARCH_SAMPLER_H_
#define HPSWEEP_SEARCH_SAMPLER_H_

#include <memory>
#include <string>
#include <vector>

#include "search/domain.h"
#include "search/sweep_file.h"
#include "base/status.h"

namespace hpsweep {

class Sampler {
 public:
  virtual ~Sampler() = default;

  // How many trials the sweep has when every one is proposed: the grid or list size, random's
  // draws, bayes' max_trials. The sweep's `total`.
  virtual int planned() const = 0;
  // True when proposals depend on results, so Propose needs the sweep's stored trials; false
  // for a fixed plan, whose Propose ignores them (the caller may pass an empty list).
  virtual bool needs_history() const = 0;
  // Every trial has been proposed, given how many the sweep has stored.
  bool Exhausted(int proposed) const { return proposed >= planned(); }

  // Trial `number` (proposed + 1, 1-based) given the sweep's stored trials (any order, every
  // status; pointers valid for the call only; empty when !needs_history()). An error names why no
  // valid trial could be made (every candidate refused by the config checks or the limits); the
  // caller records it. Const: it changes nothing in the sampler, so the scheduler may call it
  // outside its mutex (on a copy of the history) while other threads call the const methods.
  virtual StatusOr<TrialSpec> Propose(int number,
                                      const std::vector<const TrialRow*>& trials) const = 0;
  // About how much work a Propose over `trials` stored trials is, in density evaluations
  // (candidates x history); 0 for a plan. The scheduler proposes a costly one outside its mutex.
  virtual int64_t ProposalWork(size_t trials) const = 0;
};

// Completed trials past this many (the latest by number are kept) are left out of a proposal.
constexpr int kMaxSamplerHistory = 1000;

// A fixed plan: proposes plan[number - 1] (renumbered `number`). For grid, random and list sweeps:
// ExpandSweep's output, with the sweep's data attached (AttachSweepData) when it has its own.
std::unique_ptr<Sampler> MakePlanSampler(std::vector<TrialSpec> plan);

// The sampler of a parsed spec: a plan from ExpandSweep for grid, random and list (their errors
// are ExpandSweep's; the sweep's own data is not attached: AttachSweepData does that to a plan),
// a TPE sampler for bayes, which attaches `data` (PrepareSweepData's; empty for MNIST) to every
// proposal and checks the limits with its shape.
// file_name is for messages; limits as ExpandSweep. A bayes space whose smallest model is over
// limits.max_params is InvalidArgument naming the limit and that model (file:line: parameters).
StatusOr<std::unique_ptr<Sampler>> MakeSampler(const SweepSpec& spec, const std::string& file_name,
                                               const SweepLimits& limits = SweepLimits(),
                                               const SweepData& data = SweepData());

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_SAMPLER_H_
