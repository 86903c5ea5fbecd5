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

#include "cli/importance.h"
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
// A rows x cols image of values in [0, 1] as an inline PNG, its longer side `px` pixels.
std::string ImageTag(const float* pixels, int px, const std::string& title, int rows = 28,
                     int cols = 28) {
  std::vector<unsigned char> bytes(static_cast<size_t>(rows) * cols);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<unsigned char>(std::lround(std::clamp(pixels[i], 0.0f, 1.0f) * 255));
  }
  std::string png;
  stbi_write_png_to_func(AppendBytes, &png, cols, rows, 1, bytes.data(), cols);
  const int longer = std::max(rows, cols);
  const int width = std::max(4, static_cast<int>(std::lround(double(px) * cols / longer)));
  const int height = std::max(4, static_cast<int>(std::lround(double(px) * rows / longer)));
  return "<img class=\"digit\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" title=\"" + Esc(title) + "\" src=\"data:image/png;base64," +
         Base64(png) + "\">";
}

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Bounds that keep the page small for big sweeps; the page says where it leaves trials out.
constexpr size_t kMaxTableRows = 1000;  // leaderboard rows
constexpr size_t kMaxLines = 500;       // parallel-coordinates lines (the best ones)
constexpr size_t kMaxOverlay = 10;      // curves overlaid in the top-trials chart
constexpr size_t kMaxDetail = 24;       // trials with their own accuracy and loss charts
constexpr size_t kMaxPoints = 200;      // points per curve (epochs downsampled beyond that)
constexpr size_t kMaxScatter = 2000;    // points per scatter plot
constexpr int kImportanceBins = 5;      // continuous parameters: equal-count bins
constexpr size_t kCompareRows = 20;     // leaderboard rows per sweep when comparing
constexpr size_t kMaxComparedSweeps = 8;

// A param's value for ordering and axes: typed as the export has it, or (an older export's text)
// parsed back into a number or list where the text is one.
json Typed(const json& v) {
  if (!v.is_string()) return v;
  json p = json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (!p.is_discarded() && (p.is_number() || p.is_array())) return p;
  return v;
}

json ParamValue(const json& t, const std::string& key) {
  auto p = t.find("params");
  if (p == t.end() || !p->is_object()) return json();
  auto it = p->find(key);
  return it == p->end() ? json() : Typed(*it);
}

// The order of param values: numbers numerically (before anything else), lists elementwise
// (then shorter first), the rest by their text. 64 < 128, [0] < [0.2] < [0.2, 0.1].
bool ParamLess(const json& a, const json& b) {
  const bool an = a.is_number(), bn = b.is_number();
  if (an && bn) return a.get<double>() < b.get<double>();
  if (an != bn) return an;
  const bool aa = a.is_array(), ba = b.is_array();
  if (aa && ba) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (ParamLess(a[i], b[i])) return true;
      if (ParamLess(b[i], a[i])) return false;
    }
    return a.size() < b.size();
  }
  if (aa != ba) return aa;
  return ParamText(a) < ParamText(b);
}

// Sorts texts of param values in ParamLess order.
void SortParamTexts(std::vector<std::string>* texts) {
  std::stable_sort(texts->begin(), texts->end(), [](const std::string& x, const std::string& y) {
    return ParamLess(Typed(json(x)), Typed(json(y)));
  });
}

// Keys whose value differs between trials: the swept ones; and those with one value in every
// trial: the sweep's fixed settings (key -> value text).
void SplitKeys(const json& trials, std::vector<std::string>* varying,
               std::map<std::string, std::string>* fixed) {
  std::map<std::string, std::set<std::string>> seen;
  std::map<std::string, size_t> present;
  size_t n = 0;
  for (const auto& t : trials) {
    ++n;
    auto p = t.find("params");
    if (p == t.end() || !p->is_object()) continue;
    for (const auto& [k, v] : p->items()) {
      seen[k].insert(ParamText(v));
      present[k]++;
    }
  }
  for (const auto& [k, vals] : seen) {
    if (vals.size() > 1 || present[k] < n) {
      varying->push_back(k);
    } else {
      (*fixed)[k] = *vals.begin();
    }
  }
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

std::string StrOf(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Every trial of the export, best first by the sweep's Objective: those without a value last,
// ties by trial number.
std::vector<json> Ranked(const json& ex, const Objective& o) {
  std::vector<json> ranked;
  auto trials = ex.find("trials");
  if (trials == ex.end() || !trials->is_array()) return ranked;
  for (const auto& t : *trials) {
    if (t.is_object()) ranked.push_back(t);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&o](const json& a, const json& b) {
    return o.RanksBefore(ValueOf(o, a), NumberOf(a), ValueOf(o, b), NumberOf(b));
  });
  return ranked;
}

std::string TrialName(const json& t) {
  auto p = t.find("params");
  if (p != t.end() && p->is_object() && p->contains("label")) return Param(t, "label");
  return "#" + std::to_string(NumberOf(t));
}

std::string MetricText(double v) { return Objective::HasValue(v) ? Fmt("%.4f", v) : "-"; }

// One sweep, read from its export: what every section of a report draws from.
struct SweepView {
  json sweep;
  Objective objective;
  std::vector<json> ranked;
  std::vector<double> values;  // the metric of ranked[i]; -1 where none
  std::vector<std::string> keys;
  std::map<std::string, std::string> fixed;

  // "#3 · units=64, lr=0.01 · val_loss 0.2345": what hovering over a trial shows.
  std::string Tip(size_t i) const {
    std::string s = TrialName(ranked[i]);
    std::string ps;
    for (const auto& k : keys) {
      const std::string v = Param(ranked[i], k);
      if (v.empty()) continue;
      ps += (ps.empty() ? "" : ", ") + k + "=" + v;
    }
    if (!ps.empty()) s += " \xC2\xB7 " + ps;
    return s + " \xC2\xB7 " + objective.metric() + " " + MetricText(values[i]) + " \xC2\xB7 " +
           StrOf(ranked[i], "status");
  }
  // The per-epoch value of the metric (val_loss for a loss metric, val_accuracy otherwise).
  std::string EpochField() const {
    return objective.metric().find("loss") != std::string::npos ? "val_loss" : "val_accuracy";
  }
};

SweepView ViewOf(const json& ex) {
  SweepView v;
  v.sweep = ex["sweep"];
  v.objective = ObjectiveOf(v.sweep);
  v.ranked = Ranked(ex, v.objective);
  for (const auto& t : v.ranked) v.values.push_back(ValueOf(v.objective, t));
  SplitKeys(ex["trials"], &v.keys, &v.fixed);
  return v;
}

// A scale from data to pixels: linear, or logarithmic where every value is positive and they span
// more than one decade (learning rates).
struct Scale {
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  bool log = false;
  static Scale Of(double lo, double hi, double p0, double p1, bool allow_log) {
    Scale s;
    s.log = allow_log && lo > 0 && hi / lo > 10;
    if (s.log) {
      lo = std::log10(lo);
      hi = std::log10(hi);
    }
    if (!(hi > lo)) {
      const double pad = std::fabs(lo) > 0 ? std::fabs(lo) * 0.05 : 0.5;
      lo -= pad;
      hi += pad;
    }
    s.lo = lo;
    s.hi = hi;
    s.p0 = p0;
    s.p1 = p1;
    return s;
  }
  double operator()(double v) const {
    const double x = log ? std::log10(std::max(v, 1e-300)) : v;
    return p0 + (p1 - p0) * (x - lo) / (hi - lo);
  }
  // About five tick values.
  std::vector<double> Ticks() const {
    std::vector<double> t;
    if (log) {
      for (double e = std::ceil(lo - 1e-9); e <= hi + 1e-9; e += 1) t.push_back(std::pow(10, e));
      if (t.size() >= 2) return t;
      t.clear();
      t.push_back(std::pow(10, lo));
      t.push_back(std::pow(10, hi));
      return t;
    }
    for (int k = 0; k <= 4; ++k) t.push_back(lo + (hi - lo) * k / 4);
    return t;
  }
};

// A param axis: numeric (by value, log where it spans > 1 decade) when every trial's value is a
// number, else categorical (the sorted distinct values evenly spaced).
struct ParamAxis {
  bool numeric = true;
  std::vector<std::string> levels;  // sorted distinct texts (categorical)
  Scale scale;
  double Pos(const json& t, const std::string& key) const {
    if (numeric) return scale(ParamValue(t, key).get<double>());
    const std::string v = Param(t, key);
    const size_t i = std::find(levels.begin(), levels.end(), v) - levels.begin();
    return levels.size() <= 1 ? (scale.p0 + scale.p1) / 2
                              : scale.p0 + (scale.p1 - scale.p0) * double(i) / (levels.size() - 1);
  }
  // (position, label) of the ticks.
  std::vector<std::pair<double, std::string>> Ticks() const {
    std::vector<std::pair<double, std::string>> out;
    if (numeric && levels.size() > 8) {
      for (double v : scale.Ticks()) out.push_back({scale(v), Fmt("%.3g", v)});
    } else if (numeric) {  // a few values: a tick at each
      for (const auto& l : levels) out.push_back({scale(std::atof(l.c_str())), l});
    } else {
      for (size_t i = 0; i < levels.size(); ++i) {
        out.push_back({levels.size() <= 1
                           ? (scale.p0 + scale.p1) / 2
                           : scale.p0 + (scale.p1 - scale.p0) * double(i) / (levels.size() - 1),
                       levels[i]});
      }
    }
    return out;
  }
};

ParamAxis AxisOf(const SweepView& v, const std::string& key, double p0, double p1) {
  ParamAxis a;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::set<std::string> texts;
  for (const auto& t : v.ranked) {
    const json pv = ParamValue(t, key);
    texts.insert(Param(t, key));
    if (pv.is_number()) {
      lo = std::min(lo, pv.get<double>());
      hi = std::max(hi, pv.get<double>());
    } else {
      a.numeric = false;
    }
  }
  a.levels.assign(texts.begin(), texts.end());
  SortParamTexts(&a.levels);
  if (a.numeric && a.levels.size() <= 1) a.numeric = false;
  a.scale = a.numeric ? Scale::Of(lo, hi, p0, p1, true) : Scale::Of(0, 1, p0, p1, false);
  return a;
}

// The range of the trials' metric values (those that have one).
std::pair<double, double> MetricRange(const SweepView& v) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double x : v.values) {
    if (!Objective::HasValue(x)) continue;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  if (lo > hi) return {0, 1};
  return {lo, hi};
}

// How good a value is within [lo, hi]: 0 the worst, 1 the best, in the sweep's direction.
double Goodness(const Objective& o, double v, double lo, double hi) {
  if (!(hi > lo)) return 1;
  const double q = (v - lo) / (hi - lo);
  return o.maximize() ? q : 1 - q;
}

std::string Color(double goodness) {
  const int red = static_cast<int>(220 * (1 - goodness)),
            green = static_cast<int>(40 + 160 * goodness);
  return "rgb(" + std::to_string(red) + "," + std::to_string(green) + ",80)";
}

struct Series {
  std::string name, tip;
  std::vector<std::pair<double, double>> pts;
};

// At most kMaxPoints points: every k-th, and always the last.
std::vector<std::pair<double, double>> Downsample(std::vector<std::pair<double, double>> pts) {
  if (pts.size() <= kMaxPoints) return pts;
  std::vector<std::pair<double, double>> out;
  const size_t step = (pts.size() + kMaxPoints - 1) / kMaxPoints;
  for (size_t i = 0; i < pts.size(); i += step) out.push_back(pts[i]);
  if (out.back() != pts.back()) out.push_back(pts.back());
  return out;
}

// A line chart of series over epochs; the y range from the data (NaN points skipped).
std::string LineChart(const std::vector<Series>& series, const std::string& ylabel, int w = 300,
                      int h = 180, bool legend = true) {
  double xmax = 1, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    for (const auto& p : s.pts) {
      if (!std::isfinite(p.second)) continue;
      xmax = std::max(xmax, p.first);
      lo = std::min(lo, p.second);
      hi = std::max(hi, p.second);
    }
  }
  if (lo > hi) lo = 0, hi = 1;
  const double pad = hi > lo ? (hi - lo) * 0.05 : 0.01;
  const int l = 44, r = 10, t = 10, b = 30;
  const Scale Y = Scale::Of(lo - pad, hi + pad, h - b, t, false);
  auto X = [&](double x) { return l + (w - l - r) * (x - 1) / std::max(1.0, xmax - 1); };
  std::ostringstream o;
  o << "<svg class=\"chart\" width=\"" << w << "\" height=\"" << h << "\">";
  o << "<rect x=\"" << l << "\" y=\"" << t << "\" width=\"" << (w - l - r) << "\" height=\""
    << (h - t - b) << "\" fill=\"none\" stroke=\"#ccc\"/>";
  for (double yv : Y.Ticks()) {
    o << "<text x=\"" << (l - 4) << "\" y=\"" << Fmt("%.1f", Y(yv) + 3)
      << "\" text-anchor=\"end\" font-size=\"9\">" << Fmt("%.3g", yv) << "</text>";
  }
  o << "<text x=\"" << (w + l) / 2 << "\" y=\"" << (h - 4)
    << "\" text-anchor=\"middle\" font-size=\"10\">epoch (1-" << xmax << ")</text>";
  o << "<text x=\"10\" y=\"" << (h / 2) << "\" font-size=\"10\" transform=\"rotate(-90 10 "
    << (h / 2) << ")\" text-anchor=\"middle\">" << Esc(ylabel) << "</text>";
  int k = 0;
  for (const auto& s : series) {
    const char* color = kPalette[k++ % 10];
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << color
      << "\" stroke-width=\"1.5\" data-tip=\"" << Esc(s.tip.empty() ? s.name : s.tip)
      << "\" points=\"";
    for (const auto& p : Downsample(s.pts)) {
      if (std::isfinite(p.second))
        o << Fmt("%.1f", X(p.first)) << "," << Fmt("%.1f", Y(p.second)) << " ";
    }
    o << "\"/>";
    if (legend) {
      o << "<text x=\"" << (l + 6) << "\" y=\"" << (t + 12 * k) << "\" font-size=\"9\" fill=\""
        << color << "\">" << Esc(s.name) << "</text>";
    }
  }
  o << "</svg>";
  return o.str();
}

std::vector<std::pair<double, double>> Curve(const json& t, const std::string& field) {
  std::vector<std::pair<double, double>> pts;
  auto e = t.find("epochs");
  if (e == t.end() || !e->is_array()) return pts;
  for (const auto& ep : *e) {
    if (!ep.is_object()) continue;
    auto f = ep.find(field);
    auto n = ep.find("epoch");  // find, not operator[]: a const json's missing key is undefined
    if (n == ep.end()) continue;
    pts.push_back({Num(*n), f == ep.end() ? std::nan("") : Num(*f)});
  }
  return pts;
}

std::string ParallelCoordinates(const SweepView& v) {
  const std::vector<std::string>& keys = v.keys;
  const int w = 150 * static_cast<int>(keys.size() + 1) + 40, h = 280, t = 30, b = 20;
  auto AX = [&](size_t a) { return 60.0 + 150.0 * a; };
  std::vector<ParamAxis> axes;
  for (const auto& k : keys) axes.push_back(AxisOf(v, k, h - b, t));
  const auto [lo, hi] = MetricRange(v);
  const Scale YA = Scale::Of(lo, hi, h - b, t, false);
  std::ostringstream o;
  o << "<svg class=\"parallel\" id=\"parallel-svg\" width=\"" << w << "\" height=\"" << h << "\">";
  size_t drawn = 0;
  for (size_t i = 0; i < v.ranked.size() && drawn < kMaxLines; ++i) {
    if (!Objective::HasValue(v.values[i])) continue;
    ++drawn;
    std::ostringstream pts, ys;
    for (size_t a = 0; a < keys.size(); ++a) {
      const double y =
          Param(v.ranked[i], keys[a]).empty() ? NAN : axes[a].Pos(v.ranked[i], keys[a]);
      const double yy = std::isfinite(y) ? y : h - b + 10;
      pts << AX(a) << "," << Fmt("%.1f", yy) << " ";
      ys << Fmt("%.1f", yy) << " ";
    }
    const double ym = YA(v.values[i]);
    pts << AX(keys.size()) << "," << Fmt("%.1f", ym);
    ys << Fmt("%.1f", ym);
    o << "<polyline class=\"pline\" fill=\"none\" stroke=\""
      << Color(Goodness(v.objective, v.values[i], lo, hi)) << "\" stroke-width=\"1.5\" "
      << "data-trial=\"" << NumberOf(v.ranked[i]) << "\" data-y=\"" << ys.str() << "\" data-tip=\""
      << Esc(v.Tip(i)) << "\" points=\"" << pts.str() << "\"/>";
  }
  for (size_t a = 0; a <= keys.size(); ++a) {
    o << "<line x1=\"" << AX(a) << "\" y1=\"" << t << "\" x2=\"" << AX(a) << "\" y2=\"" << (h - b)
      << "\" stroke=\"#333\"/>";
    o << "<text x=\"" << AX(a) << "\" y=\"16\" text-anchor=\"middle\" font-size=\"11\" "
      << "font-weight=\"bold\">"
      << Esc(a < keys.size() ? keys[a] + (axes[a].scale.log ? " (log)" : "") : v.objective.metric())
      << "</text>";
    std::vector<std::pair<double, std::string>> ticks;
    if (a < keys.size()) {
      ticks = axes[a].Ticks();
    } else {
      for (double x : YA.Ticks()) ticks.push_back({YA(x), Fmt("%.4g", x)});
    }
    for (const auto& [y, label] : ticks) {
      o << "<text x=\"" << AX(a) + 5 << "\" y=\"" << Fmt("%.1f", y + 3) << "\" font-size=\"9\">"
        << Esc(label) << "</text>";
    }
    o << "<rect class=\"brush-hit\" data-axis=\"" << a << "\" x=\"" << AX(a) - 10 << "\" y=\"" << t
      << "\" width=\"20\" height=\"" << (h - t - b) << "\" fill=\"transparent\"/>";
  }
  o << "</svg>";
  if (drawn < v.ranked.size()) {
    o << "<p class=\"note\">" << drawn << " lines drawn: the best " << kMaxLines
      << " trials with a value of the metric.</p>";
  }
  return o.str();
}

// One scatter per parameter: its value (numeric or categorical axis) against the metric.
std::string Scatter(const SweepView& v, const std::string& key) {
  const int w = 280, h = 200, l = 48, r = 12, t = 12, b = 40;
  const ParamAxis ax = AxisOf(v, key, l + 10, w - r - 10);  // points off the frame
  const auto [lo, hi] = MetricRange(v);
  const Scale Y = Scale::Of(lo, hi, h - b, t, false);
  std::ostringstream o;
  o << "<div class=\"cell\"><svg class=\"scatter\" width=\"" << w << "\" height=\"" << h << "\">";
  o << "<rect x=\"" << l << "\" y=\"" << t << "\" width=\"" << (w - l - r) << "\" height=\""
    << (h - t - b) << "\" fill=\"none\" stroke=\"#ccc\"/>";
  for (double yv : Y.Ticks()) {
    o << "<text x=\"" << (l - 4) << "\" y=\"" << Fmt("%.1f", Y(yv) + 3)
      << "\" text-anchor=\"end\" font-size=\"9\">" << Fmt("%.4g", yv) << "</text>";
  }
  const auto ticks = ax.Ticks();
  const size_t every = std::max<size_t>(1, ticks.size() / 8);
  for (size_t i = 0; i < ticks.size(); i += every) {
    o << "<text x=\"" << Fmt("%.1f", ticks[i].first) << "\" y=\"" << (h - b + 12)
      << "\" text-anchor=\"middle\" font-size=\"9\">" << Esc(ticks[i].second) << "</text>";
  }
  o << "<text x=\"" << (w + l) / 2 << "\" y=\"" << (h - 6)
    << "\" text-anchor=\"middle\" font-size=\"10\" font-weight=\"bold\">" << Esc(key)
    << (ax.scale.log ? " (log)" : "") << "</text>";
  size_t drawn = 0;
  for (size_t i = 0; i < v.ranked.size() && drawn < kMaxScatter; ++i) {
    if (!Objective::HasValue(v.values[i]) || Param(v.ranked[i], key).empty()) continue;
    ++drawn;
    // Categorical values: a small fixed jitter by trial number, so that equal values do not hide
    // each other.
    const double jitter = ax.numeric ? 0 : ((NumberOf(v.ranked[i]) * 37) % 11 - 5) * 1.2;
    o << "<circle class=\"pt\" r=\"3.5\" cx=\"" << Fmt("%.1f", ax.Pos(v.ranked[i], key) + jitter)
      << "\" cy=\"" << Fmt("%.1f", Y(v.values[i])) << "\" fill=\""
      << Color(Goodness(v.objective, v.values[i], lo, hi)) << "\" data-tip=\"" << Esc(v.Tip(i))
      << "\"/>";
  }
  o << "</svg></div>";
  return o.str();
}

// Each varying parameter's importance (cli/importance.h), largest first.
std::vector<std::pair<std::string, double>> Importances(const SweepView& v) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& k : v.keys) {
    std::vector<double> metric;
    std::vector<std::string> levels;
    std::vector<double> numbers;
    bool numeric = true;
    for (size_t i = 0; i < v.ranked.size(); ++i) {
      if (!Objective::HasValue(v.values[i])) continue;
      metric.push_back(v.values[i]);
      levels.push_back(Param(v.ranked[i], k));
      const json pv = ParamValue(v.ranked[i], k);
      numeric = numeric && pv.is_number();
      numbers.push_back(pv.is_number() ? pv.get<double>() : 0);
    }
    if (numeric) levels = BinLevels(numbers, kImportanceBins);
    out.push_back({k, MainEffectShare(levels, metric)});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// The leaderboard: every trial (up to kMaxTableRows), sortable by a click on a header.
std::string Leaderboard(const SweepView& v, size_t max_rows, const std::string& id) {
  std::ostringstream o;
  o << "<table class=\"sortable\" id=\"" << id << "\"><thead><tr><th>rank</th><th>trial</th>";
  for (const auto& k : v.keys) o << "<th class=\"l\">" << Esc(k) << "</th>";
  // The metric's own column, then the other measures (not the metric twice).
  const std::string& m = v.objective.metric();
  const bool va = m != "val_accuracy", vl = m != "val_loss", ta = m != "test_accuracy";
  o << "<th>" << Esc(m) << "</th><th>best epoch</th>" << (va ? "<th>val acc</th>" : "")
    << (vl ? "<th>val loss</th>" : "") << (ta ? "<th>test acc</th>" : "")
    << "<th>epochs</th><th>seconds</th>"
       "<th class=\"l\">status</th><th class=\"l\">worker</th></tr></thead><tbody>";
  auto cell = [](double x, const char* f) {
    return Objective::HasValue(x) ? "<td data-v=\"" + Fmt("%.17g", x) + "\">" + Fmt(f, x) + "</td>"
                                  : std::string("<td data-v=\"\">-</td>");
  };
  for (size_t i = 0; i < v.ranked.size() && i < max_rows; ++i) {
    const json& t = v.ranked[i];
    o << "<tr data-trial=\"" << NumberOf(t) << "\"><td>" << (i + 1) << "</td><td data-v=\""
      << NumberOf(t) << "\">" << Esc(TrialName(t)) << "</td>";
    for (const auto& k : v.keys) {
      const json pv = ParamValue(t, k);
      o << "<td class=\"l\""
        << (pv.is_number() ? " data-v=\"" + Fmt("%.17g", pv.get<double>()) + "\"" : "") << ">"
        << Esc(Param(t, k)) << "</td>";
    }
    auto ep = t.find("epochs");
    const size_t epochs = ep != t.end() && ep->is_array() ? ep->size() : 0;
    auto be = t.find("best_epoch");
    o << cell(v.values[i], "%.4f") << "<td>"
      << (be != t.end() && be->is_number_integer() ? std::to_string(be->get<int>()) : "-")
      << "</td>" << (va ? cell(FieldOf(t, "best_val_accuracy"), "%.4f") : "")
      << (vl ? cell(FieldOf(t, "best_val_loss"), "%.4f") : "")
      << (ta ? cell(FieldOf(t, "test_accuracy"), "%.4f") : "") << "<td>" << epochs << "</td>"
      << cell(FieldOf(t, "seconds"), "%.1f") << "<td class=\"l\">" << Esc(StrOf(t, "status"))
      << ((StrOf(t, "status") == "pruned" || StrOf(t, "status") == "stopped") && epochs > 0
              ? " after epoch " + std::to_string(epochs)
              : "")
      << "</td><td class=\"l\">"
      << (StrOf(t, "reused_from").empty() ? Esc(StrOf(t, "worker"))  // copied: no worker (--reuse)
                                          : "copied from " + Esc(StrOf(t, "reused_from")))
      << "</td></tr>";
  }
  o << "</tbody></table>";
  if (v.ranked.size() > max_rows) {
    o << "<p class=\"note\">The best " << max_rows << " of " << v.ranked.size()
      << " trials shown.</p>";
  }
  return o.str();
}

// The settings every trial shares (the sweep file's fixed ones), and the sweep's own.
std::string Settings(const SweepView& v, int per_row = 4) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.push_back({"metric", v.objective.metric() + " (" +
                                (v.objective.maximize() ? "maximize" : "minimize") + ")"});
  if (!StrOf(v.sweep, "file").empty()) rows.push_back({"sweep file", StrOf(v.sweep, "file")});
  auto ma = v.sweep.find("max_attempts");
  if (ma != v.sweep.end() && ma->is_number()) rows.push_back({"max_attempts", ma->dump()});
  for (const auto& kv : v.fixed) rows.push_back(kv);
  // per_row (setting, value) pairs a row: a short block, not a page-long column.
  std::ostringstream o;
  o << "<table id=\"settings\">";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i % per_row == 0) o << (i ? "</tr><tr>" : "<tr>");
    o << "<th class=\"l\">" << Esc(rows[i].first) << "</th><td class=\"l\">" << Esc(rows[i].second)
      << "</td>";
  }
  o << "</tr></table>";
  return o.str();
}

const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;color:#222;max-width:1400px;padding:0 16px;line-height:1.4}
h1{font-weight:600}h2{margin-top:36px;border-bottom:1px solid #ccc;font-weight:600}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{background:#e8eef8}
th.asc:after{content:" \25B2"}th.desc:after{content:" \25BC"}
tr.dim{opacity:.3}table.sortable tbody tr:hover{background:#f6f9ff}
.grid{display:flex;flex-wrap:wrap;gap:10px}.cell{text-align:center;font-size:12px}
.wrong{color:#d00;font-weight:bold}img.digit{image-rendering:pixelated;border:1px solid #eee}
.bar{background:#4a90d9;height:12px;display:inline-block}.note{color:#666;font-size:13px}
polyline.series:hover{stroke-width:3.5}polyline.pline.off{opacity:.06}circle.pt:hover{stroke:#000}
rect.brush{fill:#4a90d9;fill-opacity:.25;stroke:#4a90d9}rect.brush-hit{cursor:crosshair}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:4px 8px;font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.2);display:none;max-width:480px;z-index:9}
.sweeps{display:flex;gap:16px;flex-wrap:wrap}.sweeps>div{border:1px solid #ddd;padding:8px 14px;border-radius:6px}
</style>)";

// The page's one script, hand-written (no libraries): tooltips for anything with data-tip,
// sortable tables, brushing on the parallel-coordinates axes.
const char* kScript = R"JS(<script>
(function () {
  'use strict';
  var tip = document.createElement('div');
  tip.id = 'tip';
  document.body.appendChild(tip);
  document.addEventListener('mousemove', function (e) {
    var el = e.target && e.target.closest ? e.target.closest('[data-tip]') : null;
    if (!el) { tip.style.display = 'none'; return; }
    tip.textContent = el.getAttribute('data-tip');
    tip.style.display = 'block';
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) x = e.clientX - tip.offsetWidth - 8;
    if (y + tip.offsetHeight > window.innerHeight) y = e.clientY - tip.offsetHeight - 8;
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });

  function key(td) {
    var v = td.getAttribute('data-v');
    return v === null ? td.textContent : v;
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.querySelectorAll('thead th');
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener('click', function () {
        var asc = !th.classList.contains('asc');
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
        th.classList.add(asc ? 'asc' : 'desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = rows.every(function (r) {
          var k = key(r.cells[col]);
          return k === '' || k === '-' || isFinite(parseFloat(k));
        });
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]), c;
          if (numeric) {
            var fx = parseFloat(x), fy = parseFloat(y);
            if (isNaN(fx) && isNaN(fy)) c = 0;
            else if (isNaN(fx)) return 1;  // no value: last either way
            else if (isNaN(fy)) return -1;
            else c = fx - fy;
          } else {
            c = x.localeCompare(y);
          }
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  var svg = document.getElementById('parallel-svg');
  if (!svg) return;
  var lines = Array.prototype.map.call(svg.querySelectorAll('polyline.pline'), function (p) {
    return { el: p, trial: p.getAttribute('data-trial'),
             y: p.getAttribute('data-y').trim().split(/\s+/).map(parseFloat) };
  });
  var brushes = {};
  var count = document.getElementById('brush-count');
  function apply() {
    var shown = {}, n = 0;
    lines.forEach(function (l) {
      var ok = Object.keys(brushes).every(function (a) {
        var b = brushes[a], y = l.y[a];
        return y >= b[0] && y <= b[1];
      });
      l.el.classList.toggle('off', !ok);
      if (ok) { shown[l.trial] = true; n++; }
    });
    var any = Object.keys(brushes).length > 0;
    Array.prototype.forEach.call(document.querySelectorAll('#leaderboard-table tbody tr'),
      function (r) { r.classList.toggle('dim', any && !shown[r.getAttribute('data-trial')]); });
    if (count) count.textContent = any ? n + ' of ' + lines.length + ' trials selected' : '';
  }
  function svgY(e) { return e.clientY - svg.getBoundingClientRect().top; }
  Array.prototype.forEach.call(svg.querySelectorAll('rect.brush-hit'), function (hit) {
    var axis = hit.getAttribute('data-axis');
    var top = parseFloat(hit.getAttribute('y')), bottom = top + parseFloat(hit.getAttribute('height'));
    var box = document.createElementNS(svg.namespaceURI, 'rect');
    box.setAttribute('class', 'brush');
    box.setAttribute('x', hit.getAttribute('x'));
    box.setAttribute('width', hit.getAttribute('width'));
    box.style.display = 'none';
    box.style.pointerEvents = 'none';
    svg.appendChild(box);
    hit.addEventListener('mousedown', function (e) {
      e.preventDefault();
      var y0 = Math.max(top, Math.min(bottom, svgY(e))), moved = false;
      function move(ev) {
        var y1 = Math.max(top, Math.min(bottom, svgY(ev)));
        if (Math.abs(y1 - y0) < 3) return;
        moved = true;
        var a = Math.min(y0, y1), b = Math.max(y0, y1);
        box.setAttribute('y', a);
        box.setAttribute('height', b - a);
        box.style.display = '';
        brushes[axis] = [a, b];
        apply();
      }
      function up() {
        window.removeEventListener('mousemove', move);
        window.removeEventListener('mouseup', up);
        if (!moved) {  // a click clears this axis's brush
          delete brushes[axis];
          box.style.display = 'none';
          apply();
        }
      }
      window.addEventListener('mousemove', move);
      window.addEventListener('mouseup', up);
    });
  });
})();
</script>)JS";

}  // namespace

std::string DataReportHtml(const Mnist& data, double validation_split, int64_t train_limit,
                           const std::string& source) {
  const bool mnist = source.empty();
  // CSV rows are features as given, not pixels in [0, 1] (engine/dataset.h).
  const bool csv = source.compare(0, 4, "csv ") == 0;
  const char* item = mnist ? "images" : csv ? "rows" : "images";
  const char* klass = mnist ? "digit" : "class";
  // The images a trial sees: the first train_limit of the file (engine/mnist.h).
  const int64_t n = train_limit > 0 ? std::min(train_limit, data.train.count) : data.train.count;
  const int64_t split_at =
      validation_split > 0 ? static_cast<int64_t>(n * (1.0 - validation_split)) : n;
  // Labels are bytes: at most 256 classes, whatever num_classes says.
  int classes = std::max(data.train.num_classes, data.test.num_classes);
  for (uint8_t l : data.train.labels) classes = std::max(classes, l + 1);
  for (uint8_t l : data.test.labels) classes = std::max(classes, l + 1);
  classes = std::clamp(classes, 1, 256);
  std::vector<std::array<int64_t, 3>> counts(classes, {0, 0, 0});
  for (int64_t i = 0; i < n; ++i) counts[data.train.labels[i]][i < split_at ? 0 : 1]++;
  for (int64_t i = 0; i < data.test.count; ++i) counts[data.test.labels[i]][2]++;
  std::ostringstream o;
  o << "<h2 id=\"data\">The data set</h2>";
  o << "<p>" << (mnist ? std::string("MNIST") : Esc(source)) << ": " << n << " training " << item;
  if (n < data.train.count)
    o << " (train_limit " << n << " of the " << data.train.count << " in the file)";
  o << ": the first " << split_at << " train, the last " << (n - split_at)
    << " validate (validation_split " << validation_split << "); " << data.test.count << " test "
    << item << ", ";
  if (csv) {
    o << data.train.rows << " steps of " << data.train.cols << " features ("
      << data.train.rows * data.train.cols << " values a row, used as given)";
  } else {
    o << data.train.rows << "x" << data.train.cols << " pixels scaled to [0, 1]";
  }
  o << "; " << classes << " classes.</p>";
  o << "<table id=\"class-counts\"><tr><th>" << klass
    << "</th><th>train</th><th>validation</th><th>test</th></tr>";
  for (int d = 0; d < classes; ++d) {
    o << "<tr><td>" << d << "</td><td>" << counts[d][0] << "</td><td>" << counts[d][1]
      << "</td><td>" << counts[d][2] << "</td></tr>";
  }
  o << "</table>";
  const int64_t px = int64_t{data.train.rows} * data.train.cols;
  auto stats = [&](const float* v, int64_t count) {
    double sum = 0, sq = 0;
    int64_t nonzero = 0;
    for (int64_t i = 0; i < count; ++i) {
      sum += v[i];
      sq += double(v[i]) * v[i];
      nonzero += v[i] != 0;
    }
    const double cnt = double(std::max<int64_t>(1, count));
    const double mean = sum / cnt;
    return "<td>" + Fmt("%.4f", mean) + "</td><td>" +
           Fmt("%.4f", std::sqrt(std::max(0.0, sq / cnt - mean * mean))) + "</td><td>" +
           Fmt("%.1f%%", 100.0 * nonzero / cnt) + "</td>";
  };
  const char* value = csv ? "value" : "pixel";
  // The training images the sweep uses: the first n.
  o << "<table id=\"pixel-stats\"><tr><th class=\"l\">set</th><th>mean " << value
    << "</th><th>std</th><th>non-zero " << value
    << "s</th></tr><tr><td class=\"l\">train (used)</td>" << stats(data.train.images.data(), n * px)
    << "</tr><tr><td class=\"l\">test</td>" << stats(data.test.images.data(), data.test.count * px)
    << "</tr></table>";
  // The mean of each class. A page of 256 classes of 4096x4096 images would be gigabytes: past
  // these bounds the means are left out, and the page says so.
  constexpr int64_t kMaxMeanPixels = 256 * 256;
  constexpr int kMaxMeanClasses = 64;
  if (px > kMaxMeanPixels || classes > kMaxMeanClasses) {
    o << "<p class=\"note\">The mean of each class is left out: " << classes << " classes of "
      << data.train.rows << "x" << data.train.cols << " (the page shows at most " << kMaxMeanClasses
      << " classes of at most " << kMaxMeanPixels << " values).</p>";
    return o.str();
  }
  std::vector<std::vector<float>> means(classes, std::vector<float>(px, 0.0f));
  std::vector<int64_t> seen(classes, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int d = data.train.labels[i];
    ++seen[d];
    const float* img = data.train.images.data() + i * px;
    for (int64_t p = 0; p < px; ++p) means[d][p] += img[p];
  }
  float lo = 0, hi = 1;
  if (csv) {  // features of any range: shown scaled to the range of all the means
    lo = HUGE_VALF;
    hi = -HUGE_VALF;
  }
  for (int d = 0; d < classes; ++d) {
    for (float& v : means[d]) {
      v /= std::max<int64_t>(1, seen[d]);
      if (csv && seen[d] > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  if (csv) {
    o << "<p>The mean row of each class (the training rows used): steps down, features across, "
         "scaled from "
      << Fmt("%.4g", lo) << " (black) to " << Fmt("%.4g", hi) << " (white):</p>";
  } else {
    o << "<p>The mean image of each " << klass << " (the training images used):</p>";
  }
  o << "<div class=\"grid\" id=\"mean-images\">";
  for (int d = 0; d < classes; ++d) {
    for (float& v : means[d]) v = (v - lo) / (hi - lo);
    o << "<div class=\"cell\">"
      << ImageTag(means[d].data(), 84, "mean " + std::to_string(d), data.train.rows,
                  data.train.cols)
      << "<br>" << d << "</div>";
  }
  o << "</div>";
  return o.str();
}

namespace {

std::string PageHead(const std::string& title) {
  return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width\"><title>" +
         Esc(title) + "</title>" + kStyle + "</head><body>";
}

std::string PageTail() {
  return std::string(
             "<p class=\"note\">Made by hpsweep report: one file, no network; hover over "
             "a curve, point or line for its trial.</p>") +
         kScript + "</body></html>\n";
}

StatusOr<json> ParseExport(const std::string& export_json) {
  json ex = json::parse(export_json, nullptr, /*allow_exceptions=*/false);
  if (ex.is_discarded()) return InvalidArgument("export is not JSON");
  if (!ex.is_object() || !ex["sweep"].is_object() || !ex["trials"].is_array()) {
    return DataLoss("the sweep's export has an unexpected shape: no sweep object or trials array");
  }
  return ex;
}

// The per-epoch metric of the top trials overlaid.
std::string TopCurves(const SweepView& v) {
  std::vector<Series> top;
  for (size_t i = 0; i < v.ranked.size() && top.size() < kMaxOverlay; ++i) {
    if (!Objective::HasValue(v.values[i])) continue;
    top.push_back({TrialName(v.ranked[i]), v.Tip(i), Curve(v.ranked[i], v.EpochField())});
  }
  return LineChart(top, v.EpochField(), 640, 280);
}

StatusOr<std::string> ReportOrThrow(const std::string& export_json, const std::string& best_model,
                                    const Mnist* data) {
  auto parsed = ParseExport(export_json);
  if (!parsed.ok()) return parsed.status();
  const SweepView v = ViewOf(*parsed);
  const Objective& objective = v.objective;
  const std::vector<json>& ranked = v.ranked;
  const std::vector<std::string>& keys = v.keys;
  std::ostringstream o;
  const std::string name = v.sweep["name"].get<std::string>();
  o << PageHead("hpsweep report: " + name);
  o << "<h1>Sweep " << v.sweep["id"].get<int64_t>() << ": " << Esc(name) << "</h1><p>"
    << Esc(StrOf(v.sweep, "description")) << "</p><p>" << ranked.size() << " trials, state "
    << Esc(StrOf(v.sweep, "state")) << ", ranked by " << Esc(objective.DisplayName()) << ".</p>";
  if (!ranked.empty() && Objective::HasValue(v.values[0])) {
    o << "<p>Best: <b>" << Esc(v.Tip(0)) << "</b></p>";
  }
  // Early stopping: which rule, how many trials it pruned and the epochs that saved.
  if (const std::string early = StrOf(v.sweep, "early_terminate"); !early.empty()) {
    int pruned = 0;
    int64_t trained = 0, full = 0;
    for (const auto& t : (*parsed)["trials"]) {
      const std::string status = StrOf(t, "status");
      if (status == "queued") continue;
      pruned += status == "pruned";
      trained += t.contains("epochs") && t["epochs"].is_array()
                     ? static_cast<int64_t>(t["epochs"].size())
                     : 0;
      const std::string e = Param(t, "epochs");
      full += e.empty() ? 1 : std::atoll(e.c_str());
    }
    o << "<p>Early stopping: " << Esc(early) << ". " << pruned
      << " trials pruned (each stopped after the epoch shown in its status); " << trained
      << " epochs trained of the " << full << " that running every started trial to its end "
      << "would take.</p>";
  }
  o << "<h2 id=\"settings-h\">Settings</h2><p>What every trial shares: the sweep file's fixed "
       "settings and the sweep's own.</p>"
    << Settings(v);

  o << "<h2 id=\"leaderboard\">Leaderboard</h2><p class=\"note\">Click a header to sort.</p>"
    << Leaderboard(v, kMaxTableRows, "leaderboard-table");

  // Curves: the top trials overlaid, then the best trials one by one.
  o << "<h2 id=\"curves\">Accuracy and loss per epoch</h2><p>The top " << kMaxOverlay << " trials, "
    << v.EpochField() << " overlaid:</p>" << TopCurves(v);
  o << "<p>The best " << std::min(kMaxDetail, ranked.size()) << " of " << ranked.size()
    << " trials: accuracy (train, val) and loss (train, val); curves of more than " << kMaxPoints
    << " epochs are downsampled.</p><div class=\"grid\">";
  for (size_t i = 0; i < ranked.size() && i < kMaxDetail; ++i) {
    const json& t = ranked[i];
    o << "<div class=\"cell\"><b>" << Esc(TrialName(t)) << "</b><br>"
      << LineChart({{"train", v.Tip(i), Curve(t, "train_accuracy")},
                    {"val", v.Tip(i), Curve(t, "val_accuracy")}},
                   "accuracy", 260, 160)
      << LineChart(
             {{"train", v.Tip(i), Curve(t, "train_loss")}, {"val", v.Tip(i), Curve(t, "val_loss")}},
             "loss", 260, 160)
      << "</div>";
  }
  o << "</div>";

  // Hyperparameters.
  if (!keys.empty()) {
    o << "<h2 id=\"parallel\">Hyperparameters against " << Esc(objective.metric())
      << "</h2><p class=\"note\">Drag along an axis to keep the trials in that range (the "
         "leaderboard dims the others); click an axis to clear it. Numeric parameters sit on "
         "numeric axes, log where they span more than a decade. <span id=\"brush-count\"></span>"
         "</p>"
      << ParallelCoordinates(v);
    o << "<h2 id=\"scatter\">Each hyperparameter against " << Esc(objective.metric())
      << "</h2><div class=\"grid\">";
    for (const auto& k : keys) o << Scatter(v, k);
    o << "</div>";

    o << "<h2 id=\"importance\">Parameter importance</h2><p>fANOVA-style main effects: the share "
         "of the variance of "
      << Esc(objective.metric())
      << " explained by each parameter alone (the between-group variance of the per-value means "
         "over the total variance, eta squared; a numeric parameter with more than "
      << kImportanceBins << " values is grouped into " << kImportanceBins
      << " equal-count bins). 1: the parameter decides the metric; 0: no effect on its own. "
         "Interactions are not counted.</p><table id=\"importance-table\"><tr><th "
         "class=\"l\">parameter</th><th>share</th><th class=\"l\"></th></tr>";
    for (const auto& [k, share] : Importances(v)) {
      o << "<tr><td class=\"l\">" << Esc(k) << "</td><td>" << Fmt("%.3f", share)
        << "</td><td class=\"l\"><span class=\"bar\" style=\"width:"
        << static_cast<int>(std::lround(2 + 298 * share)) << "px\"></span></td></tr>";
    }
    o << "</table>";

    const auto [lo, hi] = MetricRange(v);
    o << "<h2 id=\"effects\">The effect of each hyperparameter</h2><p>" << Esc(objective.metric())
      << " of the trials grouped by one hyperparameter's value (the others vary within each "
         "group). Bars: the group's mean from the worst trial's value ("
      << Fmt("%.4g", v.objective.maximize() ? lo : hi) << ", shortest) to the best's ("
      << Fmt("%.4g", v.objective.maximize() ? hi : lo) << ", longest).</p>";
    for (const auto& k : keys) {
      std::map<std::string, std::vector<double>> groups;
      for (size_t i = 0; i < ranked.size(); ++i) {
        if (Objective::HasValue(v.values[i])) groups[Param(ranked[i], k)].push_back(v.values[i]);
      }
      std::vector<std::string> order;
      for (const auto& g : groups) order.push_back(g.first);
      SortParamTexts(&order);
      o << "<table class=\"effect\"><tr><th class=\"l\">" << Esc(k)
        << "</th><th>trials</th><th>mean</th><th>best</th><th class=\"l\"></th></tr>";
      for (const auto& val : order) {
        const std::vector<double>& xs = groups[val];
        const double mean = std::accumulate(xs.begin(), xs.end(), 0.0) / xs.size();
        double best = xs[0];
        for (double x : xs)
          if (objective.Better(x, best)) best = x;
        o << "<tr><td class=\"l\">" << Esc(val) << "</td><td>" << xs.size() << "</td><td>"
          << Fmt("%.4f", mean) << "</td><td>" << Fmt("%.4f", best)
          << "</td><td class=\"l\"><span class=\"bar\" style=\"width:"
          << static_cast<int>(std::lround(4 + 296 * Goodness(objective, mean, lo, hi)))
          << "px\"></span></td></tr>";
      }
      o << "</table>";
    }
  }

  // The best trial: the first of the ranking, if it has a value of the metric at all.
  if (!ranked.empty() && Objective::HasValue(v.values[0]) &&
      ranked[0].contains("confusion_matrix")) {
    const json& best = ranked[0];
    o << "<h2 id=\"best\">The best trial: " << Esc(TrialName(best)) << "</h2><p>Test accuracy "
      << MetricText(FieldOf(best, "test_accuracy")) << ".</p>";
    Evaluation ev;
    ev.confusion = best["confusion_matrix"].get<std::vector<int64_t>>();
    ev.classes = static_cast<int>(std::lround(std::sqrt(double(ev.confusion.size()))));
    if (static_cast<size_t>(ev.classes) * ev.classes != ev.confusion.size() || ev.classes > 1000) {
      return DataLoss("the best trial's confusion matrix is not square");
    }
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
        const int64_t x = ev.confusion[r * ev.classes + c];
        const int shade = r == c ? 0 : static_cast<int>(255 * (1 - double(x) / maxc));
        o << "<td style=\"background:"
          << (r == c ? std::string("#cfe8cf")
                     : "rgb(255," + std::to_string(shade) + "," + std::to_string(shade) + ")")
          << "\">" << x << "</td>";
      }
      o << "</tr>";
    }
    // A sweep of its own data (trial param data.format idx or csv) has classes, not digits.
    const std::string format = Param(best, "data.format");
    const bool own_data = !format.empty() && format != "mnist";
    o << "</table><table id=\"per-class\"><tr><th>" << (own_data ? "class" : "digit")
      << "</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>";
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
    // The data the sweep's trials use: its train_limit and validation_split (the best trial's,
    // the same in every trial when the sweep file fixes them; TrialConfig's defaults otherwise).
    TrialConfig defaults;
    double split = defaults.train.validation_split;
    int64_t limit = defaults.train.train_limit;
    if (!ranked.empty()) {
      const json s = ParamValue(ranked[0], "validation_split");
      if (s.is_number()) split = std::clamp(s.get<double>(), 0.0, 0.99);
      const json l = ParamValue(ranked[0], "train_limit");
      if (l.is_number()) limit = std::max<int64_t>(0, static_cast<int64_t>(l.get<double>()));
    }
    std::string section = DataReportHtml(*data, split, limit);
    if (!ranked.empty() && Param(ranked[0], "validation") == "test") {
      section.insert(section.find("</h2>") + 5,
                     "<p class=\"note\">The trials validate on the test set (validation: test), "
                     "not on a split of the training images.</p>");
    }
    o << section;
  }
  o << PageTail();
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

StatusOr<std::string> CompareReportHtml(const std::vector<std::string>& export_jsons) {
  if (export_jsons.size() < 2 || export_jsons.size() > kMaxComparedSweeps) {
    return InvalidArgument("compare: between 2 and " + std::to_string(kMaxComparedSweeps) +
                           " sweeps, got " + std::to_string(export_jsons.size()));
  }
  try {
    std::vector<SweepView> views;
    for (const auto& text : export_jsons) {
      auto ex = ParseExport(text);
      if (!ex.ok()) return ex.status();
      views.push_back(ViewOf(*ex));
    }
    std::ostringstream o;
    std::string title = "hpsweep: compare sweeps";
    for (const auto& v : views) title += " " + std::to_string(v.sweep["id"].get<int64_t>());
    o << PageHead(title) << "<h1>" << Esc(title.substr(8)) << "</h1>";
    std::set<std::string> metrics;
    for (const auto& v : views) metrics.insert(v.objective.DisplayName());
    if (metrics.size() > 1) {
      o << "<p class=\"note\">The sweeps rank by different metrics; each is ranked by its own.</p>";
    }
    o << "<h2 id=\"best\">Each sweep's best trial</h2><div class=\"sweeps\">";
    for (const auto& v : views) {
      o << "<div class=\"sweep\"><h3>Sweep " << v.sweep["id"].get<int64_t>() << ": "
        << Esc(StrOf(v.sweep, "name")) << "</h3><p>" << v.ranked.size() << " trials, "
        << Esc(StrOf(v.sweep, "state")) << ", ranked by " << Esc(v.objective.DisplayName())
        << "</p>";
      if (!v.ranked.empty() && Objective::HasValue(v.values[0])) {
        o << "<p>Best " << Esc(TrialName(v.ranked[0])) << ": <b>" << Esc(v.objective.metric())
          << " " << MetricText(v.values[0]) << "</b>, test accuracy "
          << MetricText(FieldOf(v.ranked[0], "test_accuracy")) << "</p><table>";
        for (const auto& k : v.keys) {
          o << "<tr><td class=\"l\">" << Esc(k) << "</td><td class=\"l\">"
            << Esc(Param(v.ranked[0], k)) << "</td></tr>";
        }
        o << "</table>";
      } else {
        o << "<p>No trial has a value of the metric yet.</p>";
      }
      o << "<details><summary>settings</summary>" << Settings(v, 1) << "</details></div>";
    }
    o << "</div>";
    // Overlaid curves: one chart per per-epoch metric, each sweep's best trial in it.
    std::map<std::string, std::vector<Series>> charts;
    for (const auto& v : views) {
      if (v.ranked.empty() || !Objective::HasValue(v.values[0])) continue;
      charts[v.EpochField()].push_back(
          {"sweep " + std::to_string(v.sweep["id"].get<int64_t>()) + " " + TrialName(v.ranked[0]),
           "sweep " + std::to_string(v.sweep["id"].get<int64_t>()) + " " + v.Tip(0),
           Curve(v.ranked[0], v.EpochField())});
    }
    o << "<h2 id=\"curves\">The best trials' curves overlaid</h2>";
    for (const auto& [field, series] : charts) o << LineChart(series, field, 640, 280);
    o << "<h2 id=\"leaderboards\">Leaderboards</h2><p class=\"note\">The best " << kCompareRows
      << " trials of each; click a header to sort.</p>";
    for (size_t i = 0; i < views.size(); ++i) {
      o << "<h3>Sweep " << views[i].sweep["id"].get<int64_t>() << ": "
        << Esc(StrOf(views[i].sweep, "name")) << "</h3>"
        << Leaderboard(views[i], kCompareRows, "leaderboard-" + std::to_string(i));
    }
    o << PageTail();
    return o.str();
  } catch (const json::exception& e) {
    return DataLoss(std::string("a sweep's export has an unexpected shape: ") + e.what());
  }
}

std::string DataReportPage(const Mnist& data, double validation_split, int64_t train_limit,
                           const std::string& source) {
  return PageHead("hpsweep data report") + "<h1>Data report</h1>" +
         DataReportHtml(data, validation_split, train_limit, source) +
         "<p class=\"note\">Made by hpsweep data-report.</p></body></html>\n";
}

}  // namespace hpsweep
