// End to end: quarantine (coordinator/scheduler.h, "Quarantine") with real processes. Two
// workers take a program sweep; one offers the program as a script that exits 1 at once (a
// broken node), the other as one that works. The broken worker is quarantined, the attempts it
// spent are given back, and the sweep completes with no trial failed; `hpsweep workers` and
// `status` show the quarantine with its last error, a coordinator killed with SIGKILL and
// started again still shows it, and `workers --release` lifts it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"

namespace hpsweep::quarantine_e2e_test {
namespace {

const char kGood[] = R"(#!/usr/bin/env python3
import json, os, time
info = json.load(open(os.environ["HPSWEEP_TRIAL"]))
report = int(os.environ["HPSWEEP_REPORT_FD"])
time.sleep(0.1)
os.write(report, (json.dumps({"epoch": 1, "score": 1.0}) + "\n").encode())
os.write(report, (json.dumps({"test_score": 1.0}) + "\n").encode())
)";

const char kBad[] = R"(#!/bin/sh
echo "cuInit failed: no CUDA-capable device is detected" >&2
exit 1
)";

class QuarantineE2ETest : public E2ETest {
 protected:
  QuarantineE2ETest() : E2ETest("quarantine") {}

  std::string Script(const std::string& name, const char* text) {
    const std::string path = P(name);
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0755);
    return path;
  }
  std::unique_ptr<Process> StartWorker(const std::string& name, const std::string& program) {
    return std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr_, "--name", name, "--data-dir",
                                 MnistDir(), "--program=p=" + program},
        P(name + ".log"));
  }
};

TEST_F(QuarantineE2ETest, ABrokenWorkerIsQuarantinedAndTheSweepCompletesWithoutFailures) {
  const std::string good = Script("good.py", kGood), bad = Script("bad.sh", kBad);
  const std::vector<std::string> coord_args = {"coordinator", "--listen", addr_, "--db", db_,
                                                "--data-dir", MnistDir(), "--quarantine-after",
                                                "3"};
  auto coord = std::make_unique<Process>(coord_args, log_);
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(
      "name: q\nprogram: p\nmetric: {name: score, goal: maximize}\nmax_attempts: 2\n"
      "fixed: {epochs: 1}\nparameters:\n  x: {values: [1, 2, 3, 4]}\n");
  ASSERT_GT(sweep, 0);
  auto broken = StartWorker("broken", bad);
  auto healthy = StartWorker("healthy", good);
  ASSERT_TRUE(PollFor(40, [&] { return TestClient(addr_).Status(sweep).state() == "completed"; }))
      << "sweep did not finish";
  const v1::SweepStatus st = TestClient(addr_).Status(sweep);
  EXPECT_EQ(st.completed(), 4);
  EXPECT_EQ(st.failed(), 0);

  std::string out;
  ASSERT_EQ(RunCli({"workers", "--coordinator", addr_}, &out), 0) << out;
  EXPECT_NE(out.find("quarantined broken"), std::string::npos) << out;
  EXPECT_NE(out.find("no CUDA-capable device"), std::string::npos) << out;
  ASSERT_EQ(RunCli({"status", "--coordinator", addr_}, &out), 0) << out;
  EXPECT_NE(out.find("worker broken quarantined"), std::string::npos) << out;
  EXPECT_NE(out.find("exit status 1"), std::string::npos) << out;
  // kill -9 of the coordinator: the quarantine is stored, a restarted one still says it.
  coord->Signal(SIGKILL);
  ASSERT_TRUE(coord->Wait(10));
  coord = std::make_unique<Process>(coord_args, log_);
  // (a fresh channel per try: one that met the port closed would wait out gRPC's backoff)
  ASSERT_TRUE(PollFor(20, [&] { return TestClient(addr_).WaitUp(0.5); }));
  ASSERT_EQ(RunCli({"workers", "--coordinator", addr_}, &out), 0) << out;
  EXPECT_NE(out.find("quarantined broken"), std::string::npos) << out;
  // Lifted by a user: the worker is leased trials again (it is idle: nothing is left).
  ASSERT_EQ(RunCli({"workers", "--coordinator", addr_, "--release", "broken"}, &out), 0) << out;
  EXPECT_NE(out.find("released from quarantine"), std::string::npos) << out;
  ASSERT_EQ(RunCli({"workers", "--coordinator", addr_, "--format", "json"}, &out), 0) << out;
  EXPECT_EQ(out.find("quarantined"), std::string::npos) << out;
  EXPECT_NE(RunCli({"workers", "--coordinator", addr_, "--release", "nobody"}, &out), 0) << out;
  EXPECT_NE(out.find("no worker is named 'nobody'"), std::string::npos) << out;
}

}  // namespace
}  // namespace hpsweep::quarantine_e2e_test
