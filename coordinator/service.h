// The coordinator process: the gRPC service over a Scheduler and its SQLite storage, the standard
// health service and server reflection, and a ticker that expires leases.
//
// The service layer is the only place where hpsweep::Status becomes grpc::Status.
//
// Thread-safety: Start/Wait/Shutdown from one thread; RPCs are served on gRPC's threads.
// Ownership: owns the storage, the scheduler and the server.
#ifndef HPSWEEP_COORDINATOR_SERVICE_H_
#define HPSWEEP_COORDINATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/credentials.h"
#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "coordinator/views.h"
#include "base/status.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

// hpsweep::Status -> grpc::Status, keeping the message.
grpc::Status ToGrpc(const Status& s);

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  std::string db_path = "hpsweep.db";
  std::string data_dir;  // served to workers that lack the data; may be empty
  // Folders a sweep's own data may come from (--data-root, repeatable); data_dir is one too. A
  // sweep naming a file anywhere else is refused at submit, unread.
  std::vector<std::string> data_roots;
  // TLS and tokens. A non-loopback listen address without both is refused unless
  // security.insecure (auth/credentials.h CheckListenSecurity).
  ServerSecurity security;
  SchedulerOptions scheduler;
  StorageOptions storage;
  SweepLimits sweep_limits;  // SubmitSweep refuses trials over these
  // The gRPC server's memory budget (a ResourceQuota) for what its connections hold: requests
  // being received above all. Past it gRPC refuses new calls and cancels large ones
  // (RESOURCE_EXHAUSTED; workers retry), so that concurrent oversized calls (a handler refuses
  // them by size only once they are read) cannot take the host's memory. Large enough for a few
  // 128 MiB checkpoints and 64 MiB models at once.
  size_t request_memory_bytes = size_t{512} << 20;
  // For tests: called by GetDataset after a sweep's own data files are opened and hashed, before
  // they are sent (a test swaps a file's path for a link there).
  std::function<void()> before_data_sent_for_testing;
};

class CoordinatorServer {
 public:
  CoordinatorServer();
  ~CoordinatorServer();

  // Opens the database, resumes every sweep in it, and starts listening.
  Status Start(const CoordinatorOptions& options);
  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  std::string address() const;
  Scheduler* scheduler() { return scheduler_.get(); }
  // Blocks until Shutdown() is called from another thread (or a signal handler's helper thread).
  void Wait();
  void Shutdown();

 private:
  class Service;
  CoordinatorOptions options_;
  SystemClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread ticker_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_SERVICE_H_
