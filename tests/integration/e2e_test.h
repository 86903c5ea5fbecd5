// Test helper: the set-up the end-to-end tests share. E2ETest is a fixture base: a fresh
// directory per test (temp/hpsweep_<name>_<pid>_<test>, removed after the test), a loopback
// address on a free port, a database path and a process log path in that directory, and on a
// failed test the tail of every log in the directory (*.txt, *.log) printed. Derived fixtures
// name themselves, say whether they need MNIST (skipped without it), and add their own set-up
// after calling E2ETest::SetUp() (return at once when IsSkipped()).
//
// Thread-safety: one thread per object, as any gtest fixture.
#ifndef HPSWEEP_TESTS_INTEGRATION_E2E_TEST_H_
#define HPSWEEP_TESTS_INTEGRATION_E2E_TEST_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep {

class E2ETest : public ::testing::Test {
 protected:
  // name: the directory's prefix; needs_mnist: skip the test when MNIST is not in MnistDir().
  explicit E2ETest(std::string name, bool needs_mnist = true)
      : name_(std::move(name)), needs_mnist_(needs_mnist) {}

  void SetUp() override {
    if (needs_mnist_) {
      for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
        if (!std::filesystem::exists(MnistDir() + "/" + f)) {
          GTEST_SKIP() << "MNIST not found in " << MnistDir() << " (run scripts/bootstrap.sh)";
        }
      }
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("hpsweep_" + name_ + "_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
    addr_ = "127.0.0.1:" + std::to_string(port_);
    db_ = P("sweeps.db");
    log_ = P("log.txt");
  }

  void TearDown() override {
    if (dir_.empty()) return;  // (skipped before SetUp made it)
    if (HasFailure()) {
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
        const std::string ext = e.path().extension().string();
        if (ext != ".txt" && ext != ".log") continue;
        std::string s = ReadText(e.path().string());
        if (s.size() > 6000) s = s.substr(s.size() - 6000);
        std::cerr << "---- " << e.path().filename() << " (tail) ----\n" << s << "\n";
      }
    }
    std::filesystem::remove_all(dir_);
  }

  // A path in the test's directory.
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  // Runs `hpsweep args...` to its end (at most `seconds`, else a failure and -1000); its exit
  // code, its output in *out when given (kept in cli-N.txt).
  int RunCli(const std::vector<std::string>& args, std::string* out = nullptr,
             double seconds = 60) {
    const std::string path = P("cli-" + std::to_string(++cli_runs_) + ".txt");
    Process p(args, path);
    const bool ended = p.Wait(seconds);
    EXPECT_TRUE(ended) << "hpsweep " << (args.empty() ? "" : args[0]) << " did not end in "
                       << seconds << " s";
    if (out != nullptr) *out = ReadText(path);
    return ended ? p.exit_code() : -1000;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  std::string addr_, db_, log_;

 private:
  std::string name_;
  bool needs_mnist_;
  int cli_runs_ = 0;
};

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_INTEGRATION_E2E_TEST_H_
