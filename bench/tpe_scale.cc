// TPE at scale: the time of one bayes proposal (Sampler::Propose, search/sampler.h) with 1,000,
// 5,000 and 10,000 finished trials in the history, over six parameters (two categorical, two
// integer, one log-scale, one float: the sampler test's space). The histories are random points
// of that space scored by a fixed function, written as CSV (--write-histories DIR) so that
// bench/tpe_scale.py times Optuna's TPESampler on exactly the same trials.
//
//   hpsweep_tpe_scale [--sizes 1000,5000,10000] [--rounds 9] [--write-histories DIR]
//
// Prints, per size, the median, min and max of `rounds` proposals, each of trial N + 1 (a new
// seed draw each round: the proposal's randomness comes from its number, so rounds use numbers
// N + 1, N + 2, ... over the same history; max_trials is 10,000, the most a sweep may ask for,
// so a history of 10,000 is a finished sweep asked for one more).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/cpu_info.h"
#include "search/sampler.h"
#include "search/sweep_file.h"

namespace {

using hpsweep::Sampler;
using hpsweep::TrialRow;
using hpsweep::TrialStatus;

const char kYaml[] =
    "name: tpe-scale\nmethod: bayes\nmax_trials: 10000\nseed: 7\n"
    "metric: {name: val_accuracy, goal: maximize}\nfixed: {epochs: 1}\nparameters:\n"
    "  cell: {values: [lstm, gru, simple_rnn]}\n"
    "  activation: {values: [relu, tanh]}\n"
    "  units: {distribution: int_uniform, min: 8, max: 256}\n"
    "  layers: {distribution: int_uniform, min: 1, max: 4}\n"
    "  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0}\n"
    "  recurrent_dropout: {distribution: uniform, min: 0, max: 0.5}\n";

// The score of a point: smooth in the numeric axes, best at (gru, tanh, 96, 2, 3e-3, 0.1).
double Score(const std::map<std::string, std::string>& p) {
  const double l = (std::log10(std::stod(p.at("learning_rate"))) - std::log10(3e-3)) / 0.6;
  const double u = (std::stod(p.at("units")) - 96) / 50;
  double f = 0.4 * std::exp(-l * l) + 0.2 * std::exp(-u * u);
  f += p.at("cell") == "gru" ? 0.15 : p.at("cell") == "lstm" ? 0.08 : 0;
  f += p.at("activation") == "tanh" ? 0.05 : 0;
  f += p.at("layers") == "2" ? 0.1 : 0;
  f += 0.1 * (1 - std::fabs(std::stod(p.at("recurrent_dropout")) - 0.1) / 0.4);
  return f;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// n completed trials at random points (seeded), numbered 1..n.
std::deque<TrialRow> History(int n) {
  std::mt19937_64 rng(20261205);
  std::uniform_real_distribution<double> unit(0, 1);
  const char* cells[] = {"lstm", "gru", "simple_rnn"};
  const char* acts[] = {"relu", "tanh"};
  std::deque<TrialRow> rows;
  for (int i = 1; i <= n; ++i) {
    TrialRow r;
    r.number = i;
    r.params["cell"] = cells[rng() % 3];
    r.params["activation"] = acts[rng() % 2];
    r.params["units"] = std::to_string(8 + static_cast<int>(rng() % 249));
    r.params["layers"] = std::to_string(1 + static_cast<int>(rng() % 4));
    r.params["learning_rate"] = Num(std::pow(10.0, -5 + 5 * unit(rng)));
    r.params["recurrent_dropout"] = Num(0.5 * unit(rng));
    r.status = TrialStatus::kCompleted;
    r.best_epoch = 1;
    r.epochs_run = 1;
    r.best_val_accuracy = Score(r.params);
    r.best_val_loss = 1 - r.best_val_accuracy;
    rows.push_back(std::move(r));
  }
  return rows;
}

bool WriteCsv(const std::string& path, const std::deque<TrialRow>& rows) {
  std::ofstream out(path);
  out << "cell,activation,units,layers,learning_rate,recurrent_dropout,value\n";
  for (const TrialRow& r : rows) {
    const auto& p = r.params;
    out << p.at("cell") << ',' << p.at("activation") << ',' << p.at("units") << ','
        << p.at("layers") << ',' << p.at("learning_rate") << ',' << p.at("recurrent_dropout")
        << ',' << Num(r.best_val_accuracy) << '\n';
  }
  return static_cast<bool>(out);
}

std::vector<int> ParseSizes(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    const int v = std::atoi(item.c_str());
    if (v < 1 || v > 1000000) {
      std::fprintf(stderr, "tpe_scale: --sizes: %s is not in 1..1000000\n", item.c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 5000, 10000};
  int rounds = 9;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--sizes") {
      sizes = ParseSizes(argv[i + 1]);
    } else if (flag == "--rounds") {
      rounds = std::max(1, std::min(1000, std::atoi(argv[i + 1])));
    } else if (flag == "--write-histories") {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "tpe_scale: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: hpsweep_tpe_scale [--sizes N,N] [--rounds R] "
                         "[--write-histories DIR]\n");
    return 2;
  }
  auto spec = hpsweep::ParseSweep(kYaml, "tpe-scale.yaml");
  if (!spec.ok()) {
    std::fprintf(stderr, "tpe_scale: %s\n", spec.status().ToString().c_str());
    return 1;
  }
  auto sampler = hpsweep::MakeSampler(*spec, "tpe-scale.yaml");
  if (!sampler.ok()) {
    std::fprintf(stderr, "tpe_scale: %s\n", sampler.status().ToString().c_str());
    return 1;
  }
  std::printf("cpu: %s\n", hpsweep::CpuSummary().c_str());
  std::printf("%-8s %10s %10s %10s\n", "history", "median_ms", "min_ms", "max_ms");
  for (int n : sizes) {
    const std::deque<TrialRow> rows = History(n);
    if (!dir.empty() && !WriteCsv(dir + "/history_" + std::to_string(n) + ".csv", rows)) {
      std::fprintf(stderr, "tpe_scale: cannot write %s\n", dir.c_str());
      return 1;
    }
    std::vector<const TrialRow*> ptrs;
    for (const TrialRow& r : rows) ptrs.push_back(&r);
    std::vector<double> ms;
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      auto t = (*sampler)->Propose(n + 1 + r, ptrs);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!t.ok()) {
        std::fprintf(stderr, "tpe_scale: %s\n", t.status().ToString().c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-8d %10.3f %10.3f %10.3f\n", n, ms[ms.size() / 2], ms.front(), ms.back());
  }
  return 0;
}
