// Checkpoint cost (resuming trials, engine/checkpoint.h): for a few models, the checkpoint's size
// and the time to make one (copy the state out of the trainer, serialise), to write it the way the
// coordinator does (temporary file, fsync, rename) and to parse it back. Adam (two optimizer
// slots): the largest checkpoint of a model. Median of --rounds. Prints figures; asserts nothing.
//
//   build/bench/hpsweep_checkpoint_bench [--rounds N] [--dir DIR]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/cpu_info.h"
#include "engine/checkpoint.h"
#include "engine/network.h"
#include "engine/optimizer.h"

namespace hpsweep {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool WriteSynced(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

int Main(int argc, char** argv) {
  int rounds = 7;
  std::string dir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  struct Row {
    const char* name;
    std::vector<std::pair<const char*, const char*>> keys;
  };
  const std::vector<Row> rows = {
      {"LSTM-128", {{"cell", "lstm"}, {"units", "128"}}},
      {"LSTM-128 + Dense 64", {{"cell", "lstm"}, {"units", "128"}, {"dense", "[64]"}}},
      {"LSTM-256x3", {{"cell", "lstm"}, {"units", "256"}, {"layers", "3"}}},
  };
  std::printf("cpu: %s\n", CpuSummary().c_str());
  std::printf("%-22s %10s %12s %10s %12s %10s\n", "model (adam, 10 epochs)", "params", "ckpt bytes",
              "make ms", "write+fsync", "parse ms");
  for (const Row& row : rows) {
    TrialConfig config;
    for (const auto& [k, v] : row.keys) ApplyKey(k, v, &config);
    ApplyKey("epochs", "10", &config);
    const Model model = InitModel(config);
    OptimizerState opt(config.train, static_cast<int64_t>(model.params.size()));
    std::vector<double> make, write, parse;
    std::string bytes;
    for (int r = 0; r < rounds; ++r) {
      double t0 = Now();
      TrainCheckpoint c;  // as Train makes it: copies of the state, then the bytes
      c.epoch = 5;
      c.step = c.optimizer_steps = 5 * 1500;
      c.params = model.params;
      c.slot_m = opt.slot_m();
      c.slot_v = opt.slot_v();
      c.history.resize(5);
      for (int e = 0; e < 5; ++e) c.history[e].epoch = e + 1;
      bytes = SerializeCheckpoint(config, c);
      double t1 = Now();
      if (!WriteSynced(dir + "/hpsweep_checkpoint_bench.ckpt", bytes)) {
        std::fprintf(stderr, "cannot write in %s\n", dir.c_str());
        return 1;
      }
      double t2 = Now();
      StatusOr<TrainCheckpoint> back = ParseCheckpoint(bytes, config, "bench");
      double t3 = Now();
      if (!back.ok()) {
        std::fprintf(stderr, "%s\n", back.status().ToString().c_str());
        return 1;
      }
      make.push_back(t1 - t0);
      write.push_back(t2 - t1);
      parse.push_back(t3 - t2);
    }
    std::printf("%-22s %10lld %12zu %10.1f %12.1f %10.1f\n", row.name,
                static_cast<long long>(model.params.size()), bytes.size(), 1e3 * Median(make),
                1e3 * Median(write), 1e3 * Median(parse));
  }
  std::remove((dir + "/hpsweep_checkpoint_bench.ckpt").c_str());
  return 0;
}

}  // namespace
}  // namespace hpsweep

int main(int argc, char** argv) { return hpsweep::Main(argc, argv); }
