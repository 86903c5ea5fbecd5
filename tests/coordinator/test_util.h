// Fixtures shared by the coordinator's tests (tests/coordinator/*_test.cc), which used to carry
// a copy each: a clock the test moves by hand, a temporary folder removed with everything in it,
// and a SQLite storage whose failure to open is a test failure. Header-only (each test binary is
// one file that includes it once).
//
// Thread-safety: FakeClock may be read from any thread (the scheduler's commit thread reads it)
// while the test advances it; the rest belong to the test's thread.
#ifndef HPSWEEP_TESTS_COORDINATOR_TEST_UTIL_H_
#define HPSWEEP_TESTS_COORDINATOR_TEST_UTIL_H_

#include <ctype.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"

namespace hpsweep {

// Starts at 1000 seconds; moves only when told to.
class FakeClock : public Clock {
 public:
  double Now() override { return now_.load(); }
  void Advance(double seconds) { now_.store(now_.load() + seconds); }

 private:
  std::atomic<double> now_{1000};
};

// A fresh directory under gtest's temporary directory, named after the running test suite (as a
// hint for a person looking at leftovers), and removed with everything in it by the destructor.
class TempDir {
 public:
  TempDir() {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = test != nullptr ? test->test_suite_name() : "hpsweep_test";
    for (char& c : name) {  // "Prefix/Suite" of a parameterised suite: one folder name
      if (!isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    }
    std::string tmpl = ::testing::TempDir() + "/" + name + ".XXXXXX";
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The SQLite storage at `path` (":memory:" too); null, with a test failure, if it cannot open.
inline std::unique_ptr<Storage> MustOpen(const std::string& path,
                                         const StorageOptions& options = {}) {
  StatusOr<std::unique_ptr<Storage>> s = OpenSqliteStorage(path, options);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  return std::move(s).value();
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_COORDINATOR_TEST_UTIL_H_
