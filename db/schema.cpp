#include "db/schema.h"

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace fnas::db::schema {

namespace {

constexpr const char* kFinished = "('COMPLETE', 'PRUNED', 'FAILED')";

// Migration N (1-based) brings a file from schema N-1 to N. Append only:
// never edit a released step (see schema.h).
const char* const kMigrations[] = {
    // 1: the study, its candidates, trials, epochs, layer statistics, checkpoints.
    R"sql(
CREATE TABLE study (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  name TEXT NOT NULL,
  yaml TEXT NOT NULL,
  yaml_hash TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  seed INTEGER NOT NULL,
  checkpoint_dir TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  schema_version INTEGER NOT NULL
);
CREATE TABLE candidates (
  id INTEGER PRIMARY KEY,
  position INTEGER NOT NULL,
  key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  f TEXT NOT NULL,
  macs_conv INTEGER NOT NULL,
  macs_dense INTEGER NOT NULL,
  params INTEGER NOT NULL
);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY,
  candidate_id INTEGER NOT NULL UNIQUE REFERENCES candidates(id),
  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETE', 'PRUNED', 'FAILED', 'INTERRUPTED')),
  reason TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  pid INTEGER,
  host TEXT,
  attempts INTEGER NOT NULL DEFAULT 1,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  epochs_done INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  test_images INTEGER,
  acc_fp32 REAL,
  acc_quint8 REAL,
  rel_decrease REAL,
  qmse REAL,
  qce REAL
);
CREATE TABLE epochs (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  epoch INTEGER NOT NULL,
  train_loss REAL, train_acc REAL, val_acc REAL, lr REAL, seconds REAL, images_per_s REAL,
  recorded INTEGER NOT NULL DEFAULT 0,
  val_images INTEGER, val_acc_fp32 REAL, val_acc_quint8 REAL, val_rel_decrease REAL,
  val_qmse REAL, val_qce REAL,
  PRIMARY KEY (trial_id, epoch)
);
CREATE TABLE layer_stats (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  split TEXT NOT NULL CHECK (split IN ('validation', 'test')),
  epoch INTEGER NOT NULL,
  position INTEGER NOT NULL,
  op TEXT NOT NULL,
  layer TEXT NOT NULL,
  w_min REAL, w_max REAL, w_range REAL, w_channel_precision REAL,
  folded_min REAL, folded_max REAL, folded_range REAL, folded_channel_precision REAL,
  act_min REAL, act_max REAL, act_range REAL, act_channel_precision REAL,
  sqnr_db REAL,
  PRIMARY KEY (trial_id, split, epoch, op)
);
CREATE TABLE checkpoints (
  trial_id INTEGER PRIMARY KEY REFERENCES trials(id),
  epoch INTEGER NOT NULL,
  path TEXT NOT NULL,
  created_at TEXT NOT NULL
);
)sql",
    // 2: trial heartbeats, the study's owner (one running process), pruning decisions.
    R"sql(
ALTER TABLE trials ADD COLUMN heartbeat_at REAL;
CREATE TABLE owner (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_at REAL NOT NULL
);
CREATE TABLE prune_decisions (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  rung_epoch INTEGER NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('continue', 'prune')),
  reason TEXT NOT NULL,
  evidence TEXT NOT NULL DEFAULT '{}',
  decided_at TEXT NOT NULL
);
)sql",
    // 3: quint8 metrics under every recorded calibration method.
    R"sql(
CREATE TABLE quant_methods (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  split TEXT NOT NULL CHECK (split IN ('validation', 'test')),
  epoch INTEGER NOT NULL,
  method TEXT NOT NULL,
  is_primary INTEGER NOT NULL,
  images INTEGER, acc_fp32 REAL, acc_quint8 REAL, rel_decrease REAL, qmse REAL, qce REAL,
  PRIMARY KEY (trial_id, split, epoch, method)
);
)sql",
    // 4: rung results (in order of arrival) and the rule of each pruning decision.
    R"sql(
CREATE TABLE rung_results (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  epoch INTEGER NOT NULL,
  macs_conv INTEGER NOT NULL,
  val_images INTEGER,
  acc_fp32 REAL,
  acc_quint8 REAL,
  rel_decrease REAL,
  qmse REAL,
  qce REAL,
  recorded_at TEXT NOT NULL,
  UNIQUE (trial_id, epoch)
);
CREATE INDEX rung_results_epoch ON rung_results (epoch, id);
ALTER TABLE prune_decisions ADD COLUMN rule TEXT NOT NULL DEFAULT '';
)sql",
    // 5: where a candidate came from (a strategy appends candidates while a study runs).
    R"sql(
ALTER TABLE candidates ADD COLUMN parent_id INTEGER REFERENCES candidates(id);
ALTER TABLE candidates ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE candidates ADD COLUMN move TEXT NOT NULL DEFAULT '';
)sql",
    // 6: no table changes; the pareto_front views are recreated as window
    // queries (O(n log n)) by DerivedObjects.
    R"sql(
SELECT 1;
)sql",
    // 7: the Pareto fronts as a table, kept by triggers as trials complete
    // (DerivedObjects), built here for the trials already complete by the
    // window query of schema 6 (O(n log n)); an index for the state counts.
    R"sql(
CREATE TABLE front (
  metric TEXT NOT NULL CHECK (metric IN ('acc_quint8', 'acc_fp32')),
  macs_conv INTEGER NOT NULL,
  acc REAL NOT NULL,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  PRIMARY KEY (metric, macs_conv)
) WITHOUT ROWID;
CREATE INDEX front_acc ON front (metric, acc);
CREATE INDEX trials_state ON trials (state);
INSERT INTO front (metric, macs_conv, acc, trial_id)
SELECT 'acc_quint8', macs_conv, acc_quint8, id FROM (
  SELECT t.id, c.macs_conv, t.acc_quint8, max(t.acc_quint8) OVER (
    ORDER BY c.macs_conv, t.acc_quint8 DESC, t.id
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_before
  FROM trials t JOIN candidates c ON c.id = t.candidate_id
  WHERE t.state = 'COMPLETE' AND t.acc_quint8 IS NOT NULL)
WHERE best_before IS NULL OR acc_quint8 > best_before;
INSERT INTO front (metric, macs_conv, acc, trial_id)
SELECT 'acc_fp32', macs_conv, acc_fp32, id FROM (
  SELECT t.id, c.macs_conv, t.acc_fp32, max(t.acc_fp32) OVER (
    ORDER BY c.macs_conv, t.acc_fp32 DESC, t.id
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_before
  FROM trials t JOIN candidates c ON c.id = t.candidate_id
  WHERE t.state = 'COMPLETE' AND t.acc_fp32 IS NOT NULL)
WHERE best_before IS NULL OR acc_fp32 > best_before;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kVersion,
              "one migration per schema version: bump schema::kVersion in db/schema.h");

// `text` with every `name` replaced by `value`.
std::string Substitute(std::string text, const std::string& name, const std::string& value) {
  for (size_t at = text.find(name); at != std::string::npos;
       at = text.find(name, at + value.size())) {
    text.replace(at, name.size(), value);
  }
  return text;
}

}  // namespace

const char* Migration(int version) {
  if (version < 1 || version > kVersion) {
    throw std::out_of_range("no schema migration " + std::to_string(version) + " (1.." +
                            std::to_string(kVersion) + ")");
  }
  return kMigrations[version - 1];
}

std::string DerivedObjects() {
  std::ostringstream s;
  s << "DROP VIEW IF EXISTS trial_summary;\n"
       "DROP VIEW IF EXISTS pareto_front;\n"
       "DROP VIEW IF EXISTS pareto_front_fp32;\n"
       "CREATE VIEW trial_summary AS\n"
       "SELECT t.id AS trial_id, c.name AS candidate, c.key AS factorization, c.macs_conv,\n"
       "  c.macs_dense, c.params, t.state, t.epochs_done, t.acc_fp32, t.acc_quint8,\n"
       "  t.rel_decrease, t.qmse, t.qce, t.seconds, t.attempts, t.worker, t.started_at,\n"
       "  t.ended_at, t.reason\n"
       "FROM trials t JOIN candidates c ON c.id = t.candidate_id;\n";
  // A COMPLETE trial is on the front unless another one has no more MACs and no
  // less accuracy and is better in one of them, or is an exact duplicate with a
  // smaller id (search/pareto.h computes the same set). The table `front` holds
  // the members of each metric's front: along MACs their accuracy strictly
  // increases, so one member per MACs value. The views read it.
  const char* const columns[] = {"trial_id",   "candidate",  "factorization", "macs_conv",
                                 "macs_dense", "params",     "state",         "epochs_done",
                                 "acc_fp32",   "acc_quint8", "rel_decrease",  "qmse",
                                 "qce",        "seconds",    "attempts",      "worker",
                                 "started_at", "ended_at",   "reason"};
  for (const char* metric : {"acc_quint8", "acc_fp32"}) {
    const std::string m = metric;
    s << "CREATE VIEW " << (m == "acc_quint8" ? "pareto_front" : "pareto_front_fp32") << " AS\n"
      << "SELECT ";
    for (const char* c : columns) s << (c == columns[0] ? "" : ", ") << "s." << c;
    s << "\nFROM front f JOIN trial_summary s ON s.trial_id = f.trial_id\n"
      << "WHERE f.metric = '" << m << "' ORDER BY f.macs_conv, f.trial_id;\n";
  }
  // A trial that completes, in the statement that completes it: it removes the
  // members it beats (MACs from its own up to those of the first member more
  // accurate than it, which the staircase bounds: O(log n + removed)), then
  // joins unless the member with the most MACs not above its own beats it
  // (O(log n)). Finished trials never change, so nothing else moves the front.
  const std::string body = R"sql( BEGIN
  DELETE FROM front WHERE metric = 'METRIC' AND macs_conv >= MACS
    AND macs_conv < coalesce((SELECT macs_conv FROM front WHERE metric = 'METRIC'
                              AND acc > NEW.METRIC ORDER BY acc LIMIT 1), 9223372036854775807)
    AND (macs_conv > MACS OR acc < NEW.METRIC OR trial_id > NEW.id);
  INSERT INTO front (metric, macs_conv, acc, trial_id)
  SELECT 'METRIC', MACS, NEW.METRIC, NEW.id WHERE NOT EXISTS (
    SELECT 1 FROM (SELECT macs_conv, acc, trial_id FROM front WHERE metric = 'METRIC'
                   AND macs_conv <= MACS ORDER BY macs_conv DESC LIMIT 1) b
    WHERE b.acc > NEW.METRIC OR (b.acc = NEW.METRIC AND (b.macs_conv < MACS OR b.trial_id < NEW.id)));
 END;
)sql";
  for (const char* metric : {"acc_quint8", "acc_fp32"}) {
    const std::string m = metric;
    const std::string name = "trials_front_" + m;
    const std::string when = " WHEN NEW.state = 'COMPLETE' AND NEW." + m + " IS NOT NULL";
    const std::string sql = Substitute(
        Substitute(body, "MACS", "(SELECT macs_conv FROM candidates WHERE id = NEW.candidate_id)"),
        "METRIC", m);
    s << "DROP TRIGGER IF EXISTS " << name << "_insert;\n"
      << "CREATE TRIGGER " << name << "_insert AFTER INSERT ON trials" << when << sql
      << "DROP TRIGGER IF EXISTS " << name << "_update;\n"
      << "CREATE TRIGGER " << name << "_update AFTER UPDATE ON trials" << when
      << " AND OLD.state <> 'COMPLETE'" << sql;
  }
  // The front holds the MACs of its members: a candidate's MACs never change
  // once its trial is finished.
  s << "DROP TRIGGER IF EXISTS candidates_finished_no_update;\n"
    << "CREATE TRIGGER candidates_finished_no_update BEFORE UPDATE OF macs_conv ON candidates "
    << "WHEN NEW.macs_conv IS NOT OLD.macs_conv AND (SELECT state FROM trials WHERE candidate_id = "
    << "OLD.id) IN " << kFinished
    << " BEGIN SELECT RAISE(ABORT, 'the MACs of a candidate whose trial is finished cannot "
       "change'); END;\n";
  const std::string raise =
      " BEGIN SELECT RAISE(ABORT, 'trial is finished and cannot change'); END;\n";
  for (const char* op : {"UPDATE", "DELETE"}) {
    const std::string name =
        std::string("trials_finished_no_") + (op[0] == 'U' ? "update" : "delete");
    s << "DROP TRIGGER IF EXISTS " << name << ";\n"
      << "CREATE TRIGGER " << name << " BEFORE " << op << " ON trials WHEN OLD.state IN "
      << kFinished << raise;
  }
  for (const char* table : {"epochs", "layer_stats", "checkpoints", "prune_decisions",
                            "quant_methods", "rung_results"}) {
    for (const char* op : {"INSERT", "UPDATE", "DELETE"}) {
      const std::string row = op[0] == 'I' ? "NEW" : "OLD";
      std::string name = std::string(table) + "_finished_no_" + op;
      for (auto& ch : name) ch = static_cast<char>(std::tolower(ch));
      s << "DROP TRIGGER IF EXISTS " << name << ";\n"
        << "CREATE TRIGGER " << name << " BEFORE " << op << " ON " << table
        << " WHEN (SELECT state FROM trials WHERE id = " << row << ".trial_id) IN " << kFinished
        << raise;
    }
  }
  return s.str();
}

}  // namespace fnas::db::schema
