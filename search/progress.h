// What a running search shows: one live line per running trial and an
// overall bar with ETA on a terminal, plain log lines otherwise, nothing with
// --quiet. The driver calls a Progress from several worker threads; every
// implementation here locks internally (thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "evaluators/records.h"

namespace fnas::search {

struct SearchSummary;

class Progress {
 public:
  virtual ~Progress() = default;
  // `total` trials in the study, `finished` of them done before this run,
  // `epochs_left` epochs this run has to train (over every trial to run).
  virtual void Begin(const std::string& study, int total, int finished, long epochs_left,
                     int workers) = 0;
  // The strategy appended `trials` candidates (`epochs` more to train).
  virtual void Added(int trials, long epochs) = 0;
  virtual void TrialStarted(int slot, int64_t trial, const std::string& candidate, int epoch,
                            int epochs) = 0;
  virtual void Batch(int slot, int epoch, int batch, int batches, double loss,
                     double images_per_s) = 0;
  virtual void Epoch(int slot, const evaluators::EpochRecord& record,
                     const evaluators::QuantReport* validation) = 0;
  // `outcome`: "COMPLETE quint8 0.8123 ...", "FAILED: message", "INTERRUPTED ...".
  virtual void TrialFinished(int slot, int64_t trial, const std::string& candidate,
                             const std::string& outcome) = 0;
  // Free text: "stopping: ...", front updates.
  virtual void Message(const std::string& text) = 0;
  // Called a few times a second from the driver's heartbeat thread.
  virtual void Tick() = 0;
  virtual void End() = 0;
};

class QuietProgress : public Progress {
 public:
  void Begin(const std::string&, int, int, long, int) override {}
  void Added(int, long) override {}
  void TrialStarted(int, int64_t, const std::string&, int, int) override {}
  void Batch(int, int, int, int, double, double) override {}
  void Epoch(int, const evaluators::EpochRecord&, const evaluators::QuantReport*) override {}
  void TrialFinished(int, int64_t, const std::string&, const std::string&) override {}
  void Message(const std::string&) override {}
  void Tick() override {}
  void End() override {}
};

// Shared bookkeeping of the two visible forms: per-slot state, counts, ETA.
class StreamProgress : public Progress {
 public:
  // live = true: redraw a block of lines in place (a terminal).
  StreamProgress(std::ostream& out, bool live);
  void Begin(const std::string& study, int total, int finished, long epochs_left,
             int workers) override;
  void Added(int trials, long epochs) override;
  void TrialStarted(int slot, int64_t trial, const std::string& candidate, int epoch,
                    int epochs) override;
  void Batch(int slot, int epoch, int batch, int batches, double loss,
             double images_per_s) override;
  void Epoch(int slot, const evaluators::EpochRecord& record,
             const evaluators::QuantReport* validation) override;
  void TrialFinished(int slot, int64_t trial, const std::string& candidate,
                     const std::string& outcome) override;
  void Message(const std::string& text) override;
  void Tick() override;
  void End() override;

  // Seconds left at the average pace so far, or < 0 when unknown. Exposed for tests.
  static double Eta(double elapsed_s, long epochs_done, long epochs_left);

 private:
  struct Slot {
    bool active = false;
    int64_t trial = 0;
    std::string candidate;
    int epoch = 0, epochs = 0, batch = 0, batches = 0;
    double loss = 0, images_per_s = 0;
  };
  void Log(const std::string& line);  // mutex held
  void Redraw(bool force);            // mutex held
  void Clear();                       // mutex held
  std::string Bar() const;            // mutex held

  std::ostream& out_;
  const bool live_;
  std::mutex mu_;
  std::string study_;
  int total_ = 0, finished_ = 0, workers_ = 1;
  long epochs_left_ = 0, epochs_done_ = 0;
  std::vector<Slot> slots_;
  int drawn_ = 0;  // lines of the live block on screen
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Quiet, a live terminal block (stdout is a TTY), or plain lines.
std::unique_ptr<Progress> MakeProgress(std::ostream& out, bool quiet, bool tty);

// Wall seconds a study still needs: `epochs_left` epochs at `seconds_per_epoch`
// (wall time of one epoch of one trial, its share of quantization and
// evaluation included) spread over min(workers, unfinished_trials) workers.
// NaN when unknown: no pace yet, or no epoch left while trials still run
// (their final evaluation); 0 when nothing is left.
double EstimateRemainingSeconds(double seconds_per_epoch, int64_t epochs_left,
                                int64_t unfinished_trials, int workers);

// "1h02m", "3m05s", "42s".
std::string FormatDuration(double seconds);

}  // namespace fnas::search
