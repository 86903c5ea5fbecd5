// A real Worker against an in-process fake coordinator (gRPC on loopback) that leases one
// population member in two segments: the first lease (pause_after_epoch 2, mutable_params
// learning_rate and dropout) ends with the checkpoint after epoch 2 sent and then FailTrial
// {released, segment_end, no error}; the second lease, under a changed learning_rate and dropout,
// resumes from that checkpoint (its first report is epoch 3, not 1) and completes with epochs 3-4
// at the new rate. Needs MNIST (skips without it).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "proto/hpsweep.grpc.pb.h"
#include "tests/mnist_dir.h"
#include "worker/worker.h"

namespace hpsweep::segment_lease_test {
namespace {

namespace pb = ::hpsweep::v1;

// Leases the member twice, then nothing; records what the worker sent, in order.
class FakeCoordinator final : public pb::Coordinator::Service {
 public:
  std::mutex mu;
  std::vector<std::string> events;   // "save 2 lease-1", "fail lease-1 segment_end", ...
  std::vector<int> reported_epochs;  // ReportProgress with metrics, in order
  std::string checkpoint;            // the last one saved
  pb::CompleteTrialRequest completed;
  int leases = 0;
  bool damage = false;  // GetCheckpoint answers a damaged checkpoint

  grpc::Status RegisterWorker(grpc::ServerContext*, const pb::RegisterWorkerRequest*,
                              pb::RegisterWorkerResponse* resp) override {
    resp->set_worker_id(1);
    resp->set_lease_seconds(30);
    return grpc::Status::OK;
  }

  grpc::Status LeaseTrial(grpc::ServerContext*, const pb::LeaseTrialRequest*,
                          pb::LeaseTrialResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    if (leases >= 2) {
      resp->set_retry_after_seconds(0.05);
      return grpc::Status::OK;
    }
    ++leases;
    pb::Trial* t = resp->mutable_trial();
    t->set_trial_id(7);
    t->set_sweep_id(1);
    t->set_number(1);
    t->set_attempt(1);
    auto& p = *t->mutable_params();
    p["units"] = "8";
    p["epochs"] = "4";
    p["batch_size"] = "50";
    p["train_limit"] = "500";
    p["validation_split"] = "0.2";
    p["seed"] = "3";
    p["learning_rate"] = leases == 1 ? "0.001" : "0.004";
    p["dropout"] = leases == 1 ? "0.1" : "0.3";
    t->add_mutable_params("learning_rate");
    t->add_mutable_params("dropout");
    if (leases == 1) {
      t->set_pause_after_epoch(2);
    } else {
      t->set_resume_from_epoch(2);
    }
    resp->set_lease_id("lease-" + std::to_string(leases));
    return grpc::Status::OK;
  }

  grpc::Status ReportProgress(grpc::ServerContext*, const pb::ReportProgressRequest* req,
                              pb::ReportProgressResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    if (req->has_metrics()) reported_epochs.push_back(req->metrics().epoch());
    return grpc::Status::OK;
  }

  grpc::Status SaveCheckpoint(grpc::ServerContext*, const pb::SaveCheckpointRequest* req,
                              pb::SaveCheckpointResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("save " + std::to_string(req->epoch()) + " " + req->lease_id());
    checkpoint = req->checkpoint();
    return grpc::Status::OK;
  }

  grpc::Status GetCheckpoint(grpc::ServerContext*, const pb::GetCheckpointRequest* req,
                             pb::GetCheckpointResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("get " + req->lease_id());
    resp->set_epoch(PeekCheckpointEpoch(checkpoint));
    resp->set_checkpoint(damage ? checkpoint.substr(0, checkpoint.size() / 2) : checkpoint);
    return grpc::Status::OK;
  }

  grpc::Status FailTrial(grpc::ServerContext*, const pb::FailTrialRequest* req,
                         pb::FailTrialResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("fail " + req->lease_id() + (req->released() ? " released" : "") +
                     (req->segment_end() ? " segment_end" : "") +
                     (req->error().empty() ? "" : " error: " + req->error()));
    return grpc::Status::OK;
  }

  grpc::Status CompleteTrial(grpc::ServerContext*, const pb::CompleteTrialRequest* req,
                             pb::CompleteTrialResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("complete " + req->lease_id());
    completed = *req;
    return grpc::Status::OK;
  }
};

// Runs a worker for two leases against fake (a fatal test failure if it could not).
void RunWorker(const std::string& mnist, FakeCoordinator* fake) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(fake);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  WorkerOptions o;
  o.coordinator = "127.0.0.1:" + std::to_string(port);
  o.data_dir = mnist;
  o.max_trials = 2;  // each lease counts, the segment's too
  o.verbose = false;
  o.name = "segment-test";
  Worker worker(o);
  Status s = worker.Run();
  server->Shutdown();
  ASSERT_TRUE(s.ok()) << s.ToString();
}

bool HaveMnist() {
  return std::filesystem::exists(MnistDir() + "/train-images-idx3-ubyte");
}

TEST(SegmentLeaseTest, FirstSegmentEndsWithItsCheckpointAndTheNextResumesUnderNewValues) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST in " << MnistDir() << " (scripts/bootstrap.sh)";
  FakeCoordinator fake;
  RunWorker(MnistDir(), &fake);
  if (HasFatalFailure()) return;
  std::lock_guard<std::mutex> lock(fake.mu);
  // Epoch 1's checkpoint is sent as usual (small), epoch 2's for the pause, before the lease ends.
  EXPECT_EQ(fake.events,
            (std::vector<std::string>{"save 1 lease-1", "save 2 lease-1",
                                      "fail lease-1 released segment_end", "get lease-2",
                                      "save 3 lease-2", "complete lease-2"}));
  EXPECT_EQ(fake.reported_epochs, (std::vector<int>{1, 2, 3, 4}));  // resumed, not started over
  ASSERT_EQ(fake.completed.history_size(), 4);
  EXPECT_FLOAT_EQ(fake.completed.history(1).lr(), 0.001);
  EXPECT_FLOAT_EQ(fake.completed.history(2).lr(), 0.004);
  EXPECT_FLOAT_EQ(fake.completed.history(3).lr(), 0.004);
  EXPECT_GE(fake.completed.test_accuracy(), 0);
}

TEST(SegmentLeaseTest, AMemberWhoseCheckpointCannotBeHadFailsRatherThanStartingOver) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST in " << MnistDir() << " (scripts/bootstrap.sh)";
  FakeCoordinator fake;
  fake.damage = true;
  RunWorker(MnistDir(), &fake);
  if (HasFatalFailure()) return;
  std::lock_guard<std::mutex> lock(fake.mu);
  ASSERT_EQ(fake.events.size(), 5u);
  EXPECT_EQ(fake.events[3], "get lease-2");
  EXPECT_EQ(fake.events[4].rfind("fail lease-2 error: the checkpoint after epoch 2 could not", 0),
            0u)
      << fake.events[4];
  EXPECT_EQ(fake.reported_epochs, (std::vector<int>{1, 2}));  // nothing trained again
}

}  // namespace
}  // namespace hpsweep::segment_lease_test
