// Tests for coordinator/worker_registry.h: the workers the coordinator holds in memory, without a
// scheduler: who may register, owners, pruning to gone, grace and the last_seen writes.
#include "coordinator/worker_registry.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace hpsweep::worker_registry_test {
namespace {

WorkerRegistry::Options Opts() {
  WorkerRegistry::Options o;
  o.lease_seconds = 10;
  o.max_workers = 100;
  o.max_workers_per_token = 100;
  o.new_workers_burst = 100;
  o.new_workers_per_second = 10;
  o.gone_worker_seconds = 1000;
  o.max_gone_shown = 100;
  return o;
}

// A stored row as UpsertWorker returns it, registered at `now`.
WorkerRow Row(int64_t id, const std::string& name, double now) {
  WorkerRow w;
  w.id = id;
  w.name = name;
  w.first_seen = w.last_seen = now;
  return w;
}

// Admits and holds `name` for `owner` (must be admitted); returns whether it joined.
bool Register(WorkerRegistry* r, int64_t id, const std::string& name, const std::string& owner,
              double now) {
  StatusOr<WorkerRegistry::Admission> a = r->Admit(name, owner, now);
  EXPECT_TRUE(a.ok()) << a.status().message();
  if (!a.ok()) return false;
  return r->Hold(Row(id, name, now), owner, *a);
}

std::vector<int64_t> Ids(const std::vector<WorkerRow>& rows) {
  std::vector<int64_t> ids;
  for (const WorkerRow& w : rows) ids.push_back(w.id);
  return ids;
}

std::vector<int64_t> Ids(const std::map<int64_t, WorkerRow>& rows) {
  std::vector<int64_t> ids;
  for (const auto& [id, w] : rows) ids.push_back(id);
  return ids;
}

TEST(WorkerRegistryTest, ANameOfAnotherTokenIsRefused) {
  WorkerRegistry r(Opts());
  EXPECT_TRUE(Register(&r, 1, "w", "a", 0));
  StatusOr<WorkerRegistry::Admission> other = r.Admit("w", "b", 1);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(other.status().message(),
            "worker name 'w' is registered with another token; choose another --name");
  // Its own token registers it again: known, owned, no new name.
  StatusOr<WorkerRegistry::Admission> again = r.Admit("w", "a", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->known);
  EXPECT_TRUE(again->owned_here);
  EXPECT_FALSE(again->take_token);
  EXPECT_FALSE(r.Hold(Row(1, "w", 1), "a", *again));  // not joined: it was held
  EXPECT_EQ(r.size(), 1u);
}

TEST(WorkerRegistryTest, NewNamesPastMaxWorkersAreRefused) {
  WorkerRegistry::Options o = Opts();
  o.max_workers = 2;
  WorkerRegistry r(o);
  EXPECT_TRUE(Register(&r, 1, "a", "", 0));
  EXPECT_TRUE(Register(&r, 2, "b", "", 0));
  StatusOr<WorkerRegistry::Admission> c = r.Admit("c", "", 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.status().message(),
            "2 workers were heard from within a lease period; the limit is 2: retry later");
  EXPECT_TRUE(r.Admit("a", "", 1).ok());  // a name held is not new
}

TEST(WorkerRegistryTest, PerTokenCountIsGivenBackWhenAWorkerIsDropped) {
  WorkerRegistry::Options o = Opts();
  o.max_workers_per_token = 2;
  WorkerRegistry r(o);
  EXPECT_TRUE(Register(&r, 1, "a1", "a", 0));
  EXPECT_TRUE(Register(&r, 2, "a2", "a", 5));
  StatusOr<WorkerRegistry::Admission> third = r.Admit("a3", "a", 6);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(third.status().message(),
            "2 workers of this token were heard from within a lease period; the limit per "
            "token is 2: retry later");
  EXPECT_TRUE(r.Admit("b1", "b", 6).ok());  // another token's count is its own
  EXPECT_TRUE(r.Admit("x", "", 6).ok());    // the empty owner is not counted
  // a1 falls silent for a lease period: dropped, its token's count given back.
  EXPECT_EQ(Ids(r.Prune(11)), (std::vector<int64_t>{1}));
  EXPECT_EQ(r.OwnerOf(1), "");
  EXPECT_EQ(r.OwnerOf(2), "a");
  EXPECT_TRUE(Register(&r, 3, "a3", "a", 11));
  EXPECT_FALSE(r.Admit("a4", "a", 11).ok());
  // DropOwner alone gives the count back too.
  r.DropOwner(3);
  EXPECT_TRUE(r.Admit("a4", "a", 11).ok());
}

TEST(WorkerRegistryTest, BucketTokenIsTakenOnlyOnHold) {
  WorkerRegistry::Options o = Opts();
  o.new_workers_burst = 2;
  o.new_workers_per_second = 0.5;
  WorkerRegistry r(o);
  // Admitted but not held (its storage write failed): no token taken.
  for (int i = 0; i < 3; ++i) {
    StatusOr<WorkerRegistry::Admission> a = r.Admit("w" + std::to_string(i), "t", 0);
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_TRUE(a->take_token);
  }
  EXPECT_TRUE(Register(&r, 1, "w1", "t", 0));
  EXPECT_TRUE(Register(&r, 2, "w2", "t", 0));
  StatusOr<WorkerRegistry::Admission> third = r.Admit("w3", "t", 0);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(third.status().message(),
            "this token registered new workers faster than 0.5 a second after a burst of 2: "
            "retry later");
  // A name held costs no token; the empty owner has no bucket; the bucket refills with time.
  StatusOr<WorkerRegistry::Admission> known = r.Admit("w1", "t", 0);
  ASSERT_TRUE(known.ok());
  EXPECT_FALSE(known->take_token);
  StatusOr<WorkerRegistry::Admission> open = r.Admit("w9", "", 0);
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->take_token);
  EXPECT_FALSE(r.Admit("w3", "t", 1).ok());  // half a token
  EXPECT_TRUE(r.Admit("w3", "t", 2).ok());
}

TEST(WorkerRegistryTest, SilentWorkersGoGoneForAWhileAndTheLatestAreKept) {
  WorkerRegistry::Options o = Opts();
  o.gone_worker_seconds = 100;
  o.max_gone_shown = 2;
  WorkerRegistry r(o);
  for (int64_t id = 1; id <= 4; ++id) {
    EXPECT_TRUE(Register(&r, id, "w" + std::to_string(id), "", static_cast<double>(id)));
  }
  EXPECT_EQ(r.CountAlive(11.5), 3);  // 2, 3 and 4
  EXPECT_EQ(Ids(r.Prune(11.5)), (std::vector<int64_t>{1}));
  std::vector<WorkerRow> dropped = r.Prune(20);
  ASSERT_EQ(Ids(dropped), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(dropped[0].name, "w2");
  EXPECT_EQ(dropped[0].last_seen, 2);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.Find(2), nullptr);
  // Four gone, the latest two shown.
  EXPECT_EQ(Ids(r.gone()), (std::vector<int64_t>{3, 4}));
  ASSERT_NE(r.FindByName("w3"), nullptr);
  EXPECT_EQ(r.FindByName("w3")->id, 3);
  EXPECT_EQ(r.FindByName("w1"), nullptr);
  // Registering again brings a gone worker back.
  EXPECT_TRUE(Register(&r, 3, "w3", "", 50));
  EXPECT_EQ(Ids(r.gone()), (std::vector<int64_t>{4}));
  EXPECT_EQ(Ids(r.held()), (std::vector<int64_t>{3}));
  // Past gone_worker_seconds a gone worker is forgotten.
  EXPECT_EQ(Ids(r.Prune(150)), (std::vector<int64_t>{3}));
  EXPECT_TRUE(r.gone().empty());
}

TEST(WorkerRegistryTest, LoadHoldsHoldersByGraceUntilHeardFrom) {
  WorkerRegistry r(Opts());
  std::vector<WorkerRow> rows = {Row(1, "recent", 95), Row(2, "holder", 10), Row(3, "old", 50),
                                 Row(4, "ancient", -2000)};
  r.Load(rows, {2}, 100);
  EXPECT_EQ(Ids(r.held()), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Ids(r.gone()), (std::vector<int64_t>{3}));
  EXPECT_EQ(r.CountAlive(100), 1);  // held is not alive
  EXPECT_EQ(r.OwnerOf(2), "");
  // Loaded at start: its owner is unknown, fine without tokens, not with one.
  EXPECT_TRUE(r.CheckOwner(2, "").ok());
  Status with_token = r.CheckOwner(2, "a");
  EXPECT_EQ(with_token.code(), StatusCode::kNotFound);
  EXPECT_EQ(with_token.message(), "worker 2 is not registered");
  // The grace holds the silent holder for a lease period from the load.
  EXPECT_EQ(Ids(r.Prune(104)), (std::vector<int64_t>{}));
  EXPECT_EQ(Ids(r.held()), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Ids(r.Prune(110)), (std::vector<int64_t>{1, 2}));
  // Heard from, the grace is over: it stays for being alive, and goes when silent.
  r.Load(rows, {2}, 100);
  EXPECT_TRUE(r.HeardFrom(2, 101));
  EXPECT_EQ(r.CountAlive(101), 2);
  EXPECT_EQ(Ids(r.Prune(110.5)), (std::vector<int64_t>{1}));
  EXPECT_EQ(Ids(r.Prune(111)), (std::vector<int64_t>{2}));
}

TEST(WorkerRegistryTest, LastSeenIsDueEveryFiveSeconds) {
  WorkerRegistry r(Opts());
  EXPECT_FALSE(r.HeardFrom(1, 100));  // not held
  EXPECT_TRUE(Register(&r, 1, "w", "", 100));
  EXPECT_TRUE(r.HeardFrom(1, 100));  // never written since start
  EXPECT_TRUE(r.HeardFrom(1, 101));  // due until Touched
  r.Touched(1, 101);
  EXPECT_FALSE(r.HeardFrom(1, 106));
  EXPECT_EQ(r.Find(1)->last_seen, 106);  // in memory all the same
  EXPECT_TRUE(r.HeardFrom(1, 106.5));
}

TEST(WorkerRegistryTest, OwnersLeasesAndTrialCounts) {
  WorkerRegistry r(Opts());
  EXPECT_TRUE(Register(&r, 1, "w", "a", 0));
  EXPECT_TRUE(r.CheckOwner(1, "a").ok());
  Status other = r.CheckOwner(1, "b");
  EXPECT_EQ(other.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(other.message(), "worker 1 was registered with another token");
  Status unknown = r.CheckOwner(7, "");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.message(), "worker 7 is not registered");

  int64_t trial = 0;
  EXPECT_FALSE(r.Leased(1, &trial));
  r.SetLeased(1, 42);
  ASSERT_TRUE(r.Leased(1, &trial));
  EXPECT_EQ(trial, 42);
  r.ForgetLeased(1);
  EXPECT_FALSE(r.Leased(1, &trial));
  r.SetLeased(1, 43);
  r.DropOwner(1);  // forgets its lease and its owner
  EXPECT_FALSE(r.Leased(1, &trial));
  EXPECT_EQ(r.CheckOwner(1, "a").code(), StatusCode::kNotFound);

  r.CountTrials(1, 2, 1);
  EXPECT_EQ(r.Find(1)->trials_done, 2);
  EXPECT_EQ(r.Find(1)->trials_failed, 1);
  r.Prune(20);  // gone: still counted
  r.CountTrials(1, 1, 0);
  ASSERT_EQ(r.gone().count(1), 1u);
  EXPECT_EQ(r.gone().at(1).trials_done, 3);
}

}  // namespace
}  // namespace hpsweep::worker_registry_test
