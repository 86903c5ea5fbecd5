// End-to-end tests of workers that meet a trial they cannot run, with real processes of the
// hpsweep binary: a trial too big for the worker's memory, and a worker whose data set differs
// from the coordinator's. Neither may cost the trial an attempt or the worker its life.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "coordinator/store/storage.h"
#include "base/sha256.h"
#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::worker_faults_e2e_test {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

// Changes one pixel byte of an IDX image file (past its 16-byte header) in place.
void FlipByte(const std::string& path, char mask) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(16 + 784 * 10 + 400);
  char c = 0;
  f.read(&c, 1);
  f.seekp(16 + 784 * 10 + 400);
  c = static_cast<char>(c ^ mask);
  f.write(&c, 1);
}

const char* const kDataFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

class WorkerFaultsE2ETest : public E2ETest {
 protected:
  WorkerFaultsE2ETest() : E2ETest("worker_e2e") {}

  void SetUp() override {
    E2ETest::SetUp();
    log_ = P("coordinator.txt");
  }

  std::unique_ptr<Process> StartCoordinator(const std::string& data_dir = MnistDir(),
                                            std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"coordinator", "--listen",   addr_,    "--db",
                                     db_,           "--data-dir", data_dir, "--lease-seconds",
                                     "30"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, log_);
  }
  std::unique_ptr<Process> StartWorker(const std::string& name, const std::string& data_dir,
                                       std::vector<std::string> extra = {},
                                       void (*before_exec)() = nullptr) {
    std::vector<std::string> args = {"worker",     "--coordinator", addr_,       "--name", name,
                                     "--data-dir", data_dir,        "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, (dir_ / (name + ".txt")).string(), before_exec);
  }

  std::unique_ptr<pb::Coordinator::Stub> Stub() {
    return pb::Coordinator::NewStub(grpc::CreateCustomChannel(
        addr_, grpc::InsecureChannelCredentials(), TestChannelArgs()));
  }

  bool WaitUp(double seconds) { return TestClient(addr_).WaitUp(seconds); }

  int64_t Submit(const std::string& yaml) { return TestClient(addr_).Submit(yaml); }

  pb::SweepStatus Status(int64_t sweep) { return TestClient(addr_).Status(sweep); }

  json Export(int64_t sweep) { return TestClient(addr_).Export(sweep); }

};

// The worker's address space: about twice what a worker with the data set loaded uses (measured
// at ~0.7 GB), far below what the big trial's parameters alone need (lstm 4096 x 3: 1.3 GB, and
// as much again for each of gradients and Adam's two moments).
void LimitAddressSpace() {
  struct rlimit limit = {1536ull << 20, 1536ull << 20};
  setrlimit(RLIMIT_AS, &limit);
}

// Regression: std::bad_alloc in a trial that passes every check ended the worker (abort), and
// each re-lease killed the next worker until max_attempts.
TEST_F(WorkerFaultsE2ETest, TrialTooBigForMemoryIsGivenBackUnchargedAndTheWorkerGoesOn) {
  // The coordinator's model-size limits let the huge trial through (a coordinator sized for bigger
  // workers than this one): the worker itself must cope.
  auto coord = StartCoordinator(
      MnistDir(), {"--max-model-params", "1000000000", "--max-training-memory-mb", "1000000"});
  ASSERT_TRUE(WaitUp(20));
  const int64_t sweep = Submit(R"(name: too-big
method: list
data: {validation_split: 0.2, train_limit: 200}
fixed: {epochs: 1, batch_size: 32}
trials:
  - {label: small, cell: gru, units: 4}
  - {label: huge, cell: lstm, units: 4096, layers: 3}
)");
  ASSERT_GT(sweep, 0);
  // Two trials then exit: the small one, then the huge one, which it must survive.
  auto worker = StartWorker("w", MnistDir(), {"--max-trials", "2"}, &LimitAddressSpace);
  ASSERT_TRUE(worker->Wait(120)) << "the worker did not finish its two trials";
  EXPECT_EQ(worker->exit_code(), 0) << "the worker died (negative: killed by that signal)";
  const std::string wlog = ReadText((dir_ / "w.txt").string());
  EXPECT_NE(wlog.find("memory"), std::string::npos) << wlog;
  EXPECT_NE(wlog.find("giving it back (no attempt charged)"), std::string::npos) << wlog;

  json ex = Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 2u);
  EXPECT_EQ(ex["trials"][0]["status"], "completed");
  EXPECT_EQ(ex["trials"][1]["status"], "queued") << ex["trials"][1].dump();
  EXPECT_EQ(ex["trials"][1]["attempts"], 0) << "giving back a trial that does not fit is free";
  const pb::SweepStatus st = Status(sweep);
  EXPECT_EQ(st.running(), 0);
  EXPECT_EQ(st.failed(), 0);
}

// Copies the data set into dir, with one byte of a training image changed (by `mask`) unless
// mask is 0. Returns the sha256 of the copy's training images.
std::string CopyData(const std::string& dir, char mask) {
  fs::create_directories(dir);
  for (const char* f : kDataFiles) fs::copy_file(MnistDir() + "/" + f, dir + "/" + f);
  if (mask != 0) FlipByte(dir + "/train-images-idx3-ubyte", mask);
  return *Sha256File(dir + "/train-images-idx3-ubyte");
}

// Regression: a worker whose MNIST differed by one byte refused every trial correctly but was
// charged an attempt for each, so the whole sweep failed in seconds, before a healthy worker got
// a trial. Now it gives each back uncharged, fetches the coordinator's copy beside its own
// folder (leaving its files alone) and trains from that.
TEST_F(WorkerFaultsE2ETest, WorkerWithDifferentDataCostsNoAttemptAndTrainsFromTheCoordinatorsCopy) {
  // A copy of the data set with one pixel byte changed.
  const std::string bad_dir = (dir_ / "bad-mnist").string();
  const std::string bad_images = bad_dir + "/train-images-idx3-ubyte";
  const std::string bad_sha = CopyData(bad_dir, 0x55);
  const std::string good_sha = *Sha256File(MnistDir() + "/train-images-idx3-ubyte");
  ASSERT_NE(bad_sha, good_sha);

  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(20));
  const int64_t sweep = Submit(R"(name: mixed-data
method: grid
max_attempts: 3
data: {validation_split: 0.2, train_limit: 200}
fixed: {cell: gru, epochs: 1}
parameters:
  units: {values: [4, 8, 12]}
  batch_size: {values: [32, 64]}
)");
  ASSERT_GT(sweep, 0);
  // The odd worker first, alone, until it has met the difference.
  auto odd = StartWorker("odd", bad_dir, {"--exit-when-idle"});
  const std::string odd_log = (dir_ / "odd.txt").string();
  ASSERT_TRUE(PollFor(60, [&] { return ReadText(odd_log).find("differ") != std::string::npos; }))
      << ReadText(odd_log);
  auto healthy = StartWorker("healthy", MnistDir(), {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(180, [&] { return Status(sweep).state() != "running"; }));
  const pb::SweepStatus st = Status(sweep);
  EXPECT_EQ(st.state(), "completed");
  EXPECT_EQ(st.completed(), 6);
  EXPECT_EQ(st.failed(), 0);
  json ex = Export(sweep);
  for (const auto& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["attempts"], 1) << "a refusal for different data charged an attempt: " << t.dump();
  }
  EXPECT_TRUE(odd->Wait(60));
  EXPECT_EQ(odd->exit_code(), 0);
  EXPECT_TRUE(healthy->Wait(60));
  EXPECT_EQ(healthy->exit_code(), 0);
  // The odd worker's own files are as they were; the coordinator's copy is beside them.
  EXPECT_EQ(*Sha256File(bad_images), bad_sha);
  const std::string copy = bad_dir + ".coordinator-" + good_sha.substr(0, 8);
  auto copied = Sha256File(copy + "/train-images-idx3-ubyte");
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(*copied, good_sha);
  EXPECT_NE(ReadText(odd_log).find("training from now on with the data in " + copy),
            std::string::npos)
      << ReadText(odd_log);
}

// When the coordinator's copy cannot be had either (here: the coordinator's file changed after
// it started, so what it sends is not what its trials name), the odd worker says so once and
// leases nothing, so the sweep waits, uncharged, for a worker whose data match.
TEST_F(WorkerFaultsE2ETest, WorkerThatCannotGetMatchingDataLeasesNothingAndSaysWhyOnce) {
  const std::string coord_dir = (dir_ / "coordinator-mnist").string();
  const std::string good_sha = CopyData(coord_dir, 0);
  const std::string bad_dir = (dir_ / "bad-mnist").string();
  CopyData(bad_dir, 0x55);
  auto coord = StartCoordinator(coord_dir);
  ASSERT_TRUE(WaitUp(20));
  FlipByte(coord_dir + "/train-images-idx3-ubyte", 0x0f);  // after the coordinator took its sha
  const int64_t sweep = Submit(R"(name: no-match
method: grid
data: {validation_split: 0.2, train_limit: 200}
fixed: {cell: gru, epochs: 1}
parameters:
  units: {values: [4, 8]}
)");
  ASSERT_GT(sweep, 0);
  auto odd = StartWorker("odd", bad_dir, {"--exit-when-idle"});
  const std::string odd_log = (dir_ / "odd.txt").string();
  const std::string blocked = "not leasing trials until this worker's data match";
  ASSERT_TRUE(PollFor(60, [&] { return ReadText(odd_log).find(blocked) != std::string::npos; }))
      << ReadText(odd_log);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // it would have leased again by now
  EXPECT_TRUE(odd->running());
  pb::SweepStatus st = Status(sweep);
  EXPECT_EQ(st.queued() + st.unproposed(), 2);  // (proposed at lease time: given back, or not yet)
  EXPECT_EQ(st.running(), 0);
  EXPECT_EQ(st.failed(), 0);
  // The export named, so that the loop walks a live object (not a destroyed temporary's member).
  // Trials are proposed at lease time, so it lists those the worker leased and gave back.
  const json leased = Export(sweep);
  ASSERT_LE(leased["trials"].size(), 2u) << leased.dump();
  for (const auto& t : leased["trials"]) EXPECT_EQ(t["attempts"], 0) << t.dump();
  const std::string text = ReadText(odd_log);
  EXPECT_EQ(text.find(blocked), text.rfind(blocked)) << "said more than once:\n" << text;
  EXPECT_FALSE(
      fs::exists(bad_dir + ".coordinator-" + good_sha.substr(0, 8) + "/train-images-idx3-ubyte"))
      << "a copy that does not match was kept";

  auto healthy = StartWorker("healthy", MnistDir(), {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(120, [&] { return Status(sweep).state() != "running"; }));
  st = Status(sweep);
  EXPECT_EQ(st.completed(), 2);
  const json done = Export(sweep);
  ASSERT_EQ(done["trials"].size(), 2u) << done.dump();
  for (const auto& t : done["trials"]) {
    EXPECT_EQ(t["attempts"], 1) << t.dump();
    EXPECT_EQ(t["worker"], "healthy") << t.dump();
  }
  odd->Signal(SIGTERM);
  ASSERT_TRUE(odd->Wait(20)) << "a blocked worker must still stop on SIGTERM";
  EXPECT_EQ(odd->exit_code(), 0);
}

}  // namespace
}  // namespace hpsweep::worker_faults_e2e_test
