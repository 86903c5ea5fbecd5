// Worker::Impl's running of a trial of the user's own program (docs/programs.md): the program
// this worker offers under the trial's name, run by RunProgram (worker/program_runner.h) with
// the trial's argv, trial file and checkpoint folder; its epoch lines reported as the engine's
// epochs are, its checkpoint folder saved after them, and its end turned into a completion, a
// failure (with its output) or a give-back.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proto/hpsweep.grpc.pb.h"
#include "search/params_json.h"
#include "search/sweep_file.h"
#include "worker/folder_pack.h"
#include "worker/program_runner.h"
#include "worker/worker_impl.h"

extern char** environ;

namespace hpsweep {

namespace {

constexpr size_t kMaxProgramCheckpointBytes = 128u << 20;  // as the coordinator's limit

// A program's epoch as the coordinator takes it: its metrics by name, and the four fields the
// engine's epochs have filled from the metrics of those names (-1 when it did not report one).
void ProgramEpochToProto(const ProgramEpoch& e, double seconds, pb::EpochMetrics* pm) {
  auto field = [&](const char* name) {
    auto it = e.metrics.find(name);
    return it == e.metrics.end() ? -1.0 : it->second;
  };
  pm->set_epoch(e.epoch);
  pm->set_train_loss(field("train_loss"));
  pm->set_train_accuracy(field("train_accuracy"));
  pm->set_val_loss(field("val_loss"));
  pm->set_val_accuracy(field("val_accuracy"));
  pm->set_seconds(seconds);
  for (const auto& [name, v] : e.metrics) (*pm->mutable_named())[name] = v;
}

// The HPSWEEP_TRIAL file's content (docs/programs.md, "How a program gets its trial").
std::string TrialFile(const pb::Trial& trial, const std::map<std::string, std::string>& params,
                      int epochs, const std::string& checkpoint_dir) {
  nlohmann::json j = {{"sweep", trial.sweep_name()},
                      {"sweep_id", trial.sweep_id()},
                      {"trial", trial.number()},
                      {"trial_id", trial.trial_id()},
                      {"attempt", trial.attempt()},
                      {"params", ParamsJson(params)},
                      {"epochs", epochs},
                      {"seed", trial.seed()},
                      {"checkpoint_dir", checkpoint_dir},
                      {"resume_epoch", trial.resume_from_epoch()},
                      {"metric", trial.metric()},
                      {"goal", trial.maximize() ? "maximize" : "minimize"}};
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A private folder for one attempt (mode 0700), under $TMPDIR or /tmp.
StatusOr<std::string> MakeWorkDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/hpsweep-trial-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return IoError(pattern + ": cannot make the trial's folder: " + std::strerror(errno));
  }
  return pattern;
}

}  // namespace

void Worker::Impl::SendProgramCheckpoint(const std::string& lease_id, int epoch,
                                         const std::string& packed) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(120));
  pb::SaveCheckpointRequest req;
  req.set_lease_id(lease_id);
  req.set_epoch(epoch);
  req.set_checkpoint(packed);
  pb::SaveCheckpointResponse resp;
  grpc::Status s = stub_->SaveCheckpoint(&ctx, req, &resp);
  if (!s.ok()) {
    Log("checkpoint after epoch " + std::to_string(epoch) + " not kept: " + s.error_message());
  }
}

// The checkpoint folder a resumed lease starts from, unpacked into dir; false (the program
// starts over, which is slower but right) when it cannot be had or does not unpack.
bool Worker::Impl::RestoreProgramCheckpoint(const pb::LeaseTrialResponse& lease,
                                            const std::string& dir) {
  const pb::Trial& trial = lease.trial();
  pb::GetCheckpointResponse resp;
  grpc::Status s = GetCheckpointOf(lease.lease_id(), &resp);
  Status unpacked = s.ok() ? UnpackFolder(resp.checkpoint(), dir, kMaxProgramCheckpointBytes)
                           : Status(StatusCode::kUnavailable, s.error_message());
  if (unpacked.ok()) {
    Log("trial " + std::to_string(trial.trial_id()) + ": resuming after epoch " +
        std::to_string(trial.resume_from_epoch()) + " with its checkpoint folder");
    return true;
  }
  Log("trial " + std::to_string(trial.trial_id()) + " checkpoint not usable (" +
      unpacked.ToString() + "); starting over");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return false;
}

// Delivers a finished (or stopped) program's result: its epochs, its final line (test_accuracy
// and test_loss fill the fields of those names) and its output.
grpc::Status Worker::Impl::SendProgramResult(const std::string& lease_id, const ProgramResult& r,
                                             pb::LeaseTrialResponse* next) {
  pb::CompleteTrialRequest req;
  req.set_lease_id(lease_id);
  double seconds_each = r.epochs.empty() ? 0 : r.seconds / static_cast<double>(r.epochs.size());
  for (const ProgramEpoch& e : r.epochs) ProgramEpochToProto(e, seconds_each, req.add_history());
  auto final_of = [&](const char* name) {
    auto it = r.final_metrics.find(name);
    return it == r.final_metrics.end() ? -1.0 : it->second;
  };
  req.set_test_accuracy(final_of("test_accuracy"));
  req.set_test_loss(final_of("test_loss"));
  for (const auto& [name, v] : r.final_metrics) (*req.mutable_final_metrics())[name] = v;
  req.set_stopped(r.outcome == ProgramOutcome::kStopped);
  req.set_seconds(r.seconds);
  req.set_output(r.output);
  return DeliverCompletion(&req, next);
}
void Worker::Impl::RunProgramTrial(const pb::LeaseTrialResponse& lease,
                                   pb::LeaseTrialResponse* next) {
  const pb::Trial& trial = lease.trial();
  const std::string& lease_id = lease.lease_id();
  auto offered = o_.programs.find(trial.program());
  if (offered == o_.programs.end()) {  // (the coordinator leases only what a worker offers)
    SendFail(lease_id, "this worker does not offer program '" + trial.program() + "'",
             /*released=*/true);
    Sleep(o_.oom_backoff_seconds);
    return;
  }
  auto dir = MakeWorkDir();
  if (!dir.ok()) {
    SendFail(lease_id, dir.status().ToString(), /*released=*/true);
    return;
  }
  const std::string checkpoint_dir = *dir + "/checkpoint";
  std::map<std::string, std::string> params(trial.params().begin(), trial.params().end());
  params.erase(kLabelKey);  // a list item's label names the row; it is no parameter
  const int epochs = ProgramEpochs(params);

  ProgramRunOptions o;
  o.path = offered->second;
  for (const auto& [name, value] : params) o.args.push_back("--" + name + "=" + value);
  o.work_dir = *dir;
  o.data_dir = data_in_use_.empty() ? o_.data_dir : data_in_use_;
  o.epochs = epochs;
  o.max_seconds = trial.max_seconds();
  o.grace_seconds = o_.program_grace_seconds;
  o.max_checkpoint_bytes = kMaxProgramCheckpointBytes;
  // A population member (method: pbt) trains one segment, up to pause_after_epoch, and resumes
  // only from its checkpoint folder: starting over would train something else than the member.
  const int pause = trial.pause_after_epoch();
  const bool member = pause > 0 || trial.mutable_params_size() > 0;
  if (trial.resume_from_epoch() > 0 && RestoreProgramCheckpoint(lease, checkpoint_dir)) {
    o.resume_epoch = trial.resume_from_epoch();
  } else if (trial.resume_from_epoch() > 0 && member) {
    SendFail(lease_id, "population member: its checkpoint folder after epoch " +
                           std::to_string(trial.resume_from_epoch()) + " could not be restored",
             /*released=*/false);
    return;
  }
  pb::Trial for_file = trial;
  for_file.set_resume_from_epoch(o.resume_epoch);
  o.trial_json = TrialFile(for_file, params, epochs, checkpoint_dir);

  TrialWatch watch;
  StartTrialThreads(lease_id, &watch);
  o.stop = &watch.stop_trial;
  o.cancel = &watch.cancel;
  auto last = std::chrono::steady_clock::now();
  o.on_epoch = [&](const ProgramEpoch& e) {
    if (pause > 0 && e.epoch > pause) return false;  // past its segment: not reported
    const auto now = std::chrono::steady_clock::now();
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(10));
    pb::ReportProgressRequest req;
    req.set_lease_id(lease_id);
    ProgramEpochToProto(e, std::chrono::duration<double>(now - last).count(),
                        req.mutable_metrics());
    last = now;
    pb::ReportProgressResponse resp;
    HandleProgress(stub_->ReportProgress(&ctx, req, &resp), resp, &watch);
    Log("trial " + std::to_string(trial.trial_id()) + " epoch " + std::to_string(e.epoch) +
        " reported");
    return !watch.stop_trial.load() && !watch.lost.load() && e.epoch != pause;
  };
  o.on_checkpoint = [&](int epoch, const std::string& packed) {
    SendProgramCheckpoint(lease_id, epoch, packed);
  };
  StatusOr<ProgramResult> run = RunProgram(o);
  std::error_code ec;
  std::filesystem::remove_all(*dir, ec);

  if (!run.ok()) {  // this worker's problem (no fork, no pipes): another worker may do better
    watch.Stop();
    SendFail(lease_id, run.status().ToString(), /*released=*/true);
    return;
  }
  const ProgramResult& r = *run;
  if (watch.lost) {  // someone else has the trial now
    watch.Stop();
    return;
  }
  if (r.outcome == ProgramOutcome::kCancelled) {
    watch.Stop();
    Log("stopping: giving trial " + std::to_string(trial.trial_id()) + " back");
    SendFail(lease_id, "", /*released=*/true);
    return;
  }
  if (r.outcome == ProgramOutcome::kFailed) {
    watch.Stop();
    SendFail(lease_id, r.error, /*released=*/false, r.output);
    return;
  }
  if (pause > 0 && !r.epochs.empty() && r.epochs.back().epoch >= pause && !watch.stop_trial) {
    watch.Stop();  // its segment is done, its folder after that epoch sent (on_checkpoint)
    Log("trial " + std::to_string(trial.trial_id()) + ": segment done after epoch " +
        std::to_string(pause));
    SendFail(lease_id, "", /*released=*/true, r.output, /*segment_end=*/true);
    return;
  }
  grpc::Status s = SendProgramResult(lease_id, r, next);
  watch.Stop();
  if (s.ok()) {
    Log("trial " + std::to_string(trial.trial_id()) + " " + ProgramOutcomeName(r.outcome) +
        " after " + std::to_string(r.epochs.empty() ? o.resume_epoch : r.epochs.back().epoch) +
        " epochs");
  } else if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    SendFail(lease_id, "the coordinator refused the result: " + s.error_message(), false,
             r.output);
  } else {
    Log("trial " + std::to_string(trial.trial_id()) + " result not delivered: " +
        s.error_message());
  }
}

}  // namespace hpsweep
