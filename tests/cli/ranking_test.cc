// The hpsweep binary's views of a `metric: {name: val_loss, goal: minimize}` sweep rank its trials
// in the sweep's own order: `leaderboard --db` (json, csv, table), `report` (its leaderboard, the
// text that says what it is ranked by, its best trial), and `summary --trial best`. The database
// is written with the scheduler directly (chosen metrics, untrained models), so nothing trains.
// The trials' val_loss order (#2, #3, #1) is the reverse of their val_accuracy order (#1, #3, #2):
// a view that ranks by accuracy shows up.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "engine/config.h"
#include "engine/model_io.h"
#include "engine/trainer.h"

namespace hpsweep::ranking_test {
namespace {

using json = nlohmann::json;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Result {
  int code = -1;
  std::string out;
};

class FixedClock : public Clock {
 public:
  double Now() override { return 1000; }
};

EpochReport Epoch(int epoch, double val_accuracy, double val_loss) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = 0.5;
  r.train_accuracy = 0.5;
  r.val_loss = val_loss;
  r.val_accuracy = val_accuracy;
  r.seconds = 1;
  return r;
}

class RankingCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/ranking_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/loss.db";
    auto st = OpenSqliteStorage(db_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    std::unique_ptr<Storage> storage = std::move(st).value();
    FixedClock clock;
    {
      Scheduler sched(storage.get(), &clock);
      const std::string yaml =
          "name: loss\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
          "fixed:\n  cell: lstm\n  epochs: 1\nparameters:\n  units: {values: [1, 2, 3]}\n";
      auto spec = ParseSweep(yaml, "loss.yaml");
      ASSERT_TRUE(spec.ok()) << spec.status().ToString();
      auto trials = ExpandSweep(*spec, "loss.yaml");
      ASSERT_TRUE(trials.ok()) << trials.status().ToString();
      ASSERT_TRUE(sched.Submit(*spec, *trials, yaml, "loss.yaml").ok());
      auto w = sched.RegisterWorker("w", 1);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      const double results[3][2] = {{0.90, 0.50}, {0.80, 0.20}, {0.85, 0.30}};
      for (const auto& r : results) {
        auto g = sched.Lease(*w);
        ASSERT_TRUE(g.ok() && g->has_value());
        TrialConfig config;
        for (const auto& [k, v] : (*g)->trial.params) ASSERT_TRUE(ApplyKey(k, v, &config).ok());
        Completion c;
        c.history = {Epoch(1, r[0], r[1])};
        c.test_accuracy = 0.5;
        c.test_loss = 1;
        c.confusion.assign(100, 0);
        for (int i = 0; i < 10; ++i) c.confusion[i * 11] = 500;
        c.confusion[1] = 5000;
        c.model = SerializeModel(InitModel(config));
        Status s = sched.Complete((*g)->lease_id, c);
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Adds a second sweep, "later" (units 4 and 5), with #1 completed, then cancels it: the latest
  // sweep is then a cancelled one whose trial numbers repeat the first sweep's.
  void AddCancelledSweep() {
    auto st = OpenSqliteStorage(db_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    std::unique_ptr<Storage> storage = std::move(st).value();
    FixedClock clock;
    Scheduler sched(storage.get(), &clock);
    ASSERT_TRUE(sched.Load().ok());
    const std::string yaml =
        "name: later\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
        "fixed:\n  cell: lstm\n  epochs: 1\nparameters:\n  units: {values: [40, 50]}\n";
    auto spec = ParseSweep(yaml, "later.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto trials = ExpandSweep(*spec, "later.yaml");
    ASSERT_TRUE(trials.ok()) << trials.status().ToString();
    auto id = sched.Submit(*spec, *trials, yaml, "later.yaml");
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_EQ(*id, 2);
    auto w = sched.RegisterWorker("w2", 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto g = sched.Lease(*w);
    ASSERT_TRUE(g.ok() && g->has_value());
    TrialConfig config;
    for (const auto& [k, v] : (*g)->trial.params) ASSERT_TRUE(ApplyKey(k, v, &config).ok());
    Completion c;
    c.history = {Epoch(1, 0.99, 0.01)};  // better than every trial of sweep 1
    c.test_accuracy = 0.5;
    c.test_loss = 1;
    c.confusion.assign(100, 0);
    for (int i = 0; i < 10; ++i) c.confusion[i * 11] = 500;
    c.confusion[1] = 5000;
    c.model = SerializeModel(InitModel(config));
    ASSERT_TRUE(sched.Complete((*g)->lease_id, c).ok());
    ASSERT_TRUE(sched.Cancel(*id).ok());
  }

  // Adds sweep 2, "hb" (val_loss, units 6, 7, 8): #1 completed (test pass 0.5), #2 pruned after
  // epoch 1 (no test pass: written as a pruned trial is stored), #3 running with one epoch.
  void AddPrunedAndRunningSweep() {
    auto st = OpenSqliteStorage(db_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    std::unique_ptr<Storage> storage = std::move(st).value();
    FixedClock clock;
    {
      Scheduler sched(storage.get(), &clock);
      ASSERT_TRUE(sched.Load().ok());
      const std::string yaml =
          "name: hb\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
          "fixed:\n  cell: lstm\n  epochs: 3\nparameters:\n  units: {values: [6, 7, 8]}\n";
      auto spec = ParseSweep(yaml, "hb.yaml");
      ASSERT_TRUE(spec.ok()) << spec.status().ToString();
      auto trials = ExpandSweep(*spec, "hb.yaml");
      ASSERT_TRUE(trials.ok()) << trials.status().ToString();
      auto id = sched.Submit(*spec, *trials, yaml, "hb.yaml");
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      ASSERT_EQ(*id, 2);
      auto w = sched.RegisterWorker("w3", 1);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      for (int i = 0; i < 3; ++i) {
        auto g = sched.Lease(*w);
        ASSERT_TRUE(g.ok() && g->has_value());
        double deadline = 0;
        auto a = sched.Report((*g)->lease_id, Epoch(1, 0.7 + 0.1 * i, 0.5 - 0.1 * i), &deadline);
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        if (i == 2) break;  // #3 stays running
        Completion c;
        c.history = {Epoch(1, 0.7 + 0.1 * i, 0.5 - 0.1 * i)};
        if (i == 0) {
          c.history.push_back(Epoch(2, 0.7, 0.5));
          c.history.push_back(Epoch(3, 0.7, 0.5));
        } else {
          c.stopped = true;  // #2 stops after epoch 1 (then stored as pruned, below)
        }
        c.test_accuracy = 0.5;
        c.test_loss = 1;
        c.confusion.assign(100, 0);
        for (int k = 0; k < 10; ++k) c.confusion[k * 11] = 500;
        c.confusion[1] = 5000;
        Status done = sched.Complete((*g)->lease_id, c);
        ASSERT_TRUE(done.ok()) << done.ToString();
      }
    }
    auto trials = storage->LoadTrials(2);
    ASSERT_TRUE(trials.ok()) << trials.status().ToString();
    for (TrialRow t : *trials) {
      if (t.number != 2) continue;
      t.status = TrialStatus::kPruned;
      t.test_accuracy = t.test_loss = -1;
      t.confusion.clear();
      ASSERT_TRUE(storage->UpdateTrial(t).ok());
    }
  }

  // stdout and stderr together.
  Result RunBoth(const std::string& args) { return Run(args, " 2>&1"); }

  Result Run(const std::string& args, const std::string& redirect = " 2>/dev/null") {
    const std::string cmd = Quote(HPSWEEP_BIN) + " " + args + redirect;
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  std::string dir_, db_;
};

const std::vector<int> kLossOrder = {2, 3, 1};

// Already right before Objective (its SQL ranked by the sweep's metric); now it also names and
// shows the metric (the "val_loss" key and "metric"/"goal" are new).
TEST_F(RankingCliTest, LeaderboardJsonCsvAndTable) {
  const Result js = Run("leaderboard --db " + Quote(db_) + " --format json");
  ASSERT_EQ(js.code, 0) << js.out;
  const json lb = json::parse(js.out);
  EXPECT_EQ(lb["metric"], "val_loss");
  EXPECT_EQ(lb["goal"], "minimize");
  std::vector<int> order;
  for (const auto& r : lb["rows"]) order.push_back(r["number"].get<int>());
  EXPECT_EQ(order, kLossOrder);
  ASSERT_EQ(lb["rows"].size(), 3u);
  EXPECT_EQ(lb["rows"][0]["val_loss"].get<double>(), 0.20);
  EXPECT_EQ(lb["rows"][2]["val_loss"].get<double>(), 0.50);

  const Result csv = Run("leaderboard --db " + Quote(db_) + " --format csv");
  ASSERT_EQ(csv.code, 0);
  EXPECT_EQ(csv.out.rfind("rank,trial_id,number,units,best_epoch,val_loss,val_accuracy", 0), 0u)
      << csv.out;

  const Result table = Run("leaderboard --db " + Quote(db_));
  ASSERT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("best val_loss (min) first"), std::string::npos) << table.out;
}

// Disagreed before: the report ranked by best_val_accuracy (#1, #3, #2), named #1 its best
// trial, and said "ranked by val_loss".
TEST_F(RankingCliTest, ReportRanksByLossAndNamesTheRule) {
  const std::string html = dir_ + "/report.html";
  const Result rep = Run("report --db " + Quote(db_) + " -o " + Quote(html) + " --data-dir " +
                         Quote(dir_ + "/no-data"));
  ASSERT_EQ(rep.code, 0);
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("ranked by val_loss (min)."), std::string::npos);
  // The leaderboard table: "<tr><td>RANK</td><td>#NUMBER</td>", up to the next section.
  const size_t from = page.find("id=\"leaderboard\""), to = page.find("</table>", from);
  ASSERT_NE(from, std::string::npos);
  const std::string table = page.substr(from, to - from);
  const std::regex row("<tr[^>]*><td>(\\d+)</td><td[^>]*>#(\\d+)</td>");
  std::vector<int> order;
  for (auto it = std::sregex_iterator(table.begin(), table.end(), row);
       it != std::sregex_iterator(); ++it) {
    EXPECT_EQ(std::stoi((*it)[1]), static_cast<int>(order.size()) + 1);
    order.push_back(std::stoi((*it)[2]));
  }
  EXPECT_EQ(order, kLossOrder);
  EXPECT_NE(table.find("<th>val_loss</th>"), std::string::npos);
  EXPECT_NE(page.find("The best trial: #2<"), std::string::npos);
}

// `report 1 2` compares the sweeps on one page (was: the second positional was refused); a
// sweep that does not exist is an error that names it.
TEST_F(RankingCliTest, ReportComparesSweeps) {
  AddCancelledSweep();
  const std::string html = dir_ + "/compare.html";
  const Result rep = Run("report 1 2 --db " + Quote(db_) + " -o " + Quote(html));
  ASSERT_EQ(rep.code, 0);
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("Sweep 1: loss"), std::string::npos);
  EXPECT_NE(page.find("Sweep 2: later"), std::string::npos);
  EXPECT_NE(page.find("Best #2: <b>val_loss 0.2000</b>"), std::string::npos);
  const Result bad = RunBoth("report 1 99 --db " + Quote(db_) + " -o " + Quote(html));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("no sweep 99"), std::string::npos) << bad.out;
}

// `--trial best` is the min-loss trial: its summary is trial #2's (units 2), not #1's.
TEST_F(RankingCliTest, TrialBestIsTheLowestLoss) {
  const Result js = Run("leaderboard --db " + Quote(db_) + " --format json");
  ASSERT_EQ(js.code, 0);
  const json lb = json::parse(js.out);
  const Result best = Run("summary --trial best --db " + Quote(db_));
  ASSERT_EQ(best.code, 0) << best.out;
  // --trial takes a trial's number in its sweep, as the leaderboard shows it (#N or N).
  const Result two = Run("summary --trial 2 --db " + Quote(db_));
  const Result one = Run("summary --trial '#1' --db " + Quote(db_));
  ASSERT_EQ(two.code, 0);
  ASSERT_EQ(one.code, 0);
  auto params = [](const std::string& s) {
    const size_t p = s.find("Total params: ");
    return p == std::string::npos ? std::string() : s.substr(p, s.find('\n', p) - p);
  };
  EXPECT_FALSE(params(best.out).empty()) << best.out;
  EXPECT_EQ(params(best.out), params(two.out));
  EXPECT_NE(params(best.out), params(one.out));
}

// `--trial N --sweep S` is #N of sweep S, not the trial whose global id is N, and the command says
// which trial it used. `--trial best` without --sweep skips a cancelled latest sweep.
TEST_F(RankingCliTest, TrialNumberIsWithinTheNamedSweep) {
  AddCancelledSweep();
  auto params = [](const std::string& s) {
    const size_t p = s.find("Total params: ");
    return p == std::string::npos ? std::string() : s.substr(p, s.find('\n', p) - p);
  };
  const Result first = RunBoth("summary --trial 1 --sweep 1 --db " + Quote(db_));
  const Result later = RunBoth("summary --trial 1 --sweep 2 --db " + Quote(db_));
  ASSERT_EQ(first.code, 0) << first.out;
  ASSERT_EQ(later.code, 0) << later.out;
  EXPECT_NE(first.out.find("using trial #1 of sweep 1 (loss)"), std::string::npos) << first.out;
  EXPECT_NE(later.out.find("using trial #1 of sweep 2 (later): completed"), std::string::npos)
      << later.out;
  // LSTM-40 and LSTM-1 have different parameter counts: --sweep was not ignored.
  EXPECT_NE(params(first.out), params(later.out));
  EXPECT_FALSE(params(later.out).empty());

  // Sweep 2 is the latest, but cancelled after one trial: best comes from sweep 1 (#2, the
  // lowest val_loss there), and the output says so.
  const Result best = RunBoth("summary --trial best --db " + Quote(db_));
  ASSERT_EQ(best.code, 0) << best.out;
  EXPECT_NE(best.out.find("using trial #2 of sweep 1 (loss): completed, val_loss 0.2000"),
            std::string::npos)
      << best.out;
  // Asked for explicitly, the cancelled sweep's best is given.
  const Result best2 = RunBoth("summary --trial best --sweep 2 --db " + Quote(db_));
  ASSERT_EQ(best2.code, 0) << best2.out;
  EXPECT_NE(best2.out.find("using trial #1 of sweep 2 (later): completed"), std::string::npos)
      << best2.out;

  // A number the sweep lacks, and a malformed one, are named.
  const Result missing = RunBoth("summary --trial 2 --sweep 2 --db " + Quote(db_));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("sweep 2 (later) has no finished trial #2"), std::string::npos)
      << missing.out;
  const Result bad = RunBoth("summary --trial 1x --db " + Quote(db_));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--trial: expected a trial's number"), std::string::npos) << bad.out;
}

// A leaderboard of one row (or of rows that share a value) keeps every axis of the sweep as a
// column, and says the fixed settings above the table; it used to drop a column whose value was
// the same in every row shown.
TEST_F(RankingCliTest, LeaderboardKeepsTheAxesAndNamesTheFixedSettings) {
  const Result table = Run("leaderboard --db " + Quote(db_) + " --top 1");
  ASSERT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("fixed: cell=lstm, epochs=1\n"), std::string::npos) << table.out;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("\nrank +trial +units +best ep")))
      << table.out;
  const Result js = Run("leaderboard --db " + Quote(db_) + " --top 1 --format json");
  ASSERT_EQ(js.code, 0);
  const json lb = json::parse(js.out);
  EXPECT_EQ(lb["axes"], json::array({"units"}));
  EXPECT_EQ(lb["fixed"]["cell"], "lstm");
  EXPECT_EQ(lb["fixed"]["epochs"], 1);
  const Result csv = Run("leaderboard --db " + Quote(db_) + " --top 1 --format csv");
  ASSERT_EQ(csv.code, 0);
  EXPECT_EQ(csv.out.rfind("rank,trial_id,number,units,", 0), 0u) << csv.out;
}

// A pruned or running trial never ran the test pass: JSON says null there, never -1 as if it
// were a value; the pruned one says at which epoch it was stopped (as the dashboard's API); the
// table still prints "-".
TEST_F(RankingCliTest, JsonWritesNullForValuesNotMeasuredAndPrunedAtEpoch) {
  AddPrunedAndRunningSweep();
  const Result js = Run("leaderboard 2 --db " + Quote(db_) + " --format json");
  ASSERT_EQ(js.code, 0) << js.out;
  const json lb = json::parse(js.out);
  ASSERT_EQ(lb["rows"].size(), 3u) << js.out;
  for (const auto& r : lb["rows"]) {
    const int n = r["number"].get<int>();
    SCOPED_TRACE(n);
    EXPECT_EQ(r["status"], n == 1 ? "completed" : n == 2 ? "pruned" : "running");
    if (n == 1) {
      EXPECT_DOUBLE_EQ(r["test_accuracy"].get<double>(), 0.5);
    } else {
      EXPECT_TRUE(r["test_accuracy"].is_null()) << r;
    }
    ASSERT_TRUE(r.contains("pruned_at_epoch")) << r;
    if (n == 2) {
      EXPECT_EQ(r["pruned_at_epoch"], 1);
    } else {
      EXPECT_TRUE(r["pruned_at_epoch"].is_null()) << r;
    }
    EXPECT_TRUE(r["val_loss"].is_number()) << r;
  }

  const Result ex = Run("export 2 --db " + Quote(db_) + " --format json");
  ASSERT_EQ(ex.code, 0) << ex.out;
  const json e = json::parse(ex.out);
  ASSERT_EQ(e["trials"].size(), 3u);
  for (const auto& t : e["trials"]) {
    const int n = t["number"].get<int>();
    SCOPED_TRACE(n);
    if (n == 1) {
      EXPECT_DOUBLE_EQ(t["test_accuracy"].get<double>(), 0.5);
      EXPECT_DOUBLE_EQ(t["test_loss"].get<double>(), 1);
    } else {
      EXPECT_TRUE(t["test_accuracy"].is_null()) << t["test_accuracy"];
      EXPECT_TRUE(t["test_loss"].is_null()) << t["test_loss"];
    }
    EXPECT_TRUE(t["best_val_loss"].is_number()) << t["best_val_loss"];
  }
  // CSV: an empty cell, not -1 or nan.
  const Result csv = Run("export 2 --db " + Quote(db_) + " --format csv");
  ASSERT_EQ(csv.code, 0) << csv.out;
  EXPECT_EQ(csv.out.find(",-1,"), std::string::npos) << csv.out;
  EXPECT_EQ(csv.out.find("nan"), std::string::npos) << csv.out;

  const Result table = Run("leaderboard 2 --db " + Quote(db_));
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find(" - "), std::string::npos) << table.out;
}

}  // namespace
}  // namespace hpsweep::ranking_test
