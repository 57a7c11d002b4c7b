// The scheduling loop of a search: `workers` slots on a oneTBB arena, each
// taking the next item to run, until nothing is left and the strategy
// proposes nothing more, or a stop is requested; optional tail slots start
// the last, partial wave of items beside the busy workers (Run).
//
// When a slot is free and no item is left, the scheduler asks the strategy
// (Strategy::Propose) and appends what it proposes to the store before
// handing it out; when the strategy proposes nothing while trials still run,
// the slot waits for new evidence (Notify: an epoch recorded, a trial ended)
// and asks again. So workers stay busy as long as the strategy has work.
//
// The store and the strategy are borrowed and must outlive Run. Run is called
// once, from one thread; Notify from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "db/store.h"
#include "search/strategy.h"
#include "search/work_left.h"

namespace fnas::search {

class Scheduler {
 public:
  // `items`: what is left to run (WorkLeft::items), handed out in order.
  Scheduler(db::Store& store, const Strategy& strategy, std::vector<WorkItem> items);

  struct Hooks {
    // Runs one item on `slot` (0 .. workers-1, then the tail slots). An exception stops the
    // search: no item is handed out any more, and Run rethrows the first one
    // once every slot has returned.
    std::function<void(const WorkItem& item, int slot)> run;
    // Polled; once true, no item is handed out.
    std::function<bool()> stopping;
    // Candidates the strategy appended (already in the store), under the
    // scheduler's lock. May be empty.
    std::function<void(const std::vector<db::CandidateRow>& rows)> added;
  };
  // `workers` slots take items whenever they are free (and ask the strategy
  // when nothing is queued); `tail_slots` more (slots workers ..
  // workers + tail_slots - 1) start an item only while every worker is busy
  // and fewer items than workers are queued, and never ask the strategy: the
  // last, partial wave of a grid study then runs beside the one before,
  // sharing the cores, instead of alone after it with cores idle.
  void Run(int workers, const Hooks& hooks, int tail_slots = 0);

  // New evidence for the strategy: wakes the slots waiting for it.
  void Notify();

  // The item of worker `slot` no longer uses the cores (its computation
  // ended; only bookkeeping is left): it stops counting as busy in load().
  // Called from the slot's own thread, at most once per item; any later call
  // before the slot's next item is ignored.
  void Released(int slot);

  // Workers busy (an item handed out and not yet released or returned) and
  // items queued, read together under the lock; any thread. A slot waiting
  // for the strategy's next proposal is not busy.
  struct Load {
    int busy = 0;
    int queued = 0;
  };
  Load load() const;

  int not_started() const;  // items still queued when Run returned
  int appended() const;     // candidates the strategy appended during Run

 private:
  // The next item for a slot, or false when the search is over (or stopping).
  bool Next(const Hooks& hooks, int slot, WorkItem& item);
  void Done(int slot);           // the item handed out to `slot` by Next has returned
  void ReleaseLocked(int slot);  // Released, mu_ held

  db::Store& store_;
  const Strategy& strategy_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WorkItem> queue_;
  int workers_ = 0;              // slots that take items whenever free (Run's `workers`)
  int running_ = 0;              // items handed out and not returned
  int workers_running_ = 0;      // of which on the workers' slots (not tail slots)
  long handed_out_ = 0;          // items handed out so far: the next item's ticket
  bool over_ = false;            // a worker found nothing queued, proposed or running
  int busy_ = 0;                 // of which not Released
  std::vector<char> busy_slot_;  // per slot: its item counts in busy_
  int appended_ = 0;
  bool failed_ = false;
  long evidence_ = 0;  // bumped by Notify
};

}  // namespace fnas::search
