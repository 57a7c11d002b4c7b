#include "search/heartbeat.h"

#include <chrono>
#include <exception>
#include <string>

namespace fnas::search {

Heartbeat::Heartbeat(db::Store& store, Progress& progress, double period_s,
                     std::function<void()> poll, std::function<void(const std::string&)> lost)
    : store_(store),
      progress_(progress),
      period_s_(period_s),
      poll_(std::move(poll)),
      lost_(std::move(lost)) {
  thread_ = std::thread([this] { Loop(); });
}

Heartbeat::~Heartbeat() { Stop(); }

void Heartbeat::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::Loop() {
  auto last = std::chrono::steady_clock::now();
  bool owner = true;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return done_; })) {
    progress_.Tick();
    if (poll_) poll_();
    const auto now = std::chrono::steady_clock::now();
    if (!owner || std::chrono::duration<double>(now - last).count() < period_s_) continue;
    last = now;
    try {
      store_.Heartbeat();
    } catch (const db::OwnershipLost& e) {
      owner = false;
      if (lost_) lost_(e.what());
    } catch (const std::exception& e) {
      progress_.Message(std::string("warning: heartbeat failed: ") + e.what());
    }
  }
}

}  // namespace fnas::search
