// Population-based training (method: pbt), the search's side: which members exploit whom at a
// segment's end and the values they explore, as Ray Tune's PopulationBasedTraining in its
// synchronous form; and a member's schedule (the params it trained under, segment by segment,
// and whose checkpoint it copied), which `hpsweep train --schedule` replays.
//
// The coordinator's side (when members train, wait and resume) is coordinator/scheduler.h,
// "Population-based training". Pure functions: no state, thread-safe.
#ifndef HPSWEEP_SEARCH_PBT_H_
#define HPSWEEP_SEARCH_PBT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "search/domain.h"
#include "search/sweep_file.h"

namespace hpsweep {

// A member as the population decides at the end of a segment.
struct PbtMember {
  int64_t id = 0;
  int number = 0;
  double value = kNoMetric;  // the sweep's metric after the segment's last epoch; NaN: none
  std::map<std::string, std::string> params;
};

// A bottom member exploits a top one: it resumes from the parent's checkpoint with the parent's
// params, its mutable ones explored.
struct PbtDecision {
  int64_t member = 0;
  int64_t parent = 0;
  int parent_number = 0;
  std::map<std::string, std::string> params;  // every param, as the member trains on
};

// The decisions after epoch `epoch`. Members are ranked by value (the spec's goal; NaN last,
// ties by number); the bottom ceil(n * quantile) (at most n / 2) each copy a member of the top
// as many, drawn at random, and explore. Deterministic for (spec.seed, epoch, members).
// REQUIRES: spec.method == kPbt.
std::vector<PbtDecision> DecidePopulation(const SweepSpec& spec, std::vector<PbtMember> members,
                                          int epoch);

// params with each of spec.pbt.mutable_params explored: resampled from its distribution with
// probability resample_probability, else multiplied by 0.8 or 1.2 (kept within its range and
// step), or a values list's neighbour. Texts in the engine's GetKey form.
std::map<std::string, std::string> ExploreParams(const SweepSpec& spec,
                                                 const std::map<std::string, std::string>& params,
                                                 uint64_t seed);

// One entry of a schedule: from epoch + 1 on, the member trained under `params` (the mutable
// ones); `from` > 0: at `epoch` it took the checkpoint of member #from of its sweep.
struct ScheduleEntry {
  int epoch = 0;
  int from = 0;
  std::map<std::string, std::string> params;
};
constexpr size_t kMaxScheduleEntries = 10000;  // a schedule entry per segment at most

std::string ScheduleJson(const std::vector<ScheduleEntry>& schedule);
// A schedule as ScheduleJson writes it, or as a user writes one for `train --schedule`: a list
// of {epoch, params, from (optional)}, or an object holding it under "schedule". Values may be
// strings or numbers. InvalidArgument naming `source`, the entry and the key: epochs strictly
// increasing from 0 and below max_epochs; keys among `keys`.
StatusOr<std::vector<ScheduleEntry>> ParseScheduleEntries(const std::string& json,
                                                   const std::string& source, int max_epochs,
                                                   const std::vector<std::string>& keys);
// A member's schedule: its stored one, else one entry of its mutable params from epoch 0.
std::vector<ScheduleEntry> MemberSchedule(const SweepSpec& spec, const TrialRow& t);

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_PBT_H_
