// Population-based training's decisions, exploration and schedules (search/pbt.h).
#include "search/pbt.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "base/utf8.h"
#include "engine/tensor.h"
#include "search/params_json.h"

namespace hpsweep {
namespace {

constexpr uint64_t kPbtStream = 0x7062742d73747265ull;  // "pbt-stre": decisions' own stream

// text in the engine's GetKey form for key (as a trial's params hold it); text if refused.
std::string Canonical(const std::string& key, const std::string& text) {
  TrialConfig scratch;
  if (!ApplyKey(key, text, &scratch).ok()) return text;
  return GetKey(scratch, key);
}

// One mutable param explored (see ExploreParams).
std::string ExploreOne(const PbtOptions& o, const ParameterSpec& p, const std::string& current,
                       Rng* rng) {
  if (rng->Uniform() < o.resample_probability) return DrawParameter(p, rng);
  const bool up = rng->Below(2) == 1;
  if (p.distribution == Distribution::kValues) {
    for (size_t i = 0; i < p.values.size(); ++i) {
      if (Canonical(p.key, p.values[i]) != current) continue;
      const size_t j = up ? std::min(i + 1, p.values.size() - 1) : (i == 0 ? 0 : i - 1);
      return p.values[j];
    }
    return DrawParameter(p, rng);  // (not one of its values: a fresh one)
  }
  char* end = nullptr;
  const double v = std::strtod(current.c_str(), &end);
  if (current.empty() || *end != '\0' || !std::isfinite(v)) return DrawParameter(p, rng);
  return DistributionText(p, v * (up ? 1.2 : 0.8));  // (within [min, max], on its step)
}

bool RanksBefore(const PbtMember& a, const PbtMember& b, bool maximize) {
  const bool a_has = !std::isnan(a.value), b_has = !std::isnan(b.value);
  if (a_has != b_has) return a_has;
  if (a_has && a.value != b.value) return maximize ? a.value > b.value : a.value < b.value;
  return a.number < b.number;
}

}  // namespace

std::map<std::string, std::string> ExploreParams(const SweepSpec& spec,
                                                 const std::map<std::string, std::string>& params,
                                                 uint64_t seed) {
  std::map<std::string, std::string> out = params;
  Rng rng(seed);
  for (const std::string& key : spec.pbt.mutable_params) {
    auto p = std::find_if(spec.parameters.begin(), spec.parameters.end(),
                          [&](const ParameterSpec& x) { return x.key == key; });
    if (p == spec.parameters.end()) continue;  // (CheckPbt refuses it)
    auto current = params.find(key);
    out[key] = Canonical(key, ExploreOne(spec.pbt, *p,
                                         current == params.end() ? "" : current->second, &rng));
  }
  return out;
}

std::vector<PbtDecision> DecidePopulation(const SweepSpec& spec, std::vector<PbtMember> members,
                                          int epoch) {
  std::vector<PbtDecision> out;
  const size_t n = members.size();
  if (n < 2) return out;
  std::sort(members.begin(), members.end(), [&](const PbtMember& a, const PbtMember& b) {
    return RanksBefore(a, b, spec.maximize);
  });
  size_t q = static_cast<size_t>(std::ceil(static_cast<double>(n) * spec.pbt.quantile - 1e-9));
  q = std::clamp<size_t>(q, 1, n / 2);
  for (size_t i = n - q; i < n; ++i) {
    const PbtMember& m = members[i];
    Rng pick(Rng::Mix(spec.seed ^ kPbtStream,
                      static_cast<uint64_t>(epoch) * 1000003u + static_cast<uint64_t>(m.number)));
    const PbtMember& parent = members[pick.Below(q)];
    PbtDecision d;
    d.member = m.id;
    d.parent = parent.id;
    d.parent_number = parent.number;
    d.params = ExploreParams(spec, parent.params, pick.Next());
    out.push_back(std::move(d));
  }
  return out;
}

std::string ScheduleJson(const std::vector<ScheduleEntry>& schedule) {
  nlohmann::json out = nlohmann::json::array();
  for (const ScheduleEntry& e : schedule) {
    nlohmann::json entry = {{"epoch", e.epoch}, {"params", ParamsJson(e.params)}};
    if (e.from > 0) entry["from"] = e.from;
    out.push_back(std::move(entry));
  }
  return out.dump();
}

StatusOr<std::vector<ScheduleEntry>> ParseScheduleEntries(const std::string& json,
                                                   const std::string& source, int max_epochs,
                                                   const std::vector<std::string>& keys) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument(source + ": not valid JSON");
  if (doc.is_object() && doc.contains("schedule")) doc = doc["schedule"];
  if (!doc.is_array() || doc.empty() || doc.size() > kMaxScheduleEntries) {
    return InvalidArgument(source + ": expected a list of 1 to " +
                           std::to_string(kMaxScheduleEntries) +
                           " entries {epoch, params} (or an object with one under 'schedule')");
  }
  std::vector<ScheduleEntry> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& e = doc[i];
    const std::string where = source + ": entry " + std::to_string(i + 1);
    if (!e.is_object() || !e.contains("epoch") || !e["epoch"].is_number_integer() ||
        !e.contains("params") || !e["params"].is_object()) {
      return InvalidArgument(where + ": expected {\"epoch\": N, \"params\": {...}}");
    }
    ScheduleEntry entry;
    const int64_t epoch = e["epoch"].get<int64_t>();
    const int64_t first = out.empty() ? 0 : out.back().epoch + 1;
    if ((out.empty() && epoch != 0) || epoch < first || epoch >= max_epochs) {
      return InvalidArgument(where + ": epoch " + std::to_string(epoch) +
                             (out.empty() ? " (the first entry starts at epoch 0)"
                                          : " (epochs increase, each below the training's " +
                                                std::to_string(max_epochs) + ")"));
    }
    entry.epoch = static_cast<int>(epoch);
    if (e.contains("from") && e["from"].is_number_integer()) entry.from = e["from"].get<int>();
    for (const auto& [key, value] : e["params"].items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        const std::string near = NearestKey(key, keys);
        return InvalidArgument(where + ": key '" + EscapeText(key) +
                               "' cannot change during training" +
                               (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
      bool numbers = value.is_array() && !value.empty() && value.size() <= 64;
      for (const auto& x : value.is_array() ? value : nlohmann::json::array()) {
        numbers = numbers && x.is_number();
      }
      if (!value.is_string() && !value.is_number() && !numbers) {
        return InvalidArgument(where + ": key '" + key +
                               "': expected a string, a number or a list of numbers");
      }
      entry.params[key] = Canonical(key, ParamText(value));
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<ScheduleEntry> MemberSchedule(const SweepSpec& spec, const TrialRow& t) {
  if (!t.schedule.empty()) {
    auto parsed = ParseScheduleEntries(t.schedule, "trial schedule", std::numeric_limits<int>::max(),
                                spec.pbt.mutable_params);
    if (parsed.ok()) return *parsed;
  }
  ScheduleEntry first;
  for (const std::string& key : spec.pbt.mutable_params) {
    auto v = t.params.find(key);
    if (v != t.params.end()) first.params[key] = v->second;
  }
  return {first};
}

}  // namespace hpsweep
