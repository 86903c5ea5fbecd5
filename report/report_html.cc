// The report's HTML pieces (report/report_internal.h): escaping, inline PNG images, the SVG charts
// (line charts, parallel coordinates, scatters), the leaderboard and settings tables, the page's
// style and script; and the data-set analysis (DataReportHtml, report/report.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "search/objective.h"
#include "report/report.h"
#include "report/report_internal.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

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

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};


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
    if (pv.is_null()) continue;  // a trial without it (a conditional parameter): drawn apart
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

std::string Color(double goodness) {
  const int red = static_cast<int>(220 * (1 - goodness)),
            green = static_cast<int>(40 + 160 * goodness);
  return "rgb(" + std::to_string(red) + "," + std::to_string(green) + ",80)";
}

// At most kMaxPoints points: every k-th, and always the last.
std::vector<std::pair<double, double>> Downsample(std::vector<std::pair<double, double>> pts) {
  if (pts.size() <= kMaxPoints) return pts;
  std::vector<std::pair<double, double>> out;
  const size_t step = (pts.size() + kMaxPoints - 1) / kMaxPoints;
  for (size_t i = 0; i < pts.size(); i += step) out.push_back(pts[i]);
  if (out.back() != pts.back()) out.push_back(pts.back());
  return out;
}

}  // namespace

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

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

// A 28x28 image (floats in [0,1]) as an <img> with a PNG data URI, drawn `px` pixels wide.
// A rows x cols image of values in [0, 1] as an inline PNG, its longer side `px` pixels.
std::string ImageTag(const float* pixels, int px, const std::string& title, int rows,
                     int cols) {
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

// A line chart of series over epochs; the y range from the data (NaN points skipped).
std::string LineChart(const std::vector<Series>& series, const std::string& ylabel, int w,
                      int h, bool legend) {
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
    int drawn = 0;
    std::pair<double, double> last;
    for (const auto& p : Downsample(s.pts)) {
      if (!std::isfinite(p.second)) continue;
      o << Fmt("%.1f", X(p.first)) << "," << Fmt("%.1f", Y(p.second)) << " ";
      ++drawn, last = p;
    }
    o << "\"/>";
    if (drawn == 1) {  // a one-epoch curve is a point, which a polyline does not draw
      o << "<circle class=\"series-pt\" r=\"3\" fill=\"" << color << "\" cx=\""
        << Fmt("%.1f", X(last.first)) << "\" cy=\"" << Fmt("%.1f", Y(last.second))
        << "\" data-tip=\"" << Esc(s.tip.empty() ? s.name : s.tip) << "\"/>";
    }
    if (legend) {
      o << "<text x=\"" << (l + 6) << "\" y=\"" << (t + 12 * k) << "\" font-size=\"9\" fill=\""
        << color << "\">" << Esc(s.name) << "</text>";
    }
  }
  o << "</svg>";
  return o.str();
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
    if (!v.objective.Has(v.values[i])) continue;
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
    if (!v.objective.Has(v.values[i]) || Param(v.ranked[i], key).empty()) continue;
    ++drawn;
    // Categorical values: a small fixed jitter by trial number, so that equal values do not hide
    // each other.
    const double jitter =
        ax.numeric ? 0 : ((int64_t{NumberOf(v.ranked[i])} * 37) % 11 - 5) * 1.2;  // no overflow
    o << "<circle class=\"pt\" r=\"3.5\" cx=\"" << Fmt("%.1f", ax.Pos(v.ranked[i], key) + jitter)
      << "\" cy=\"" << Fmt("%.1f", Y(v.values[i])) << "\" fill=\""
      << Color(Goodness(v.objective, v.values[i], lo, hi)) << "\" data-tip=\"" << Esc(v.Tip(i))
      << "\"/>";
  }
  o << "</svg></div>";
  return o.str();
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
std::string Settings(const SweepView& v, int per_row) {
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

namespace {

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

namespace {

// One series of n values (n >= 1) as a small SVG line chart, w x h, on the scale lo..hi (hi > lo)
// shared by the charts beside it: steps across, values up. Past two points a pixel column, each
// column keeps its first, lowest and highest value, so a spike still shows. title is plain text.
std::string SeriesChart(const float* v, int64_t n, float lo, float hi, const std::string& title,
                        int w, int h) {
  const double pad = 2;
  auto X = [&](double i) { return pad + (w - 2 * pad) * (n > 1 ? i / double(n - 1) : 0.5); };
  auto Y = [&](double y) { return h - pad - (h - 2 * pad) * (y - lo) / (hi - lo); };
  std::ostringstream o;
  o << "<svg class=\"mean-series\" width=\"" << w << "\" height=\"" << h << "\"><title>"
    << Esc(title) << "</title><rect x=\"0.5\" y=\"0.5\" width=\"" << (w - 1) << "\" height=\""
    << (h - 1) << "\" fill=\"#fff\" stroke=\"#ccc\"/><polyline fill=\"none\" stroke=\""
    << kPalette[0] << "\" stroke-width=\"1.2\" points=\"";
  const int64_t columns = w;
  auto point = [&](int64_t i) {
    o << Fmt("%.1f", X(double(i))) << "," << Fmt("%.1f", Y(v[i])) << " ";
  };
  if (n <= 2 * columns) {
    for (int64_t i = 0; i < n; ++i) point(i);
  } else {
    for (int64_t c = 0; c < columns; ++c) {
      const int64_t a = n * c / columns, b = std::max(a + 1, n * (c + 1) / columns);
      int64_t low = a, high = a;
      for (int64_t i = a; i < b; ++i) {
        if (v[i] < v[low]) low = i;
        if (v[i] > v[high]) high = i;
      }
      point(a);
      point(std::min(low, high));
      point(std::max(low, high));
    }
    point(n - 1);
  }
  o << "\"/></svg>";
  return o.str();
}

// Table cells of the values of a set's first n samples: mean, standard deviation, and the share
// that is not zero. Read a sample at a time (a set of bytes is not copied whole as floats).
std::string StatsCells(const Dataset& d, int64_t n) {
  const int64_t px = int64_t{d.rows} * d.cols;
  const int64_t count = n * px;
  std::vector<float> v(static_cast<size_t>(px));
  double sum = 0, sq = 0;
  int64_t nonzero = 0;
  for (int64_t k = 0; k < n; ++k) {
    d.Sample(k, v.data());
    for (int64_t i = 0; i < px; ++i) {
      sum += v[i];
      sq += double(v[i]) * v[i];
      nonzero += v[i] != 0;
    }
  }
  const double cnt = double(std::max<int64_t>(1, count));
  const double mean = sum / cnt;
  return "<td>" + Fmt("%.4f", mean) + "</td><td>" +
         Fmt("%.4f", std::sqrt(std::max(0.0, sq / cnt - mean * mean))) + "</td><td>" +
         Fmt("%.1f%%", 100.0 * nonzero / cnt) + "</td>";
}

// The mean of each class over the first n training items ([classes][rows * cols]). For a CSV
// (features of any range) *lo and *hi get the range of all the means; else they stay [0, 1].
std::vector<std::vector<float>> ClassMeans(const Mnist& data, int64_t n, int classes, bool csv,
                                           float* lo, float* hi) {
  const int64_t px = int64_t{data.train.rows} * data.train.cols;
  std::vector<std::vector<float>> means(classes, std::vector<float>(px, 0.0f));
  std::vector<int64_t> seen(classes, 0);
  std::vector<float> img(static_cast<size_t>(px));
  for (int64_t i = 0; i < n; ++i) {
    const int d = data.train.labels[i];
    ++seen[d];
    data.train.Sample(i, img.data());
    for (int64_t p = 0; p < px; ++p) means[d][p] += img[p];
  }
  *lo = 0;
  *hi = 1;
  if (csv) {
    *lo = HUGE_VALF;
    *hi = -HUGE_VALF;
  }
  for (int d = 0; d < classes; ++d) {
    for (float& v : means[d]) {
      v /= std::max<int64_t>(1, seen[d]);
      if (csv && seen[d] > 0) {
        *lo = std::min(*lo, v);
        *hi = std::max(*hi, v);
      }
    }
  }
  if (!(*hi > *lo)) *hi = *lo + 1;
  return means;
}

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
  // A CSV's label names (hostile text: escaped wherever they are shown), else the numbers.
  auto class_name = [&](int d) {
    const std::vector<std::string>& names = data.train.class_names;
    return d < static_cast<int>(names.size()) ? names[static_cast<size_t>(d)] : std::to_string(d);
  };
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
    o << "<tr><td>" << Esc(class_name(d)) << "</td><td>" << counts[d][0] << "</td><td>"
      << counts[d][1] << "</td><td>" << counts[d][2] << "</td></tr>";
  }
  o << "</table>";
  const int64_t px = int64_t{data.train.rows} * data.train.cols;
  const char* value = csv ? "value" : "pixel";
  // The training images the sweep uses: the first n.
  o << "<table id=\"pixel-stats\"><tr><th class=\"l\">set</th><th>mean " << value
    << "</th><th>std</th><th>non-zero " << value
    << "s</th></tr><tr><td class=\"l\">train (used)</td>" << StatsCells(data.train, n)
    << "</tr><tr><td class=\"l\">test</td>" << StatsCells(data.test, data.test.count)
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
  float lo = 0, hi = 1;
  std::vector<std::vector<float>> means = ClassMeans(data, n, classes, csv, &lo, &hi);
  // One feature a step would be an image one pixel wide: each class's mean series is drawn as a
  // line chart instead, all on one scale.
  if (data.train.cols == 1) {
    o << "<p>The mean series of each " << klass << " (the training " << item
      << " used): " << data.train.rows << " steps across, values up, from " << Fmt("%.4g", lo)
      << " to " << Fmt("%.4g", hi) << ":</p>";
    o << "<div class=\"grid\" id=\"mean-series\">";
    for (int d = 0; d < classes; ++d) {
      o << "<div class=\"cell\">"
        << SeriesChart(means[d].data(), px, lo, hi, "mean " + class_name(d), 160, 64) << "<br>"
        << Esc(class_name(d)) << "</div>";
    }
    o << "</div>";
    return o.str();
  }
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
      << ImageTag(means[d].data(), 84, "mean " + class_name(d), data.train.rows, data.train.cols)
      << "<br>" << Esc(class_name(d)) << "</div>";
  }
  o << "</div>";
  return o.str();
}

}  // namespace hpsweep
