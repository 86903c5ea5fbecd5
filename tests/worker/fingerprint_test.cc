// Tests of WorkerFingerprint (worker/worker.h): what a worker registers with, so that the
// coordinator lifts its quarantine when it restarts with another binary, program or data, and
// keeps it when it restarts unchanged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "worker/worker.h"

namespace hpsweep::fingerprint_test {
namespace {

namespace fs = std::filesystem;

TEST(FingerprintTest, ChangesWithProgramsAndDataOnly) {
  const fs::path dir = fs::temp_directory_path() / ("fingerprint_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  std::ofstream(dir / "a.sh") << "#!/bin/sh\nexit 1\n";
  std::ofstream(dir / "b.sh") << "#!/bin/sh\nexit 0\n";
  WorkerOptions o;
  o.data_dir = (dir / "data").string();
  o.programs["p"] = (dir / "a.sh").string();
  const std::string first = WorkerFingerprint(o);
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(WorkerFingerprint(o), first);  // unchanged: the same (a restart keeps a quarantine)
  o.name = "another-name";
  o.threads = 8;
  EXPECT_EQ(WorkerFingerprint(o), first);  // not what it runs with
  o.programs["p"] = (dir / "b.sh").string();
  const std::string other_program = WorkerFingerprint(o);
  EXPECT_NE(other_program, first);
  std::ofstream(dir / "b.sh", std::ios::app) << "# edited\n";  // the same path, new contents
  EXPECT_NE(WorkerFingerprint(o), other_program);
  const std::string before_data = WorkerFingerprint(o);
  std::ofstream(dir / "data" / "train-images-idx3-ubyte") << "new data";
  EXPECT_NE(WorkerFingerprint(o), before_data);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hpsweep::fingerprint_test
