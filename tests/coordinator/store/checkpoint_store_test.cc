// Tests for coordinator/store/checkpoint_store.h: the file side of trial checkpoints, in a
// temporary folder and in memory.
#include "coordinator/store/checkpoint_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "tests/coordinator/checkpoint_bytes.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::checkpoint_store_test {
namespace {

constexpr size_t kLimit = 1 << 20;

// The names in folder.
std::set<std::string> Names(const std::string& folder) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Plant(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

TEST(CheckpointStoreTest, PutGetDropScanRoundTripInAFolder) {
  TempDir dir;
  const std::string folder = dir.File("ckpt");
  CheckpointStore store(folder, kLimit);
  ASSERT_FALSE(store.in_memory());
  ASSERT_TRUE(store.Scan().empty());  // makes the folder
  ASSERT_TRUE(std::filesystem::is_directory(folder));
  ASSERT_EQ(store.PathOf(7), folder + "/trial-7.ckpt");

  const std::string three = CheckpointThroughEpoch(3);
  ASSERT_TRUE(store.Put(7, three).ok());
  ASSERT_EQ(Slurp(folder + "/trial-7.ckpt"), three);  // the file is the bytes, nothing added
  auto got = store.Get(7);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, three);

  const std::string four = CheckpointThroughEpoch(4);
  ASSERT_TRUE(store.Put(7, four).ok());  // replaces the last
  ASSERT_TRUE(store.Put(2, CheckpointThroughEpoch(1)).ok());
  got = store.Get(7);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, four);
  ASSERT_EQ(Names(folder), (std::set<std::string>{"trial-2.ckpt", "trial-7.ckpt"}));

  std::vector<CheckpointStore::Entry> found = store.Scan();
  ASSERT_EQ(found.size(), 2u);
  ASSERT_EQ(found[0].trial_id, 2);
  ASSERT_EQ(found[0].epoch, 1);
  ASSERT_EQ(found[0].bytes, CheckpointThroughEpoch(1).size());
  ASSERT_EQ(found[1].trial_id, 7);
  ASSERT_EQ(found[1].epoch, 4);
  ASSERT_EQ(found[1].bytes, four.size());

  store.Drop(7);
  ASSERT_EQ(Names(folder), std::set<std::string>{"trial-2.ckpt"});
  got = store.Get(7);
  ASSERT_EQ(got.status().code(), StatusCode::kNotFound);
  ASSERT_EQ(got.status().message(), folder + "/trial-7.ckpt: no checkpoint");
  store.Drop(7);  // nothing to drop
  found = store.Scan();
  ASSERT_EQ(found.size(), 1u);
  ASSERT_EQ(found[0].trial_id, 2);

  // A store made again on the folder (a restarted coordinator) finds what the last one kept.
  CheckpointStore again(folder, kLimit);
  found = again.Scan();
  ASSERT_EQ(found.size(), 1u);
  ASSERT_EQ(found[0].trial_id, 2);
  ASSERT_EQ(found[0].epoch, 1);
  got = again.Get(2);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, CheckpointThroughEpoch(1));
}

TEST(CheckpointStoreTest, ScanIgnoresForeignFilesAndRemovesUnfinishedWrites) {
  TempDir dir;
  const std::string folder = dir.File("ckpt");
  ASSERT_TRUE(std::filesystem::create_directory(folder));
  CheckpointStore store(folder, kLimit);
  ASSERT_TRUE(store.Put(5, CheckpointThroughEpoch(2)).ok());
  const std::vector<std::string> foreign = {"notes.txt",    "trial-5.ckpt.bak", "trial-05.ckpt",
                                            "trial-x.ckpt", "trial-6.model",    "other.tmp1",
                                            "TRIAL-9.ckpt"};
  for (const std::string& name : foreign) Plant(folder + "/" + name, "not a checkpoint");
  ASSERT_TRUE(std::filesystem::create_directory(folder + "/sub"));
  Plant(folder + "/trial-5.ckpt.tmp3", "half a write");  // a crash mid-write
  Plant(folder + "/trial-8.ckpt", "abc");                // named as one, shorter than a header

  std::vector<CheckpointStore::Entry> found = store.Scan();
  ASSERT_EQ(found.size(), 2u);
  ASSERT_EQ(found[0].trial_id, 5);
  ASSERT_EQ(found[0].epoch, 2);
  ASSERT_EQ(found[1].trial_id, 8);  // the scheduler drops it: it ends no epoch
  ASSERT_EQ(found[1].epoch, -1);
  ASSERT_EQ(found[1].bytes, 3u);

  std::set<std::string> expected(foreign.begin(), foreign.end());
  expected.insert({"sub", "trial-5.ckpt", "trial-8.ckpt"});
  ASSERT_EQ(Names(folder), expected);  // the unfinished write went; the rest stayed
  store.Drop(8);
  expected.erase("trial-8.ckpt");
  ASSERT_EQ(Names(folder), expected);
}

TEST(CheckpointStoreTest, AFailedWriteReturnsAnErrorAndLeavesNothing) {
  TempDir dir;
  const std::string folder = dir.File("ckpt");
  CheckpointStore store(folder, kLimit);
  ASSERT_TRUE(store.Scan().empty());
  ASSERT_TRUE(store.Put(1, CheckpointThroughEpoch(1)).ok());

  // The folder is gone (root writes through chmod, so it is removed rather than locked).
  ASSERT_GT(std::filesystem::remove_all(folder), 0u);
  Status put = store.Put(1, CheckpointThroughEpoch(2));
  ASSERT_EQ(put.code(), StatusCode::kIoError) << put.ToString();
  ASSERT_NE(put.message().find(folder + "/trial-1.ckpt.tmp"), std::string::npos) << put.ToString();
  ASSERT_FALSE(std::filesystem::exists(folder));  // nothing made, not even the folder
  ASSERT_EQ(store.Get(1).status().code(), StatusCode::kNotFound);

  // The rename fails (a folder sits at the checkpoint's name): the temporary file goes too.
  ASSERT_TRUE(store.Scan().empty());
  ASSERT_TRUE(std::filesystem::create_directory(folder + "/trial-3.ckpt"));
  Plant(folder + "/trial-3.ckpt/keep", "x");
  put = store.Put(3, CheckpointThroughEpoch(1));
  ASSERT_EQ(put.code(), StatusCode::kIoError) << put.ToString();
  ASSERT_EQ(put.message().rfind(folder + "/trial-3.ckpt: rename failed: ", 0), 0u)
      << put.ToString();
  ASSERT_EQ(Names(folder), std::set<std::string>{"trial-3.ckpt"});
}

TEST(CheckpointStoreTest, APutGivenUpLeavesTheLastCheckpoint) {
  TempDir dir;
  const std::string folder = dir.File("ckpt");
  CheckpointStore store(folder, kLimit);
  ASSERT_TRUE(store.Scan().empty());
  ASSERT_TRUE(store.Put(4, CheckpointThroughEpoch(1)).ok());

  const std::string first = store.StartPut(4);
  const std::string second = store.StartPut(4);
  ASSERT_EQ(first.rfind(folder + "/trial-4.ckpt.tmp", 0), 0u) << first;
  ASSERT_NE(first, second);  // writes outside the caller's lock never share a name
  ASSERT_TRUE(CheckpointStore::WriteTemp(first, CheckpointThroughEpoch(2)).ok());
  ASSERT_TRUE(std::filesystem::exists(first));
  CheckpointStore::AbandonPut(first);
  ASSERT_EQ(Names(folder), std::set<std::string>{"trial-4.ckpt"});
  auto got = store.Get(4);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, CheckpointThroughEpoch(1));

  ASSERT_TRUE(CheckpointStore::WriteTemp(second, CheckpointThroughEpoch(2)).ok());
  ASSERT_TRUE(store.FinishPut(4, second, CheckpointThroughEpoch(2)).ok());
  ASSERT_EQ(Names(folder), std::set<std::string>{"trial-4.ckpt"});
  got = store.Get(4);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, CheckpointThroughEpoch(2));
}

TEST(CheckpointStoreTest, GetRefusesAFileOverTheLimitOrNotAFile) {
  TempDir dir;
  const std::string folder = dir.File("ckpt");
  CheckpointStore store(folder, /*max_bytes=*/100);
  ASSERT_TRUE(store.Scan().empty());
  ASSERT_TRUE(store.Put(1, std::string(101, 'x')).ok());
  auto got = store.Get(1);
  ASSERT_EQ(got.status().code(), StatusCode::kDataLoss);
  ASSERT_EQ(got.status().message(), folder + "/trial-1.ckpt: checkpoint over its size limit");

  ASSERT_TRUE(std::filesystem::create_directory(folder + "/trial-2.ckpt"));
  got = store.Get(2);
  ASSERT_EQ(got.status().code(), StatusCode::kDataLoss);
  ASSERT_EQ(got.status().message(), folder + "/trial-2.ckpt: checkpoint over its size limit");
}

TEST(CheckpointStoreTest, WithNoFolderTheBytesStayInMemory) {
  CheckpointStore store("", kLimit);
  ASSERT_TRUE(store.in_memory());
  ASSERT_EQ(store.PathOf(1), "");
  ASSERT_EQ(store.StartPut(1), "");
  ASSERT_TRUE(store.Scan().empty());
  ASSERT_TRUE(store.Put(9, CheckpointThroughEpoch(2)).ok());
  ASSERT_TRUE(store.Put(3, "short").ok());
  auto got = store.Get(9);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, CheckpointThroughEpoch(2));

  std::vector<CheckpointStore::Entry> found = store.Scan();
  ASSERT_EQ(found.size(), 2u);
  ASSERT_EQ(found[0].trial_id, 3);
  ASSERT_EQ(found[0].epoch, -1);
  ASSERT_EQ(found[0].bytes, 5u);
  ASSERT_EQ(found[1].trial_id, 9);
  ASSERT_EQ(found[1].epoch, 2);
  ASSERT_EQ(found[1].bytes, CheckpointThroughEpoch(2).size());

  store.Drop(9);
  ASSERT_EQ(store.Get(9).status().code(), StatusCode::kNotFound);
  ASSERT_EQ(store.Scan().size(), 1u);
}

}  // namespace
}  // namespace hpsweep::checkpoint_store_test
