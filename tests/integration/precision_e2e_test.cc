// End to end: precision: bf16 trials with real processes. A worker whose CPU lacks avx512_bf16
// (acted by HPSWEEP_DISABLE_BF16=1, engine/gemm.h) registers without bf16 and is never leased
// one: the sweep waits and says why. Where this CPU has avx512_bf16, a second, normal worker
// takes every trial, each in one attempt. And `hpsweep run` of a bf16 sweep on a CPU without it
// ends at once with the reason instead of waiting for ever.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/gemm.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"

namespace hpsweep::precision_e2e_test {
namespace {

namespace pb = ::hpsweep::v1;

// The smallest sweep the e2e tests train (lifecycle_e2e_test.cc), fixed to bf16.
constexpr char kSweep[] = R"(name: bf16-e2e
method: grid
data: {validation_split: 0.2, train_limit: 1000}
fixed: {cell: gru, units: 8, epochs: 1, batch_size: 64, precision: bf16}
parameters:
  seed: {values: [1, 2]}
)";

constexpr char kWaiting[] =
    "trials ask for precision: bf16 and no live worker's CPU has avx512_bf16";

// HPSWEEP_DISABLE_BF16=1 in this process's environment while it lives, for the children forked
// meanwhile (the fork copies it); then as it was before (set by whoever ran the test, maybe).
class ScopedDisableBf16 {
 public:
  ScopedDisableBf16() {
    const char* old = getenv(kName);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(kName, "1", 1);
  }
  ~ScopedDisableBf16() {
    if (had_) {
      setenv(kName, old_.c_str(), 1);
    } else {
      unsetenv(kName);
    }
  }
  ScopedDisableBf16(const ScopedDisableBf16&) = delete;
  ScopedDisableBf16& operator=(const ScopedDisableBf16&) = delete;

 private:
  static constexpr const char* kName = "HPSWEEP_DISABLE_BF16";
  bool had_ = false;
  std::string old_;
};

class PrecisionE2ETest : public E2ETest {
 protected:
  PrecisionE2ETest() : E2ETest("precision") {}

  void SetUp() override {
    E2ETest::SetUp();
    // Read (and kept, engine/gemm.cc) before this test changes the environment.
    have_bf16_ = Bf16Supported();
  }

  std::unique_ptr<Process> StartCoordinator() {
    return std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--listen", addr_, "--db", db_, "--data-dir",
                                 MnistDir()},
        log_);
  }
  // bf16 false: the worker acts a CPU without avx512_bf16 (HPSWEEP_DISABLE_BF16=1 in its
  // environment only: set around the fork, which copies it).
  std::unique_ptr<Process> StartWorker(const std::string& name, bool bf16) {
    std::optional<ScopedDisableBf16> off;
    if (!bf16) off.emplace();
    return std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr_, "--name", name, "--data-dir",
                                 MnistDir(), "--threads", "1", "--exit-when-idle"},
        P(name + ".log"));
  }
  // `hpsweep workers --format json`: each worker's precision by name.
  std::map<std::string, std::string> Precisions() {
    std::string out;
    std::map<std::string, std::string> by_name;
    if (RunCli({"workers", "--coordinator", addr_, "--format", "json"}, &out) != 0) return by_name;
    const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded()) return by_name;
    for (const auto& w : j["workers"]) {
      by_name[w["name"].get<std::string>()] = w["precision"].get<std::string>();
    }
    return by_name;
  }

  bool have_bf16_ = false;
};

TEST_F(PrecisionE2ETest, Bf16TrialsGoOnlyToAWorkerWhoseCpuRunsThem) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(kSweep);
  ASSERT_GT(sweep, 0);
  auto plain = StartWorker("plain", false);
  ASSERT_TRUE(PollFor(20, [&] { return Precisions().count("plain") != 0; }));
  EXPECT_EQ(Precisions()["plain"], "fp32");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // (it asks for work meanwhile)
  const pb::SweepStatus st = TestClient(addr_).Status(sweep);
  EXPECT_EQ(st.running(), 0);
  EXPECT_EQ(st.completed(), 0);
  EXPECT_EQ(st.queued() + st.unproposed(), 2);
  EXPECT_NE(st.waiting().find(kWaiting), std::string::npos) << st.waiting();
  std::string out;
  ASSERT_EQ(RunCli({"status", std::to_string(sweep), "--coordinator", addr_}, &out), 0);
  EXPECT_NE(out.find(std::string("waiting: ") + kWaiting), std::string::npos) << out;
  EXPECT_NE(ReadText(P("plain.log")).find("matrix products: fp32 only"), std::string::npos)
      << ReadText(P("plain.log"));

  if (!have_bf16_) {
    GTEST_SKIP() << "this CPU has no avx512_bf16: the part where a bf16 worker takes the trials "
                    "cannot run here";
  }
  auto fast = StartWorker("fast", true);
  ASSERT_TRUE(PollFor(60, [&] { return TestClient(addr_).Status(sweep).state() == "completed"; }))
      << "the sweep did not finish";
  EXPECT_EQ(Precisions()["fast"], "bf16");
  EXPECT_EQ(TestClient(addr_).Status(sweep).waiting(), "");
  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 2u);
  for (const auto& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["worker"], "fast") << t.dump();
    EXPECT_EQ(t["attempts"], 1) << t.dump();
    for (const auto& a : t["attempt_history"]) EXPECT_EQ(a["worker"], "fast") << t.dump();
  }
  EXPECT_NE(ReadText(P("fast.log")).find("matrix products: " + Bf16Description()),
            std::string::npos)
      << ReadText(P("fast.log"));
  EXPECT_TRUE(fast->Wait(30)) << "the bf16 worker did not leave when idle";
}

// `run` starts its own workers on this CPU: asked for bf16 where the CPU lacks it, it ends at
// once with CheckPrecision's reason, nothing started or stored.
TEST_F(PrecisionE2ETest, RunOfABf16SweepOnACpuWithoutItEndsAtOnce) {
  const std::string file = P("bf16.yaml");
  std::ofstream(file) << kSweep;
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  int code = 0;
  {
    ScopedDisableBf16 off;
    code = RunCli({"run", file, "--workers", "1", "--db", db_, "--data-dir", MnistDir()}, &out, 30);
  }
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("precision: bf16 needs a CPU with avx512_bf16"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing was started"), std::string::npos) << out;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10);
}

}  // namespace
}  // namespace hpsweep::precision_e2e_test
