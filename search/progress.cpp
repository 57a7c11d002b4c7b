#include "search/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <sstream>

namespace fnas::search {

double EstimateRemainingSeconds(double seconds_per_epoch, int64_t epochs_left,
                                int64_t unfinished_trials, int workers) {
  if (unfinished_trials <= 0) return 0;
  if (epochs_left <= 0 || !(seconds_per_epoch > 0)) return std::nan("");
  const int64_t parallel = std::max<int64_t>(1, std::min<int64_t>(workers, unfinished_trials));
  return seconds_per_epoch * static_cast<double>(epochs_left) / static_cast<double>(parallel);
}

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

double StreamProgress::Eta(double elapsed_s, long epochs_done, long epochs_left) {
  if (epochs_left <= 0) return 0;
  if (epochs_done <= 0 || elapsed_s <= 0) return -1;
  return elapsed_s / static_cast<double>(epochs_done) * static_cast<double>(epochs_left);
}

StreamProgress::StreamProgress(std::ostream& out, bool live) : out_(out), live_(live) {}

void StreamProgress::Begin(const std::string& study, int total, int finished, long epochs_left,
                           int workers) {
  std::lock_guard<std::mutex> lock(mu_);
  study_ = study;
  total_ = total;
  finished_ = finished;
  epochs_left_ = epochs_left;
  workers_ = workers;
  slots_.assign(static_cast<size_t>(std::max(1, workers)), Slot{});
  start_ = std::chrono::steady_clock::now();
  std::ostringstream os;
  os << "study " << study << ": " << total << " trials, " << finished << " finished, "
     << (total - finished) << " to run on " << workers << " worker(s)";
  Log(os.str());
}

void StreamProgress::Added(int trials, long epochs) {
  std::lock_guard<std::mutex> lock(mu_);
  total_ += trials;
  epochs_left_ += epochs;
}

void StreamProgress::TrialStarted(int slot, int64_t trial, const std::string& candidate, int epoch,
                                  int epochs) {
  std::lock_guard<std::mutex> lock(mu_);
  // Tail slots (Scheduler::Run) come after the workers: their line appears once used.
  if (static_cast<size_t>(slot) >= slots_.size()) slots_.resize(static_cast<size_t>(slot) + 1);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  s = Slot{};
  s.active = true;
  s.trial = trial;
  s.candidate = candidate;
  s.epoch = epoch;
  s.epochs = epochs;
  std::ostringstream os;
  os << "trial " << trial << " " << candidate
     << (epoch > 0 ? " resumes after epoch " + std::to_string(epoch) : std::string(" starts"))
     << " (worker " << slot << ")";
  Log(os.str());
}

void StreamProgress::Batch(int slot, int epoch, int batch, int batches, double loss,
                           double images_per_s) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  s.epoch = epoch;
  s.batch = batch;
  s.batches = batches;
  s.loss = loss;
  s.images_per_s = images_per_s;
  if (live_) Redraw(false);
}

void StreamProgress::Epoch(int slot, const evaluators::EpochRecord& r,
                           const evaluators::QuantReport* validation) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  ++epochs_done_;
  char buf[256];
  std::snprintf(buf, sizeof buf, "trial %lld %s epoch %d/%d loss %.4f train %.4f val %.4f",
                static_cast<long long>(s.trial), s.candidate.c_str(), r.epoch, s.epochs,
                r.train_loss, r.train_acc, r.val_acc);
  std::string line = buf;
  if (validation) {
    std::snprintf(buf, sizeof buf, " | val quint8 %.4f qmse %.3g", validation->metrics.acc_q,
                  validation->metrics.qmse);
    line += buf;
  }
  // On a terminal the live line shows the epoch; the log keeps every epoch.
  if (live_) {
    Redraw(true);
  } else {
    Log(line);
  }
}

void StreamProgress::TrialFinished(int slot, int64_t trial, const std::string& candidate,
                                   const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  slots_.at(static_cast<size_t>(slot)).active = false;
  if (outcome.rfind("INTERRUPTED", 0) != 0) ++finished_;
  Log("trial " + std::to_string(trial) + " " + candidate + ": " + outcome);
}

void StreamProgress::Message(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  Log(text);
}

void StreamProgress::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_) Redraw(false);
}

void StreamProgress::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_) Clear();
  out_.flush();
}

std::string StreamProgress::Bar() const {
  const int width = 30;
  const double frac = total_ > 0 ? static_cast<double>(finished_) / total_ : 1.0;
  const int fill = static_cast<int>(std::lround(frac * width));
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = Eta(elapsed, epochs_done_, epochs_left_ - epochs_done_);
  std::ostringstream os;
  os << "[" << std::string(static_cast<size_t>(fill), '#')
     << std::string(static_cast<size_t>(width - fill), '.') << "] " << finished_ << "/" << total_
     << " trials  elapsed " << FormatDuration(elapsed) << "  ETA "
     << (eta < 0 ? std::string("?") : FormatDuration(eta));
  return os.str();
}

namespace {

// Columns of the terminal: $COLUMNS when set, else the terminal's size, else 80.
int TerminalColumns() {
  if (const char* env = std::getenv("COLUMNS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// `line` cut to fit `columns - 1` columns: a wrapped line would make the
// cursor-up count of the next redraw wrong and garble the display.
std::string Fit(const std::string& line, int columns) {
  const size_t max = static_cast<size_t>(std::max(1, columns - 1));
  return line.size() <= max ? line : line.substr(0, max);
}

}  // namespace

void StreamProgress::Clear() {
  if (drawn_ == 0) return;
  out_ << "\x1b[" << drawn_ << "A";
  for (int i = 0; i < drawn_; ++i) out_ << "\r\x1b[2K\n";
  out_ << "\x1b[" << drawn_ << "A";
  drawn_ = 0;
}

void StreamProgress::Redraw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ > 0 && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  if (drawn_ > 0) out_ << "\x1b[" << drawn_ << "A";
  int lines = 0;
  const int columns = TerminalColumns();
  char buf[256];
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.active) {
      const double pct = s.batches > 0 ? 100.0 * s.batch / s.batches : 0.0;
      std::snprintf(buf, sizeof buf,
                    "  w%zu trial %lld %-24s epoch %d/%d %5.1f%%  loss %.4f  %.0f img/s", i,
                    static_cast<long long>(s.trial), s.candidate.c_str(), s.epoch, s.epochs, pct,
                    s.loss, s.images_per_s);
    } else {
      std::snprintf(buf, sizeof buf, "  w%zu idle", i);
    }
    out_ << "\r\x1b[2K" << Fit(buf, columns) << "\n";
    ++lines;
  }
  out_ << "\r\x1b[2K" << Fit(Bar(), columns) << "\n";
  ++lines;
  drawn_ = lines;
  out_.flush();
}

void StreamProgress::Log(const std::string& line) {
  if (live_) {
    Clear();
    out_ << line << "\n";
    Redraw(true);
  } else {
    out_ << line << std::endl;
  }
}

std::unique_ptr<Progress> MakeProgress(std::ostream& out, bool quiet, bool tty) {
  if (quiet) return std::make_unique<QuietProgress>();
  return std::make_unique<StreamProgress>(out, tty);
}

}  // namespace fnas::search
