// The SQLite store of one study: its config, candidates, trials, per-epoch
// records, layerwise statistics, pruning decisions and checkpoint paths
// (docs/database.md documents every table and view).
//
// A Store owns one SQLite connection. Every method is thread-safe: calls are
// serialized by one mutex, so the worker threads of a search share one Store
// and that Store is the study's single writer path (they never see "database
// is locked"). Other processes may read the file at the same time (WAL mode);
// a second process that wants to *run* the study is refused by
// AcquireOwnership while the first one is alive.
//
// Contract: a finished trial (COMPLETE, PRUNED, FAILED) never changes. The
// methods refuse it (StoreError) and SQL triggers refuse it for any client.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/table.h"
#include "db/schema.h"
#include "evaluators/records.h"
#include "space/candidate.h"

namespace SQLite {
class Database;
}

namespace fnas::db {

// The file is not one this build may use (missing, empty, foreign, newer,
// another study): bad input, exit 2. Raised before anything is written.
class StoreRefused : public StoreError {
 public:
  using StoreError::StoreError;
  int exit_code() const override { return kExitBadInput; }
};

// This process owned the study, but its lease expired (it was paused, e.g.
// Ctrl-Z, or starved for longer than the lease) and another process took the
// study over. Raised by every write of the old owner before it changes
// anything: it must stop without touching the study.
class OwnershipLost : public StoreError {
 public:
  using StoreError::StoreError;
};

enum class TrialState { kRunning, kComplete, kPruned, kFailed, kInterrupted };

// "RUNNING", "COMPLETE", "PRUNED", "FAILED", "INTERRUPTED".
const char* TrialStateName(TrialState state);
// Parses a state name, case-insensitive; throws UsageError listing the names.
TrialState ParseTrialState(const std::string& name);
// COMPLETE, PRUNED and FAILED are final: such a trial never changes.
bool IsFinished(TrialState state);

// FNV-1a 64-bit hash of `text` as "fnv1a64:<16 hex digits>" (the study's YAML hash).
std::string TextHash(const std::string& text);

struct StudyRow {
  std::string name;
  std::string yaml;       // the config text exactly as given
  std::string yaml_hash;  // TextHash(yaml)
  std::string source;     // the file it came from
  uint64_t seed = 0;
  std::string checkpoint_dir;          // absolute
  std::string created_at, updated_at;  // ISO-8601 UTC
  int schema_version = 0;
};

struct CandidateRow {
  int64_t id = 0;
  int position = 0;  // order of the config's paths, then of appending
  space::Candidate candidate;
  int64_t macs_conv = 0, macs_dense = 0, params = 0;
  // Where it came from: the candidate it was derived from (0 = none, a seed),
  // the strategy's step that proposed it (0 = the study's first candidates)
  // and the change from its parent ("conv_128_1 2->4"; empty for a seed).
  int64_t parent_id = 0;
  int step = 0;
  std::string move;
};

struct TrialRow {
  int64_t id = 0;
  int64_t candidate_id = 0;
  std::string candidate_key, candidate_name;
  int64_t macs_conv = 0, params = 0;
  TrialState state = TrialState::kRunning;
  std::string reason;  // why it failed / was pruned / interrupted
  std::string worker;  // "host:pid/w<slot>"
  int64_t pid = 0;
  std::string host;
  int attempts = 0;  // 1 + times it was restarted
  std::string started_at, ended_at;
  double heartbeat = 0;  // unix seconds of the last sign of life
  int epochs_done = 0;
  double seconds = 0;     // compute spent (sum of epoch seconds)
  bool has_test = false;  // final test metrics present (COMPLETE)
  evaluators::QuantMetrics test;
  std::string checkpoint;  // latest checkpoint file, empty if none
  int checkpoint_epoch = 0;
};

struct EpochRow {
  evaluators::EpochRecord record;
  bool recorded = false;  // validation quant metrics present
  evaluators::QuantMetrics validation;
};

// Layerwise statistics at one recorded epoch ("validation") or of the final
// model on the test split ("test").
struct LayerRow {
  std::string split;
  int epoch = 0;
  int position = 0;  // order in the plan
  evaluators::LayerStats stats;
};

// The quint8 metrics of one calibration method at one recorded epoch
// ("validation") or on the test split ("test"); quantization.record_methods.
struct MethodRow {
  int64_t trial_id = 0;
  std::string split;
  int epoch = 0;
  bool primary = false;  // the study's quantization.calibration
  evaluators::MethodMetrics metrics;
};

struct PruneDecision {
  int64_t trial_id = 0;
  int rung_epoch = 0;
  std::string decision;  // "continue" | "prune"
  std::string reason;    // one line
  std::string evidence;  // JSON text: the numbers and the trials that justified it
  std::string rule;      // the pruner's rule that decided (search/pruner.h)
  std::string decided_at;
};

// One trial at one pruning rung: the validation metrics of its quantized
// checkpoint there, with its conv MACs. `seq` is the order of arrival at the
// rungs (the row id): replay walks the rows in this order.
struct RungRow {
  int64_t seq = 0;
  int64_t trial_id = 0;
  int epoch = 0;
  int64_t macs_conv = 0;
  evaluators::QuantMetrics validation;
  std::string recorded_at;
};

// What RecordEpoch commits at a rung: the rung result and the decision; a
// decision "prune" also makes the trial PRUNED with the decision's reason.
struct RungRecord {
  RungRow result;
  PruneDecision decision;
};

// A study's progress in numbers: what `status` shows, from one pass over the
// trials table that keeps nothing per trial (a study of 100,000 trials).
struct Progress {
  int64_t candidates = 0;               // in the study now
  std::map<TrialState, int64_t> count;  // trials by state (absent: none)
  int64_t epochs_done = 0;              // over every trial
  double seconds = 0;                   // compute over every trial, summed in id order
  // The trials that ran start to end in one go (COMPLETE, 1 attempt, ended
  // after they started): their wall seconds (ended_at - started_at, summed in
  // id order) and their epochs, the pace of the ETA.
  double paced_wall = 0;
  int64_t paced_epochs = 0;
  // What is left, as search::ComputeWorkLeft defines it (a test holds them
  // equal): candidates without a trial, trials to restart (INTERRUPTED or
  // RUNNING) and the epochs they still train, `epochs` a trial.
  int64_t pending = 0;
  int64_t restartable = 0;
  int64_t epochs_left = 0;
};

// The process that runs the study, as recorded in the store.
struct Owner {
  int64_t pid = 0;
  std::string host;
  std::string started_at;
  double heartbeat = 0;  // unix seconds
};

// How long an owner's lease lasts without a heartbeat: FNAS_LEASE_S if set
// (> 0; tests shorten it), else 30 s. The driver beats every second.
double LeaseSeconds();

// Seconds since the Unix epoch, as the store records heartbeats.
double NowSeconds();
// This machine's host name.
std::string HostName();

class Store {
 public:
  // Version of the schema this build writes (db/schema.h); older files are migrated.
  static constexpr int kSchemaVersion = schema::kVersion;
  // PRAGMA application_id of our files ("FNAS").
  static constexpr int kApplicationId = 0x464E4153;

  enum class Mode {
    // The file must exist and hold a schema; nothing is ever written to it
    // (query commands). Opened mode=ro, immutable=1 in a read-only folder; an
    // older schema is read through a migrated copy in memory.
    kReadOnly,
    kReadWrite,  // the file must exist and hold a schema; older schemas are migrated
    kCreate,     // created if absent (with its parent folders); an empty file gets the schema
  };

  // Opens the database, refusing a file that is not ours or whose schema is
  // newer than this build (StoreError naming the path and the versions).
  Store(const std::string& path, Mode mode);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  int schema_version() const;

  // --- The study (one per file) ---
  bool HasStudy() const;
  StudyRow Study() const;  // StoreError if the file holds no study
  // Creates the file of a new study at `path` atomically: it appears complete
  // (schema, study, candidates) or not at all. StoreRefused if `path` exists,
  // also when another process creates it meanwhile; then nothing of the
  // other's is touched. Returns the file opened read-write.
  static std::unique_ptr<Store> CreateStudyFile(const std::string& path, const StudyRow& study,
                                                const std::vector<CandidateRow>& candidates);
  // Writes the study and its candidates in one transaction. StoreError if the
  // file already holds a study.
  void CreateStudy(const StudyRow& study, const std::vector<CandidateRow>& candidates);

  // Appends candidates to the study (a strategy proposing more while it runs),
  // in one transaction, after the existing ones: positions continue from the
  // last. Returns the rows with their ids and positions. StoreError if a key
  // is already in the study (a candidate is added once).
  std::vector<CandidateRow> AddCandidates(const std::vector<CandidateRow>& candidates);

  // --- Ownership: one process runs a study at a time, under a lease ---
  // Becomes the study's owner. An owner holds a lease renewed by each
  // heartbeat; it is alive while its heartbeat is younger than
  // `stale_after_s` and, on this host, its pid exists. A live owner other than
  // this process makes this throw StoreError (naming its pid and host). An
  // owner whose lease expired (dead, or paused longer than the lease) is
  // replaced: its RUNNING trials are stale.
  void AcquireOwnership(double stale_after_s);
  // Renews the lease: the owner's heartbeat and that of this process's RUNNING
  // trials.
  void Heartbeat();
  // Gives up ownership (no-op if not the owner, or if it was lost).
  void ReleaseOwnership();
  // Whether this Store (its process) still owns the study: false once another
  // process took it over (OwnershipLost). Reads only.
  bool StillOwner() const;
  std::optional<Owner> CurrentOwner() const;
  // Whether `owner` is alive (see AcquireOwnership).
  static bool OwnerAlive(const Owner& owner, double stale_after_s, double now);
  // Whether the process of `owner` exists on this host and is stopped
  // (SIGSTOP, Ctrl-Z): a paused owner, whose lease runs out.
  static bool OwnerPaused(const Owner& owner);

  // --- Candidates and trials ---
  std::vector<CandidateRow> Candidates() const;
  std::vector<TrialRow> Trials() const;  // ordered by id
  std::optional<TrialRow> Trial(int64_t id) const;
  // How many trials are in each state (absent: none).
  std::map<TrialState, int64_t> StateCounts() const;
  // The trials of the Pareto front on (conv MACs down, `metric` up), metric
  // "acc_quint8" or "acc_fp32", by MACs then id: the pareto_front views,
  // O(n log n) in the number of trials.
  std::vector<TrialRow> FrontTrials(const std::string& metric) const;

  // The study's progress, `epochs` the training budget of a trial (Progress):
  // one pass over the trials' few columns, O(1) memory.
  Progress StudyProgress(int epochs) const;

  // --- Queries of any size, row by row (the query commands' printers) ---
  // The names of the result columns of the SELECT `sql` (its aliases).
  std::vector<std::string> ResultColumns(const std::string& sql) const;
  // A parameter of ForEachRow, bound to ?1, ?2, ... in order.
  using Param = std::variant<int64_t, std::string>;
  // Runs the SELECT `sql` and calls `visit` with each result row, one value a
  // column, typed as SQLite returns it (NULL, INTEGER, REAL, TEXT; text valid
  // while `visit` runs). Holds the Store's mutex meanwhile: `visit` must not
  // call this Store.
  void ForEachRow(const std::string& sql, const std::vector<Param>& params,
                  const RowVisitor& visit) const;
  // One read transaction for the lifetime of this object, on a read-only
  // Store: every query made meanwhile reads the same rows, whatever a running
  // search commits (a printer that reads its rows twice). The Store must
  // outlive it; one at a time. StoreError on a Store that may write.
  class Snapshot {
   public:
    explicit Snapshot(const Store& store);
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

   private:
    const Store& store_;
  };

  // A new RUNNING trial of a candidate. StoreError if the candidate already has
  // a trial (no candidate runs twice).
  int64_t StartTrial(int64_t candidate_id, const std::string& worker);
  // An INTERRUPTED (or stale RUNNING) trial runs again from its checkpoint:
  // RUNNING, attempts + 1; epochs after its checkpoint are forgotten.
  // StoreError if the trial is finished. Returns the updated row.
  TrialRow RestartTrial(int64_t trial_id, const std::string& worker);
  // One finished epoch, in one transaction: its record, the validation report
  // when the epoch is recorded (metrics and layer statistics), epochs_done and
  // the checkpoint path (replacing the previous one; empty = none); at a
  // pruning rung also the rung result and the decision, and PRUNED when the
  // decision is "prune" (so after a crash a decision taken stands and its rung
  // is never evaluated again).
  void RecordEpoch(int64_t trial_id, const evaluators::EpochRecord& record,
                   const evaluators::QuantReport* validation, const std::string& checkpoint,
                   const RungRecord* rung = nullptr);
  // COMPLETE with its final test report (metrics and layer statistics).
  void CompleteTrial(int64_t trial_id, const evaluators::QuantReport& test);
  // FAILED or PRUNED with the reason.
  void FinishTrial(int64_t trial_id, TrialState state, const std::string& reason);
  // INTERRUPTED (resumable) with the reason.
  void InterruptTrial(int64_t trial_id, const std::string& reason);
  // A pruning decision (rung epoch, decision, reason, evidence JSON).
  void AddPruneDecision(const PruneDecision& decision);

  std::vector<EpochRow> Epochs(int64_t trial_id) const;
  std::vector<LayerRow> Layers(int64_t trial_id) const;
  std::vector<PruneDecision> PruneDecisions(int64_t trial_id) const;
  // Rung results in order of arrival: at `epoch`, or at every rung (0).
  std::vector<RungRow> RungResults(int epoch = 0) const;
  // Every recorded calibration method's metrics: validation by epoch, then
  // test; the primary method first.
  std::vector<MethodRow> QuantMethods(int64_t trial_id) const;
  // The same for every trial (by trial id) of one split, in one query: what
  // `trials` lists for a study of 100,000 trials.
  std::vector<MethodRow> QuantMethodsOfSplit(const std::string& split) const;

  // Runs `sql` on the connection (tests and maintenance; not thread-safe
  // against a running search's semantics, but serialized).
  void ExecForTesting(const std::string& sql);

  // Applies migrations 1..version to an empty database file, for tests that
  // simulate a file written by an older build.
  static void CreateAtVersionForTesting(const std::string& path, int version);

 private:
  // Brings the schema to kSchemaVersion in one transaction (constructor).
  void Migrate(bool set_wal);
  // How every method reaches the database (defined in store.cpp, the only
  // place they are used):
  // - Locked runs `body()` under the mutex; an SQLite error becomes a
  //   StoreError naming the file (our own Errors pass through unchanged).
  // - Write is Locked around one IMMEDIATE transaction, committed when `body`
  //   returns and rolled back when it throws.
  // - ChangeRunningTrial is Write for a change to one trial: it reads the
  //   trial, refuses it unless RUNNING ("cannot <what> trial N: it is ..."),
  //   runs `body(trial)` and stamps study.updated_at.
  template <typename Body>
  auto Locked(Body&& body) const;
  template <typename Body>
  auto Write(Body&& body);
  template <typename Body>
  void ChangeRunningTrial(int64_t trial_id, const char* what, Body&& body);

  TrialRow ReadTrial(int64_t id) const;  // mutex held
  // Throws OwnershipLost if this process owned the study and another process
  // now does; mutex held, inside Write's transaction.
  void CheckOwnership() const;
  void Touch();  // study.updated_at; mutex held

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  mutable std::mutex mu_;
  bool owner_ = false;
  std::string owner_since_;  // started_at of this process's lease
  bool read_only_ = false;
};

}  // namespace fnas::db
