// End-to-end tests of the database file's faults with real processes of the hpsweep binary: a
// file that is not a database, writes that fail under a file-size limit, and text that is not
// UTF-8 in a database written before anything checked it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "coordinator/store/storage.h"
#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"

namespace hpsweep::storage_faults_e2e_test {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

class StorageFaultsE2ETest : public E2ETest {
 protected:
  StorageFaultsE2ETest() : E2ETest("storage_e2e", /*needs_mnist=*/false) {}

  std::unique_ptr<Process> StartCoordinator(void (*before_exec)() = nullptr) {
    return std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--listen", addr_, "--db", db_}, log_, before_exec);
  }

  std::unique_ptr<pb::Coordinator::Stub> Stub() {
    return pb::Coordinator::NewStub(grpc::CreateCustomChannel(
        addr_, grpc::InsecureChannelCredentials(), TestChannelArgs()));
  }

  bool WaitUp(double seconds) { return TestClient(addr_).WaitUp(seconds); }

  grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return rpc(&ctx);
  }
};

// Regression: an empty file at --db became a fresh database ("listening", no sweeps, no word).
TEST_F(StorageFaultsE2ETest, CoordinatorRefusesAnEmptyDatabaseFileAndLeavesItAlone) {
  std::ofstream(db_).close();
  auto coord = StartCoordinator();
  ASSERT_TRUE(coord->Wait(20)) << "the coordinator started on an empty file";
  EXPECT_EQ(coord->exit_code(), 2);
  const std::string log = ReadText(log_);
  EXPECT_NE(log.find(db_ + ": an empty file, not an hpsweep database; remove it or pick another "
                           "--db"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("listening"), std::string::npos) << log;
  EXPECT_EQ(fs::file_size(db_), 0u);
  EXPECT_FALSE(fs::exists(db_ + "-wal"));
}

// The file-size limit the coordinator below runs under (set in the child before exec).
void LimitFileSize() {
  struct rlimit limit = {512 * 1024, 512 * 1024};
  setrlimit(RLIMIT_FSIZE, &limit);
}

// A sweep stores no trial at submit (they are proposed at lease time), so its bulk is a long
// description (stored twice: with the file and alone).
std::string SweepYaml(int i) {
  return "name: big-" + std::to_string(i) + "\ndescription: " + std::string(4000, 'x') +
         "\nmethod: grid\nfixed: {cell: lstm, epochs: 1}\nparameters:\n"
         "  units: {values: [8, 16, 24, 32, 40, 48, 56, 64, 72, 80]}\n"
         "  batch_size: {values: [16, 32, 64, 128, 256]}\n"
         "  learning_rate: {values: [0.001, 0.002, 0.003, 0.004]}\n";
}

// Regression: a write past the file-size limit raised SIGXFSZ, which killed the coordinator with
// nothing logged. Now the write fails, the caller hears SQLite's reason, the coordinator keeps
// serving, and every sweep acknowledged before is intact.
TEST_F(StorageFaultsE2ETest,
       CoordinatorUnderAFileSizeLimitAnswersErrorsAndKeepsWhatItAcknowledged) {
  auto coord = StartCoordinator(&LimitFileSize);
  ASSERT_TRUE(WaitUp(20)) << "coordinator did not come up";
  auto stub = Stub();
  std::map<int64_t, std::string> acknowledged;  // sweep id -> name
  grpc::Status refused;
  for (int i = 1; i <= 400 && refused.ok(); ++i) {
    pb::SubmitSweepRequest req;
    req.set_file_name("big.yaml");
    req.set_yaml(SweepYaml(i));
    pb::SubmitSweepResponse resp;
    grpc::Status s = Call([&](grpc::ClientContext* c) { return stub->SubmitSweep(c, req, &resp); });
    if (s.ok()) {
      acknowledged[resp.sweep_id()] = "big-" + std::to_string(i);
    } else {
      refused = s;
    }
  }
  ASSERT_FALSE(refused.ok()) << "the file-size limit never bit";
  ASSERT_GE(acknowledged.size(), 1u);
  EXPECT_TRUE(refused.error_message().find("database or disk is full") != std::string::npos ||
              refused.error_message().find("disk I/O error") != std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("ulimit -f"), std::string::npos)
      << refused.error_message();

  // Still up, and what it acknowledged is all there, nothing of the refused sweep.
  ASSERT_TRUE(coord->running()) << "the coordinator died (exit " << coord->exit_code() << ")";
  pb::GetStatusResponse status;
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) {
                return stub->GetStatus(c, pb::GetStatusRequest(), &status);
              }).ok());
  ASSERT_EQ(static_cast<size_t>(status.sweeps_size()), acknowledged.size());
  for (const auto& sw : status.sweeps()) {
    ASSERT_TRUE(acknowledged.count(sw.sweep_id())) << sw.sweep_id();
    EXPECT_EQ(sw.name(), acknowledged[sw.sweep_id()]);
    EXPECT_EQ(sw.total(), 200);
    EXPECT_EQ(sw.queued() + sw.unproposed(), 200);
  }
  // Another write fails the same way, and the process lives on.
  pb::SubmitSweepRequest again;
  again.set_file_name("big.yaml");
  again.set_yaml(SweepYaml(100));
  pb::SubmitSweepResponse again_resp;
  EXPECT_FALSE(
      Call([&](grpc::ClientContext* c) { return stub->SubmitSweep(c, again, &again_resp); }).ok());
  EXPECT_TRUE(coord->running());
  const std::string log = ReadText(log_);
  EXPECT_NE(log.find("hpsweep: storage: " + db_), std::string::npos) << log;

  coord->Signal(SIGTERM);
  ASSERT_TRUE(coord->Wait(20));
  EXPECT_EQ(coord->exit_code(), 0);
  // The file, reopened without the limit: every acknowledged sweep, whole (its file, its 200
  // trials to propose; none stored yet, as nothing was leased).
  auto storage = OpenSqliteStorage(db_);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_EQ(*(*storage)->IntegrityCheck(), "ok");
  auto sweeps = (*storage)->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), acknowledged.size());
  for (const SweepRow& sw : *sweeps) {
    EXPECT_EQ(sw.name, acknowledged[sw.id]);
    EXPECT_EQ(sw.yaml, SweepYaml(std::stoi(sw.name.substr(4))));
    EXPECT_EQ(sw.total, 200);
    EXPECT_EQ((*storage)->LoadTrials(sw.id)->size(), 0u);
  }
}

// A database written before text was checked: a description, a worker name and an error with
// the byte 0xff, and a diverged trial whose losses are NaN (stored as NULL).
void WriteOldDatabase(const std::string& path) {
  auto storage = OpenSqliteStorage(path);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  Storage& db = **storage;
  SweepRow sweep;
  sweep.name = "old";
  sweep.description = "width \xff sweep";
  sweep.yaml = "name: old\n";
  sweep.total = 2;
  sweep.state = SweepState::kCompleted;
  auto sweep_id = db.InsertSweep(sweep);
  ASSERT_TRUE(sweep_id.ok()) << sweep_id.status().ToString();
  for (int n = 1; n <= 2; ++n) {
    TrialRow t;
    t.sweep_id = *sweep_id;
    t.number = n;
    t.params = {{"units", std::to_string(8 * n)}, {"cell", "gru"}};
    t.status = TrialStatus::kCompleted;
    t.attempts = 1;
    t.worker_name = "node-\xff";
    t.error = n == 2 ? "attempt 1 on 'node-\xff': \xfe\xff" : "";
    t.best_epoch = 1;
    t.epochs_run = 1;
    t.best_val_accuracy = n == 1 ? 0.5 : std::numeric_limits<double>::quiet_NaN();
    t.test_accuracy = 0.4;
    t.test_loss = std::numeric_limits<double>::quiet_NaN();
    t.seconds = 1.5;
    auto id = db.InsertTrial(t);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EpochRow e;
    e.trial_id = *id;
    e.epoch = 1;
    e.train_loss = std::numeric_limits<double>::quiet_NaN();
    e.val_loss = std::numeric_limits<double>::quiet_NaN();
    e.val_accuracy = 0.5;
    ASSERT_TRUE(db.PutEpoch(e).ok());
  }
}

// Regression: export and report of such a database aborted (nlohmann type_error.316, exit 134),
// and ExportSweep over RPC failed with "is a coordinator running there?".
TEST_F(StorageFaultsE2ETest, ExportAndReportSurviveTextThatIsNotUtf8) {
  WriteOldDatabase(db_);
  if (HasFatalFailure()) return;
  std::string out;
  ASSERT_EQ(RunCli({"export", "--db", db_, "--format", "json"}, &out), 0) << out;
  const size_t brace = out.find('{');
  ASSERT_NE(brace, std::string::npos) << out;
  json ex = json::parse(out.substr(brace));
  EXPECT_EQ(ex["sweep"]["description"], std::string("width ") + kReplacement + " sweep");
  ASSERT_EQ(ex["trials"].size(), 2u);
  EXPECT_EQ(ex["trials"][0]["worker"], std::string("node-") + kReplacement);
  EXPECT_TRUE(ex["trials"][1]["test_loss"].is_null());

  ASSERT_EQ(RunCli({"export", "--db", db_, "--format", "csv"}, &out), 0) << out;
  EXPECT_NE(out.find(std::string("node-") + kReplacement), std::string::npos) << out;
  EXPECT_NE(out.find("nan"), std::string::npos) << out;
  // Each epoch's lr, and the epoch a trial's test and model come from and where early stopping
  // ended it, have their columns.
  EXPECT_NE(out.find(",epoch_seconds,lr,best_epoch,test_accuracy,test_loss,weights_epoch,"
                     "stopped_epoch,seconds,worker\n"),
            std::string::npos)
      << out;

  const std::string html = (dir_ / "report.html").string();
  ASSERT_EQ(
      RunCli({"report", "--db", db_, "-o", html, "--data-dir", (dir_ / "none").string()}, &out), 0)
      << out;
  EXPECT_NE(ReadText(html).find(std::string("width ") + kReplacement + " sweep"),
            std::string::npos);

  // The same database served by a coordinator: ExportSweep answers, export over RPC works.
  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(20));
  auto stub = Stub();
  pb::ExportSweepRequest req;
  pb::ExportSweepResponse resp;
  grpc::Status s = Call([&](grpc::ClientContext* c) { return stub->ExportSweep(c, req, &resp); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(json::parse(resp.json())["sweep"]["description"],
            std::string("width ") + kReplacement + " sweep");
  ASSERT_EQ(RunCli({"export", "--coordinator", addr_, "--format", "csv"}, &out), 0) << out;
  ASSERT_EQ(RunCli({"leaderboard", "--coordinator", addr_, "--format", "json"}, &out), 0) << out;
  EXPECT_NE(out.find(std::string("node-") + kReplacement), std::string::npos) << out;
}

}  // namespace
}  // namespace hpsweep::storage_faults_e2e_test
