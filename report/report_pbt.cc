// The report's population (README.md, "Population-based training"): every member's curve of the
// sweep's metric, and the best member's schedule: the params it trained under from each epoch
// on and whose checkpoint it took (its lineage), as a table and a step chart per mutable param.
// Reads the export's `pbt` (the population's settings) and each trial's `schedule`.
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "report/report_internal.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;

// The text of a schedule entry's value of key ("" when it has none).
std::string ScheduleValue(const json& entry, const std::string& key) {
  auto params = entry.find("params");
  if (params == entry.end() || !params->is_object()) return "";
  auto v = params->find(key);
  if (v == params->end()) return "";
  if (v->is_array() && v->size() == 1) return (*v)[0].dump();  // dropout: one rate per layer
  return v->is_string() ? v->get<std::string>() : v->dump();
}

// An integer of the pbt settings or a schedule entry (an epoch, a count, a trial number); 0 where
// j has none or holds something other than a number within +-1e9. (value(key, 0) converted any
// number to int: one out of int's range, or an epoch of INT_MAX plus one, was undefined.)
int IntOf(const json& j, const char* key) {
  auto v = j.find(key);  // end() for a j that is not an object
  if (v == j.end() || !v->is_number()) return 0;
  const double x = v->get<double>();
  return std::fabs(x) <= 1e9 ? static_cast<int>(x) : 0;
}

}  // namespace

std::string PopulationSection(const SweepView& v) {
  auto pbt = v.sweep.find("pbt");
  if (pbt == v.sweep.end() || !pbt->is_object() || v.ranked.empty()) return "";
  std::vector<std::string> keys;
  for (const json& k : pbt->value("mutable", json::array())) {
    if (k.is_string()) keys.push_back(k.get<std::string>());
  }
  std::ostringstream o;
  o << "<h2 id=\"population\">The population</h2><p class=\"note\">" << IntOf(*pbt, "population")
    << " members trained in segments of " << IntOf(*pbt, "interval")
    << " epochs; after each, the bottom share took the checkpoint and params of a top member and "
       "changed its mutable params. A member's curve jumps where it took another's weights.</p>";
  std::vector<Series> all;
  for (size_t i = 0; i < v.ranked.size() && all.size() < 64; ++i) {
    all.push_back({TrialName(v.ranked[i]), v.Tip(i), Curve(v.ranked[i], v.EpochField())});
  }
  o << LineChart(all, v.EpochField(), 640, 280);
  // The best member's schedule: a row per entry, and each mutable param as steps over the epochs.
  const json& best = v.ranked[0];
  auto schedule = best.find("schedule");
  if (schedule == best.end() || !schedule->is_array() || schedule->empty()) return o.str();
  const int epochs = IntOf(*pbt, "epochs");
  o << "<h3>The schedule of " << Esc(TrialName(best)) << "</h3><p class=\"note\">"
    << "<code>hpsweep train --schedule</code> with this trial's entry of the export replays it "
       "from scratch.</p><table><tr><th>epochs</th><th>took the weights of</th>";
  for (const std::string& k : keys) o << "<th>" << Esc(k) << "</th>";
  o << "</tr>";
  for (size_t i = 0; i < schedule->size(); ++i) {
    const json& e = (*schedule)[i];
    const int from = IntOf(e, "epoch") + 1;
    const int to = i + 1 < schedule->size() ? IntOf((*schedule)[i + 1], "epoch") : epochs;
    o << "<tr><td>" << from << "-" << to << "</td><td>"
      << (e.contains("from") ? "#" + std::to_string(IntOf(e, "from")) : std::string("-"))
      << "</td>";
    for (const std::string& k : keys) o << "<td>" << Esc(ScheduleValue(e, k)) << "</td>";
    o << "</tr>";
  }
  o << "</table><div class=\"grid\">";
  for (const std::string& k : keys) {
    std::vector<std::pair<double, double>> steps;
    for (size_t i = 0; i < schedule->size(); ++i) {
      const json& e = (*schedule)[i];
      const std::string text = ScheduleValue(e, k);
      if (text.empty()) continue;
      const double value = std::strtod(text.c_str(), nullptr);
      const int to = i + 1 < schedule->size() ? IntOf((*schedule)[i + 1], "epoch") : epochs;
      steps.push_back({IntOf(e, "epoch") + 1.0, value});
      steps.push_back({static_cast<double>(to), value});
    }
    if (!steps.empty()) {
      o << "<div class=\"cell\">" << LineChart({{k, TrialName(best), steps}}, k, 300, 160)
        << "</div>";
    }
  }
  o << "</div>";
  return o.str();
}

}  // namespace hpsweep
