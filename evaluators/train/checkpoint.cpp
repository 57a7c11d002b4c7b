#include "evaluators/train/checkpoint.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <fcntl.h>
#include <signal.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crashpoint.h"
#include "common/error.h"
#include "space/plan.h"

namespace fnas::evaluators {

namespace {

// Format 2 adds "checksum"; format 1 files (no checksum) are still read.
constexpr int64_t kFormat = 2;
constexpr const char* kMagic = "factorize-nas checkpoint";

torch::Tensor RecordsToTensor(const std::vector<EpochRecord>& records) {
  torch::Tensor t = torch::zeros({static_cast<int64_t>(records.size()), 7}, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  for (size_t i = 0; i < records.size(); ++i) {
    const EpochRecord& r = records[i];
    const double v[7] = {double(r.epoch), r.train_loss,  r.train_acc, r.val_acc, r.lr,
                         r.seconds,       r.images_per_s};
    for (int j = 0; j < 7; ++j) a[i][j] = v[j];
  }
  return t;
}

std::vector<EpochRecord> RecordsFromTensor(const torch::Tensor& t) {
  std::vector<EpochRecord> out;
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < t.size(0); ++i) {
    EpochRecord r;
    r.epoch = static_cast<int>(a[i][0]);
    r.train_loss = a[i][1];
    r.train_acc = a[i][2];
    r.val_acc = a[i][3];
    r.lr = a[i][4];
    r.seconds = a[i][5];
    r.images_per_s = a[i][6];
    out.push_back(r);
  }
  return out;
}

// The dict of a checkpoint file, by key.
using Fields = std::map<std::string, c10::IValue>;

// CRC-32 of a checkpoint's content: every field but "checksum", in key order,
// each as its key, a type tag and its value (strings, ints, tensors as dtype,
// shape and raw bytes, dicts of tensors in key order). A file whose bytes were
// damaged (the zip's own CRCs are not checked by LibTorch's reader) yields
// other values and another checksum.
class ContentCrc {
 public:
  std::string Of(const Fields& fields) {
    for (const auto& [key, value] : fields) {
      if (key == "checksum") continue;
      Text(key);
      Value(value);
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "crc32:%08lx", crc_);
    return buf;
  }

 private:
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const Bytef*>(data);
    while (n > 0) {
      const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      crc_ = crc32(crc_, p, chunk);
      p += chunk;
      n -= chunk;
    }
  }
  void Int(int64_t v) { Bytes(&v, sizeof v); }
  void Text(const std::string& s) {
    Int(static_cast<int64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  void Tensor(const torch::Tensor& t) {
    const torch::Tensor c = t.cpu().contiguous();
    Int(static_cast<int64_t>(c.scalar_type()));
    Int(c.dim());
    for (int64_t d : c.sizes()) Int(d);
    Bytes(c.data_ptr(), c.nbytes());
  }
  void Value(const c10::IValue& v) {
    if (v.isNone()) {
      Int(0);
    } else if (v.isString()) {
      Int(1);
      Text(v.toStringRef());
    } else if (v.isInt()) {
      Int(2);
      Int(v.toInt());
    } else if (v.isTensor()) {
      Int(3);
      Tensor(v.toTensor());
    } else if (v.isGenericDict()) {
      Int(4);
      std::map<std::string, c10::IValue> sorted;
      for (const auto& kv : v.toGenericDict()) {
        sorted[kv.key().isString() ? kv.key().toStringRef() : std::string("?")] = kv.value();
      }
      Int(static_cast<int64_t>(sorted.size()));
      for (const auto& [k, x] : sorted) {
        Text(k);
        Value(x);
      }
    } else {
      Int(5);
      Text(v.tagKind());
    }
  }

  uLong crc_ = crc32(0L, Z_NULL, 0);
};

// A library exception's message without LibTorch's C++ stack trace.
std::string MessageOf(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

// Removes temporary files (NAME.tmp.PID) of `dir` that a process of this host
// that no longer exists left behind (killed while writing a checkpoint).
void RemoveStaleTemporaries(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + 5);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

void WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw EnvironmentError(path + ": cannot write the checkpoint: " + std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

// Writes `bytes` to `path` atomically: temporary file in the same directory,
// fsync, rename, fsync of the directory. Every failure is the file system's
// (EnvironmentError): the temporary is removed and the previous file stays.
void WriteFileAtomically(const std::string& path, const std::vector<char>& bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw EnvironmentError(dir.string() +
                           ": cannot create the checkpoint directory: " + ec.message());
  RemoveStaleTemporaries(dir);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw EnvironmentError(tmp + ": cannot create: " + std::strerror(errno));
  try {
    WriteAll(fd, bytes.data(), bytes.size(), tmp);
    if (::fsync(fd) != 0) throw EnvironmentError(tmp + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  CrashPoint("checkpoint-written");  // the temporary is whole, not yet in place
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw EnvironmentError(path + ": cannot rename the checkpoint into place: " + err);
  }
  CrashPoint("checkpoint-renamed");  // in place, not yet committed by the store
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

c10::Dict<std::string, torch::Tensor> TensorDict(
    const std::vector<std::pair<std::string, torch::Tensor>>& items) {
  c10::Dict<std::string, torch::Tensor> d;
  for (const auto& [k, v] : items) d.insert(k, v.detach().cpu().contiguous());
  return d;
}

// The bytes of an archive in memory for LibTorch's zip reader, which asks for
// whatever offsets and lengths the archive's (possibly damaged) directory
// names: a short read is refused by the reader. LibTorch 1.13's own
// MemoryReadAdapter, used by torch::pickle_load, copies without a bounds
// check, so a truncated or damaged checkpoint made it read past its buffer
// (found by fuzz/checkpoint_fuzzer.cpp).
class BoundedReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReadAdapter(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

uint32_t Le16(const std::vector<char>& b, size_t at) {
  return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8;
}
uint32_t Le32(const std::vector<char>& b, size_t at) { return Le16(b, at) | Le16(b, at + 2) << 16; }

// Checks the zip archive's own CRC-32 of every stored entry before LibTorch
// reads it: LibTorch's reader does not, and its unpickler trusts the lengths
// it reads (a damaged length made it reserve 4 GiB; found by
// fuzz/checkpoint_fuzzer.cpp). Bounds-checked; DataError naming the file.
// Archives beyond 4 GiB (zip64) and compressed entries are left to LibTorch's
// reader and the content checksum.
void CheckZipCrcs(const std::vector<char>& b, const std::string& path) {
  const auto bad = [&](const std::string& what) {
    throw DataError(path + ": not a factorize-nas checkpoint, or a corrupt one (" + what + ")");
  };
  // The end of central directory record: 22 bytes and a comment of < 64 KiB.
  if (b.size() < 22) bad("too short for a zip archive");
  size_t eocd = std::string::npos;
  const size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (size_t at = b.size() - 22 + 1; at-- > lowest;) {
    if (Le32(b, at) == 0x06054b50u) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string::npos) bad("no end of the zip directory: truncated?");
  const uint32_t entries = Le16(b, eocd + 10), cd_size = Le32(b, eocd + 12),
                 cd_offset = Le32(b, eocd + 16);
  if (entries == 0xffff || cd_offset == 0xffffffffu || cd_size == 0xffffffffu) {
    // Zip64: only an archive beyond 4 GiB needs it (a damaged offset made
    // LibTorch take 4 GiB; found by fuzz/checkpoint_fuzzer.cpp).
    if (b.size() < (uint64_t{1} << 32)) bad("zip64 markers in a small archive");
    return;
  }
  if (uint64_t{cd_offset} + cd_size > eocd) bad("the zip directory lies outside the file");
  size_t at = cd_offset;
  for (uint32_t i = 0; i < entries; ++i) {
    if (at + 46 > eocd || Le32(b, at) != 0x02014b50u) bad("a damaged zip directory");
    const uint32_t method = Le16(b, at + 10), crc = Le32(b, at + 16), size = Le32(b, at + 20),
                   unpacked = Le32(b, at + 24);
    const uint32_t name_len = Le16(b, at + 28), extra_len = Le16(b, at + 30),
                   comment_len = Le16(b, at + 32), local = Le32(b, at + 42);
    if (at + 46 + name_len > eocd) bad("a damaged zip directory");
    const std::string name(b.data() + at + 46, name_len);
    at += 46 + size_t{name_len} + extra_len + comment_len;
    if (method != 0) continue;  // compressed: not what pickle_save writes
    // LibTorch allocates the unpacked size it reads here (a damaged one made
    // it take 4 GiB; found by fuzz/checkpoint_fuzzer.cpp).
    if (unpacked != size) bad("entry " + name + " declares two sizes");
    if (uint64_t{local} + 30 > b.size() || Le32(b, local) != 0x04034b50u) {
      bad("entry " + name + " has no local header");
    }
    const uint64_t data = uint64_t{local} + 30 + Le16(b, local + 26) + Le16(b, local + 28);
    if (data + size > b.size()) bad("entry " + name + " is cut short");
    uLong actual = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < size;) {
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
      actual = crc32(actual, reinterpret_cast<const Bytef*>(b.data() + data + done), chunk);
      done += chunk;
    }
    if (actual != crc) {
      char have[16], want[16];
      std::snprintf(have, sizeof have, "%08lx", actual);
      std::snprintf(want, sizeof want, "%08x", crc);
      throw DataError(path + ": corrupt checkpoint (zip entry " + name + ": CRC-32 " + have +
                      ", the archive says " + want + ")");
    }
  }
}

// The dict of the file, or a DataError saying why it is not a checkpoint.
Fields ReadDict(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw DataError(path + ": is a directory, not a checkpoint file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": no such checkpoint (or unreadable)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // torch::pickle_save writes a zip archive; anything else is not ours.
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0) {
    throw DataError(path + ": not a factorize-nas checkpoint (not a zip archive)");
  }
  CheckZipCrcs(bytes, path);
  c10::IValue v;
  try {
    // What torch::pickle_load(bytes) does, with a bounded reader.
    caffe2::serialize::PyTorchStreamReader reader(std::make_unique<BoundedReadAdapter>(bytes));
    v = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                          c10::nullopt, c10::nullopt, c10::nullopt, reader);
  } catch (const std::exception& e) {
    throw DataError(path + ": not a factorize-nas checkpoint, or a corrupt one (cannot read it: " +
                    MessageOf(e).substr(0, 200) + ")");
  }
  if (!v.isGenericDict()) throw DataError(path + ": not a factorize-nas checkpoint (not a dict)");
  Fields d;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString()) throw DataError(path + ": not a factorize-nas checkpoint");
    d[kv.key().toStringRef()] = kv.value();
  }
  auto magic = d.find("magic");
  if (magic == d.end() || !magic->second.isString() || magic->second.toStringRef() != kMagic) {
    throw DataError(path + ": not a factorize-nas checkpoint (no magic)");
  }
  auto format = d.find("format");
  if (format == d.end() || !format->second.isInt() || format->second.toInt() < 1 ||
      format->second.toInt() > kFormat) {
    throw DataError(path + ": checkpoint format " +
                    (format != d.end() && format->second.isInt()
                         ? std::to_string(format->second.toInt())
                         : std::string("?")) +
                    " (this program reads formats 1 to " + std::to_string(kFormat) + ")");
  }
  if (format->second.toInt() >= 2) {
    auto stored = d.find("checksum");
    if (stored == d.end() || !stored->second.isString()) {
      throw DataError(path + ": corrupt checkpoint (its checksum is missing)");
    }
    const std::string actual = ContentCrc().Of(d);
    if (stored->second.toStringRef() != actual) {
      throw DataError(path + ": corrupt checkpoint (checksum " + stored->second.toStringRef() +
                      " stored, " + actual + " of its content); delete it and train again");
    }
  }
  return d;
}

const c10::IValue& Field(const Fields& d, const std::string& key, const std::string& path) {
  auto it = d.find(key);
  if (it == d.end()) throw DataError(path + ": checkpoint lacks '" + key + "'");
  return it->second;
}

std::map<std::string, torch::Tensor> TensorMap(const c10::IValue& v, const std::string& key,
                                               const std::string& path) {
  if (!v.isGenericDict()) throw DataError(path + ": checkpoint field '" + key + "' is not a dict");
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) {
      throw DataError(path + ": checkpoint field '" + key + "' is not a dict of tensors");
    }
    out[kv.key().toStringRef()] = kv.value().toTensor();
  }
  return out;
}

}  // namespace

void SaveCheckpoint(const std::string& path, const space::FactorizeNetImpl& model,
                    const TrainingState& state) {
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const auto& p : model.named_parameters()) weights.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) weights.emplace_back(b.key(), b.value());
  std::vector<std::pair<std::string, torch::Tensor>> momentum(state.momentum.begin(),
                                                              state.momentum.end());
  Fields fields;
  fields["magic"] = std::string(kMagic);
  fields["format"] = kFormat;
  fields["candidate"] = state.candidate_key;
  fields["epoch"] = static_cast<int64_t>(state.epoch);
  fields["records"] = RecordsToTensor(state.records);
  fields["model"] = TensorDict(weights);
  fields["momentum"] = TensorDict(momentum);
  fields["order_rng"] = state.order_rng.defined() ? c10::IValue(state.order_rng) : c10::IValue();
  fields["augment_rng"] =
      state.augment_rng.defined() ? c10::IValue(state.augment_rng) : c10::IValue();
  fields["checksum"] = ContentCrc().Of(fields);
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, value] : fields) d.insert(key, value);
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(d));
  } catch (const std::exception& e) {
    throw RuntimeError(path + ": cannot serialize the checkpoint: " + MessageOf(e));
  }
  WriteFileAtomically(path, bytes);
}

namespace {

TrainingState ReadCheckpoint(const std::string& path, space::FactorizeNetImpl& model) {
  const auto d = ReadDict(path);
  TrainingState s;
  s.candidate_key = Field(d, "candidate", path).toStringRef();
  s.epoch = static_cast<int>(Field(d, "epoch", path).toInt());
  s.records = RecordsFromTensor(Field(d, "records", path).toTensor());
  s.momentum = TensorMap(Field(d, "momentum", path), "momentum", path);
  const c10::IValue& orng = Field(d, "order_rng", path);
  const c10::IValue& arng = Field(d, "augment_rng", path);
  if (orng.isTensor()) s.order_rng = orng.toTensor();
  if (arng.isTensor()) s.augment_rng = arng.toTensor();
  const std::string have = space::JoinFactorization(model.plan().f);
  if (s.candidate_key != have) {
    throw DataError(path + ": checkpoint of candidate " + s.candidate_key + ", not of " + have);
  }
  std::map<std::string, torch::Tensor> weights = TensorMap(Field(d, "model", path), "model", path);
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& dst) {
    auto it = weights.find(name);
    if (it == weights.end()) throw DataError(path + ": checkpoint lacks tensor '" + name + "'");
    if (it->second.sizes() != dst.sizes()) {
      std::ostringstream os;
      os << path << ": tensor '" << name << "' has shape " << it->second.sizes()
         << ", the network expects " << dst.sizes() << " (another macro?)";
      throw DataError(os.str());
    }
    dst.copy_(it->second);
    weights.erase(it);
  };
  for (auto& p : model.named_parameters()) load(p.key(), p.value());
  for (auto& b : model.named_buffers()) load(b.key(), b.value());
  if (!weights.empty()) {
    throw DataError(path + ": checkpoint has tensor '" + weights.begin()->first +
                    "' the network lacks (another macro?)");
  }
  return s;
}

}  // namespace

TrainingState LoadCheckpoint(const std::string& path, space::FactorizeNetImpl& model) {
  try {
    return ReadCheckpoint(path, model);
  } catch (const c10::Error& e) {
    // A field of an unexpected type (a hand-made or old file).
    throw DataError(path + ": not a valid factorize-nas checkpoint (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
}

LoadedModel LoadModelCheckpoint(const std::string& path, const space::Macro& macro) {
  const auto d = ReadDict(path);
  const c10::IValue& candidate = Field(d, "candidate", path);
  if (!candidate.isString()) throw DataError(path + ": checkpoint field 'candidate' is no text");
  const std::string key = candidate.toStringRef();
  LoadedModel out;
  try {
    out.candidate = space::MakeCandidate(macro, space::ParseFactorization(key));
  } catch (const Error& e) {
    throw DataError(path + ": checkpoint of candidate " + key +
                    ", which does not fit this macro: " + e.what());
  }
  out.model = space::FactorizeNet(space::BuildPlan(macro, out.candidate.f));
  TrainingState s = LoadCheckpoint(path, *out.model);
  out.epoch = s.epoch;
  out.records = std::move(s.records);
  out.model->eval();
  return out;
}

std::string CheckpointFile(const std::string& dir, const space::Candidate& candidate) {
  return (std::filesystem::path(dir) / (candidate.name + ".ckpt")).string();
}

}  // namespace fnas::evaluators
