#include "distributed/remote_evaluator.h"

#include <chrono>
#include <exception>
#include <filesystem>

#include "common/error.h"

namespace fnas::distributed {

namespace fs = std::filesystem;

namespace {

std::string Absolute(const std::string& path) {
  if (path.empty()) return path;
  return fs::absolute(path).lexically_normal().string();
}

// A checkpoint the worker named under `remote_dir` (absolute), as a path
// under `local_dir` (as the driver gave it).
std::string ToLocal(const std::string& path, const std::string& remote_dir,
                    const std::string& local_dir) {
  if (remote_dir != local_dir && path.size() > remote_dir.size() &&
      path.compare(0, remote_dir.size(), remote_dir) == 0 && path[remote_dir.size()] == '/') {
    return local_dir + path.substr(remote_dir.size());
  }
  return path;
}

std::string Where(const Message& m) {
  return "rank " + std::to_string(m.from) + (m.host.empty() ? "" : " (" + m.host + ")");
}

}  // namespace

std::vector<RemoteSlot> StartWorkers(Channel& channel, const Config& config) {
  Message hello;
  hello.type = MessageType::kConfig;
  hello.text = config.yaml_text;
  hello.source = config.source;
  hello.host = channel.host();
  for (int r = 1; r < channel.size(); ++r) channel.Send(r, hello);

  std::vector<std::vector<RemoteSlot>> by_rank(channel.size());
  std::string failure;
  int failure_code = kExitOk;
  for (int answered = 0; answered < channel.size() - 1;) {
    const Message m = channel.Receive(kAnyRank, kControl);
    if (m.type == MessageType::kHello) {
      for (int s = 0; s < m.slots; ++s) by_rank[m.from].push_back({m.from, s, m.host});
      ++answered;
    } else if (m.type == MessageType::kSetupFailed) {
      if (failure.empty()) {
        failure = Where(m) + ": " + m.text;
        failure_code = m.code;
      }
      ++answered;
    }
  }
  if (!failure.empty()) {
    if (failure_code == kExitBadInput) throw UsageError(failure);
    throw RuntimeError(failure);
  }
  // Slots in rank order, one of each rank first: a study with fewer trials
  // than slots spreads over the ranks.
  std::vector<RemoteSlot> slots;
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (const auto& rank : by_rank) {
      if (round < rank.size()) {
        slots.push_back(rank[round]);
        any = true;
      }
    }
    if (!any) break;
  }
  return slots;
}

void StopWorkers(Channel& channel, int code) {
  Message stop;
  stop.type = MessageType::kShutdown;
  stop.code = code;
  for (int r = 1; r < channel.size(); ++r) channel.Send(r, stop);
  for (int byes = 0; byes < channel.size() - 1;) {
    if (channel.Receive(kAnyRank, kControl).type == MessageType::kBye) ++byes;
  }
}

RemoteEvaluator::RemoteEvaluator(Channel& channel, std::vector<RemoteSlot> slots)
    : channel_(channel), slots_(std::move(slots)), free_(slots_.begin(), slots_.end()) {}

RemoteSlot RemoteEvaluator::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !free_.empty(); });
  RemoteSlot s = free_.front();
  free_.pop_front();
  return s;
}

void RemoteEvaluator::Release(const RemoteSlot& slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }
  cv_.notify_one();
}

MessagingStats RemoteEvaluator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

search::TrialOutcome RemoteEvaluator::Run(const search::TrialSpec& spec,
                                          search::TrialObserver& observer) {
  if (slots_.empty()) throw RuntimeError("no worker rank has a slot to run trials on");
  const RemoteSlot slot = Acquire();
  struct Releaser {
    RemoteEvaluator& self;
    const RemoteSlot& slot;
    ~Releaser() { self.Release(slot); }
  } releaser{*this, slot};

  Message m;
  m.type = MessageType::kSpec;
  m.slot = slot.slot;
  m.spec = spec;
  m.spec.config = nullptr;
  const std::string remote_dir = Absolute(spec.checkpoint_dir);
  m.spec.checkpoint_dir = remote_dir;
  m.spec.resume_checkpoint = Absolute(spec.resume_checkpoint);
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };
  const auto start = Clock::now();
  double judge_s = 0;
  channel_.Send(slot.rank, m);

  // Once the driver threw (a store error), the worker is told to abort and
  // the error is rethrown when its outcome arrives, so the slot is free.
  std::exception_ptr failure;
  for (;;) {
    const Message r = channel_.Receive(slot.rank, slot.slot);
    switch (r.type) {
      case MessageType::kProgress:
        if (!failure) observer.OnProgress(r.epoch, r.batch, r.batches, r.loss, r.images_per_s);
        break;
      case MessageType::kEpoch: {
        Message v;
        v.type = MessageType::kVerdict;
        v.slot = slot.slot;
        if (failure) {
          v.abort = true;
        } else {
          try {
            const auto judging = Clock::now();
            v.verdict = observer.OnEpoch(r.record, r.has_validation ? &r.validation : nullptr,
                                         ToLocal(r.checkpoint, remote_dir, spec.checkpoint_dir));
            v.stop = observer.StopRequested();
            v.abandoned = observer.Abandoned();
            judge_s += seconds(judging);
          } catch (...) {
            failure = std::current_exception();
            v.abort = true;
          }
        }
        channel_.Send(slot.rank, v);
        break;
      }
      case MessageType::kOutcome: {
        const double wall_s = seconds(start);
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.trials;
          stats_.wall_s += wall_s;
          stats_.run_s += r.run_s;
          stats_.wait_s += r.wait_s;
          stats_.judge_s += judge_s;
        }
        if (failure) std::rethrow_exception(failure);
        if (!r.error.empty()) {
          if (r.environment) throw EnvironmentError(r.error);
          throw RuntimeError(r.error);
        }
        return r.outcome;
      }
      default:
        break;  // not addressed to a slot
    }
  }
}

}  // namespace fnas::distributed
