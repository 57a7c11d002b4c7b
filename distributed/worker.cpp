#include "distributed/worker.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "common/error.h"
#include "search/execution.h"

namespace fnas::distributed {

namespace {

// Forwards one trial's reports to rank 0: OnEpoch waits for rank 0's verdict
// (its pruning decision at a rung); progress is throttled to a few messages a
// second. Used by the slot's own thread only.
class ProxyObserver : public search::TrialObserver {
 public:
  ProxyObserver(Channel& channel, int slot) : channel_(channel), slot_(slot) {}

  search::EpochVerdict OnEpoch(const evaluators::EpochRecord& record,
                               const evaluators::QuantReport* validation,
                               const std::string& checkpoint) override {
    Message m;
    m.type = MessageType::kEpoch;
    m.slot = slot_;
    m.record = record;
    m.has_validation = validation != nullptr;
    if (validation) m.validation = *validation;
    m.checkpoint = checkpoint;
    const auto sent = std::chrono::steady_clock::now();
    channel_.Send(0, m);
    const Message v = channel_.Receive(0, slot_);
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    if (v.type != MessageType::kVerdict) {
      throw RuntimeError(std::string("rank 0 answered an epoch with a ") + MessageTypeName(v.type) +
                         " message");
    }
    if (v.abort) throw RuntimeError("rank 0 could not record the epoch; the trial stops");
    stop_ = v.stop;
    abandoned_ = v.abandoned;
    return v.verdict;
  }
  void OnProgress(int epoch, int batch, int batches, double loss, double images_per_s) override {
    const auto now = std::chrono::steady_clock::now();
    if (batch < batches && now - last_progress_ < std::chrono::milliseconds(250)) return;
    last_progress_ = now;
    Message m;
    m.type = MessageType::kProgress;
    m.slot = slot_;
    m.epoch = epoch;
    m.batch = batch;
    m.batches = batches;
    m.loss = loss;
    m.images_per_s = images_per_s;
    channel_.Send(0, m);
  }
  // As rank 0 answered the last epoch.
  bool StopRequested() const override { return stop_; }
  bool Abandoned() const override { return abandoned_; }
  // Seconds spent waiting for rank 0's verdicts.
  double wait_s() const { return wait_s_; }

 private:
  Channel& channel_;
  const int slot_;
  bool stop_ = false;
  bool abandoned_ = false;
  double wait_s_ = 0;
  std::chrono::steady_clock::time_point last_progress_{};
};

struct Setup {
  std::shared_ptr<const Config> config;
  std::unique_ptr<search::Evaluator> evaluator;
  int slots = 1;
  int threads = 1;
  int cuda_devices = 0;
  int device_base = 0;  // this rank's first device index among the host's worker slots
};

Setup SetUp(const Message& m, const std::string& host, const WorkerPlacement& placement,
            const EvaluatorMaker& make) {
  Setup s;
  s.config = std::make_shared<const Config>(ParseConfig(m.text, m.source));
  const search::ExecutionOptions& exec = s.config->execution;
  s.cuda_devices = search::PrepareDevices(exec);
  const int cores = placement.cores > 0
                        ? placement.cores
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  // Rank 0 (the driver, no training) leaves its host's cores to the workers.
  const bool with_rank0 = m.host == host;
  const int workers_here = std::max(1, placement.local_size - (with_rank0 ? 1 : 0));
  const int index_here = std::max(0, placement.local_rank - (with_rank0 ? 1 : 0));
  s.slots = WorkerSlots(exec, cores, workers_here);
  s.threads = search::ThreadsPerWorker(exec, std::max(1, cores / workers_here), s.slots);
  s.device_base = index_here * s.slots;
  s.evaluator = make(*s.config);
  return s;
}

}  // namespace

int WorkerSlots(const search::ExecutionOptions& options, int cores, int worker_ranks_on_host) {
  if (options.workers > 0) return options.workers;
  return std::max(1, cores / std::max(1, worker_ranks_on_host));
}

int RunWorker(Channel& channel, const WorkerPlacement& placement, const EvaluatorMaker& make) {
  Setup setup;
  int code = kExitOk;
  bool ready = false;
  std::map<int, std::thread> running;  // by slot
  for (;;) {
    Message m = channel.Receive(0, kControl);
    if (m.type == MessageType::kShutdown) break;
    if (m.type == MessageType::kConfig) {
      Message reply;
      reply.host = channel.host();
      try {
        setup = SetUp(m, channel.host(), placement, make);
        reply.type = MessageType::kHello;
        reply.slots = setup.slots;
        ready = true;
      } catch (const std::exception& e) {
        reply.type = MessageType::kSetupFailed;
        reply.text = e.what();
        const auto* error = dynamic_cast<const Error*>(&e);
        reply.code = code = error ? error->exit_code() : kExitRuntime;
      }
      channel.Send(0, reply);
      continue;
    }
    if (m.type != MessageType::kSpec || !ready) continue;
    // Rank 0 sends a slot's next trial once the last one's outcome arrived:
    // that thread is ending.
    const int slot = m.slot;
    if (auto it = running.find(slot); it != running.end()) {
      it->second.join();
      running.erase(it);
    }
    running.emplace(
        slot, std::thread([&channel, &setup, slot, spec_message = std::move(m)] {
          search::TrialSpec spec = spec_message.spec;
          spec.config = setup.config;
          spec.threads = setup.threads;
          spec.device = search::WorkerDevice(setup.config->execution, setup.device_base + slot,
                                             setup.cuda_devices);
          Message out;
          out.type = MessageType::kOutcome;
          out.slot = slot;
          ProxyObserver observer(channel, slot);
          const auto start = std::chrono::steady_clock::now();
          try {
            search::SetIntraOpThreads(spec.threads);
            // The folder rank 0 made, seen from here (a path every rank sees).
            std::error_code ec;
            std::filesystem::create_directories(spec.checkpoint_dir, ec);
            out.outcome = setup.evaluator->Run(spec, observer);
          } catch (const std::exception& e) {
            out.error = e.what();
            if (out.error.empty()) out.error = "unknown error";
            out.environment = IsEnvironmentFailure(e);
          } catch (...) {
            out.error = "unknown exception";
          }
          out.run_s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          out.wait_s = observer.wait_s();
          channel.Send(0, out);
        }));
  }
  // Trials still running stop at their next epoch (their OnEpoch throws).
  channel.Close();
  for (auto& [slot, thread] : running) thread.join();
  Message bye;
  bye.type = MessageType::kBye;
  channel.Send(0, bye);
  return code;
}

}  // namespace fnas::distributed
