// End to end with real processes: a sweep of its own data (a CSV time series) whose files a
// worker lacks is still trained there, from a copy the worker fetches from the coordinator into
// a cache folder of its own, checked by sha256; the metrics equal those of a worker that reads
// the files in place. A data set changed on the coordinator since submit is refused.
//
// One machine stands for several nodes through the path /proc/self/cwd: the sweep names its
// files /proc/self/cwd/train.csv, which the kernel resolves against each process's own working
// folder. The coordinator runs in a folder that has the files; a "far" worker in one that has
// not (so the files at the named path are missing there, as on another node).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "engine/dataset.h"
#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::own_data_e2e_test {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

// The folder the next Process starts in (Process's before_exec takes no closure; chdir is
// async-signal-safe).
char g_cwd[4096];
void ChdirToCwd() {
  if (chdir(g_cwd) != 0) _exit(126);
}

// Rows label,f1..f16: 8 steps of 2 features; class c (0..3) is a sine of frequency c+1 in the
// first feature over noise in the second. With `names`, class c's label is names[c].
void WriteCsv(const std::string& path, int rows, unsigned seed,
              const std::vector<std::string>& names = {}) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.2f);
  std::ofstream out(path);
  out << "label,features\n";
  for (int i = 0; i < rows; ++i) {
    const int c = i % 4;
    if (names.empty()) {
      out << c;
    } else {
      out << names[static_cast<size_t>(c)];
    }
    for (int t = 0; t < 8; ++t) {
      out << "," << std::sin(0.6f * (c + 1) * t) + noise(rng) << "," << noise(rng);
    }
    out << "\n";
  }
}

class OwnDataE2ETest : public E2ETest {
 protected:
  OwnDataE2ETest() : E2ETest("own_e2e") {}

  void SetUp() override {
    E2ETest::SetUp();
    if (IsSkipped()) return;
    fs::create_directories(dir_ / "coord");
    fs::create_directories(dir_ / "far");
    // The far node has MNIST (workers load it at start) but not the sweep's files.
    fs::create_directory_symlink(fs::absolute(MnistDir()), dir_ / "far" / "mnist");
    WriteCsv((dir_ / "coord" / "train.csv").string(), 240, 1);
    WriteCsv((dir_ / "coord" / "test.csv").string(), 80, 2);
  }

  std::unique_ptr<Process> StartIn(const fs::path& cwd, const std::vector<std::string>& args) {
    std::snprintf(g_cwd, sizeof(g_cwd), "%s", cwd.c_str());
    return std::make_unique<Process>(args, log_, ChdirToCwd);
  }
  std::unique_ptr<Process> StartCoordinator() {
    return StartIn(dir_ / "coord", {"coordinator", "--listen", addr_, "--db", db_, "--data-dir",
                                    fs::absolute(MnistDir()).string(), "--data-root",
                                    (dir_ / "coord").string(), "--lease-seconds", "10"});
  }
  // A worker in `node` (far or coord), MNIST from node/mnist (far) or the real folder.
  std::unique_ptr<Process> StartWorker(const std::string& name, const std::string& node) {
    const std::string data_dir =
        node == "far" ? (dir_ / "far" / "mnist").string() : fs::absolute(MnistDir()).string();
    return StartIn(dir_ / node, {"worker", "--coordinator", addr_, "--name", name, "--data-dir",
                                 data_dir, "--threads", "1", "--exit-when-idle"});
  }

  // method: "grid", or "bayes" (max_trials 1: its one trial is proposed at lease time).
  int64_t Submit(const std::string& name, const std::string& method = "grid") {
    return TestClient(addr_).Submit(
        "name: " + name + "\nmethod: " + method + (method == "bayes" ? "\nmax_trials: 1" : "") +
        "\n"
        "data: {format: csv, train: /proc/self/cwd/train.csv, test: /proc/self/cwd/test.csv,"
        " sequence_length: 8, seed: 3, validation_split: 0.2}\n"
        "fixed: {cell: lstm, epochs: 3, batch_size: 16, optimizer: adam, learning_rate: 0.01}\n"
        "parameters:\n  units: {values: [8]}\n");
  }

  // Runs the sweep on one worker in `node` to the end; its only trial's export.
  json RunOn(int64_t sweep, const std::string& node) {
    auto w = StartWorker("w-" + node + std::to_string(sweep), node);
    EXPECT_TRUE(
        PollFor(120, [&] { return TestClient(addr_).Status(sweep).state() == "completed"; }))
        << "sweep " << sweep << " did not finish";
    EXPECT_TRUE(w->Wait(60));
    const json ex = TestClient(addr_).Export(sweep);
    if (!ex.contains("trials") || ex["trials"].size() != 1) {
      ADD_FAILURE() << ex.dump();
      return json();
    }
    return ex["trials"][0];
  }

  // GetDataset for an own data set: the status, and the bytes sent per file.
  grpc::Status Fetch(const std::string& sha, std::map<std::string, int64_t>* bytes) {
    auto stub =
        pb::Coordinator::NewStub(grpc::CreateCustomChannel(
        addr_, grpc::InsecureChannelCredentials(), TestChannelArgs()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::GetDatasetRequest req;
    req.set_sha256(sha);
    auto reader = stub->GetDataset(&ctx, req);
    pb::DatasetChunk chunk;
    while (reader->Read(&chunk))
      (*bytes)[chunk.part() + "/" + chunk.file_name()] += chunk.data().size();
    return reader->Finish();
  }

  std::string CoordSha() {
    DataSpec spec;
    spec.format = DataFormat::kCsv;
    spec.train_file = (dir_ / "coord" / "train.csv").string();
    spec.test_file = (dir_ / "coord" / "test.csv").string();
    spec.sequence_length = 8;
    StatusOr<std::string> sha = DatasetSha256(spec);
    EXPECT_TRUE(sha.ok()) << sha.status().ToString();
    return sha.ok() ? *sha : "";
  }
};

TEST_F(OwnDataE2ETest, WorkerWithoutTheFilesTrainsFromAFetchedCopyWithTheSameMetrics) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const std::string sha = CoordSha();
  ASSERT_EQ(sha.size(), 64u);
  ASSERT_FALSE(fs::exists(dir_ / "far" / "train.csv"));

  // A worker that lacks the files fetches them into <data-dir>.own-<sha12>, not the named path.
  const int64_t a = Submit("own-far");
  ASSERT_GT(a, 0);
  const json far = RunOn(a, "far");
  const fs::path cache = dir_ / "far" / ("mnist.own-" + sha.substr(0, 12));
  EXPECT_EQ(far["status"], "completed") << far.dump();
  EXPECT_FALSE(fs::exists(dir_ / "far" / "train.csv"));
  for (const char* f : {"train", "test"}) {
    const std::string copy = (cache / f / (std::string(f) + ".csv")).string();
    ASSERT_TRUE(fs::exists(copy)) << copy;
    EXPECT_EQ(*Sha256File(copy),
              *Sha256File((dir_ / "coord" / (std::string(f) + ".csv")).string()));
  }
  std::string log = ReadText(log_);
  EXPECT_NE(log.find("fetching it from the coordinator into " + cache.string()), std::string::npos);
  EXPECT_NE(log.find("training with the sweep's own data set in " + (cache / "train").string()),
            std::string::npos);

  // The same sweep again on a fresh far worker: the cached copy is reused, not fetched again.
  const int64_t b = Submit("own-far-again");
  const json again = RunOn(b, "far");
  EXPECT_NE(ReadText(log_).find("using the copy in " + cache.string()), std::string::npos);

  // And on a worker that has the files in place: the same numbers (one thread, same seed).
  const int64_t c = Submit("own-near");
  const json near = RunOn(c, "coord");
  EXPECT_EQ(near["status"], "completed") << near.dump();
  for (const char* key : {"test_accuracy", "test_loss", "best_val_accuracy", "best_val_loss"}) {
    ASSERT_TRUE(near[key].is_number()) << key << ": " << near.dump();
    EXPECT_EQ(far[key], near[key]) << key;
    EXPECT_EQ(again[key], near[key]) << key;
  }
  EXPECT_GT(near["test_accuracy"].get<double>(), 0.5);  // 4 classes: chance is 0.25

  // After a restart the coordinator finds the data set from its stored sweeps.
  coord.reset();
  coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  std::map<std::string, int64_t> sent;
  grpc::Status s = Fetch(sha, &sent);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(sent["train/train.csv"],
            static_cast<int64_t>(fs::file_size(dir_ / "coord" / "train.csv")));
  EXPECT_EQ(sent["test/test.csv"],
            static_cast<int64_t>(fs::file_size(dir_ / "coord" / "test.csv")));
  EXPECT_EQ(sent.size(), 2u);
}

// A bayes sweep's proposals carry the data too (they once went out without it, and workers
// trained on MNIST): a worker without the files fetches them and trains the 4-class model.
TEST_F(OwnDataE2ETest, BayesSweepTrainsItsOwnDataOnAWorkerWithoutTheFiles) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const std::string sha = CoordSha();
  const int64_t sweep = Submit("own-bayes", "bayes");
  ASSERT_GT(sweep, 0);
  const json t = RunOn(sweep, "far");
  EXPECT_EQ(t["status"], "completed") << t.dump();
  EXPECT_EQ(t["params"]["data.format"], "csv") << t.dump();
  EXPECT_EQ(t["params"]["data.sha256"], sha) << t.dump();
  EXPECT_EQ(t["confusion_matrix"].size(), 16u) << t.dump();  // 4 x 4 classes, not MNIST's 10
  const std::string cache = (dir_ / "far" / ("mnist.own-" + sha.substr(0, 12))).string();
  EXPECT_NE(ReadText(log_).find("fetching it from the coordinator into " + cache),
            std::string::npos)
      << ReadText(log_);
}

// Label names: the coordinator checks the files at submit, a far worker parses its fetched copy
// and a near one the files in place; all give the names the same classes (sorted by name, not in
// the order the rows show them), so the trained models agree to the last bit.
TEST_F(OwnDataE2ETest, LabelNamesTrainTheSameOnAFetchedCopyAndInPlace) {
  const std::vector<std::string> names = {"zeta", "alpha", "mid", "beta"};  // rows: zeta first
  WriteCsv((dir_ / "coord" / "train.csv").string(), 240, 1, names);
  WriteCsv((dir_ / "coord" / "test.csv").string(), 80, 2, names);
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const std::string sha = CoordSha();
  const int64_t a = Submit("own-names-far");
  ASSERT_GT(a, 0);
  const json far = RunOn(a, "far");
  EXPECT_EQ(far["status"], "completed") << far.dump();
  const std::string cache = (dir_ / "far" / ("mnist.own-" + sha.substr(0, 12))).string();
  EXPECT_NE(ReadText(log_).find("fetching it from the coordinator into " + cache),
            std::string::npos);
  const int64_t b = Submit("own-names-near");
  const json near = RunOn(b, "coord");
  EXPECT_EQ(near["status"], "completed") << near.dump();
  for (const char* key : {"test_accuracy", "test_loss", "confusion_matrix"}) {
    ASSERT_FALSE(near[key].is_null()) << key << ": " << near.dump();
    EXPECT_EQ(far[key], near[key]) << key;
  }
  EXPECT_EQ(near["confusion_matrix"].size(), 16u) << near.dump();  // 4 named classes
  EXPECT_GT(near["test_accuracy"].get<double>(), 0.5);
}

TEST_F(OwnDataE2ETest, DataSetChangedOnTheCoordinatorIsRefused) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const std::string sha = CoordSha();
  const int64_t a = Submit("own-changed");
  ASSERT_GT(a, 0);
  // An unknown sha256 names no stored sweep: nothing is sent.
  std::map<std::string, int64_t> sent;
  grpc::Status s = Fetch(std::string(64, 'a'), &sent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_TRUE(sent.empty());
  // A path is not a sha256.
  s = Fetch("../../etc/passwd", &sent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(sent.empty());

  WriteCsv((dir_ / "coord" / "test.csv").string(), 80, 9);  // changed after submit
  s = Fetch(sha, &sent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("its files changed since submit"), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(sent.empty());

  // A far worker cannot get the files: the trial fails with the reason, and no cache is left.
  const std::string cache = (dir_ / "far" / ("mnist.own-" + sha.substr(0, 12))).string();
  auto w = StartWorker("w-far", "far");
  EXPECT_TRUE(PollFor(60, [&] { return TestClient(addr_).Status(a).state() != "running"; }));
  EXPECT_TRUE(w->Wait(60));
  const json ex = TestClient(addr_).Export(a);
  ASSERT_EQ(ex["trials"].size(), 1u) << ex.dump();
  EXPECT_EQ(ex["trials"][0]["status"], "failed") << ex.dump();
  EXPECT_NE(ex["trials"][0].dump().find("its files changed since submit"), std::string::npos)
      << ex.dump();
  EXPECT_FALSE(fs::exists(cache));
}

}  // namespace
}  // namespace hpsweep::own_data_e2e_test
