// Population-based training end to end, with real processes: a coordinator, two workers and the
// database they leave. Members train in segments on either worker, resume from the coordinator's
// checkpoints, and the bottom member takes the top member's weights at each segment's end; the
// coordinator is killed (SIGKILL) after the first decision and the population goes on from where
// it was. `hpsweep train --schedule` with a member's entry of the export replays it from scratch to
// the same test accuracy. Assertions are on statuses, epochs, schedules and accuracies, never on
// time.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::pbt_e2e_test {
namespace {

using json = nlohmann::json;

// 4 LSTM-128s on 6,000 images (4,800 train, 1,200 validate), 3 epochs in segments of 1: the
// population decides after epochs 1 and 2. Learning rates over three decades: the worst member
// is far behind, and one bottom member takes a top member's weights at each decision. Each
// segment is a real amount of work (an epoch of an LSTM-128, about half a second on one core), so
// the coordinator is still mid-population when the test sees the first decision and kills it:
// with small MLPs on 1,500 images a fast machine finished the whole population within 0.2 s of
// its first decision, before the test's next look.
const char kPbtSweep[] = R"(name: pbt-e2e
method: pbt
seed: 4
data: {validation_split: 0.2, seed: 3, train_limit: 6000}
metric: {name: val_accuracy}
fixed: {cell: lstm, units: 128, layers: 1, epochs: 3, batch_size: 64, optimizer: adam}
parameters:
  learning_rate: {distribution: log_uniform, min: 0.00001, max: 0.01}
  dropout: {distribution: uniform, min: 0.0, max: 0.3}
pbt: {population: 4, interval: 1, quantile: 0.25, mutable: [learning_rate, dropout]}
)";

class PbtE2ETest : public E2ETest {
 protected:
  PbtE2ETest() : E2ETest("pbt") {}

  std::unique_ptr<Process> StartCoordinator() {
    return std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--listen", addr_, "--db", db_, "--data-dir",
                                 MnistDir(), "--lease-seconds", "30"},
        log_);
  }
  std::unique_ptr<Process> StartWorker(const std::string& name) {
    return std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr_, "--name", name, "--data-dir",
                                 MnistDir(), "--threads", "1", "--exit-when-idle"},
        P(name + ".log"));
  }
};

// A param of the export as the train command's flag takes it: "dense", "0.001", "[0.1]".
std::string FlagText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) return v.dump();
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i].dump();
  return s + "]";
}

TEST_F(PbtE2ETest, ThePopulationSurvivesAKillAndItsBestScheduleReplays) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20)) << "coordinator did not come up on " << addr_;
  const int64_t sweep = TestClient(addr_).Submit(kPbtSweep);
  ASSERT_GT(sweep, 0);
  auto w1 = StartWorker("w1");
  auto w2 = StartWorker("w2");
  // After the first decision: status says where the population is; then kill the coordinator.
  ASSERT_TRUE(PollFor(120, [&] {
    const json ex = TestClient(addr_).Export(sweep);
    return ex.contains("sweep") && ex["sweep"].contains("pbt") &&
           ex["sweep"]["pbt"]["decided_after_epoch"].get<int>() >= 1;
  })) << "the population never decided";
  std::string status;
  RunCli({"status", std::to_string(sweep), "--coordinator", addr_}, &status);
  EXPECT_TRUE(std::regex_search(status, std::regex("population: 4 members; segment epochs")))
      << status;
  coord->Signal(SIGKILL);
  ASSERT_TRUE(coord->Wait(10));
  coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  ASSERT_TRUE(PollFor(180, [&] { return TestClient(addr_).Status(sweep).state() == "completed"; }))
      << "the population did not finish after the restart";
  ASSERT_TRUE(w1->Wait(60));
  ASSERT_TRUE(w2->Wait(60));

  const json ex = TestClient(addr_).Export(sweep);
  EXPECT_EQ(ex["sweep"]["pbt"]["decided_after_epoch"], 2);
  ASSERT_EQ(ex["trials"].size(), 4u);
  int exploits = 0;
  json replayed;
  for (const json& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["epochs"].size(), 3u) << "member #" << t["number"];
    ASSERT_TRUE(t.contains("schedule"));
    for (const json& e : t["schedule"]) {
      if (!e.contains("from")) continue;
      ++exploits;
      EXPECT_NE(e["from"], t["number"]);
      if (replayed.is_null()) replayed = t;
    }
  }
  // One bottom member at each of the two decisions (later ones inherit their parents' steps).
  EXPECT_GE(exploits, 2);
  ASSERT_FALSE(replayed.is_null());
  // Both workers trained segments: the members moved between them.
  const std::string wlog = ReadText(P("w1.log")) + ReadText(P("w2.log"));
  EXPECT_NE(wlog.find("segment done after epoch 1"), std::string::npos);

  // Replay the member from scratch with its schedule: the same test accuracy.
  const std::string file = P("member.json");
  std::ofstream(file) << replayed.dump();
  std::vector<std::string> args = {"train", "--data-dir", MnistDir(), "--threads", "1",
                                   "--schedule", file, "--json"};
  for (const auto& [key, value] : replayed["params"].items()) {
    std::string flag = key;
    for (char& c : flag) c = c == '_' ? '-' : c;
    args.push_back("--" + flag);
    args.push_back(FlagText(value));
  }
  std::string out;
  ASSERT_EQ(RunCli(args, &out, 120), 0) << out;
  const size_t brace = out.rfind("\n{");
  const json result = json::parse(out.substr(brace == std::string::npos ? 0 : brace + 1), nullptr,
                                  /*allow_exceptions=*/false);
  ASSERT_FALSE(result.is_discarded()) << out;
  EXPECT_DOUBLE_EQ(result["test_accuracy"].get<double>(), replayed["test_accuracy"].get<double>())
      << out;
}

}  // namespace
}  // namespace hpsweep::pbt_e2e_test
