// The report's front (README.md, "Several objectives"): a sweep of several objectives drawn in
// the plane of its first two, the first front solid and joined, dominated trials faded, and
// trials that break a constraint drawn as hollow red rings. Reads the export's `objectives`
// (the sweep's, with their goals) and each trial's `objectives`, `front` and `feasible`.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "report/report_internal.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;

// An objective's value of a trial from the export; NaN when it has none.
double FrontValue(const json& t, const std::string& name) {
  auto o = t.find("objectives");
  if (o == t.end() || !o->is_object()) return std::nan("");
  auto v = o->find(name);
  return v != o->end() && v->is_number() ? v->get<double>() : std::nan("");
}


}  // namespace

std::string FrontSection(const SweepView& v) {
  auto objectives = v.sweep.find("objectives");
  if (objectives == v.sweep.end() || !objectives->is_array() || objectives->size() < 2) return "";
  const std::string ny = StrOf((*objectives)[0], "name"), nx = StrOf((*objectives)[1], "name");
  struct Point {
    double x, y;
    int front;
    bool feasible;
    size_t i;
  };
  std::vector<Point> pts;
  for (size_t i = 0; i < v.ranked.size() && pts.size() < kMaxScatter; ++i) {
    const json& t = v.ranked[i];
    const double x = FrontValue(t, nx), y = FrontValue(t, ny);
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    auto f = t.find("front");
    auto ok = t.find("feasible");
    pts.push_back({x, y, f != t.end() && f->is_number_integer() ? f->get<int>() : 0,
                   ok == t.end() || !ok->is_boolean() || ok->get<bool>(), i});
  }
  std::ostringstream o;
  o << "<h2 id=\"front\">The front: " << Esc(ny) << " against " << Esc(nx) << "</h2>"
    << "<p class=\"note\">Each point is a trial. The first front (solid, joined) holds the trials "
       "no other trial matches in every objective while beating in one; the others are faded"
    << (objectives->size() > 2 ? "; fronts count every objective, the plane shows two" : "")
    << ". Hollow red rings break a constraint and rank last.</p>";
  if (pts.empty()) return o.str() + "<p>No trial has a value of both yet.</p>";
  double x0 = pts[0].x, x1 = x0, y0 = pts[0].y, y1 = y0;
  for (const Point& p : pts) {
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
    y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  }
  const int w = 560, h = 320, l = 56, r = 16, t = 12, b = 40;
  const Scale X = Scale::Of(x0, x1, l + 10, w - r - 10, true);
  const Scale Y = Scale::Of(y0, y1, h - b - 10, t + 10, false);  // the first objective: linear
  o << "<div class=\"cell\"><svg class=\"scatter\" width=\"" << w << "\" height=\"" << h << "\">"
    << "<rect x=\"" << l << "\" y=\"" << t << "\" width=\"" << (w - l - r) << "\" height=\""
    << (h - t - b) << "\" fill=\"none\" stroke=\"#ccc\"/>";
  for (double xv : X.Ticks()) {
    o << "<text x=\"" << Fmt("%.1f", X(xv)) << "\" y=\"" << (h - b + 12)
      << "\" text-anchor=\"middle\" font-size=\"9\">"
      << Fmt(std::fabs(xv) >= 1000 ? "%.0f" : "%.4g", xv) << "</text>";
  }
  for (double yv : Y.Ticks()) {
    o << "<text x=\"" << (l - 4) << "\" y=\"" << Fmt("%.1f", Y(yv) + 3)
      << "\" text-anchor=\"end\" font-size=\"9\">" << Fmt("%.4g", yv) << "</text>";
  }
  o << "<text x=\"" << (w + l) / 2 << "\" y=\"" << (h - 6)
    << "\" text-anchor=\"middle\" font-size=\"10\" font-weight=\"bold\">" << Esc(nx)
    << (X.log ? " (log)" : "") << "</text>";
  // The first front, joined in x order.
  std::vector<Point> first;
  for (const Point& p : pts) {
    if (p.front == 1 && p.feasible) first.push_back(p);
  }
  std::sort(first.begin(), first.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
  if (first.size() > 1) {
    o << "<polyline class=\"front\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" "
         "points=\"";
    for (const Point& p : first) o << Fmt("%.1f", X(p.x)) << "," << Fmt("%.1f", Y(p.y)) << " ";
    o << "\"/>";
  }
  for (const Point& p : pts) {
    const bool on_front = p.front == 1 && p.feasible;
    o << "<circle class=\"pt " << (on_front ? "front1" : p.feasible ? "dominated" : "infeasible")
      << "\" r=\"" << (on_front ? 4.5 : 3.5) << "\" cx=\"" << Fmt("%.1f", X(p.x)) << "\" cy=\""
      << Fmt("%.1f", Y(p.y)) << "\" "
      << (p.feasible ? std::string(on_front ? "fill=\"#1f77b4\"" : "fill=\"#888\" opacity=\"0.3\"")
                     : std::string("fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\""))
      << " data-tip=\"" << Esc(v.Tip(p.i) + " \xC2\xB7 " + nx + " " + Fmt("%.6g", p.x))
      << "\"/>";
  }
  o << "</svg></div>";
  return o.str();
}

}  // namespace hpsweep
