// The heartbeat of a running search: a thread that, while it lives, shows the
// store that the study's owner and its RUNNING trials are alive (every
// `period_s`) and lets the display redraw and the driver notice a stop
// request (every 100 ms). A failed beat is reported as a warning, not thrown:
// the next one may succeed, and a beat that never comes only makes the owner
// look dead to others after DriverOptions::stale_after_s.
//
// The store and progress are borrowed and must outlive the Heartbeat. Built
// and destroyed by one thread; `poll` is called from the heartbeat thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "db/store.h"
#include "search/progress.h"

namespace fnas::search {

class Heartbeat {
 public:
  // `lost` (may be empty) is called once, with the message, when a beat
  // finds that another process took the study over; no beat follows.
  Heartbeat(db::Store& store, Progress& progress, double period_s, std::function<void()> poll,
            std::function<void(const std::string&)> lost = nullptr);
  ~Heartbeat();  // stops and joins the thread
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Stops the thread now (idempotent).
  void Stop();

 private:
  void Loop();

  db::Store& store_;
  Progress& progress_;
  const double period_s_;
  std::function<void()> poll_;
  std::function<void(const std::string&)> lost_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace fnas::search
