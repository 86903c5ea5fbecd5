// Early stopping end to end, with real processes: a coordinator, a worker and the database they
// leave. A hyperband sweep prunes the trials that fall behind at a rung (they end `pruned` with
// their epochs so far, untested) and trains fewer epochs than the grid would; `status`,
// `leaderboard` and `report` show them. A cancel reaches a trial in the middle of a long epoch
// and stops it within a batch. Assertions are on statuses, epochs and batches, never on time.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::pruning_e2e_test {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

class PruningE2ETest : public E2ETest {
 protected:
  PruningE2ETest() : E2ETest("prune") {}

  std::unique_ptr<Process> StartCoordinator() {
    return std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--listen", addr_, "--db", db_, "--data-dir",
                                 MnistDir(), "--lease-seconds", "30"},
        log_);
  }
  std::unique_ptr<Process> StartWorker() {
    return std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr_, "--name", "w1", "--data-dir",
                                 MnistDir(), "--threads", "1", "--exit-when-idle"},
        log_);
  }
  // Runs `hpsweep args...` to its end; returns its output.
  std::string Cli(const std::vector<std::string>& args) {
    std::string out;
    RunCli(args, &out);
    return out;
  }
};

// Small MLPs on 1,500 images (1,200 train, 300 validate), 4 epochs: rungs at epochs 1 and 3.
// One worker takes the trials in number order. #1 (Adam at 0.003) is first at each rung and runs
// to the end. #2 and #3 (Adam at 1e-6 and 2e-6: barely moving from the initial weights) are far
// behind #1 at epoch 1: at the rung they are not in the top third (n = 2 and 3, k = 1, #1 is
// better), so they are pruned after epoch 1.
const char kHyperbandSweep[] = R"(name: prune-e2e
method: grid
data: {validation_split: 0.2, seed: 3, train_limit: 1500}
metric: {name: val_accuracy}
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
fixed: {cell: dense, units: 32, layers: 1, epochs: 4, batch_size: 32, optimizer: adam}
parameters:
  learning_rate: {values: [0.003, 0.000001, 0.000002, 0.002]}
)";

TEST_F(PruningE2ETest, HyperbandPrunesTheTrialsBehindAndTrainsFewerEpochs) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const int64_t sweep = TestClient(addr_).Submit(kHyperbandSweep);
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker();
  ASSERT_TRUE(PollFor(120, [&] { return TestClient(addr_).Status(sweep).state() == "completed"; }))
      << "sweep did not finish";
  ASSERT_TRUE(worker->Wait(30));

  const pb::SweepStatus st = TestClient(addr_).Status(sweep);
  EXPECT_GE(st.pruned(), 2);
  EXPECT_EQ(st.stopped(), 0);  // pruned trials are counted apart from cancelled ones
  EXPECT_EQ(st.completed() + st.pruned(), 4);
  EXPECT_EQ(st.early_terminate(), "hyperband (min_iter 1, eta 3, s 1)");

  const json ex = TestClient(addr_).Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 4u);
  int epochs_trained = 0;
  for (const json& t : ex["trials"]) epochs_trained += static_cast<int>(t["epochs"].size());
  EXPECT_LT(epochs_trained, 4 * 4) << "no fewer epochs than the full grid";
  const json& first = ex["trials"][0];
  EXPECT_EQ(first["status"], "completed");
  EXPECT_EQ(first["epochs"].size(), 4u);
  EXPECT_GT(first["test_accuracy"].get<double>(), 0.5);
  for (int i : {1, 2}) {
    const json& t = ex["trials"][i];
    EXPECT_EQ(t["status"], "pruned") << "trial #" << i + 1;
    EXPECT_EQ(t["epochs"].size(), 1u) << "trial #" << i + 1;  // its epochs so far are kept
    EXPECT_EQ(t["epochs_run"], 1);
    EXPECT_TRUE(t["test_accuracy"].is_null()) << "a pruned trial is not tested";
    EXPECT_LT(t["best_val_accuracy"].get<double>(), first["epochs"][0]["val_accuracy"]);
  }
  // (the worker has exited: its log is complete)
  const std::string wlog = ReadText(log_);
  EXPECT_NE(wlog.find("stopped (pruned by early_terminate) after epoch 1"), std::string::npos);

  // The views of the file: status counts them apart, the leaderboard marks them with the epoch
  // they reached, the report says where they stopped.
  const std::string status = Cli({"status", std::to_string(sweep), "--db", db_});
  std::smatch row;  // sweep name state queued running completed failed stopped pruned total ...
  ASSERT_TRUE(std::regex_search(
      status, row,
      std::regex("\\bprune-e2e +completed +0 +0 +([0-9]+) +0 +([0-9]+) +([0-9]+) +4 ")))
      << status;
  EXPECT_EQ(std::stoi(row[1]), st.completed());
  EXPECT_EQ(std::stoi(row[2]), 0);  // stopped
  EXPECT_EQ(std::stoi(row[3]), st.pruned());
  EXPECT_NE(status.find(" pruned "), std::string::npos) << status;  // the column's header
  const std::string lb = Cli({"leaderboard", std::to_string(sweep), "--db", db_});
  EXPECT_NE(lb.find("1 pruned"), std::string::npos) << lb;
  // In CSV a pruned trial's test accuracy is an empty field (it was -1): ...,val_accuracy,
  // test_accuracy,weights_epoch,epochs,seconds,worker,status (its model is its best epoch's, 1).
  const std::string csv = Cli({"leaderboard", std::to_string(sweep), "--db", db_, "--format",
                               "csv"});
  int pruned_rows = 0;
  std::istringstream lines(csv);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < 7 || line.compare(line.size() - 7, 7, ",pruned") != 0) continue;
    ++pruned_rows;
    EXPECT_TRUE(std::regex_search(line, std::regex(",0\\.[0-9]+,,1,1,[^,]*,[^,]*,pruned$")))
        << line;
    EXPECT_EQ(line.find("-1"), std::string::npos) << line;
  }
  EXPECT_EQ(pruned_rows, st.pruned()) << csv;
  const std::string html = (dir_ / "report.html").string();
  Cli({"report", std::to_string(sweep), "--db", db_, "-o", html});
  const std::string report = ReadText(html);
  EXPECT_NE(report.find("pruned after epoch 1"), std::string::npos);
  EXPECT_NE(report.find("Early stopping: hyperband (min_iter 1, eta 3, s 1)"), std::string::npos);
}

// One trial with a long epoch (LSTM-256 over 48,000 images at batch 16: 3,000 batches). The
// sweep is cancelled while epoch 1 runs: the worker's heartbeat brings STOP, training ends at the
// next batch, and the trial completes `stopped` with no epoch and no test, in the middle of the
// epoch (the batch it stopped at is far from the last).
const char kLongEpochSweep[] = R"(name: cancel-e2e
method: grid
data: {validation_split: 0.2, seed: 3}
fixed: {cell: lstm, units: 256, epochs: 2, batch_size: 16, optimizer: adam}
)";

TEST_F(PruningE2ETest, CancelStopsARunningTrialWithinABatch) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const int64_t sweep = TestClient(addr_).Submit(kLongEpochSweep);
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker();
  // Training has begun once the worker logs the trial and a heartbeat has renewed its lease.
  ASSERT_TRUE(PollFor(60, [&] { return TestClient(addr_).Status(sweep).running() == 1; }));
  ASSERT_TRUE(
      PollFor(60, [&] { return ReadText(log_).find("trial 1 (sweep") != std::string::npos; }));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::CancelSweepRequest req;
    req.set_sweep_id(sweep);
    pb::CancelSweepResponse resp;
    ASSERT_TRUE(TestClient(addr_).stub()->CancelSweep(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.stopped(), 1);
  }
  ASSERT_TRUE(PollFor(120, [&] { return TestClient(addr_).Status(sweep).stopped() == 1; }))
      << "the trial did not stop";
  const json ex = TestClient(addr_).Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 1u);
  const json& t = ex["trials"][0];
  EXPECT_EQ(t["status"], "stopped");
  EXPECT_EQ(t["epochs"].size(), 0u) << "epoch 1 did not finish: stopped inside it";
  EXPECT_TRUE(t["test_accuracy"].is_null()) << "a stopped trial is not tested";
  // The worker says at which batch of the epoch it stopped (once the coordinator took the
  // result: wait for the line).
  const std::regex line(
      "stopped \\(sweep cancelled\\) after epoch 0 \\(epoch 1 stopped at batch ([0-9]+) of "
      "([0-9]+)\\)");
  std::string wlog;
  std::smatch m;
  ASSERT_TRUE(PollFor(60, [&] {
    wlog = ReadText(log_);
    return std::regex_search(wlog, m, line);
  })) << wlog;
  const long batch = std::stol(m[1]), batches = std::stol(m[2]);
  std::cerr << "stopped at batch " << batch << " of " << batches << "\n";
  EXPECT_EQ(batches, 3000);
  EXPECT_GT(batch, 0);
  EXPECT_LT(batch, batches / 2) << "stopped late in the epoch, not within a batch of STOP";
  EXPECT_TRUE(worker->Wait(30));
}

}  // namespace
}  // namespace hpsweep::pruning_e2e_test
