// The HTML report from synthetic exports (the JSON `hpsweep export --format json` prints), calling
// report/report.cc directly: what the page shows (bars, orders, the data section, settings), that it
// needs nothing from the network and that its script parses; and report/importance.cc on sweeps
// whose answer is known.
#include "report/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "report/importance.h"

namespace hpsweep::report_test {
namespace {

using json = nlohmann::json;

json Trial(int number, json params, double val_accuracy, double val_loss) {
  json epochs = json::array();
  for (int e = 1; e <= 3; ++e) {
    epochs.push_back({{"epoch", e},
                      {"train_loss", val_loss + 0.1 * (3 - e)},
                      {"train_accuracy", val_accuracy - 0.01 * (3 - e)},
                      {"val_loss", val_loss + 0.05 * (3 - e)},
                      {"val_accuracy", val_accuracy - 0.02 * (3 - e)},
                      {"seconds", 1.0}});
  }
  return {{"id", number},
          {"number", number},
          {"status", "done"},
          {"attempts", 1},
          {"params", params},
          {"epochs", epochs},
          {"best_epoch", 3},
          {"best_val_accuracy", val_accuracy},
          {"best_val_loss", val_loss},
          {"test_accuracy", val_accuracy},
          {"test_loss", val_loss},
          {"seconds", 3.0},
          {"worker", "w"},
          {"error", ""}};
}

json Sweep(const std::string& metric = "val_accuracy", const std::string& goal = "maximize") {
  return {{"id", 7},          {"name", "synthetic"}, {"description", "a test"},
          {"file", "s.yaml"}, {"state", "done"},     {"metric", metric},
          {"goal", goal},     {"max_attempts", 3},   {"trials", 0}};
}

std::string Report(const json& ex, const Mnist* data = nullptr) {
  auto html = SweepReportHtml(ex.dump(), "", data);
  EXPECT_TRUE(html.ok()) << html.status().ToString();
  return html.ok() ? *html : "";
}

// The text of the section that starts at id="<id>" up to the next <h2.
std::string Section(const std::string& page, const std::string& id) {
  const size_t at = page.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t end = page.find("<h2", at + 1);
  return page.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A sweep over units {64, 128} and dropout {[0], [0.2]} whose accuracies are all below 0.8.
json LowAccuracySweep() {
  json ex;
  ex["sweep"] = Sweep();
  ex["trials"] = json::array();
  int n = 0;
  for (int units : {64, 128}) {
    for (double dropout : {0.0, 0.2}) {
      json params = {{"units", units},
                     {"dropout", json::array({dropout})},
                     {"epochs", 3},
                     {"batch_size", 64},
                     {"train_limit", 3000}};
      ex["trials"].push_back(Trial(++n, params, 0.5 + units / 1280.0 + dropout / 10, 1.0));
    }
  }
  return ex;
}

// Was: width max(2, (mean - 0.8) * 1500) px, 2 px for every group of a sweep below 0.8.
TEST(ReportTest, EffectBarsScaleFromTheData) {
  const std::string effects = Section(Report(LowAccuracySweep()), "effects");
  ASSERT_FALSE(effects.empty());
  std::regex bar("class=\"bar\" style=\"width:([0-9]+)px");
  std::vector<int> widths;
  for (std::sregex_iterator it(effects.begin(), effects.end(), bar), end; it != end; ++it) {
    widths.push_back(std::stoi((*it)[1]));
  }
  ASSERT_EQ(widths.size(), 4u);  // two values of each of two parameters
  EXPECT_NE(widths[0], widths[1]) << "units 64 and 128 differ in mean accuracy";
  EXPECT_GE(*std::max_element(widths.begin(), widths.end()), 100);
}

// Was: the effect tables ordered values as text (128 before 64, [0.2] before [0]).
TEST(ReportTest, ValuesSortNumerically) {
  const std::string effects = Section(Report(LowAccuracySweep()), "effects");
  const size_t u64 = effects.find(">64<"), u128 = effects.find(">128<");
  ASSERT_NE(u64, std::string::npos);
  ASSERT_NE(u128, std::string::npos);
  EXPECT_LT(u64, u128);
  const size_t d0 = effects.find(">[0]<"), d2 = effects.find(">[0.2]<");
  ASSERT_NE(d0, std::string::npos) << effects;
  ASSERT_NE(d2, std::string::npos);
  EXPECT_LT(d0, d2);
}

Mnist SyntheticData(int64_t train, int64_t test) {
  Mnist m;
  for (Dataset* d : {&m.train, &m.test}) {
    d->count = d == &m.train ? train : test;
    d->images.assign(d->count * 784, 0.5f);
    for (int64_t i = 0; i < d->count; ++i) d->labels.push_back(i % 10);
  }
  return m;
}

// Was: "5000 training images" (the whole file) for a train_limit: 3000 sweep.
TEST(ReportTest, DataSectionUsesTheSweepsTrainLimitAndSplit) {
  json ex = LowAccuracySweep();
  for (auto& t : ex["trials"]) t["params"]["validation_split"] = 0.1;
  const Mnist data = SyntheticData(5000, 100);
  const std::string section = Section(Report(ex, &data), "data");
  ASSERT_FALSE(section.empty());
  EXPECT_NE(section.find("3000 training images"), std::string::npos) << section.substr(0, 400);
  EXPECT_EQ(section.find("5000 training images"), std::string::npos);
  EXPECT_NE(section.find("the first 2700 train, the last 300 validate"), std::string::npos)
      << section.substr(0, 400);
}

// Was: the fixed settings appeared nowhere.
TEST(ReportTest, ShowsTheFixedSettings) {
  const std::string page = Report(LowAccuracySweep());
  const size_t at = page.find("id=\"settings\"");
  ASSERT_NE(at, std::string::npos);
  const std::string settings = page.substr(at, page.find("</table>", at) - at);
  for (const char* row : {">epochs</th><td class=\"l\">3<", ">batch_size</th><td class=\"l\">64<",
                          ">train_limit</th><td class=\"l\">3000<"}) {
    EXPECT_NE(settings.find(row), std::string::npos) << row << " in " << settings;
  }
  EXPECT_EQ(settings.find(">units<"), std::string::npos) << "units is swept, not fixed";
}

// A sweep `hpsweep extend` grew says so under its title (the export's extended_to); others do not.
TEST(ReportTest, AnExtendedSweepSaysSo) {
  json ex = LowAccuracySweep();
  EXPECT_EQ(Report(ex).find("extended to"), std::string::npos);
  ex["sweep"]["extended_to"] = 60;
  EXPECT_NE(Report(ex).find(", extended to 60 trials, ranked by"), std::string::npos);
}

// A val_loss sweep ranks ascending: the leaderboard's first row is the lowest loss.
TEST(ReportTest, LossSweepRanksAscending) {
  json ex;
  ex["sweep"] = Sweep("val_loss", "minimize");
  ex["trials"] = {Trial(1, {{"units", 1}}, 0.9, 0.5), Trial(2, {{"units", 2}}, 0.8, 0.2),
                  Trial(3, {{"units", 3}}, 0.85, 0.3)};
  const std::string page = Report(ex);
  const size_t board = page.find("id=\"leaderboard-table\"");
  ASSERT_NE(board, std::string::npos);
  const size_t r2 = page.find("data-trial=\"2\"", board), r3 = page.find("data-trial=\"3\"", board),
               r1 = page.find("data-trial=\"1\"", board);
  EXPECT_LT(r2, r3);
  EXPECT_LT(r3, r1);
}

// A sweep of two objectives: the export's rank orders the leaderboard (not the first objective
// alone), and the front chart draws the first front solid, the dominated faded and the
// infeasible as rings. A sweep of one metric has no front section.
TEST(ReportTest, SeveralObjectivesDrawTheFront) {
  json ex;
  ex["sweep"] = Sweep();
  ex["sweep"]["objectives"] = {{{"name", "val_accuracy"}, {"goal", "maximize"}},
                               {{"name", "param_count"}, {"goal", "minimize"}}};
  auto with = [](json t, double params, int front, bool feasible, int rank) {
    t["objectives"] = {{"val_accuracy", t["best_val_accuracy"]}, {"param_count", params}};
    t["front"] = front;
    t["feasible"] = feasible;
    t["rank"] = rank;
    return t;
  };
  ex["trials"] = {with(Trial(1, {{"units", 8}}, 0.80, 0.5), 1274, 1, true, 2),
                  with(Trial(2, {{"units", 64}}, 0.90, 0.3), 24458, 1, true, 1),
                  with(Trial(3, {{"units", 256}}, 0.85, 0.4), 294410, 2, true, 3),
                  with(Trial(4, {{"units", 512}}, 0.95, 0.2), 1100000, 1, false, 4)};
  const std::string page = Report(ex);
  const std::string front = Section(page, "front");
  ASSERT_FALSE(front.empty());
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = front.find(needle); at != std::string::npos; at = front.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("class=\"pt front1\""), 2u);
  EXPECT_EQ(count("class=\"pt dominated\""), 1u);
  EXPECT_EQ(count("class=\"pt infeasible\""), 1u);
  EXPECT_EQ(count("<polyline class=\"front\""), 1u);
  EXPECT_NE(front.find("param_count (log)"), std::string::npos);
  // The leaderboard follows the export's rank: #1 (rank 2) before #3, though #3 is more
  // accurate, and the infeasible #4 last though it is the most accurate.
  const size_t board = page.find("id=\"leaderboard-table\"");
  ASSERT_NE(board, std::string::npos);
  const size_t r1 = page.find("data-trial=\"1\"", board), r3 = page.find("data-trial=\"3\"", board),
               r4 = page.find("data-trial=\"4\"", board), r2 = page.find("data-trial=\"2\"", board);
  EXPECT_LT(r2, r1);
  EXPECT_LT(r1, r3);
  EXPECT_LT(r3, r4);
  EXPECT_TRUE(Section(Report(LowAccuracySweep()), "front").empty());
  EXPECT_NE(page.find("ranked by front of val_accuracy (max), param_count (min), then crowding "
                      "distance"),
            std::string::npos);
}

// A pbt sweep's report draws every member's curve and the best member's schedule: a row per
// entry (its epochs, whose weights it took, its params) and a step chart per mutable param.
TEST(ReportTest, APopulationShowsTheBestMembersSchedule) {
  json ex;
  ex["sweep"] = Sweep();
  ex["sweep"]["pbt"] = {{"population", 3}, {"interval", 1}, {"epochs", 3},
                        {"mutable", {"learning_rate", "dropout"}}};
  ex["trials"] = json::array();
  for (int n = 1; n <= 3; ++n) {
    json t = Trial(n, {{"units", 8}, {"learning_rate", 0.01}}, 0.5 + 0.1 * n, 1.0);
    t["schedule"] = {{{"epoch", 0}, {"params", {{"learning_rate", 0.01}, {"dropout", {0.2}}}}}};
    ex["trials"].push_back(t);
  }
  // #3 is the best; it took #2's weights after epoch 1 and again after epoch 2.
  ex["trials"][2]["schedule"] = {
      {{"epoch", 0}, {"params", {{"learning_rate", 0.01}, {"dropout", {0.2}}}}},
      {{"epoch", 1}, {"from", 2}, {"params", {{"learning_rate", 0.012}, {"dropout", {0.16}}}}},
      {{"epoch", 2}, {"from", 2}, {"params", {{"learning_rate", 0.0096}, {"dropout", {0.16}}}}}};
  const std::string page = Report(ex);
  const std::string section = Section(page, "population");
  ASSERT_FALSE(section.empty());
  EXPECT_NE(section.find("3 members trained in segments of 1 epochs"), std::string::npos);
  EXPECT_NE(section.find("The schedule of #3"), std::string::npos) << section;
  EXPECT_NE(section.find("<tr><td>2-2</td><td>#2</td><td>0.012</td><td>0.16</td></tr>"),
            std::string::npos)
      << section;
  EXPECT_NE(section.find("<tr><td>3-3</td><td>#2</td><td>0.0096</td><td>0.16</td></tr>"),
            std::string::npos);
  EXPECT_NE(section.find("<tr><td>1-1</td><td>-</td><td>0.01</td><td>0.2</td></tr>"),
            std::string::npos);
  // A sweep of another method has no such section.
  EXPECT_TRUE(Section(Report(LowAccuracySweep()), "population").empty());
}

// The leaderboard shows whatever status the export gives; a pruned trial with the epoch it
// stopped at. The metric is not shown twice.
// Each epoch's learning rate is drawn for a trial whose rate changes (a schedule's), and only
// for such a trial; an export without lr (an older coordinator) draws none.
TEST(ReportTest, LearningRateChartForTrialsWhoseRateChanges) {
  json ex;
  ex["sweep"] = Sweep();
  json stepped = Trial(1, {{"units", 64}}, 0.9, 0.3);
  json constant = Trial(2, {{"units", 32}}, 0.8, 0.4);
  for (int e = 0; e < 3; ++e) {
    stepped["epochs"][e]["lr"] = e == 0 ? 0.01 : 0.001;
    constant["epochs"][e]["lr"] = 0.01;
  }
  ex["trials"] = json::array({stepped, constant});
  const std::string curves = Section(Report(ex), "curves");
  ASSERT_FALSE(curves.empty());
  size_t charts = 0;
  for (size_t at = curves.find(">learning rate<"); at != std::string::npos;
       at = curves.find(">learning rate<", at + 1)) {
    ++charts;
  }
  EXPECT_EQ(charts, 1u) << curves;  // the stepped trial's only
  ex["trials"] = json::array({Trial(1, {{"units", 64}}, 0.9, 0.3)});
  EXPECT_EQ(Section(Report(ex), "curves").find(">learning rate<"), std::string::npos);
}

TEST(ReportTest, LeaderboardShowsAnyStatus) {
  json ex = LowAccuracySweep();
  ex["trials"][0]["status"] = "pruned";
  ex["trials"][1]["status"] = "some <new> status";
  const std::string page = Report(ex);
  EXPECT_NE(page.find(">pruned after epoch 3<"), std::string::npos);
  EXPECT_NE(page.find(">some &lt;new&gt; status<"), std::string::npos);
  EXPECT_NE(page.find("<th>val_accuracy</th>"), std::string::npos);
  EXPECT_EQ(page.find("<th>val acc</th>"), std::string::npos);
}

// One file: no URL to fetch, and the inline script parses (node --check, where node is).
TEST(ReportTest, SelfContainedAndScriptParses) {
  json ex = LowAccuracySweep();
  ex["trials"][0]["params"]["learning_rate"] = 0.0001;
  for (size_t i = 1; i < ex["trials"].size(); ++i)
    ex["trials"][i]["params"]["learning_rate"] = 0.01;
  const Mnist data = SyntheticData(100, 20);
  const std::string page = Report(ex, &data);
  EXPECT_EQ(page.find("http"), std::string::npos) << "no URL, not even an SVG namespace";
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_NE(page.find("learning_rate (log)"), std::string::npos) << "0.0001..0.01 is 2 decades";
  EXPECT_NE(page.find("data-tip="), std::string::npos);
  EXPECT_NE(page.find("class=\"brush-hit\""), std::string::npos);
  const size_t a = page.find("<script>"), b = page.find("</script>");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_EQ(page.find("<script", a + 1), std::string::npos) << "one script";
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
  const std::string js = ::testing::TempDir() + "/report_test_script.js";
  std::ofstream(js) << page.substr(a + 8, b - a - 8);
  EXPECT_EQ(std::system(("node --check '" + js + "'").c_str()), 0);
  std::remove(js.c_str());
}

// The script in a real browser (where chromium is): a click on the units header sorts the
// leaderboard numerically (32, 64, 128; again: descending), and a drag on the units axis of the
// parallel coordinates keeps only the lines in its range and dims the other rows.
TEST(ReportTest, ScriptSortsAndBrushesInABrowser) {
  if (std::system("command -v chromium > /dev/null 2>&1") != 0) GTEST_SKIP() << "no chromium";
  json ex;
  ex["sweep"] = Sweep();
  int n = 0;
  for (int units : {128, 32, 64}) {
    for (double lr : {0.001, 0.01}) {
      ++n;
      ex["trials"].push_back(
          Trial(n, {{"units", units}, {"lr", lr}}, 0.5 + units / 1000.0 + lr, 1));
    }
  }
  std::string page = Report(ex);
  // A driver after the page's script: clicks, then drags from the top of the units axis (the
  // largest value, 128) a quarter of the way down, and writes what it sees into the page.
  const std::string driver = R"JS(<script>(function () { try {
  function col(i) { return Array.prototype.map.call(
      document.querySelectorAll('#leaderboard-table tbody tr'),
      function (r) { return r.cells[i].textContent; }).join(','); }
  var heads = document.querySelectorAll('#leaderboard-table thead th'), c = -1;
  for (var i = 0; i < heads.length; i++) if (heads[i].textContent === 'units') c = i;
  heads[c].click(); var up = col(c); heads[c].click(); var down = col(c);
  var svg = document.getElementById('parallel-svg');
  var hit = svg.querySelector('rect.brush-hit[data-axis="1"]');
  var y0 = svg.getBoundingClientRect().top + parseFloat(hit.getAttribute('y'));
  var h = parseFloat(hit.getAttribute('height'));
  hit.dispatchEvent(new MouseEvent('mousedown', {clientY: y0 - 2, bubbles: true}));
  window.dispatchEvent(new MouseEvent('mousemove', {clientY: y0 + h / 4}));
  window.dispatchEvent(new MouseEvent('mouseup', {clientY: y0 + h / 4}));
  var out = 'UP ' + up + ' DOWN ' + down + ' OFF ' + svg.querySelectorAll('polyline.off').length +
      ' DIM ' + document.querySelectorAll('tr.dim').length + ' END';
  } catch (e) { out = 'ERROR ' + e; }
  var p = document.createElement('pre'); p.id = 'result'; p.textContent = out;
  document.body.appendChild(p); })();</script></body>)JS";
  page.replace(page.rfind("</body>"), 7, driver);
  const std::string html = ::testing::TempDir() + "/report_test_browser.html";
  const std::string dom = ::testing::TempDir() + "/report_test_browser.dom";
  std::ofstream(html) << page;
  const std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu "
      "--window-size=1400,3000 --dump-dom 'file://" +
      html + "' > '" + dom + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(dom);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("<pre id=\"result\">");
  ASSERT_NE(at, std::string::npos);
  const std::string result = text.substr(at + 17, text.find("</pre>", at) - at - 17);
  EXPECT_EQ(result, "UP 32,32,64,64,128,128 DOWN 128,128,64,64,32,32 OFF 4 DIM 4 END");
  std::remove(html.c_str());
  std::remove(dom.c_str());
}

// A big sweep stays a page of bounded size, and says what it leaves out.
TEST(ReportTest, BigSweepIsBounded) {
  json ex;
  ex["sweep"] = Sweep();
  json epochs = json::array();
  for (int e = 1; e <= 250; ++e) {
    epochs.push_back({{"epoch", e},
                      {"train_loss", 1.0 / e},
                      {"train_accuracy", 1 - 1.0 / e},
                      {"val_loss", 1.0 / e},
                      {"val_accuracy", 1 - 1.0 / e},
                      {"seconds", 1}});
  }
  for (int n = 1; n <= 1500; ++n) {
    json t = Trial(n, {{"lr", 0.0001 * n}, {"units", n % 7}, {"seed", n}}, 0.5 + n * 1e-4, 1);
    t["epochs"] = epochs;
    ex["trials"].push_back(std::move(t));
  }
  const std::string page = Report(ex);
  EXPECT_LT(page.size(), 4u << 20) << "bytes";
  EXPECT_NE(page.find("The best 1000 of 1500 trials shown"), std::string::npos);
  EXPECT_NE(page.find("500 lines drawn"), std::string::npos);
  EXPECT_NE(page.find("The best 24 of 1500 trials"), std::string::npos);
}

// Hostile exports: a refused input with a message, never a crash.
TEST(ReportTest, BadExportsAreRefused) {
  EXPECT_FALSE(SweepReportHtml("not json", "", nullptr).ok());
  EXPECT_FALSE(SweepReportHtml("[]", "", nullptr).ok());
  // A sweep without a name or an id: refused with the missing key named. (Read with a const
  // operator[], a missing key was undefined behaviour: a crash about one run in 200.)
  auto no_name = SweepReportHtml(R"({"sweep": {}, "trials": []})", "", nullptr);
  ASSERT_FALSE(no_name.ok());
  EXPECT_NE(no_name.status().ToString().find("'name'"), std::string::npos)
      << no_name.status().ToString();
  auto no_id = SweepReportHtml(R"({"sweep": {"name": "x"}, "trials": []})", "", nullptr);
  ASSERT_FALSE(no_id.ok());
  EXPECT_NE(no_id.status().ToString().find("'id'"), std::string::npos) << no_id.status().ToString();
  auto ids = RankedTrialIds(R"({"trials": []})");
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().ToString().find("'sweep'"), std::string::npos) << ids.status().ToString();
  json ex = LowAccuracySweep();
  ex["trials"][0]["epochs"] = {{{"val_accuracy", "x"}}, 7};
  ex["trials"][1]["params"] = "nope";
  ex["trials"][2]["status"] = 3;
  auto html = SweepReportHtml(ex.dump(), "", nullptr);
  EXPECT_TRUE(html.ok()) << html.status().ToString();
}

// Found by fuzzing the export (fuzz/sweep_export_fuzz.cc; each input is in
// fuzz/regressions/sweep_export/): numbers where the report wants an id, a count or an epoch were
// converted or summed as they came, undefined behaviour (UBSan: a float cast out of range, a
// signed overflow), and a parse error quoted the export's bytes. Now refused with the key named,
// or bounded.
TEST(ReportTest, HostileNumbersAreRefusedOrBounded) {
  // Was: RankedTrialIds's message quoted nlohmann's "last read: '\xFF'", invalid UTF-8.
  auto not_json = RankedTrialIds("{\"\xff\": 1}");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().message(), "export is not JSON");
  // Was: get<int64_t>() of 1e300.
  json ex = LowAccuracySweep();
  ex["sweep"]["id"] = 1e300;
  auto page = SweepReportHtml(ex.dump(), "", nullptr);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.status().message().find("'id' is not an integer"), std::string::npos);
  ex = LowAccuracySweep();
  for (json& t : ex["trials"]) t["id"] = 1e300;
  auto ids = RankedTrialIds(ex.dump());
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("'id' is not an integer"), std::string::npos);
  // Was: a negative count shaded a cell 255 * (1 + 1e11) (cast to int), INT64_MAX overflowed its
  // class's sums, 1e300 was cast to int64_t.
  for (const json& bad : {json(-100000000000), json(INT64_MAX), json(1e300)}) {
    ex = LowAccuracySweep();
    for (json& t : ex["trials"]) t["confusion_matrix"] = {bad, 1, 0, 0};
    page = SweepReportHtml(ex.dump(), "", nullptr);
    ASSERT_FALSE(page.ok()) << bad;
    EXPECT_NE(page.status().message().find("'confusion_matrix'"), std::string::npos);
  }
  // Was: the early-stopping note summed each trial's epochs as given (4 x INT64_MAX); each counts
  // at most 10000, as engine/config.cc allows.
  ex = LowAccuracySweep();
  ex["sweep"]["early_terminate"] = "hyperband";
  for (json& t : ex["trials"]) t["params"]["epochs"] = INT64_MAX;
  EXPECT_NE(Report(ex).find("12 epochs trained of the 40000 that"), std::string::npos);
  // Was: a schedule's epoch of INT_MAX plus one.
  ex = LowAccuracySweep();
  ex["sweep"]["pbt"] = {{"epochs", 3}, {"mutable", {"units"}}};
  for (json& t : ex["trials"]) t["schedule"] = {{{"epoch", INT_MAX}, {"params", {{"units", 8}}}}};
  EXPECT_NE(Section(Report(ex), "population").find("<tr><td>1-3</td>"), std::string::npos);
}

TEST(ReportTest, CompareShowsEachSweepsBest) {
  json a = LowAccuracySweep();
  json b;
  b["sweep"] = Sweep("val_loss", "minimize");
  b["sweep"]["id"] = 8;
  b["sweep"]["name"] = "other";
  b["trials"] = {Trial(1, {{"units", 1}}, 0.9, 0.5), Trial(2, {{"units", 2}}, 0.8, 0.2)};
  auto html = CompareReportHtml({a.dump(), b.dump()});
  ASSERT_TRUE(html.ok()) << html.status().ToString();
  EXPECT_NE(html->find("Sweep 7: synthetic"), std::string::npos);
  EXPECT_NE(html->find("Sweep 8: other"), std::string::npos);
  EXPECT_NE(html->find("Best #2: <b>val_loss 0.2000</b>"), std::string::npos);
  EXPECT_NE(html->find("id=\"leaderboard-1\""), std::string::npos);
  EXPECT_FALSE(CompareReportHtml({a.dump()}).ok());
  EXPECT_FALSE(CompareReportHtml({a.dump(), "not json"}).ok());
}

TEST(ReportTest, DataPageIsStyledWithAGridAndTrainLimit) {
  const Mnist data = SyntheticData(500, 20);
  const std::string page = DataReportPage(data, 0.2, 300);
  EXPECT_NE(page.find("<style>"), std::string::npos);
  EXPECT_NE(page.find(".grid{display:flex"), std::string::npos);
  EXPECT_NE(page.find("300 training images"), std::string::npos);
  EXPECT_NE(page.find("the first 240 train, the last 60 validate"), std::string::npos);
}

// One feature a step would be an image one pixel wide: data-report draws each class's mean series
// as a line chart instead, and MNIST's still as images. Class names are hostile text: escaped.
TEST(ReportTest, OneFeatureSeriesAreLineChartsAndClassNamesAreEscaped) {
  Mnist series;
  for (Dataset* d : {&series.train, &series.test}) {
    d->count = 6;
    d->rows = 50;  // 50 steps of 1 feature
    d->cols = 1;
    d->num_classes = 2;
    d->class_names = {"<script>alert(1)</script>", "sine & \"co\""};
    for (int64_t i = 0; i < d->count; ++i) {
      d->labels.push_back(static_cast<uint8_t>(i % 2));
      for (int t = 0; t < 50; ++t) d->images.push_back(i % 2 ? std::sin(t * 0.3f) : t * 0.1f);
    }
  }
  std::string html = DataReportHtml(series, 0.0, 0, "csv a.csv, b.csv");
  const size_t grid = html.find("<div class=\"grid\" id=\"mean-series\">");
  ASSERT_NE(grid, std::string::npos) << html;
  size_t polylines = 0;
  for (size_t at = html.find("<polyline", grid); at != std::string::npos;
       at = html.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 2u);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<title>mean &lt;script&gt;alert(1)&lt;/script&gt;</title>"),
            std::string::npos);
  EXPECT_NE(html.find("<br>sine &amp; &quot;co&quot;</div>"), std::string::npos) << html;
  // A long series is drawn in at most about three points a pixel column, whatever its length.
  for (Dataset* d : {&series.train, &series.test}) {
    d->rows = 4000;
    d->images.assign(static_cast<size_t>(d->count) * 4000, 0.25f);
    d->images[1234] = 9;  // a spike in class 0's mean
  }
  html = DataReportHtml(series, 0.0, 0, "csv a.csv, b.csv");
  const size_t points = html.find("points=\"", html.find("id=\"mean-series\""));
  ASSERT_NE(points, std::string::npos);
  const std::string first = html.substr(points, html.find('"', points + 8) - points);
  EXPECT_LE(std::count(first.begin(), first.end(), ' '), 3 * 160 + 1);
  EXPECT_GT(std::count(first.begin(), first.end(), ' '), 160);
  EXPECT_NE(first.find(",2.0 "), std::string::npos) << first;  // the spike, at the chart's top

  // MNIST's images stay images.
  html = DataReportHtml(SyntheticData(50, 10), 0.2, 0);
  EXPECT_NE(html.find("<img class=\"digit\""), std::string::npos);
  EXPECT_EQ(html.find("mean-series"), std::string::npos);
  EXPECT_EQ(html.find("<polyline"), std::string::npos);
}

// One parameter decides the metric, the other is noise on a balanced grid: shares 1 and 0.
// The per-class table of the best trial heads its first column "digit" for MNIST and "class" for
// a sweep of its own data (a trial param data.format idx or csv).
TEST(ReportTest, PerClassTableSaysClassForOwnData) {
  for (const char* format : {"", "csv", "idx"}) {
    json ex = LowAccuracySweep();
    for (json& t : ex["trials"]) {
      t["confusion_matrix"] = json::array({5, 1, 0, 2, 6, 1, 0, 0, 7});
      if (*format) t["params"]["data.format"] = format;
    }
    const std::string html = Report(ex);
    const size_t table = html.find("<table id=\"per-class\">");
    ASSERT_NE(table, std::string::npos) << format;
    const std::string head = html.substr(table, html.find("</tr>", table) - table);
    EXPECT_NE(head.find(*format ? "<th>class</th>" : "<th>digit</th>"), std::string::npos)
        << format << ": " << head;
    EXPECT_EQ(head.find(*format ? "digit" : "<th>class</th>"), std::string::npos)
        << format << ": " << head;
  }
}

TEST(ImportanceTest, KnownAnswer) {
  std::vector<std::string> a, b;
  std::vector<double> metric;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      a.push_back(std::to_string(i));
      b.push_back(std::to_string(j));
      metric.push_back(0.5 + 0.1 * i);
    }
  }
  EXPECT_NEAR(MainEffectShare(a, metric), 1.0, 1e-12);
  EXPECT_NEAR(MainEffectShare(b, metric), 0.0, 1e-12);
  // With noise that does not follow b: a still explains nearly everything.
  std::srand(1);
  for (size_t k = 0; k < metric.size(); ++k) metric[k] += 0.001 * (std::rand() % 100) / 100.0;
  EXPECT_GT(MainEffectShare(a, metric), 0.99);
  EXPECT_LT(MainEffectShare(b, metric), 0.05);
  EXPECT_EQ(MainEffectShare({"x", "y"}, {1.0, 1.0}), 0.0) << "no variance";
  EXPECT_EQ(MainEffectShare({"x"}, {1.0}), 0.0);
}

TEST(ImportanceTest, BinsContinuousValues) {
  std::vector<double> v;
  for (int i = 0; i < 20; ++i) v.push_back(i * 0.001);
  const auto bins = BinLevels(v, 5);
  EXPECT_EQ(bins.front(), "bin 1 of 5");
  EXPECT_EQ(bins.back(), "bin 5 of 5");
  EXPECT_EQ(bins[3], bins[0]);
  EXPECT_EQ(BinLevels({1, 2, 1}, 5), (std::vector<std::string>{"1", "2", "1"}));
}

// Through the report: the parameter that drives the metric ranks first with share ~1.
TEST(ImportanceTest, ReportNamesTheMethodAndRanks) {
  json ex;
  ex["sweep"] = Sweep();
  int n = 0;
  for (int lr : {1, 2, 3})
    for (int noise : {1, 2, 3}) {
      ++n;
      ex["trials"].push_back(Trial(n, {{"lr", lr}, {"noise", noise}}, 0.5 + 0.1 * lr, 1.0));
    }
  const std::string imp = Section(Report(ex), "importance");
  EXPECT_NE(imp.find("fANOVA-style"), std::string::npos);
  EXPECT_NE(imp.find("<td class=\"l\">lr</td><td>1.000</td>"), std::string::npos) << imp;
  EXPECT_NE(imp.find("<td class=\"l\">noise</td><td>0.000</td>"), std::string::npos);
  EXPECT_LT(imp.find(">lr<"), imp.find(">noise<"));
}

// The shares in the importance table, by parameter.
std::map<std::string, double> Shares(const std::string& section) {
  std::map<std::string, double> out;
  const std::regex row("<td class=\"l\">([^<]+)</td><td>([0-9.]+)</td><td>([0-9.]+)</td>");
  for (auto it = std::sregex_iterator(section.begin(), section.end(), row);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] = std::stod((*it)[2]);
  }
  return out;
}

// Hyperband-like: trials with prune=1 were pruned after epoch 1 at low values, the others
// completed 9 epochs; among the completed, only q decides the metric. Compared as they are (the
// old report), prune looked like the important parameter; on the completed trials it is q, and
// the shares sum to 1.
TEST(ImportanceTest, ComparesCompletedTrialsAndSharesSumToOne) {
  json ex;
  ex["sweep"] = Sweep();
  int n = 0;
  for (int prune : {0, 1}) {
    for (int q : {1, 2, 3}) {
      for (int rep = 0; rep < 2; ++rep) {
        json t = Trial(++n, {{"prune", prune}, {"q", q}}, 0, 0);
        const double v = prune ? 0.30 + 0.01 * rep : 0.90 + 0.02 * q + 0.001 * rep;
        t["status"] = prune ? "pruned" : "completed";
        t["best_val_accuracy"] = v;
        t["epochs"] = json::array();
        for (int e = 1; e <= (prune ? 1 : 9); ++e) {
          t["epochs"].push_back({{"epoch", e}, {"val_accuracy", v}, {"val_loss", 1 - v},
                                 {"train_loss", 1 - v}, {"train_accuracy", v}, {"seconds", 1}});
        }
        ex["trials"].push_back(t);
      }
    }
  }
  const std::string imp = Section(Report(ex), "importance");
  EXPECT_NE(imp.find("the 6 completed trials"), std::string::npos) << imp;
  const auto shares = Shares(imp);
  ASSERT_EQ(shares.size(), 2u) << imp;
  EXPECT_GT(shares.at("q"), 0.95) << imp;
  EXPECT_LT(shares.at("prune"), 0.05) << imp;
  EXPECT_NEAR(shares.at("q") + shares.at("prune"), 1.0, 0.002) << imp;
  EXPECT_LT(imp.find(">q<"), imp.find(">prune<"));
}

// Fewer than 3 completed trials: every trial's epoch-1 value is compared, and the page says so.
TEST(ImportanceTest, FewCompletedTrialsCompareTheFirstEpoch) {
  json ex;
  ex["sweep"] = Sweep();
  for (int n = 1; n <= 6; ++n) {
    json t = Trial(n, {{"lr", n % 3}, {"noise", n % 2}}, 0.5 + 0.1 * (n % 3), 1.0);
    t["status"] = n <= 2 ? "completed" : "pruned";
    ex["trials"].push_back(t);
  }
  const std::string imp = Section(Report(ex), "importance");
  EXPECT_NE(imp.find("value at epoch 1 (6 trials; fewer than 3 completed"), std::string::npos)
      << imp;
  const auto shares = Shares(imp);
  ASSERT_EQ(shares.size(), 2u) << imp;
  EXPECT_GT(shares.at("lr"), shares.at("noise")) << imp;
  EXPECT_NEAR(shares.at("lr") + shares.at("noise"), 1.0, 0.002) << imp;
}

// A continuous parameter (one trial per value) gets a few binned rows in the effects table, each
// named by its range, not a row per value.
TEST(ReportTest, EffectsOfAContinuousParameterAreBinned) {
  json ex;
  ex["sweep"] = Sweep();
  for (int n = 1; n <= 20; ++n) {
    json t = Trial(n, {{"lr", 0.001 * n}}, 0.5 + 0.01 * n, 1.0);
    t["status"] = "completed";
    ex["trials"].push_back(t);
  }
  const std::string effects = Section(Report(ex), "effects");
  const std::regex row("<tr><td class=\"l\">([^<]+)</td><td>([0-9]+)</td>");
  std::vector<std::string> names;
  int trials = 0;
  for (auto it = std::sregex_iterator(effects.begin(), effects.end(), row);
       it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1]);
    trials += std::stoi((*it)[2]);
  }
  ASSERT_EQ(names.size(), 5u) << effects;
  EXPECT_EQ(trials, 20);
  EXPECT_EQ(names.front(), "0.001 to 0.004") << effects;
  EXPECT_EQ(names.back(), "0.017 to 0.02") << effects;
}

// A conditional parameter (momentum only under sgd) is absent from the adam trials: they form the
// group "-" after the binned values, in the effects and in importance, and nothing breaks.
TEST(ReportTest, TrialsLackingAConditionalParameterAreTheGroupDash) {
  json ex;
  ex["sweep"] = Sweep();
  for (int n = 1; n <= 20; ++n) {
    json params = {{"optimizer", n % 2 ? "adam" : "sgd"}};
    if (n % 2 == 0) params["momentum"] = 0.045 * n;
    json t = Trial(n, params, 0.5 + 0.01 * n, 1.0);
    t["status"] = "completed";
    ex["trials"].push_back(t);
  }
  const std::string page = Report(ex);
  const std::string effects = Section(page, "effects");
  const size_t momentum = effects.find(">momentum<");
  ASSERT_NE(momentum, std::string::npos) << effects;
  const std::string table = effects.substr(momentum, effects.find("</table>", momentum) - momentum);
  EXPECT_NE(table.find("<tr><td class=\"l\">-</td><td>10</td>"), std::string::npos) << table;
  EXPECT_NE(table.find("0.09 to"), std::string::npos) << table;  // the sgd trials, binned
  EXPECT_LT(table.find("0.09 to"), table.find(">-<"));
  EXPECT_NE(Section(page, "importance").find("momentum"), std::string::npos);
}

// A trial of one epoch draws a point in its panel (a polyline of one point draws nothing).
TEST(ReportTest, AOneEpochTrialDrawsAPoint) {
  json ex = LowAccuracySweep();
  ex["trials"][0]["epochs"] = json::array({ex["trials"][0]["epochs"][0]});
  const std::string html = Report(ex);
  EXPECT_NE(html.find("<circle class=\"series-pt\""), std::string::npos);
  ex = LowAccuracySweep();
  EXPECT_EQ(Report(ex).find("<circle class=\"series-pt\""), std::string::npos);
}

}  // namespace
}  // namespace hpsweep::report_test
