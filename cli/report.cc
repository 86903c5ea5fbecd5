#include "cli/report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "coordinator/objective.h"
#include "coordinator/params_json.h"
#include "engine/model_io.h"
#include "engine/tensor.h"
#include "engine/trainer.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// A number of the export, NaN where it holds null (a NaN, as a diverged trial's loss, is written
// as null) or anything else that is not a number: get<double>() would throw.
double Num(const json& v) {
  return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// A trial's param as text, "" where the trial lacks it (the items of a list sweep may set
// different keys; operator[] on a const json with a missing key is undefined).
std::string Param(const json& t, const std::string& key) {
  auto p = t.find("params");
  if (p == t.end() || !p->is_object()) return "";
  auto it = p->find(key);
  if (it == p->end()) return "";
  return ParamText(*it);  // typed (a newer coordinator) or text (an older one): the same text
}

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

void AppendBytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

// A 28x28 image (floats in [0,1]) as an <img> with a PNG data URI, drawn `px` pixels wide.
std::string ImageTag(const float* pixels, int px, const std::string& title) {
  unsigned char bytes[784];
  for (int i = 0; i < 784; ++i) {
    bytes[i] = static_cast<unsigned char>(std::lround(std::clamp(pixels[i], 0.0f, 1.0f) * 255));
  }
  std::string png;
  stbi_write_png_to_func(AppendBytes, &png, 28, 28, 1, bytes, 28);
  return "<img class=\"digit\" width=\"" + std::to_string(px) + "\" height=\"" +
         std::to_string(px) + "\" title=\"" + Esc(title) + "\" src=\"data:image/png;base64," +
         Base64(png) + "\">";
}

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// A line chart: series of (x, y) with names; y range [ymin, ymax].
std::string LineChart(
    const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series,
    double ymin, double ymax, const std::string& ylabel, int w = 300, int h = 180) {
  double xmax = 1;
  for (const auto& s : series)
    for (const auto& p : s.second) xmax = std::max(xmax, p.first);
  if (ymax <= ymin) ymax = ymin + 1;
  const int l = 40, r = 10, t = 10, b = 30;
  auto X = [&](double x) { return l + (w - l - r) * (x - 1) / std::max(1.0, xmax - 1); };
  auto Y = [&](double y) { return t + (h - t - b) * (1 - (y - ymin) / (ymax - ymin)); };
  std::ostringstream o;
  o << "<svg class=\"chart\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\">";
  o << "<rect x=\"" << l << "\" y=\"" << t << "\" width=\"" << (w - l - r) << "\" height=\""
    << (h - t - b) << "\" fill=\"none\" stroke=\"#ccc\"/>";
  for (int k = 0; k <= 4; ++k) {
    const double yv = ymin + (ymax - ymin) * k / 4;
    o << "<text x=\"" << (l - 4) << "\" y=\"" << Y(yv) + 4 << "\" text-anchor=\"end\" "
      << "font-size=\"9\">" << Fmt("%.3g", yv) << "</text>";
  }
  o << "<text x=\"" << (w + l) / 2 << "\" y=\"" << (h - 4)
    << "\" text-anchor=\"middle\" font-size=\"10\">epoch (1-" << xmax << ")</text>";
  o << "<text x=\"10\" y=\"" << (h / 2) << "\" font-size=\"10\" transform=\"rotate(-90 10 "
    << (h / 2) << ")\" text-anchor=\"middle\">" << Esc(ylabel) << "</text>";
  int k = 0;
  for (const auto& [name, pts] : series) {
    const char* color = kPalette[k++ % 10];
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << color
      << "\" stroke-width=\"1.5\" points=\"";
    for (const auto& p : pts)
      o << Fmt("%.1f", X(p.first)) << "," << Fmt("%.1f", Y(p.second)) << " ";
    o << "\"><title>" << Esc(name) << "</title></polyline>";
    o << "<text x=\"" << (l + 6) << "\" y=\"" << (t + 12 * k) << "\" font-size=\"9\" fill=\""
      << color << "\">" << Esc(name) << "</text>";
  }
  o << "</svg>";
  return o.str();
}

// Keys whose value differs between trials: the swept ones.
std::vector<std::string> VaryingKeys(const json& trials) {
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& t : trials)
    for (const auto& [k, v] : t["params"].items()) seen[k].insert(Param(t, k));
  std::vector<std::string> keys;
  for (const auto& [k, vals] : seen)
    if (vals.size() > 1) keys.push_back(k);
  return keys;
}

// The sweep's ranking rule from its export: metric and goal (an export without a goal, from
// before the field existed, takes the metric's natural direction: losses down, the rest up).
Objective ObjectiveOf(const json& sweep) {
  auto m = sweep.find("metric");
  const std::string metric =
      m != sweep.end() && m->is_string() ? m->get<std::string>() : "val_accuracy";
  auto g = sweep.find("goal");
  const bool natural_max = metric.size() < 4 || metric.compare(metric.size() - 4, 4, "loss") != 0;
  const bool maximize =
      g != sweep.end() && g->is_string() ? g->get<std::string>() == "maximize" : natural_max;
  return Objective(metric, maximize);
}

double FieldOf(const json& t, const char* key) {
  auto it = t.find(key);
  return it == t.end() ? -1 : Num(*it);
}

// The trial's value of the sweep's metric; -1 when it has none.
double ValueOf(const Objective& o, const json& t) {
  return o.ValueOf(FieldOf(t, "best_val_accuracy"), FieldOf(t, "best_val_loss"),
                   FieldOf(t, "test_accuracy"), FieldOf(t, "test_loss"));
}

int NumberOf(const json& t) {
  auto it = t.find("number");
  return it != t.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// Every trial of the export, best first by the sweep's Objective: those without a value last,
// ties by trial number.
std::vector<json> Ranked(const json& ex, const Objective& o) {
  std::vector<json> ranked;
  for (const auto& t : ex["trials"]) ranked.push_back(t);
  std::stable_sort(ranked.begin(), ranked.end(), [&o](const json& a, const json& b) {
    return o.RanksBefore(ValueOf(o, a), NumberOf(a), ValueOf(o, b), NumberOf(b));
  });
  return ranked;
}

std::string TrialName(const json& t) {
  if (t["params"].contains("label")) return Param(t, "label");
  return "#" + std::to_string(t["number"].get<int>());
}

std::string ParallelCoordinates(const std::vector<json>& ranked,
                                const std::vector<std::string>& keys) {
  const int w = 160 * static_cast<int>(keys.size() + 1), h = 260, t = 30, b = 20;
  std::vector<std::vector<std::string>> values(keys.size());
  for (size_t a = 0; a < keys.size(); ++a) {
    std::set<std::string> vs;
    for (const auto& tr : ranked) vs.insert(Param(tr, keys[a]));
    values[a].assign(vs.begin(), vs.end());
    // Numbers in numeric order.
    std::sort(values[a].begin(), values[a].end(), [](const std::string& x, const std::string& y) {
      char* ex;
      char* ey;
      const double dx = std::strtod(x.c_str(), &ex), dy = std::strtod(y.c_str(), &ey);
      if (*ex == '\0' && *ey == '\0') return dx < dy;
      return x < y;
    });
  }
  double lo = 1, hi = 0;
  for (const auto& tr : ranked) {
    const double v = Num(tr["best_val_accuracy"]);
    if (v < 0) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi <= lo) hi = lo + 0.01;
  auto AX = [&](size_t a) { return 60.0 + 160.0 * a; };
  auto YV = [&](size_t a, const std::string& v) {
    const auto& vs = values[a];
    const size_t i = std::find(vs.begin(), vs.end(), v) - vs.begin();
    return vs.size() == 1 ? (t + h - b) / 2.0 : t + (h - t - b) * (1 - double(i) / (vs.size() - 1));
  };
  auto YA = [&](double v) { return t + (h - t - b) * (1 - (v - lo) / (hi - lo)); };
  std::ostringstream o;
  o << "<svg class=\"parallel\" width=\"" << w << "\" height=\"" << h << "\">";
  for (const auto& tr : ranked) {
    const double acc = Num(tr["best_val_accuracy"]);
    if (acc < 0) continue;
    const double q = (acc - lo) / (hi - lo);
    const int red = static_cast<int>(220 * (1 - q)), green = static_cast<int>(40 + 160 * q);
    o << "<polyline fill=\"none\" stroke=\"rgb(" << red << "," << green << ",80)\" "
      << "stroke-width=\"1.5\" opacity=\"0.8\" points=\"";
    for (size_t a = 0; a < keys.size(); ++a)
      o << AX(a) << "," << Fmt("%.1f", YV(a, Param(tr, keys[a]))) << " ";
    o << AX(keys.size()) << "," << Fmt("%.1f", YA(acc)) << "\"><title>" << Esc(TrialName(tr))
      << ": " << Fmt("%.4f", acc) << "</title></polyline>";
  }
  for (size_t a = 0; a <= keys.size(); ++a) {
    o << "<line x1=\"" << AX(a) << "\" y1=\"" << t << "\" x2=\"" << AX(a) << "\" y2=\"" << (h - b)
      << "\" stroke=\"#333\"/>";
    o << "<text x=\"" << AX(a) << "\" y=\"16\" text-anchor=\"middle\" font-size=\"11\" "
      << "font-weight=\"bold\">" << (a < keys.size() ? Esc(keys[a]) : "val accuracy") << "</text>";
    if (a < keys.size()) {
      for (const auto& v : values[a]) {
        o << "<text x=\"" << AX(a) + 4 << "\" y=\"" << YV(a, v) + 3 << "\" font-size=\"9\">"
          << Esc(v) << "</text>";
      }
    } else {
      for (int k = 0; k <= 4; ++k) {
        const double v = lo + (hi - lo) * k / 4;
        o << "<text x=\"" << AX(a) + 4 << "\" y=\"" << YA(v) + 3 << "\" font-size=\"9\">"
          << Fmt("%.4f", v) << "</text>";
      }
    }
  }
  o << "</svg>";
  return o.str();
}

const char* kStyle = R"(<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}h2{margin-top:32px;border-bottom:1px solid #ccc}
.grid{display:flex;flex-wrap:wrap;gap:8px}.cell{text-align:center;font-size:12px}
.wrong{color:#d00;font-weight:bold}img.digit{image-rendering:pixelated;border:1px solid #eee}
.bar{background:#4a90d9;height:12px;display:inline-block}
</style>)";

}  // namespace

std::string DataReportHtml(const Mnist& data, double validation_split) {
  const int64_t n = data.train.count;
  const int64_t split_at =
      validation_split > 0 ? static_cast<int64_t>(n * (1.0 - validation_split)) : n;
  std::vector<std::array<int64_t, 3>> counts(10, {0, 0, 0});
  for (int64_t i = 0; i < n; ++i) counts[data.train.labels[i]][i < split_at ? 0 : 1]++;
  for (int64_t i = 0; i < data.test.count; ++i) counts[data.test.labels[i]][2]++;
  std::ostringstream o;
  o << "<h2 id=\"data\">The data set</h2>";
  o << "<p>MNIST: " << n << " training images (the first " << split_at << " train, the last "
    << (n - split_at) << " validate: validation_split " << validation_split << "), "
    << data.test.count << " test images, " << data.train.rows << "x" << data.train.cols
    << " pixels scaled to [0, 1].</p>";
  o << "<table "
       "id=\"class-counts\"><tr><th>digit</th><th>train</th><th>validation</th><th>test</th></tr>";
  for (int d = 0; d < 10; ++d) {
    o << "<tr><td>" << d << "</td><td>" << counts[d][0] << "</td><td>" << counts[d][1]
      << "</td><td>" << counts[d][2] << "</td></tr>";
  }
  o << "</table>";
  const int px = data.train.rows * data.train.cols;
  auto stats = [&](const Dataset& d) {
    double sum = 0, sq = 0;
    int64_t nonzero = 0;
    for (float v : d.images) {
      sum += v;
      sq += double(v) * v;
      nonzero += v > 0;
    }
    const double cnt = double(d.images.size());
    const double mean = sum / cnt;
    return "<td>" + Fmt("%.4f", mean) + "</td><td>" +
           Fmt("%.4f", std::sqrt(sq / cnt - mean * mean)) + "</td><td>" +
           Fmt("%.1f%%", 100.0 * nonzero / cnt) + "</td>";
  };
  o << "<table id=\"pixel-stats\"><tr><th class=\"l\">set</th><th>mean pixel</th><th>std</th>"
       "<th>non-zero pixels</th></tr><tr><td class=\"l\">train (all)</td>"
    << stats(data.train) << "</tr><tr><td class=\"l\">test</td>" << stats(data.test)
    << "</tr></table>";
  o << "<p>The mean image of each digit (training set):</p><div class=\"grid\" id=\"mean-images\">";
  for (int d = 0; d < 10; ++d) {
    std::vector<float> mean(px, 0.0f);
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (data.train.labels[i] != d) continue;
      ++c;
      for (int p = 0; p < px; ++p) mean[p] += data.train.images[i * px + p];
    }
    for (float& v : mean) v /= std::max<int64_t>(1, c);
    o << "<div class=\"cell\">" << ImageTag(mean.data(), 84, "mean " + std::to_string(d)) << "<br>"
      << d << "</div>";
  }
  o << "</div>";
  return o.str();
}

namespace {

StatusOr<std::string> ReportOrThrow(const std::string& export_json, const std::string& best_model,
                                    const Mnist* data) {
  json ex;
  try {
    ex = json::parse(export_json);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("export is not JSON: ") + e.what());
  }
  json sweep = ex["sweep"];  // a copy: a missing field reads as null and fails get<>() below
  const Objective objective = ObjectiveOf(sweep);
  const std::vector<json> ranked = Ranked(ex, objective);
  // The metric gets a column of its own unless one of the accuracy columns already shows it.
  const bool metric_column =
      objective.metric() != "val_accuracy" && objective.metric() != "test_accuracy";
  const std::vector<std::string> keys = VaryingKeys(ex["trials"]);
  std::ostringstream o;
  const std::string name = sweep["name"].get<std::string>();
  o << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>hpsweep report: " << Esc(name)
    << "</title>" << kStyle << "</head><body>";
  o << "<h1>Sweep " << sweep["id"].get<int64_t>() << ": " << Esc(name) << "</h1><p>"
    << Esc(sweep["description"].get<std::string>()) << "</p><p>" << ranked.size()
    << " trials, state " << Esc(sweep["state"].get<std::string>()) << ", ranked by "
    << Esc(objective.DisplayName()) << ".</p>";

  // Leaderboard.
  o << "<h2 id=\"leaderboard\">Leaderboard</h2><table><tr><th>rank</th><th>trial</th>";
  for (const auto& k : keys) o << "<th class=\"l\">" << Esc(k) << "</th>";
  o << "<th>best epoch</th>";
  if (metric_column) o << "<th>" << Esc(objective.metric()) << "</th>";
  o << "<th>val acc</th><th>test acc</th><th>epochs</th><th>seconds</th>"
       "<th class=\"l\">status</th><th class=\"l\">worker</th></tr>";
  int rank = 0;
  for (const auto& t : ranked) {
    o << "<tr><td>" << ++rank << "</td><td>" << Esc(TrialName(t)) << "</td>";
    for (const auto& k : keys) o << "<td class=\"l\">" << Esc(Param(t, k)) << "</td>";
    const double va = Num(t["best_val_accuracy"]), ta = Num(t["test_accuracy"]);
    o << "<td>" << t["best_epoch"].get<int>() << "</td>";
    if (metric_column) {
      const double mv = ValueOf(objective, t);
      o << "<td>" << (mv >= 0 ? Fmt("%.4f", mv) : "-") << "</td>";
    }
    o << "<td>" << (va >= 0 ? Fmt("%.4f", va) : "-") << "</td><td>"
      << (ta >= 0 ? Fmt("%.4f", ta) : "-") << "</td><td>" << t["epochs"].size() << "</td><td>"
      << Fmt("%.1f", Num(t["seconds"])) << "</td><td class=\"l\">"
      << Esc(t["status"].get<std::string>()) << "</td><td class=\"l\">"
      << Esc(t["worker"].get<std::string>()) << "</td></tr>";
  }
  o << "</table>";

  // Curves: the top trials overlaid, then every trial.
  auto series = [](const json& t, const char* field) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& e : t["epochs"]) pts.push_back({Num(e["epoch"]), Num(e[field])});
    return pts;
  };
  o << "<h2 id=\"curves\">Accuracy and loss per epoch</h2><p>The top trials, validation accuracy "
       "overlaid:</p>";
  {
    std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> top;
    double lo = 1;
    for (size_t i = 0; i < ranked.size() && i < 5; ++i) {
      top.push_back({TrialName(ranked[i]), series(ranked[i], "val_accuracy")});
      for (const auto& p : top.back().second) lo = std::min(lo, p.second);
    }
    o << LineChart(top, std::floor(lo * 100) / 100, 1.0, "val accuracy", 600, 260);
  }
  o << "<p>Every trial: accuracy (train, val) and loss (train, val).</p><div class=\"grid\">";
  for (const auto& t : ranked) {
    double lo = 1, lmax = 0;
    for (const auto& e : t["epochs"]) {
      lo = std::min({lo, Num(e["train_accuracy"]), Num(e["val_accuracy"])});
      lmax = std::max({lmax, Num(e["train_loss"]), Num(e["val_loss"])});
    }
    o << "<div class=\"cell\"><b>" << Esc(TrialName(t)) << "</b><br>"
      << LineChart({{"train", series(t, "train_accuracy")}, {"val", series(t, "val_accuracy")}},
                   std::floor(lo * 100) / 100, 1.0, "accuracy", 260, 160)
      << LineChart({{"train", series(t, "train_loss")}, {"val", series(t, "val_loss")}}, 0,
                   lmax * 1.05, "loss", 260, 160)
      << "</div>";
  }
  o << "</div>";

  // Hyperparameters.
  if (!keys.empty()) {
    o << "<h2 id=\"parallel\">Hyperparameters against validation accuracy</h2>"
      << ParallelCoordinates(ranked, keys);
    o << "<h2 id=\"effects\">The effect of each hyperparameter</h2><p>Validation accuracy of the "
         "trials grouped by one hyperparameter's value (the others vary within each group).</p>";
    for (const auto& k : keys) {
      std::map<std::string, std::vector<double>> groups;
      for (const auto& t : ranked) {
        const double v = Num(t["best_val_accuracy"]);
        if (v >= 0) groups[Param(t, k)].push_back(v);
      }
      o << "<table class=\"effect\"><tr><th class=\"l\">" << Esc(k)
        << "</th><th>trials</th><th>mean</th><th>best</th><th class=\"l\"></th></tr>";
      for (const auto& [v, accs] : groups) {
        const double mean = std::accumulate(accs.begin(), accs.end(), 0.0) / accs.size();
        const double best = *std::max_element(accs.begin(), accs.end());
        o << "<tr><td class=\"l\">" << Esc(v) << "</td><td>" << accs.size() << "</td><td>"
          << Fmt("%.4f", mean) << "</td><td>" << Fmt("%.4f", best)
          << "</td><td class=\"l\"><span class=\"bar\" style=\"width:"
          << std::max(2, static_cast<int>((mean - 0.8) * 1500)) << "px\"></span></td></tr>";
      }
      o << "</table>";
    }
  }

  // The best trial: the first of the ranking, if it has a value of the metric at all.
  if (!ranked.empty() && Objective::HasValue(ValueOf(objective, ranked[0])) &&
      ranked[0].contains("confusion_matrix")) {
    const json& best = ranked[0];
    o << "<h2 id=\"best\">The best trial: " << Esc(TrialName(best)) << "</h2><p>Test accuracy "
      << Fmt("%.4f", Num(best["test_accuracy"])) << ".</p>";
    Evaluation ev;
    ev.confusion = best["confusion_matrix"].get<std::vector<int64_t>>();
    ev.classes = static_cast<int>(std::lround(std::sqrt(double(ev.confusion.size()))));
    int64_t maxc = 1;
    for (int r = 0; r < ev.classes; ++r)
      for (int c = 0; c < ev.classes; ++c)
        if (r != c) maxc = std::max(maxc, ev.confusion[r * ev.classes + c]);
    o << "<table id=\"confusion\"><tr><th>true \\ predicted</th>";
    for (int c = 0; c < ev.classes; ++c) o << "<th>" << c << "</th>";
    o << "</tr>";
    for (int r = 0; r < ev.classes; ++r) {
      o << "<tr><th>" << r << "</th>";
      for (int c = 0; c < ev.classes; ++c) {
        const int64_t v = ev.confusion[r * ev.classes + c];
        const int shade = r == c ? 0 : static_cast<int>(255 * (1 - double(v) / maxc));
        o << "<td style=\"background:"
          << (r == c ? std::string("#cfe8cf")
                     : "rgb(255," + std::to_string(shade) + "," + std::to_string(shade) + ")")
          << "\">" << v << "</td>";
      }
      o << "</tr>";
    }
    o << "</table><table id=\"per-class\"><tr><th>digit</th><th>precision</th><th>recall</th>"
         "<th>F1</th><th>support</th></tr>";
    const auto pc = PerClassMetrics(ev);
    for (size_t c = 0; c < pc.size(); ++c) {
      o << "<tr><td>" << c << "</td><td>" << Fmt("%.4f", pc[c].precision) << "</td><td>"
        << Fmt("%.4f", pc[c].recall) << "</td><td>" << Fmt("%.4f", pc[c].f1) << "</td><td>"
        << pc[c].support << "</td></tr>";
    }
    o << "</table>";
    if (!best_model.empty() && data != nullptr && data->test.count > 0) {
      auto model = ParseModel(best_model, "best trial");
      if (!model.ok()) return model.status();
      // The grid shows MNIST test images: only for a 28x28, 10-class model (a sweep of its own
      // data, engine/dataset.h, has another shape and gets no grid).
      const ModelConfig& mc = model->config.model;
      const bool mnist_shaped = mc.steps * mc.features == 784 && mc.classes == 10 &&
                                data->test.rows * data->test.cols == 784;
      if (mnist_shaped) {
        Rng rng(12345);
        std::vector<int64_t> idx;
        std::vector<float> pixels;
        for (int i = 0; i < 100; ++i) {
          idx.push_back(static_cast<int64_t>(rng.Below(data->test.count)));
          pixels.insert(pixels.end(), data->test.images.begin() + idx.back() * 784,
                        data->test.images.begin() + (idx.back() + 1) * 784);
        }
        const Mat<float> probs = PredictProba(*model, pixels.data(), 100, 1);
        int wrong = 0;
        std::ostringstream grid;
        for (int i = 0; i < 100; ++i) {
          Eigen::Index pred;
          probs.row(i).maxCoeff(&pred);
          const int truth = data->test.labels[idx[i]];
          wrong += pred != truth;
          grid << "<div class=\"cell\">"
               << ImageTag(&pixels[i * 784], 56, "test image " + std::to_string(idx[i]))
               << "<br><span" << (pred != truth ? " class=\"wrong\"" : "") << ">" << pred << " ("
               << truth << ")</span></div>";
        }
        o << "<h3 id=\"samples\">100 random test images: predicted (true), wrong ones in red ("
          << wrong << " wrong)</h3><div class=\"grid\">" << grid.str() << "</div>";
      }
    }
  }
  if (data != nullptr) {
    double split = 0;
    if (!ranked.empty() && ranked[0]["params"].contains("validation_split")) {
      split = std::atof(Param(ranked[0], "validation_split").c_str());
    }
    o << DataReportHtml(*data, split);
  }
  o << "<p style=\"color:#888\">Made by hpsweep report.</p></body></html>\n";
  return o.str();
}

}  // namespace

StatusOr<std::vector<int64_t>> RankedTrialIds(const std::string& export_json) {
  try {
    const json ex = json::parse(export_json);
    const Objective o = ObjectiveOf(ex["sweep"]);
    std::vector<int64_t> ids;
    for (const json& t : Ranked(ex, o)) {
      if (Objective::HasValue(ValueOf(o, t))) ids.push_back(t["id"].get<int64_t>());
    }
    return ids;
  } catch (const json::exception& e) {
    return DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what());
  }
}

StatusOr<std::string> SweepReportHtml(const std::string& export_json, const std::string& best_model,
                                      const Mnist* data) {
  // The export comes from a database file or over the network: a field of the wrong type is a
  // refused input, never an exception that ends the process.
  try {
    return ReportOrThrow(export_json, best_model, data);
  } catch (const json::exception& e) {
    return DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what());
  }
}

}  // namespace hpsweep
