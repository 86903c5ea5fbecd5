// End-to-end test of resuming trials with real processes of the hpsweep binary: a worker killed
// (SIGKILL) mid-trial after it sent a checkpoint; another worker takes the trial when the lease
// expires, resumes from the checkpoint and ends with the same per-epoch metrics, test metrics and
// model bytes as an uninterrupted run of the same trial (same seed, same thread count).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::resume_e2e_test {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

// One trial whose epochs take a second or two on one thread: long enough to be killed inside one.
// Recurrent dropout makes the dropout RNG part of the state that must carry over.
constexpr char kSweep[] = R"(name: resume
method: list
data: {validation_split: 0.2, train_limit: 6000, seed: 3}
fixed: {epochs: 3, batch_size: 32, optimizer: adam}
trials:
  - {label: only, cell: lstm, units: 32, recurrent_dropout: 0.1}
)";

class ResumeE2ETest : public E2ETest {
 protected:
  ResumeE2ETest() : E2ETest("resume_e2e") {}

  // A coordinator on its own database and port.
  std::unique_ptr<Process> Coordinator(const std::string& name, std::string* addr,
                                       const std::string& lease_seconds) {
    *addr = "127.0.0.1:" + std::to_string(FreePort());
    return std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--listen", *addr, "--db", Db(name), "--data-dir",
                                 MnistDir(), "--lease-seconds", lease_seconds},
        (dir_ / (name + "-coordinator.txt")).string());
  }
  std::unique_ptr<Process> Worker(const std::string& name, const std::string& addr) {
    return std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr, "--name", name, "--data-dir",
                                 MnistDir(), "--threads", "1", "--max-trials", "1"},
        (dir_ / (name + ".txt")).string());
  }
  std::string Db(const std::string& name) { return (dir_ / (name + ".db")).string(); }

  static std::string Model(const std::string& addr, int64_t trial_id) {
    TestClient client(addr);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::GetModelRequest req;
    req.set_trial_id(trial_id);
    pb::GetModelResponse resp;
    grpc::Status s = client.stub()->GetModel(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.model();
  }
};

TEST_F(ResumeE2ETest, WorkerKilledAfterACheckpointIsResumedElsewhereWithTheSameResult) {
  // The uninterrupted run.
  std::string addr_a;
  auto coord_a = Coordinator("straight", &addr_a, "30");
  ASSERT_TRUE(TestClient(addr_a).WaitUp(20));
  const int64_t sweep_a = TestClient(addr_a).Submit(kSweep);
  ASSERT_GT(sweep_a, 0);
  auto wa = Worker("straight-w", addr_a);
  ASSERT_TRUE(wa->Wait(240)) << "the uninterrupted run did not finish";
  const json straight = TestClient(addr_a).Export(sweep_a)["trials"][0];
  ASSERT_EQ(straight["status"], "completed") << straight.dump();
  const std::string model_a = Model(addr_a, straight["id"]);
  coord_a.reset();

  // The same trial, its first worker killed once a checkpoint is kept.
  std::string addr;
  auto coord = Coordinator("killed", &addr, "2");  // a short lease: the kill is noticed soon
  ASSERT_TRUE(TestClient(addr).WaitUp(20));
  const int64_t sweep = TestClient(addr).Submit(kSweep);
  ASSERT_GT(sweep, 0);
  const fs::path ckpt_dir = Db("killed") + ".checkpoints";
  auto w1 = Worker("w1", addr);
  ASSERT_TRUE(PollFor(240, [&] { return fs::exists(ckpt_dir / "trial-1.ckpt") || !w1->running(); }))
      << "no checkpoint appeared";
  ASSERT_TRUE(w1->running()) << "w1 ended before it was killed";
  w1->Signal(SIGKILL);
  ASSERT_TRUE(w1->Wait(10));
  ASSERT_EQ(TestClient(addr).Status(sweep).completed(), 0)
      << "the trial finished before the kill: make its epochs longer";

  auto w2 = Worker("w2", addr);
  ASSERT_TRUE(w2->Wait(240)) << "w2 did not finish the trial";
  EXPECT_EQ(w2->exit_code(), 0);
  const std::string w2log = ReadText((dir_ / "w2.txt").string());
  EXPECT_NE(w2log.find("resuming after epoch"), std::string::npos) << w2log;
  EXPECT_EQ(w2log.find("trial 1 epoch 1:"), std::string::npos) << "w2 trained epoch 1 again";
  const json resumed = TestClient(addr).Export(sweep)["trials"][0];
  ASSERT_EQ(resumed["status"], "completed") << resumed.dump();

  // Two attempts; the second resumed from the checkpoint.
  ASSERT_EQ(resumed["attempt_history"].size(), 2u) << resumed.dump();
  EXPECT_EQ(resumed["attempt_history"][0]["worker"], "w1");
  EXPECT_EQ(resumed["attempt_history"][0]["resumed_from_epoch"], 0);
  EXPECT_EQ(resumed["attempt_history"][1]["worker"], "w2");
  EXPECT_GE(resumed["attempt_history"][1]["resumed_from_epoch"].get<int>(), 1);

  // The same result, bit for bit: every epoch's metrics (not their timings), the test metrics,
  // the model file.
  ASSERT_EQ(resumed["epochs"].size(), 3u) << resumed.dump();
  ASSERT_EQ(straight["epochs"].size(), 3u);
  for (int e = 0; e < 3; ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e + 1));
    for (const char* key : {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}) {
      EXPECT_EQ(resumed["epochs"][e][key], straight["epochs"][e][key]) << key;
    }
  }
  for (const char* key :
       {"best_epoch", "best_val_accuracy", "test_accuracy", "test_loss", "confusion_matrix"}) {
    EXPECT_EQ(resumed[key], straight[key]) << key;
  }
  const std::string model = Model(addr, resumed["id"]);
  EXPECT_FALSE(model.empty());
  EXPECT_TRUE(model == model_a) << "model files differ (" << model.size() << " vs "
                                << model_a.size() << " bytes)";
  // The trial ended: its checkpoint is gone.
  EXPECT_FALSE(fs::exists(ckpt_dir / "trial-1.ckpt"));
}

}  // namespace
}  // namespace hpsweep::resume_e2e_test
