#include "db/store.h"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <type_traits>

#include "common/crashpoint.h"
#include "common/error.h"
#include "db/schema.h"

namespace fnas::db {

namespace {

namespace fs = std::filesystem;

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string FText(const space::Factorization& f) {
  std::string s = "[";
  for (size_t i = 0; i < f.size(); ++i) s += (i ? "," : "") + std::to_string(f[i]);
  return s + "]";
}

space::Factorization ParseFText(const std::string& text) {
  space::Factorization f;
  std::string num;
  for (char ch : text) {
    if (ch >= '0' && ch <= '9') {
      num += ch;
    } else if (!num.empty()) {
      f.push_back(std::stoi(num));
      num.clear();
    }
  }
  if (!num.empty()) f.push_back(std::stoi(num));
  return f;
}

// Binds a double, NULL when it is not finite (SQLite has no NaN).
void BindReal(SQLite::Statement& st, int index, double v) {
  if (std::isfinite(v)) {
    st.bind(index, v);
  } else {
    st.bind(index);
  }
}

double Real(const SQLite::Column& c) { return c.isNull() ? std::nan("") : c.getDouble(); }
std::string Text(const SQLite::Column& c) { return c.isNull() ? std::string() : c.getString(); }

// The quint8 metrics as every table stores them, in consecutive columns from
// `first`: images, acc_fp32, acc_quint8, rel_decrease, qmse, qce.
void BindMetrics(SQLite::Statement& st, int first, const evaluators::QuantMetrics& m) {
  st.bind(first, m.images);
  BindReal(st, first + 1, m.acc_fp32);
  BindReal(st, first + 2, m.acc_q);
  BindReal(st, first + 3, m.rel_decrease);
  BindReal(st, first + 4, m.qmse);
  BindReal(st, first + 5, m.qce);
}
void ReadMetrics(SQLite::Statement& st, int first, evaluators::QuantMetrics* m) {
  m->images = st.getColumn(first).isNull() ? 0 : st.getColumn(first).getInt64();
  m->acc_fp32 = Real(st.getColumn(first + 1));
  m->acc_q = Real(st.getColumn(first + 2));
  m->rel_decrease = Real(st.getColumn(first + 3));
  m->qmse = Real(st.getColumn(first + 4));
  m->qce = Real(st.getColumn(first + 5));
}

[[noreturn]] void Rethrow(const std::string& path, const std::exception& e) {
  if (dynamic_cast<const Error*>(&e)) throw;
  throw StoreError(path + ": " + e.what());
}

void RequireRunning(const TrialRow& t, const std::string& path, const char* what) {
  if (t.state != TrialState::kRunning) {
    throw StoreError(path + ": cannot " + what + " trial " + std::to_string(t.id) + ": it is " +
                     TrialStateName(t.state) +
                     (IsFinished(t.state) ? " (a finished trial never changes)" : ""));
  }
}

// Inserts candidates at positions first_position, first_position + 1, ...;
// returns them with their ids and positions.
std::vector<CandidateRow> InsertCandidates(SQLite::Database& db,
                                           const std::vector<CandidateRow>& candidates,
                                           int first_position) {
  SQLite::Statement ins(db,
                        "INSERT INTO candidates (position, key, name, f, macs_conv, macs_dense, "
                        "params, parent_id, step, move) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::vector<CandidateRow> out;
  int position = first_position;
  for (const auto& c : candidates) {
    ins.reset();
    ins.bind(1, position);
    ins.bind(2, c.candidate.key);
    ins.bind(3, c.candidate.name);
    ins.bind(4, FText(c.candidate.f));
    ins.bind(5, c.macs_conv);
    ins.bind(6, c.macs_dense);
    ins.bind(7, c.params);
    if (c.parent_id) {
      ins.bind(8, c.parent_id);
    } else {
      ins.bind(8);
    }
    ins.bind(9, c.step);
    ins.bind(10, c.move);
    ins.exec();
    CandidateRow row = c;
    row.id = db.getLastInsertRowid();
    row.position = position++;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

// --- The access patterns every method goes through ---

template <typename Body>
auto Store::Locked(Body&& body) const {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    return body();
  } catch (const std::exception& e) {
    Rethrow(path_, e);
  }
}

template <typename Body>
auto Store::Write(Body&& body) {
  return Locked([&] {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    CheckOwnership();
    if constexpr (std::is_void_v<std::invoke_result_t<Body&>>) {
      body();
      CrashPoint("transaction");  // written, not committed
      tx.commit();
    } else {
      auto out = body();
      CrashPoint("transaction");
      tx.commit();
      return out;
    }
  });
}

template <typename Body>
void Store::ChangeRunningTrial(int64_t trial_id, const char* what, Body&& body) {
  Write([&] {
    const TrialRow trial = ReadTrial(trial_id);
    RequireRunning(trial, path_, what);
    body(trial);
    Touch();
  });
}

const char* TrialStateName(TrialState state) {
  switch (state) {
    case TrialState::kRunning:
      return "RUNNING";
    case TrialState::kComplete:
      return "COMPLETE";
    case TrialState::kPruned:
      return "PRUNED";
    case TrialState::kFailed:
      return "FAILED";
    case TrialState::kInterrupted:
      return "INTERRUPTED";
  }
  return "?";
}

TrialState ParseTrialState(const std::string& name) {
  std::string up;
  for (char ch : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (TrialState s : {TrialState::kRunning, TrialState::kComplete, TrialState::kPruned,
                       TrialState::kFailed, TrialState::kInterrupted}) {
    if (up == TrialStateName(s)) return s;
  }
  throw UsageError("unknown trial state '" + name +
                   "' (expected RUNNING, COMPLETE, PRUNED, FAILED or INTERRUPTED)");
}

bool IsFinished(TrialState state) {
  return state == TrialState::kComplete || state == TrialState::kPruned ||
         state == TrialState::kFailed;
}

std::string TextHash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

namespace {

// The SQLite URI of a file path ("file:" + percent-encoded path + query).
std::string FileUri(const std::string& path, const char* query) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "file:";
  const std::string absolute = fs::absolute(path).string();
  for (unsigned char ch : absolute) {
    if (std::isalnum(ch) || ch == '/' || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out + "?" + query;
}

// Whether this process may create files beside `path` (SQLite's -wal/-shm).
bool DirectoryWritable(const std::string& path) {
  fs::path dir = fs::absolute(path).parent_path();
  return ::access(dir.c_str(), W_OK) == 0;
}

}  // namespace

Store::Store(const std::string& path, Mode mode)
    : path_(path), read_only_(mode == Mode::kReadOnly) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (!exists && mode != Mode::kCreate) {
    throw StoreRefused(path + ": no such database");
  }
  if (exists && fs::is_directory(path, ec)) throw StoreRefused(path + ": is a directory");
  if (!exists) {
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      if (ec)
        throw StoreError(path + ": cannot create folder " + parent.string() + ": " + ec.message());
    }
  }
  try {
    if (read_only_) {
      // Never a write: mode=ro, and immutable=1 where SQLite could not even
      // create its shared-memory file (a read-only folder: an archive).
      const std::string uri =
          FileUri(path, DirectoryWritable(path) ? "mode=ro" : "mode=ro&immutable=1");
      // No SQLite mutex: every use of the connection holds mu_ (a reader
      // steps 100,000 rows; the mutex was 7 % of `status`).
      db_ = std::make_unique<SQLite::Database>(
          uri, SQLite::OPEN_READONLY | SQLite::OPEN_URI | SQLite::OPEN_NOMUTEX,
          /*busy timeout ms=*/30000);
    } else {
      int flags = SQLite::OPEN_READWRITE;
      if (mode == Mode::kCreate) flags |= SQLite::OPEN_CREATE;
      db_ = std::make_unique<SQLite::Database>(path, flags, /*busy timeout ms=*/30000);
    }
    const int app_id = db_->execAndGet("PRAGMA application_id").getInt();
    const int version = db_->execAndGet("PRAGMA user_version").getInt();
    const int objects = db_->execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    const bool empty = app_id == 0 && version == 0 && objects == 0;
    if (!empty && app_id != kApplicationId) {
      char id[16];
      std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(app_id));
      throw StoreRefused(path + ": not a factorize-nas database (application_id " + id +
                         ", user_version " + std::to_string(version) + ", " +
                         std::to_string(objects) + " schema objects); refusing to touch it");
    }
    if (version > kSchemaVersion) {
      throw StoreRefused(path + ": written by a newer factorize-nas (schema version " +
                         std::to_string(version) + "; this build knows up to " +
                         std::to_string(kSchemaVersion) + "); use a newer factorize-nas");
    }
    if (empty && mode != Mode::kCreate) {
      throw StoreRefused(path +
                         ": empty file, not a study (a study's file is created by "
                         "`factorize-nas search`); refusing to touch it");
    }
    if (version < kSchemaVersion && read_only_) {
      // An older file is read through a migrated copy in memory: the file
      // itself is never written by a reader.
      auto copy = std::make_unique<SQLite::Database>(":memory:", SQLite::OPEN_READWRITE);
      SQLite::Backup(*copy, *db_).executeStep();
      db_ = std::move(copy);
      Migrate(/*set_wal=*/false);
    } else if (version < kSchemaVersion) {
      Migrate(/*set_wal=*/empty);
    }
    if (!read_only_) {
      db_->exec("PRAGMA journal_mode = WAL");
      db_->exec("PRAGMA synchronous = NORMAL");
    }
    db_->exec("PRAGMA foreign_keys = ON");
    // A reader maps the file instead of copying its pages into a cache of its
    // own (a query over 100,000 trials reads most of it); nothing is written.
    if (read_only_) db_->exec("PRAGMA mmap_size = 1073741824");
  } catch (const StoreError&) {
    throw;
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_NOTADB) {
      throw StoreRefused(path +
                         ": not a factorize-nas database (not an SQLite file); refusing to "
                         "touch it");
    }
    if (e.getErrorCode() == SQLITE_CORRUPT) {  // a truncated or damaged file: bad input
      throw StoreRefused(path + ": a damaged SQLite file (" + e.what() + "); refusing to touch it");
    }
    throw StoreError(path + ": cannot open as a factorize-nas database: " + e.what());
  } catch (const std::exception& e) {
    throw StoreError(path + ": cannot open as a factorize-nas database: " + e.what());
  }
}

void Store::Migrate(bool set_wal) {
  if (set_wal) db_->exec("PRAGMA journal_mode = WAL");
  SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  // Re-read under the write lock: another process may have migrated it.
  const int now_version = db_->execAndGet("PRAGMA user_version").getInt();
  for (int v = now_version + 1; v <= kSchemaVersion; ++v) db_->exec(schema::Migration(v));
  db_->exec(schema::DerivedObjects());
  db_->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  db_->exec("UPDATE study SET schema_version = " + std::to_string(kSchemaVersion));
  tx.commit();
}

Store::~Store() {
  try {
    ReleaseOwnership();
  } catch (...) {
  }
}

int Store::schema_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->execAndGet("PRAGMA user_version").getInt();
}

bool Store::HasStudy() const {
  return Locked([&] { return db_->execAndGet("SELECT count(*) FROM study").getInt() > 0; });
}

StudyRow Store::Study() const {
  return Locked([&] {
    SQLite::Statement st(*db_,
                         "SELECT name, yaml, yaml_hash, source, seed, checkpoint_dir, created_at, "
                         "updated_at, schema_version FROM study WHERE id = 1");
    if (!st.executeStep()) throw StoreError(path_ + ": holds no study");
    StudyRow s;
    s.name = st.getColumn(0).getString();
    s.yaml = st.getColumn(1).getString();
    s.yaml_hash = st.getColumn(2).getString();
    s.source = st.getColumn(3).getString();
    s.seed = static_cast<uint64_t>(st.getColumn(4).getInt64());
    s.checkpoint_dir = st.getColumn(5).getString();
    s.created_at = st.getColumn(6).getString();
    s.updated_at = st.getColumn(7).getString();
    s.schema_version = st.getColumn(8).getInt();
    return s;
  });
}

void Store::CreateStudy(const StudyRow& study, const std::vector<CandidateRow>& candidates) {
  Write([&] {
    if (db_->execAndGet("SELECT count(*) FROM study").getInt() > 0) {
      throw StoreError(path_ + ": already holds study '" +
                       db_->execAndGet("SELECT name FROM study").getString() + "'");
    }
    const std::string now = NowIso();
    SQLite::Statement st(*db_,
                         "INSERT INTO study (id, name, yaml, yaml_hash, source, seed, "
                         "checkpoint_dir, created_at, updated_at, schema_version) "
                         "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, study.name);
    st.bind(2, study.yaml);
    st.bind(3, TextHash(study.yaml));
    st.bind(4, study.source);
    st.bind(5, static_cast<int64_t>(study.seed));
    st.bind(6, study.checkpoint_dir);
    st.bind(7, now);
    st.bind(8, now);
    st.bind(9, kSchemaVersion);
    st.exec();
    InsertCandidates(*db_, candidates, 0);
  });
}

std::unique_ptr<Store> Store::CreateStudyFile(const std::string& path, const StudyRow& study,
                                              const std::vector<CandidateRow>& candidates) {
  const fs::path target = fs::absolute(path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    throw StoreError(path + ": cannot create folder " + target.parent_path().string() + ": " +
                     ec.message());
  }
  const std::string exists_msg =
      path +
      ": created by another process while this one prepared the study; nothing was "
      "written (see `factorize-nas status " +
      path + "`)";
  if (fs::exists(target, ec)) throw StoreRefused(exists_msg);
  // The file is built under a name of this process's own (created
  // exclusively, so never another's file), then linked into place: link()
  // fails if the name exists, so of two racing processes exactly one wins and
  // the other deletes only what it created.
  std::string tmp;
  for (int attempt = 0;; ++attempt) {
    tmp = (target.parent_path() / ("." + target.filename().string() + ".creating-" +
                                   std::to_string(getpid()) + "-" + std::to_string(attempt)))
              .string();
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      break;
    }
    if (errno != EEXIST || attempt > 100) {
      throw StoreError(tmp + ": cannot create: " + std::strerror(errno));
    }
  }
  auto remove_tmp = [&tmp] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((tmp + suffix).c_str());
  };
  try {
    {
      Store building(tmp, Mode::kCreate);
      building.CreateStudy(study, candidates);
    }  // closed: the WAL is checkpointed into the file and removed
    if (::link(tmp.c_str(), target.c_str()) != 0) {
      if (errno == EEXIST) throw StoreRefused(exists_msg);
      throw StoreError(path + ": cannot create: " + std::strerror(errno));
    }
  } catch (...) {
    remove_tmp();
    throw;
  }
  remove_tmp();
  const int dfd = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return std::make_unique<Store>(path, Mode::kReadWrite);
}

double LeaseSeconds() {
  const char* text = std::getenv("FNAS_LEASE_S");
  const double v = text ? std::strtod(text, nullptr) : 0;
  return v > 0 ? v : 30.0;
}

void Store::CheckOwnership() const {
  if (!owner_) return;
  SQLite::Statement st(*db_, "SELECT pid, host, started_at FROM owner WHERE id = 1");
  const bool have = st.executeStep();
  const int64_t me = getpid();
  if (have && st.getColumn(0).getInt64() == me && st.getColumn(1).getString() == HostName() &&
      st.getColumn(2).getString() == owner_since_) {
    return;
  }
  const std::string other = have ? "process " + std::to_string(st.getColumn(0).getInt64()) +
                                       " on " + st.getColumn(1).getString()
                                 : "no process";
  char lease[32];
  std::snprintf(lease, sizeof lease, "%g", LeaseSeconds());
  throw OwnershipLost(path_ + ": this process (" + std::to_string(me) +
                      ") lost the study: its lease ran out (paused or starved for more than " +
                      lease + " s) and " + other + " owns it now; stopping without writing to it");
}

bool Store::StillOwner() const {
  return Locked([&] {
    try {
      CheckOwnership();
      return owner_;
    } catch (const OwnershipLost&) {
      return false;
    }
  });
}

namespace {

// The state letter of a local process in /proc/PID/stat (R, S, T, Z, ...), or
// 0 when there is no such process.
char ProcessState(int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : 0;
}

}  // namespace

bool Store::OwnerPaused(const Owner& owner) {
  if (owner.host != HostName() || owner.pid <= 0) return false;
  const char state = ProcessState(owner.pid);
  return state == 'T' || state == 't';
}

bool Store::OwnerAlive(const Owner& owner, double stale_after_s, double now) {
  if (now - owner.heartbeat > stale_after_s) return false;
  if (owner.host == HostName() && owner.pid > 0) {
    if (kill(static_cast<pid_t>(owner.pid), 0) != 0 && errno == ESRCH) return false;
    // An owner that has exited but is not reaped yet (a zombie) runs nothing.
    if (ProcessState(owner.pid) == 'Z') return false;
  }
  return true;
}

std::optional<Owner> Store::CurrentOwner() const {
  return Locked([&]() -> std::optional<Owner> {
    SQLite::Statement st(*db_,
                         "SELECT pid, host, started_at, heartbeat_at FROM owner WHERE id = 1");
    if (!st.executeStep()) return std::nullopt;
    Owner o;
    o.pid = st.getColumn(0).getInt64();
    o.host = st.getColumn(1).getString();
    o.started_at = st.getColumn(2).getString();
    o.heartbeat = st.getColumn(3).getDouble();
    return o;
  });
}

void Store::AcquireOwnership(double stale_after_s) {
  {
    // Acquiring decides anew from the owner row (no lease to check first).
    std::lock_guard<std::mutex> lock(mu_);
    owner_ = false;
  }
  Write([&] {
    SQLite::Statement st(*db_,
                         "SELECT pid, host, started_at, heartbeat_at FROM owner WHERE id = 1");
    const int64_t me = getpid();
    const std::string host = HostName();
    const double now = NowSeconds();
    if (st.executeStep()) {
      Owner o;
      o.pid = st.getColumn(0).getInt64();
      o.host = st.getColumn(1).getString();
      o.started_at = st.getColumn(2).getString();
      o.heartbeat = st.getColumn(3).getDouble();
      const bool self = o.pid == me && o.host == host;
      if (!self && OwnerAlive(o, stale_after_s, now)) {
        char ago[32];
        std::snprintf(ago, sizeof ago, "%.1f", now - o.heartbeat);
        throw StoreError(path_ + ": the study is being run by process " + std::to_string(o.pid) +
                         " on " + o.host + " (started " + o.started_at + ", heartbeat " + ago +
                         " s ago); wait for it to finish or stop it (Ctrl-C) first");
      }
    }
    st.reset();
    SQLite::Statement up(*db_,
                         "INSERT OR REPLACE INTO owner (id, pid, host, started_at, heartbeat_at) "
                         "VALUES (1, ?, ?, ?, ?)");
    up.bind(1, me);
    up.bind(2, host);
    owner_since_ = NowIso();
    up.bind(3, owner_since_);
    up.bind(4, now);
    up.exec();
    owner_ = true;
  });
}

void Store::Heartbeat() {
  Write([&] {
    const double now = NowSeconds();
    SQLite::Statement o(*db_, "UPDATE owner SET heartbeat_at = ? WHERE pid = ? AND host = ?");
    o.bind(1, now);
    o.bind(2, static_cast<int64_t>(getpid()));
    o.bind(3, HostName());
    o.exec();
    SQLite::Statement t(*db_,
                        "UPDATE trials SET heartbeat_at = ? "
                        "WHERE state = 'RUNNING' AND pid = ? AND host = ?");
    t.bind(1, now);
    t.bind(2, static_cast<int64_t>(getpid()));
    t.bind(3, HostName());
    t.exec();
  });
}

void Store::ReleaseOwnership() {
  Locked([&] {
    if (!owner_) return;
    try {
      CheckOwnership();
    } catch (const OwnershipLost&) {
      owner_ = false;  // another process's now: not ours to delete
      return;
    }
    SQLite::Statement st(*db_, "DELETE FROM owner WHERE pid = ? AND host = ?");
    st.bind(1, static_cast<int64_t>(getpid()));
    st.bind(2, HostName());
    st.exec();
    owner_ = false;
  });
}

std::vector<CandidateRow> Store::AddCandidates(const std::vector<CandidateRow>& candidates) {
  return Write([&] {
    SQLite::Statement known(*db_, "SELECT id FROM candidates WHERE key = ?");
    for (const auto& c : candidates) {
      known.reset();
      known.bind(1, c.candidate.key);
      if (known.executeStep()) {
        throw StoreError(path_ + ": candidate " + c.candidate.key +
                         " is already in the study (id " +
                         std::to_string(known.getColumn(0).getInt64()) + ")");
      }
    }
    const int position =
        db_->execAndGet("SELECT coalesce(max(position) + 1, 0) FROM candidates").getInt();
    std::vector<CandidateRow> out = InsertCandidates(*db_, candidates, position);
    Touch();
    return out;
  });
}

std::vector<CandidateRow> Store::Candidates() const {
  return Locked([&] {
    std::vector<CandidateRow> out;
    SQLite::Statement st(*db_,
                         "SELECT id, position, key, name, f, macs_conv, macs_dense, params, "
                         "parent_id, step, move FROM candidates ORDER BY position, id");
    while (st.executeStep()) {
      CandidateRow c;
      c.id = st.getColumn(0).getInt64();
      c.position = st.getColumn(1).getInt();
      c.candidate.key = st.getColumn(2).getString();
      c.candidate.name = st.getColumn(3).getString();
      c.candidate.f = ParseFText(st.getColumn(4).getString());
      c.macs_conv = st.getColumn(5).getInt64();
      c.macs_dense = st.getColumn(6).getInt64();
      c.params = st.getColumn(7).getInt64();
      c.parent_id = st.getColumn(8).isNull() ? 0 : st.getColumn(8).getInt64();
      c.step = st.getColumn(9).getInt();
      c.move = st.getColumn(10).getString();
      out.push_back(std::move(c));
    }
    return out;
  });
}

namespace {

// What TrialFrom reads, of trials t joined with candidates c and checkpoints k.
const char* const kTrialValues =
    "t.id, t.candidate_id, c.key, c.name, c.macs_conv, c.params, t.state, t.reason, t.worker, "
    "t.pid, t.host, t.attempts, t.started_at, t.ended_at, t.heartbeat_at, t.epochs_done, "
    "t.seconds, t.test_images, t.acc_fp32, t.acc_quint8, t.rel_decrease, t.qmse, t.qce, "
    "k.path, k.epoch ";
const char* const kTrialJoins =
    "JOIN candidates c ON c.id = t.candidate_id LEFT JOIN checkpoints k ON k.trial_id = t.id ";
// "SELECT " + kTrialColumns + "WHERE ...": every trial.
const std::string kTrialColumns = std::string(kTrialValues) + "FROM trials t " + kTrialJoins;

TrialRow TrialFrom(SQLite::Statement& st) {
  TrialRow t;
  t.id = st.getColumn(0).getInt64();
  t.candidate_id = st.getColumn(1).getInt64();
  t.candidate_key = st.getColumn(2).getString();
  t.candidate_name = st.getColumn(3).getString();
  t.macs_conv = st.getColumn(4).getInt64();
  t.params = st.getColumn(5).getInt64();
  t.state = ParseTrialState(st.getColumn(6).getString());
  t.reason = Text(st.getColumn(7));
  t.worker = Text(st.getColumn(8));
  t.pid = st.getColumn(9).getInt64();
  t.host = Text(st.getColumn(10));
  t.attempts = st.getColumn(11).getInt();
  t.started_at = Text(st.getColumn(12));
  t.ended_at = Text(st.getColumn(13));
  t.heartbeat = st.getColumn(14).isNull() ? 0 : st.getColumn(14).getDouble();
  t.epochs_done = st.getColumn(15).getInt();
  t.seconds = st.getColumn(16).getDouble();
  t.has_test = !st.getColumn(17).isNull();
  ReadMetrics(st, 17, &t.test);
  t.checkpoint = Text(st.getColumn(23));
  t.checkpoint_epoch = st.getColumn(24).getInt();
  return t;
}

// Removes one report's rows (a trial's split at an epoch) from `table` before they are rewritten.
void DeleteReport(SQLite::Database& db, const char* table, int64_t trial_id,
                  const std::string& split, int epoch) {
  SQLite::Statement del(
      db, std::string("DELETE FROM ") + table + " WHERE trial_id = ? AND split = ? AND epoch = ?");
  del.bind(1, trial_id);
  del.bind(2, split);
  del.bind(3, epoch);
  del.exec();
}

void InsertLayers(SQLite::Database& db, int64_t trial_id, const std::string& split, int epoch,
                  const std::vector<evaluators::LayerStats>& layers) {
  DeleteReport(db, "layer_stats", trial_id, split, epoch);
  SQLite::Statement st(db,
                       "INSERT INTO layer_stats (trial_id, split, epoch, position, op, layer, "
                       "w_min, w_max, w_range, w_channel_precision, folded_min, folded_max, "
                       "folded_range, folded_channel_precision, act_min, act_max, act_range, "
                       "act_channel_precision, sqnr_db) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  int position = 0;
  for (const auto& l : layers) {
    st.reset();
    st.bind(1, trial_id);
    st.bind(2, split);
    st.bind(3, epoch);
    st.bind(4, position++);
    st.bind(5, l.op);
    st.bind(6, l.layer);
    int i = 7;
    for (const evaluators::RangeStats* r : {&l.weights, &l.folded, &l.activations}) {
      BindReal(st, i++, r->min);
      BindReal(st, i++, r->max);
      BindReal(st, i++, r->range);
      BindReal(st, i++, r->channel_precision);
    }
    BindReal(st, i, l.sqnr_db);
    st.exec();
  }
}

void InsertMethods(SQLite::Database& db, int64_t trial_id, const std::string& split, int epoch,
                   const evaluators::QuantReport& report) {
  DeleteReport(db, "quant_methods", trial_id, split, epoch);
  SQLite::Statement st(db,
                       "INSERT INTO quant_methods (trial_id, split, epoch, method, is_primary, "
                       "images, acc_fp32, acc_quint8, rel_decrease, qmse, qce) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& m : report.methods) {
    st.reset();
    st.bind(1, trial_id);
    st.bind(2, split);
    st.bind(3, epoch);
    st.bind(4, m.method);
    st.bind(5, m.method == report.method ? 1 : 0);
    BindMetrics(st, 6, m.metrics);
    st.exec();
  }
}

}  // namespace

std::vector<TrialRow> Store::Trials() const {
  return Locked([&] {
    std::vector<TrialRow> out;
    out.reserve(static_cast<size_t>(db_->execAndGet("SELECT count(*) FROM trials").getInt64()));
    SQLite::Statement st(*db_, std::string("SELECT ") + kTrialColumns + "ORDER BY t.id");
    while (st.executeStep()) out.push_back(TrialFrom(st));
    return out;
  });
}

std::map<TrialState, int64_t> Store::StateCounts() const {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    std::map<TrialState, int64_t> out;
    SQLite::Statement st(*db_, "SELECT state, count(*) FROM trials GROUP BY state");
    while (st.executeStep()) {
      out[ParseTrialState(st.getColumn(0).getString())] = st.getColumn(1).getInt64();
    }
    return out;
  } catch (const std::exception& e) {
    Rethrow(path_, e);
  }
}

std::vector<TrialRow> Store::FrontTrials(const std::string& metric) const {
  if (metric != "acc_quint8" && metric != "acc_fp32") {
    throw UsageError("front metric must be acc_quint8 or acc_fp32, not '" + metric + "'");
  }
  std::lock_guard<std::mutex> lock(mu_);
  try {
    std::vector<TrialRow> out;
    SQLite::Statement count(*db_, "SELECT count(*) FROM front WHERE metric = ?");
    count.bind(1, metric);
    if (count.executeStep()) out.reserve(static_cast<size_t>(count.getColumn(0).getInt64()));
    // The members of the metric's front (the `front` table, kept by triggers
    // as trials complete), by MACs: O(front size), whatever the number of trials.
    SQLite::Statement st(*db_, std::string("SELECT ") + kTrialValues +
                                   "FROM front f CROSS JOIN trials t ON t.id = f.trial_id " +
                                   kTrialJoins + "WHERE f.metric = ? ORDER BY f.macs_conv");
    st.bind(1, metric);
    while (st.executeStep()) out.push_back(TrialFrom(st));
    return out;
  } catch (const std::exception& e) {
    Rethrow(path_, e);
  }
}

TrialRow Store::ReadTrial(int64_t id) const {
  SQLite::Statement st(*db_, std::string("SELECT ") + kTrialColumns + "WHERE t.id = ?");
  st.bind(1, id);
  if (!st.executeStep()) throw StoreError(path_ + ": no trial " + std::to_string(id));
  return TrialFrom(st);
}

std::optional<TrialRow> Store::Trial(int64_t id) const {
  return Locked([&]() -> std::optional<TrialRow> {
    SQLite::Statement st(*db_, std::string("SELECT ") + kTrialColumns + "WHERE t.id = ?");
    st.bind(1, id);
    if (!st.executeStep()) return std::nullopt;
    return TrialFrom(st);
  });
}

void Store::Touch() {
  SQLite::Statement st(*db_, "UPDATE study SET updated_at = ?");
  st.bind(1, NowIso());
  st.exec();
}

int64_t Store::StartTrial(int64_t candidate_id, const std::string& worker) {
  return Write([&] {
    SQLite::Statement q(*db_, "SELECT id, state FROM trials WHERE candidate_id = ?");
    q.bind(1, candidate_id);
    if (q.executeStep()) {
      throw StoreError(path_ + ": candidate " + std::to_string(candidate_id) +
                       " already has trial " + std::to_string(q.getColumn(0).getInt64()) + " (" +
                       q.getColumn(1).getString() + "); a candidate never runs twice");
    }
    SQLite::Statement st(*db_,
                         "INSERT INTO trials (candidate_id, state, worker, pid, host, started_at, "
                         "heartbeat_at) VALUES (?, 'RUNNING', ?, ?, ?, ?, ?)");
    st.bind(1, candidate_id);
    st.bind(2, worker);
    st.bind(3, static_cast<int64_t>(getpid()));
    st.bind(4, HostName());
    st.bind(5, NowIso());
    st.bind(6, NowSeconds());
    st.exec();
    const int64_t id = db_->getLastInsertRowid();
    Touch();
    return id;
  });
}

TrialRow Store::RestartTrial(int64_t trial_id, const std::string& worker) {
  return Write([&] {
    const TrialRow t = ReadTrial(trial_id);
    if (IsFinished(t.state)) {
      throw StoreError(path_ + ": trial " + std::to_string(trial_id) + " is " +
                       TrialStateName(t.state) + " and cannot run again");
    }
    // Only what the checkpoint holds survives: later epochs are run again.
    const int from = t.checkpoint.empty() ? 0 : t.checkpoint_epoch;
    for (const char* sql : {"DELETE FROM epochs WHERE trial_id = ? AND epoch > ?",
                            "DELETE FROM layer_stats WHERE trial_id = ? AND epoch > ?",
                            "DELETE FROM quant_methods WHERE trial_id = ? AND epoch > ?",
                            "DELETE FROM prune_decisions WHERE trial_id = ? AND rung_epoch > ?",
                            "DELETE FROM rung_results WHERE trial_id = ? AND epoch > ?"}) {
      SQLite::Statement del(*db_, sql);
      del.bind(1, trial_id);
      del.bind(2, from);
      del.exec();
    }
    SQLite::Statement st(
        *db_,
        "UPDATE trials SET state = 'RUNNING', reason = '', ended_at = NULL, worker = ?, pid = ?, "
        "host = ?, attempts = attempts + 1, heartbeat_at = ?, epochs_done = ?, "
        "seconds = (SELECT coalesce(sum(seconds), 0) FROM epochs "
        "WHERE trial_id = ?) WHERE id = ?");
    st.bind(1, worker);
    st.bind(2, static_cast<int64_t>(getpid()));
    st.bind(3, HostName());
    st.bind(4, NowSeconds());
    st.bind(5, from);
    st.bind(6, trial_id);
    st.bind(7, trial_id);
    st.exec();
    Touch();
    return ReadTrial(trial_id);
  });
}

namespace {

void InsertDecision(SQLite::Database& db, const PruneDecision& d) {
  if (d.decision != "continue" && d.decision != "prune") {
    throw StoreError("prune decision must be 'continue' or 'prune', not '" + d.decision + "'");
  }
  SQLite::Statement st(db,
                       "INSERT INTO prune_decisions (trial_id, rung_epoch, decision, rule, reason, "
                       "evidence, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, d.trial_id);
  st.bind(2, d.rung_epoch);
  st.bind(3, d.decision);
  st.bind(4, d.rule);
  st.bind(5, d.reason);
  st.bind(6, d.evidence.empty() ? std::string("{}") : d.evidence);
  st.bind(7, NowIso());
  st.exec();
}

// The rung result and its decision; PRUNED last (the triggers refuse rows of
// a finished trial).
void InsertRung(SQLite::Database& db, int64_t trial_id, const RungRecord& rung) {
  const RungRow& r = rung.result;
  SQLite::Statement st(db,
                       "INSERT INTO rung_results (trial_id, epoch, macs_conv, val_images, "
                       "acc_fp32, acc_quint8, rel_decrease, qmse, qce, recorded_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, trial_id);
  st.bind(2, r.epoch);
  st.bind(3, r.macs_conv);
  BindMetrics(st, 4, r.validation);
  st.bind(10, NowIso());
  st.exec();
  PruneDecision d = rung.decision;
  d.trial_id = trial_id;
  d.rung_epoch = r.epoch;
  InsertDecision(db, d);
  if (d.decision == "prune") {
    SQLite::Statement up(db,
                         "UPDATE trials SET state = 'PRUNED', reason = ?, ended_at = ? "
                         "WHERE id = ?");
    up.bind(1, d.reason);
    up.bind(2, NowIso());
    up.bind(3, trial_id);
    up.exec();
  }
}

}  // namespace

void Store::RecordEpoch(int64_t trial_id, const evaluators::EpochRecord& r,
                        const evaluators::QuantReport* validation, const std::string& checkpoint,
                        const RungRecord* rung) {
  ChangeRunningTrial(trial_id, "record an epoch of", [&](const TrialRow&) {
    SQLite::Statement st(*db_,
                         "INSERT OR REPLACE INTO epochs (trial_id, epoch, train_loss, train_acc, "
                         "val_acc, lr, seconds, images_per_s, recorded, val_images, val_acc_fp32, "
                         "val_acc_quint8, val_rel_decrease, val_qmse, val_qce) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, trial_id);
    st.bind(2, r.epoch);
    BindReal(st, 3, r.train_loss);
    BindReal(st, 4, r.train_acc);
    BindReal(st, 5, r.val_acc);
    BindReal(st, 6, r.lr);
    BindReal(st, 7, r.seconds);
    BindReal(st, 8, r.images_per_s);
    st.bind(9, validation ? 1 : 0);
    if (validation) {
      BindMetrics(st, 10, validation->metrics);
    } else {
      for (int i = 10; i <= 15; ++i) st.bind(i);
    }
    st.exec();
    if (validation) {
      InsertLayers(*db_, trial_id, "validation", r.epoch, validation->layers);
      InsertMethods(*db_, trial_id, "validation", r.epoch, *validation);
    }
    SQLite::Statement up(*db_,
                         "UPDATE trials SET epochs_done = ?, heartbeat_at = ?, seconds = "
                         "(SELECT coalesce(sum(seconds), 0) FROM epochs WHERE trial_id = ?) "
                         "WHERE id = ?");
    up.bind(1, r.epoch);
    up.bind(2, NowSeconds());
    up.bind(3, trial_id);
    up.bind(4, trial_id);
    up.exec();
    if (!checkpoint.empty()) {
      SQLite::Statement k(*db_,
                          "INSERT OR REPLACE INTO checkpoints (trial_id, epoch, path, created_at) "
                          "VALUES (?, ?, ?, ?)");
      k.bind(1, trial_id);
      k.bind(2, r.epoch);
      k.bind(3, checkpoint);
      k.bind(4, NowIso());
      k.exec();
    }
    if (rung) InsertRung(*db_, trial_id, *rung);
  });
}

void Store::CompleteTrial(int64_t trial_id, const evaluators::QuantReport& test) {
  ChangeRunningTrial(trial_id, "complete", [&](const TrialRow& t) {
    InsertLayers(*db_, trial_id, "test", t.epochs_done, test.layers);
    InsertMethods(*db_, trial_id, "test", t.epochs_done, test);
    SQLite::Statement st(*db_,
                         "UPDATE trials SET state = 'COMPLETE', ended_at = ?, heartbeat_at = ?, "
                         "test_images = ?, acc_fp32 = ?, acc_quint8 = ?, rel_decrease = ?, "
                         "qmse = ?, qce = ? WHERE id = ?");
    st.bind(1, NowIso());
    st.bind(2, NowSeconds());
    BindMetrics(st, 3, test.metrics);
    st.bind(9, trial_id);
    st.exec();
  });
}

void Store::FinishTrial(int64_t trial_id, TrialState state, const std::string& reason) {
  if (state != TrialState::kFailed && state != TrialState::kPruned) {
    throw StoreError(std::string("FinishTrial: state must be FAILED or PRUNED, not ") +
                     TrialStateName(state));
  }
  ChangeRunningTrial(trial_id, "finish", [&](const TrialRow&) {
    SQLite::Statement st(*db_,
                         "UPDATE trials SET state = ?, reason = ?, ended_at = ?, heartbeat_at = ? "
                         "WHERE id = ?");
    st.bind(1, TrialStateName(state));
    st.bind(2, reason);
    st.bind(3, NowIso());
    st.bind(4, NowSeconds());
    st.bind(5, trial_id);
    st.exec();
  });
}

void Store::InterruptTrial(int64_t trial_id, const std::string& reason) {
  ChangeRunningTrial(trial_id, "interrupt", [&](const TrialRow&) {
    SQLite::Statement st(*db_,
                         "UPDATE trials SET state = 'INTERRUPTED', reason = ?, ended_at = ?, "
                         "heartbeat_at = ? WHERE id = ?");
    st.bind(1, reason);
    st.bind(2, NowIso());
    st.bind(3, NowSeconds());
    st.bind(4, trial_id);
    st.exec();
  });
}

void Store::AddPruneDecision(const PruneDecision& d) {
  ChangeRunningTrial(d.trial_id, "add a pruning decision to",
                     [&](const TrialRow&) { InsertDecision(*db_, d); });
}

std::vector<EpochRow> Store::Epochs(int64_t trial_id) const {
  return Locked([&] {
    std::vector<EpochRow> out;
    SQLite::Statement st(*db_,
                         "SELECT epoch, train_loss, train_acc, val_acc, lr, seconds, images_per_s, "
                         "recorded, val_images, val_acc_fp32, val_acc_quint8, val_rel_decrease, "
                         "val_qmse, val_qce FROM epochs WHERE trial_id = ? ORDER BY epoch");
    st.bind(1, trial_id);
    while (st.executeStep()) {
      EpochRow e;
      e.record.epoch = st.getColumn(0).getInt();
      e.record.train_loss = Real(st.getColumn(1));
      e.record.train_acc = Real(st.getColumn(2));
      e.record.val_acc = Real(st.getColumn(3));
      e.record.lr = Real(st.getColumn(4));
      e.record.seconds = Real(st.getColumn(5));
      e.record.images_per_s = Real(st.getColumn(6));
      e.recorded = st.getColumn(7).getInt() != 0;
      ReadMetrics(st, 8, &e.validation);
      out.push_back(e);
    }
    return out;
  });
}

std::vector<LayerRow> Store::Layers(int64_t trial_id) const {
  return Locked([&] {
    std::vector<LayerRow> out;
    SQLite::Statement st(*db_,
                         "SELECT split, epoch, position, op, layer, w_min, w_max, w_range, "
                         "w_channel_precision, folded_min, folded_max, folded_range, "
                         "folded_channel_precision, act_min, act_max, act_range, "
                         "act_channel_precision, sqnr_db FROM layer_stats WHERE trial_id = ? "
                         "ORDER BY split = 'test', epoch, position");
    st.bind(1, trial_id);
    while (st.executeStep()) {
      LayerRow l;
      l.split = st.getColumn(0).getString();
      l.epoch = st.getColumn(1).getInt();
      l.position = st.getColumn(2).getInt();
      l.stats.op = st.getColumn(3).getString();
      l.stats.layer = st.getColumn(4).getString();
      int i = 5;
      for (evaluators::RangeStats* r : {&l.stats.weights, &l.stats.folded, &l.stats.activations}) {
        r->min = Real(st.getColumn(i++));
        r->max = Real(st.getColumn(i++));
        r->range = Real(st.getColumn(i++));
        r->channel_precision = Real(st.getColumn(i++));
      }
      l.stats.sqnr_db = Real(st.getColumn(i));
      out.push_back(std::move(l));
    }
    return out;
  });
}

namespace {

// The rows of `st` (trial_id, split, epoch, method, is_primary, metrics).
std::vector<MethodRow> MethodRows(SQLite::Statement& st) {
  std::vector<MethodRow> out;
  while (st.executeStep()) {
    MethodRow m;
    m.trial_id = st.getColumn(0).getInt64();
    m.split = st.getColumn(1).getString();
    m.epoch = st.getColumn(2).getInt();
    m.metrics.method = st.getColumn(3).getString();
    m.primary = st.getColumn(4).getInt() != 0;
    ReadMetrics(st, 5, &m.metrics.metrics);
    out.push_back(std::move(m));
  }
  return out;
}

constexpr const char* kMethodColumns =
    "SELECT trial_id, split, epoch, method, is_primary, images, acc_fp32, acc_quint8, "
    "rel_decrease, qmse, qce FROM quant_methods ";

}  // namespace

std::vector<MethodRow> Store::QuantMethods(int64_t trial_id) const {
  return Locked([&] {
    SQLite::Statement st(*db_, std::string(kMethodColumns) +
                                   "WHERE trial_id = ? "
                                   "ORDER BY split = 'test', epoch, is_primary DESC, method");
    st.bind(1, trial_id);
    return MethodRows(st);
  });
}

std::vector<MethodRow> Store::QuantMethodsOfSplit(const std::string& split) const {
  return Locked([&] {
    SQLite::Statement st(*db_, std::string(kMethodColumns) +
                                   "WHERE split = ? "
                                   "ORDER BY trial_id, epoch, is_primary DESC, method");
    st.bind(1, split);
    return MethodRows(st);
  });
}

std::vector<PruneDecision> Store::PruneDecisions(int64_t trial_id) const {
  return Locked([&] {
    std::vector<PruneDecision> out;
    SQLite::Statement st(*db_,
                         "SELECT rung_epoch, decision, rule, reason, evidence, decided_at "
                         "FROM prune_decisions WHERE trial_id = ? ORDER BY rung_epoch, id");
    st.bind(1, trial_id);
    while (st.executeStep()) {
      PruneDecision d;
      d.trial_id = trial_id;
      d.rung_epoch = st.getColumn(0).getInt();
      d.decision = st.getColumn(1).getString();
      d.rule = st.getColumn(2).getString();
      d.reason = st.getColumn(3).getString();
      d.evidence = st.getColumn(4).getString();
      d.decided_at = st.getColumn(5).getString();
      out.push_back(std::move(d));
    }
    return out;
  });
}

std::vector<RungRow> Store::RungResults(int epoch) const {
  return Locked([&] {
    std::vector<RungRow> out;
    SQLite::Statement st(*db_,
                         "SELECT id, trial_id, epoch, macs_conv, val_images, acc_fp32, acc_quint8, "
                         "rel_decrease, qmse, qce, recorded_at FROM rung_results "
                         "WHERE ? = 0 OR epoch = ? ORDER BY id");
    st.bind(1, epoch);
    st.bind(2, epoch);
    while (st.executeStep()) {
      RungRow r;
      r.seq = st.getColumn(0).getInt64();
      r.trial_id = st.getColumn(1).getInt64();
      r.epoch = st.getColumn(2).getInt();
      r.macs_conv = st.getColumn(3).getInt64();
      ReadMetrics(st, 4, &r.validation);
      r.recorded_at = st.getColumn(10).getString();
      out.push_back(r);
    }
    return out;
  });
}

void Store::ExecForTesting(const std::string& sql) {
  return Locked([&] { db_->exec(sql); });
}

void Store::CreateAtVersionForTesting(const std::string& path, int version) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  SQLite::Transaction tx(db);
  for (int v = 1; v <= version; ++v) db.exec(schema::Migration(v));
  db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db.exec("PRAGMA user_version = " + std::to_string(version));
  tx.commit();
}

}  // namespace fnas::db

namespace fnas::db {

namespace {

// Days from 1970-01-01 to the date y-m-d of the proleptic Gregorian calendar
// (m in 1..12; any d, as timegm counts it).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Unix seconds of the store's "YYYY-MM-DDTHH:MM:SS.mmmZ" (NowIso); NaN if
// malformed. The fixed layout is read by hand (100,000 trials); anything
// else by sscanf and timegm, as `status` always read it.
double IsoSeconds(std::string_view text) {
  const char* t = text.data();
  // The two digits at t[i] as a number; -1 if one is not a digit.
  auto two = [t](size_t i) {
    const unsigned a = static_cast<unsigned char>(t[i]) - '0';
    const unsigned b = static_cast<unsigned char>(t[i + 1]) - '0';
    return a < 10 && b < 10 ? static_cast<int>(a * 10 + b) : -1;
  };
  if (text.size() == 24 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
      t[16] == ':' && t[19] == '.' && t[23] == 'Z') {
    const int century = two(0), year = two(2), month = two(5), day = two(8), hours = two(11),
              minutes = two(14), seconds = two(17), ms_high = two(20);
    const unsigned ms_low = static_cast<unsigned char>(t[22]) - '0';
    if (century >= 0 && year >= 0 && month >= 1 && month <= 12 && day >= 0 && hours >= 0 &&
        minutes >= 0 && seconds >= 0 && ms_high >= 0 && ms_low < 10) {
      const int64_t s = DaysFromCivil(century * 100 + year, month, day) * 86400 + hours * 3600 +
                        minutes * 60 + seconds;
      return static_cast<double>(s) + static_cast<int>(ms_high * 10 + ms_low) / 1000.0;
    }
  }
  const std::string copy(text);
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(copy.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return std::nan("");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

std::string_view TextOf(sqlite3_stmt* st, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, column));
  return std::string_view(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(st, column)));
}

// The state a trials row names (the schema's CHECK allows only the five names).
TrialState StateOf(std::string_view name) {
  for (TrialState s : {TrialState::kComplete, TrialState::kPruned, TrialState::kRunning,
                       TrialState::kFailed, TrialState::kInterrupted}) {
    if (name == TrialStateName(s)) return s;
  }
  return ParseTrialState(std::string(name));
}

}  // namespace

Progress Store::StudyProgress(int epochs) const {
  return Locked([&] {
    Progress p;
    // One pass over the trials in id order, nothing kept per trial: the
    // counts, and the sums added in the order a loop over Trials() adds them.
    sqlite3* db = db_->getHandle();
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT state, epochs_done, seconds, attempts, started_at, ended_at "
                           "FROM trials ORDER BY id",
                           -1, &raw, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db));
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    int64_t trials = 0;
    int64_t by_state[5] = {0};
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      ++trials;
      const TrialState state = StateOf(TextOf(raw, 0));
      ++by_state[static_cast<int>(state)];
      const int64_t epochs_done = sqlite3_column_int64(raw, 1);
      p.epochs_done += epochs_done;
      p.seconds += sqlite3_column_double(raw, 2);
      // The trials that ran start to end in one go: their wall time.
      if (state == TrialState::kComplete && sqlite3_column_int64(raw, 3) == 1) {
        const double wall = IsoSeconds(TextOf(raw, 5)) - IsoSeconds(TextOf(raw, 4));
        if (wall > 0) {
          p.paced_wall += wall;
          p.paced_epochs += epochs_done;
        }
      }
    }
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    for (TrialState s : {TrialState::kRunning, TrialState::kComplete, TrialState::kPruned,
                         TrialState::kFailed, TrialState::kInterrupted}) {
      if (by_state[static_cast<int>(s)]) p.count[s] = by_state[static_cast<int>(s)];
    }
    // A candidate has at most one trial (UNIQUE) and a trial one candidate
    // (a foreign key): the candidates without a trial are the difference.
    p.candidates = db_->execAndGet("SELECT count(*) FROM candidates").getInt64();
    p.pending = p.candidates - trials;
    // The trials to restart continue from their checkpoint's epoch (0 without one).
    SQLite::Statement restart(*db_, R"sql(
SELECT count(*), coalesce(sum(max(0, ?1 - CASE WHEN coalesce(k.path, '') = '' THEN 0
                                              ELSE coalesce(k.epoch, 0) END)), 0)
FROM trials t LEFT JOIN checkpoints k ON k.trial_id = t.id
WHERE t.state IN ('RUNNING', 'INTERRUPTED'))sql");
    restart.bind(1, epochs);
    if (restart.executeStep()) {
      p.restartable = restart.getColumn(0).getInt64();
      p.epochs_left = p.pending * epochs + restart.getColumn(1).getInt64();
    }
    return p;
  });
}

std::vector<std::string> Store::ResultColumns(const std::string& sql) const {
  return Locked([&] {
    SQLite::Statement st(*db_, sql);
    std::vector<std::string> names;
    for (int c = 0; c < st.getColumnCount(); ++c) names.push_back(st.getColumnName(c));
    return names;
  });
}

void Store::ForEachRow(const std::string& sql, const std::vector<Param>& params,
                       const RowVisitor& visit) const {
  Locked([&] {
    sqlite3* db = db_->getHandle();
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db));
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        sqlite3_bind_int64(raw, index, *v);
      } else {
        const std::string& text = std::get<std::string>(params[i]);
        sqlite3_bind_text(raw, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      }
    }
    const int n = sqlite3_column_count(raw);
    std::vector<CellView> cells(static_cast<size_t>(n));
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      for (int c = 0; c < n; ++c) {
        CellView& cell = cells[static_cast<size_t>(c)];
        switch (sqlite3_column_type(raw, c)) {
          case SQLITE_NULL:
            cell = std::monostate{};
            break;
          case SQLITE_INTEGER:
            cell = static_cast<int64_t>(sqlite3_column_int64(raw, c));
            break;
          case SQLITE_FLOAT:
            cell = sqlite3_column_double(raw, c);
            break;
          default: {  // text (and blobs, as their bytes)
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
            cell = std::string_view(text ? text : "",
                                    static_cast<size_t>(sqlite3_column_bytes(raw, c)));
          }
        }
      }
      visit(cells.data());
    }
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
  });
}

Store::Snapshot::Snapshot(const Store& store) : store_(store) {
  if (!store.read_only_) {
    throw StoreError(store.path_ + ": a snapshot is for a Store opened read-only");
  }
  store.Locked([&] { store.db_->exec("BEGIN"); });
}

Store::Snapshot::~Snapshot() {
  try {
    store_.Locked([&] { store_.db_->exec("COMMIT"); });
  } catch (...) {  // a read transaction has nothing to lose
  }
}

}  // namespace fnas::db
