#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "common/error.h"

namespace fnas {

namespace {

// A YAML node with the dotted key it was found under and its file, so every
// error can say key, value and file:line.
class Node {
 public:
  Node(YAML::Node node, std::string key, const std::string* source)
      : node_(std::move(node)), key_(std::move(key)), source_(source) {}

  const std::string& key() const { return key_; }
  const YAML::Node& yaml() const { return node_; }
  bool IsMap() const { return node_.IsMap(); }
  bool IsSeq() const { return node_.IsSequence(); }
  bool IsScalar() const { return node_.IsScalar(); }

  std::string Where() const {
    const YAML::Mark mark = node_.Mark();
    if (mark.line < 0) return *source_;
    return *source_ + ":" + std::to_string(mark.line + 1);
  }
  std::string Text() const {
    if (node_.IsScalar()) return "'" + node_.Scalar() + "'";
    YAML::Emitter e;
    e << YAML::Flow << node_;
    return e.c_str();
  }
  [[noreturn]] void Fail(const std::string& what) const {
    throw ConfigError(Where() + ": " + key_ + " = " + Text() + ": " + what);
  }

  // A mapping key as text; ConfigError at the key if it is a list or a
  // mapping itself (YAML's "? [a, b]: value" complex keys).
  std::string KeyOf(const YAML::Node& key) const {
    if (!key.IsScalar()) {
      Node k(key, key_, source_);
      throw ConfigError(k.Where() + ": " + key_ + ": a key must be a name, not " + k.Text());
    }
    return key.Scalar();
  }

  // The map's children; unknown keys are refused, naming the known ones.
  void ExpectMap(const std::set<std::string>& known) const {
    if (!node_.IsMap()) Fail("expected a mapping");
    for (const auto& kv : node_) {
      const std::string k = KeyOf(kv.first);
      if (!known.count(k)) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        Node key_node(kv.first, Join(k), source_);
        throw ConfigError(key_node.Where() + ": unknown key '" + Join(k) +
                          "' (known here: " + list + ")");
      }
    }
  }
  bool Has(const std::string& k) const { return node_.IsMap() && node_[k]; }
  Node Child(const std::string& k) const { return Node(node_[k], Join(k), source_); }
  Node Item(size_t i) const {
    return Node(node_[i], key_ + "[" + std::to_string(i) + "]", source_);
  }
  size_t size() const { return node_.size(); }

  template <typename T>
  T As(const char* expected) const {
    if (!node_.IsScalar()) Fail(std::string("expected ") + expected);
    try {
      return node_.as<T>();
    } catch (const YAML::Exception&) {
      Fail(std::string("expected ") + expected);
    }
  }
  double Number() const {
    const double v = As<double>("a number");
    if (!std::isfinite(v)) Fail("expected a finite number");
    return v;
  }
  int Int() const {
    const double v = Number();
    if (v != std::floor(v) || std::fabs(v) > 2e9) Fail("expected an integer");
    return static_cast<int>(v);
  }
  bool Bool() const { return As<bool>("true or false"); }
  std::string String() const { return As<std::string>("a string"); }
  std::vector<int> IntList() const {
    if (!node_.IsSequence()) Fail("expected a list of integers");
    std::vector<int> out;
    for (size_t i = 0; i < size(); ++i) out.push_back(Item(i).Int());
    return out;
  }
  std::vector<std::string> StringList() const {
    if (!node_.IsSequence()) Fail("expected a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < size(); ++i) out.push_back(Item(i).String());
    return out;
  }
  std::vector<double> NumberList() const {
    if (!node_.IsSequence()) Fail("expected a list of numbers");
    std::vector<double> out;
    for (size_t i = 0; i < size(); ++i) out.push_back(Item(i).Number());
    return out;
  }

  // Optional typed fields: leave `out` at its default when the key is absent.
  void Get(const std::string& k, int& out, int lo, int hi) const {
    if (!Has(k)) return;
    Node c = Child(k);
    out = c.Int();
    if (out < lo || out > hi) {
      c.Fail("must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  }
  void Get(const std::string& k, double& out, double lo, double hi) const {
    if (!Has(k)) return;
    Node c = Child(k);
    out = c.Number();
    if (out < lo || out > hi) c.Fail("must be in [" + Num(lo) + ", " + Num(hi) + "]");
  }
  void Get(const std::string& k, bool& out) const {
    if (Has(k)) out = Child(k).Bool();
  }
  void Get(const std::string& k, std::string& out) const {
    if (Has(k)) out = Child(k).String();
  }
  void GetChoice(const std::string& k, std::string& out, const std::set<std::string>& choices,
                 const std::function<bool(const std::string&)>& also_ok = nullptr) const {
    if (!Has(k)) return;
    Node c = Child(k);
    out = c.String();
    if (choices.count(out) || (also_ok && also_ok(out))) return;
    std::string list;
    for (const auto& n : choices) list += (list.empty() ? "" : ", ") + n;
    c.Fail("expected one of " + list);
  }

  static std::string FormatNumber(double v) { return Num(v); }

 private:
  std::string Join(const std::string& k) const { return key_.empty() ? k : key_ + "." + k; }
  static std::string Num(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  YAML::Node node_;
  std::string key_;
  const std::string* source_;
};

void ParseModel(const Node& n, Config& c, bool& input_given) {
  n.ExpectMap(
      {"input", "width", "classes", "stem", "stages", "dense", "kernel", "bn_eps", "bn_momentum"});
  space::MacroOptions& m = c.model;
  if (n.Has("input")) {
    Node in = n.Child("input");
    std::vector<int> v = in.IntList();
    if (v.size() != 3) in.Fail("expected [channels, height, width]");
    for (int x : v) {
      if (x < 1 || x > 4096) in.Fail("each of channels, height, width must be in [1, 4096]");
    }
    m.in_channels = v[0];
    m.in_height = v[1];
    m.in_width = v[2];
    input_given = true;
  }
  n.Get("width", m.width, 1e-3, 16.0);
  n.Get("classes", m.classes, 2, 100000);
  n.Get("stem", m.stem_depth, 1, 65536);
  if (n.Has("stages")) {
    Node s = n.Child("stages");
    if (!s.IsSeq() || s.size() == 0) s.Fail("expected a list of [depth, convs] pairs");
    m.stages.clear();
    for (size_t i = 0; i < s.size(); ++i) {
      Node item = s.Item(i);
      std::vector<int> v = item.IntList();
      if (v.size() != 2 || v[0] < 1 || v[1] < 1) item.Fail("expected [depth, convs], both >= 1");
      m.stages.push_back({v[0], v[1]});
    }
  }
  if (n.Has("dense")) {
    Node d = n.Child("dense");
    m.dense = d.IntList();
    for (int x : m.dense) {
      if (x < 1) d.Fail("dense sizes must be >= 1");
    }
  }
  n.Get("kernel", m.kernel, 1, 15);
  if (m.kernel % 2 == 0) n.Child("kernel").Fail("must be odd");
  n.Get("bn_eps", m.bn_eps, 1e-12, 1.0);
  n.Get("bn_momentum", m.bn_momentum, 0.0, 1.0);
}

space::Factorization ParseVector(const Node& n) {
  if (n.IsScalar()) {
    try {
      return space::ParseFactorization(n.String());
    } catch (const UsageError& e) {
      n.Fail(e.what());
    }
  }
  std::vector<int> v = n.IntList();
  if (v.empty()) n.Fail("expected a non-empty list of rates");
  return v;
}

void ParseSpace(const Node& n, Config& c) {
  n.ExpectMap({"paths"});
  if (!n.Has("paths")) n.Fail("needs a 'paths' list");
  Node paths = n.Child("paths");
  if (!paths.IsSeq() || paths.size() == 0) paths.Fail("expected a non-empty list of paths");
  for (size_t i = 0; i < paths.size(); ++i) {
    Node p = paths.Item(i);
    space::PathSpec spec;
    spec.where = p.Where();
    if (p.IsScalar()) {
      const std::string kind = p.String();
      if (kind == "regular") {
        spec.kind = space::PathSpec::Kind::kRegular;
      } else if (kind == "depthwise") {
        spec.kind = space::PathSpec::Kind::kDepthwise;
      } else {
        p.Fail(
            "unknown path (expected regular, depthwise, or a mapping uniform: [...], "
            "reverse_pyramid: [...], per_layer: [[...]])");
      }
    } else if (p.IsMap() && p.size() == 1) {
      const std::string kind = p.KeyOf(p.yaml().begin()->first);
      Node v = p.Child(kind);
      if (kind == "uniform" || kind == "reverse_pyramid") {
        spec.kind = kind == "uniform" ? space::PathSpec::Kind::kUniform
                                      : space::PathSpec::Kind::kReversePyramid;
        spec.rates = v.IsScalar() ? std::vector<int>{v.Int()} : v.IntList();
        if (spec.rates.empty()) v.Fail("expected at least one rate");
        for (int r : spec.rates) {
          if (r < 1) v.Fail("rates must be >= 1");
        }
      } else if (kind == "per_layer") {
        spec.kind = space::PathSpec::Kind::kPerLayer;
        if (!v.IsSeq() || v.size() == 0) v.Fail("expected a list of per-layer rate vectors");
        for (size_t j = 0; j < v.size(); ++j) spec.vectors.push_back(ParseVector(v.Item(j)));
      } else {
        p.Fail("unknown path '" + kind + "' (expected uniform, reverse_pyramid or per_layer)");
      }
    } else {
      p.Fail("expected regular, depthwise, or a one-key mapping such as uniform: [2, 4]");
    }
    c.paths.push_back(std::move(spec));
  }
}

void ParseData(const Node& n, Config& c) {
  n.ExpectMap({"dataset", "path", "validation", "train_subset", "test_subset", "normalize",
               "synthetic_train", "synthetic_test"});
  evaluators::DataOptions& d = c.data;
  n.GetChoice("dataset", d.dataset, {"cifar10", "fashion_mnist", "mnist", "idx", "synthetic"});
  n.Get("path", d.path);
  n.Get("validation", d.validation, 0, 10000000);
  n.Get("train_subset", d.train_subset, 0, 10000000);
  n.Get("test_subset", d.test_subset, 0, 10000000);
  n.Get("normalize", d.normalize);
  n.Get("synthetic_train", d.synthetic_train, 2, 10000000);
  n.Get("synthetic_test", d.synthetic_test, 1, 10000000);
  if ((d.dataset == "mnist" || d.dataset == "idx") && d.path.empty() && n.Has("dataset")) {
    n.Child("dataset").Fail("needs data.path (the directory of the IDX files)");
  }
  if (d.dataset == "cifar10" && d.path.empty() && n.Has("dataset")) {
    n.Child("dataset").Fail(
        "needs data.path (the directory of data_batch_1.bin ... test_batch.bin, the CIFAR-10 "
        "binary version)");
  }
}

void ParseTraining(const Node& n, Config& c) {
  n.ExpectMap({"epochs", "batch_size", "lr", "momentum", "weight_decay", "milestones", "gamma",
               "init", "augment"});
  evaluators::TrainOptions& t = c.training;
  n.Get("epochs", t.epochs, 1, 100000);
  n.Get("batch_size", t.batch_size, 1, 1 << 20);
  n.Get("lr", t.lr, 0.0, 100.0);
  if (t.lr <= 0 && n.Has("lr")) n.Child("lr").Fail("must be > 0");
  n.Get("momentum", t.momentum, 0.0, 0.999999);
  n.Get("weight_decay", t.weight_decay, 0.0, 1.0);
  n.Get("gamma", t.gamma, 1e-9, 1.0);
  if (n.Has("milestones")) {
    Node m = n.Child("milestones");
    t.milestones = m.NumberList();
    for (size_t i = 0; i < t.milestones.size(); ++i) {
      if (t.milestones[i] <= 0) m.Fail("milestones must be > 0");
      if (i && t.milestones[i] <= t.milestones[i - 1]) m.Fail("milestones must increase");
    }
  }
  if (n.Has("init")) {
    Node init = n.Child("init");
    static const std::set<std::string> kInits = {
        "glorot_uniform", "glorot_normal", "he_uniform",        "he_normal",
        "rand_uniform",   "rand_normal",   "mod_glorot_uniform"};
    auto check_name = [&](const Node& where) {
      if (!kInits.count(t.init.name)) {
        std::string list;
        for (const auto& k : kInits) list += (list.empty() ? "" : ", ") + k;
        where.Fail("unknown initializer (expected one of " + list + ")");
      }
    };
    if (init.IsScalar()) {
      t.init.name = init.String();
      check_name(init);
    } else {
      init.ExpectMap({"name", "scale"});
      if (!init.Has("name")) init.Fail("needs a 'name'");
      t.init.name = init.Child("name").String();
      check_name(init.Child("name"));
      init.Get("scale", t.init.scale, 0.0, 1e6);
    }
    const bool needs_scale = t.init.name == "rand_uniform" || t.init.name == "rand_normal" ||
                             t.init.name == "mod_glorot_uniform";
    if (needs_scale && t.init.scale <= 0) {
      init.Fail(t.init.name + " needs a scale > 0 (init: {name: " + t.init.name +
                ", scale: ...}; a for rand_uniform, sigma for rand_normal, C for "
                "mod_glorot_uniform)");
    }
  }
  if (n.Has("augment")) {
    Node a = n.Child("augment");
    evaluators::AugmentOptions& au = t.augment;
    if (a.IsScalar()) {
      au.enabled = a.Bool();
    } else {
      a.ExpectMap({"enabled", "shift", "zoom", "hflip", "vflip", "rotation"});
      a.Get("enabled", au.enabled);
      a.Get("shift", au.shift, 0.0, 0.5);
      a.Get("zoom", au.zoom, 0.0, 0.9);
      a.Get("hflip", au.hflip);
      a.Get("vflip", au.vflip);
      a.Get("rotation", au.rotation, 0.0, 180.0);
    }
  }
}

void ParseQuantization(const Node& n, Config& c) {
  n.ExpectMap({"preset", "calibration", "calibration_samples", "percentile", "record_methods",
               "mode", "eval_batch", "sqnr_samples", "fake_agreement"});
  evaluators::QuantOptions& q = c.quantization;
  std::string preset;
  n.GetChoice("preset", preset, {"paper"});
  if (preset == "paper") {  // FactorizeNet's setting; the keys below override it
    q.calibration = "percentile";
    q.percentile = 1.0;
    q.calibration_samples = 1024;
  }
  // The methods of evaluators/quant/calibration.h.
  const std::set<std::string> methods = {"minmax", "percentile", "mse", "entropy"};
  n.GetChoice("calibration", q.calibration, methods);
  n.Get("calibration_samples", q.calibration_samples, 1, 10000000);
  n.Get("percentile", q.percentile, 0.0, 49.0);
  if (n.Has("record_methods")) {
    const Node r = n.Child("record_methods");
    q.record_methods = r.IsScalar() ? std::vector<std::string>{r.String()} : r.StringList();
    for (size_t i = 0; i < q.record_methods.size(); ++i) {
      if (!methods.count(q.record_methods[i])) {
        (r.IsScalar() ? r : r.Item(i)).Fail("expected one of entropy, minmax, mse, percentile");
      }
    }
  }
  n.GetChoice("mode", q.mode, {"integer", "fake"});
  n.Get("eval_batch", q.eval_batch, 1, 1 << 20);
  n.Get("sqnr_samples", q.sqnr_samples, 0, 100000000);
  n.Get("fake_agreement", q.fake_agreement);
}

void ParseProgressive(const Node& n, search::ProgressiveOptions& p) {
  n.ExpectMap({"unit", "expand_epoch", "max_trials", "max_epochs", "per_step"});
  n.Get("per_step", p.per_step, 0, 1000000);
  n.GetChoice("unit", p.unit, {"layer", "stage"});
  n.Get("expand_epoch", p.expand_epoch, 0.0, 100000.0);
  if (n.Has("expand_epoch")) {
    Node e = n.Child("expand_epoch");
    if (p.expand_epoch <= 0) e.Fail("must be > 0 (an epoch >= 1, or a fraction of the budget)");
    if (p.expand_epoch > 1 && p.expand_epoch != std::floor(p.expand_epoch)) {
      e.Fail("an epoch (>= 1) must be an integer; a fraction of the budget is < 1");
    }
  }
  n.Get("max_trials", p.max_trials, 0, 1000000);
  if (n.Has("max_epochs")) {
    int e = 0;
    n.Get("max_epochs", e, 0, 1000000000);
    p.max_epochs = e;
  }
}

void ParseSearch(const Node& n, Config& c) {
  n.ExpectMap({"record_every", "record_epochs", "strategy", "progressive"});
  n.GetChoice("strategy", c.search.strategy, {"grid", "progressive"});
  if (n.Has("progressive")) {
    if (c.search.strategy != "progressive") {
      n.Child("progressive").Fail("needs search.strategy: progressive");
    }
    ParseProgressive(n.Child("progressive"), c.search.progressive);
  }
  n.Get("record_every", c.search.record_every, 0, 100000);
  if (n.Has("record_epochs")) {
    Node r = n.Child("record_epochs");
    c.search.record_epochs = r.IntList();
    for (int e : c.search.record_epochs) {
      if (e < 1) r.Fail("epochs count from 1");
    }
  }
}

void ParsePruning(const Node& n, search::PruningOptions& p) {
  n.ExpectMap({"pruner", "rungs", "eta", "min_peers", "margin", "max_rel_decrease",
               "qmse_worst_fraction", "evaluation", "calibration_samples"});
  n.GetChoice("pruner", p.pruner, {"none", "quant-aware", "moasha", "asha", "median"});
  if (n.Has("rungs")) {
    Node r = n.Child("rungs");
    p.rungs = r.NumberList();
    for (size_t i = 0; i < p.rungs.size(); ++i) {
      const double v = p.rungs[i];
      if (v <= 0) r.Fail("rungs must be > 0 (an epoch, or a fraction < 1 of the epochs)");
      if (v >= 1 && v != std::floor(v)) r.Fail("a rung >= 1 is an epoch and must be an integer");
      if (i && v <= p.rungs[i - 1]) r.Fail("rungs must increase");
    }
  }
  n.Get("eta", p.eta, 1.0, 1000.0);
  if (p.eta <= 1 && n.Has("eta")) n.Child("eta").Fail("must be > 1");
  n.Get("min_peers", p.min_peers, 0, 1000000);
  n.Get("margin", p.margin, 0.0, 1.0);
  n.Get("max_rel_decrease", p.max_rel_decrease, 0.0, 100.0);
  n.Get("qmse_worst_fraction", p.qmse_worst_fraction, 0.0, 1.0);
  n.GetChoice("evaluation", p.evaluation, {"integer", "fake"});
  n.Get("calibration_samples", p.calibration_samples, 1, 10000000);
}

// Whole-config checks of the pruning section: rungs before the last epoch.
void CheckPruning(const Node& n, const Config& c) {
  const search::PruningOptions& p = c.pruning;
  const int epochs = c.training.epochs;
  if (p.pruner != "none" && p.rungs.empty()) {
    n.Child("pruner").Fail("needs pruning.rungs (the epochs at which trials are judged)");
  }
  for (double r : p.rungs) {
    const long e = r < 1.0 ? std::max(1L, std::lround(r * epochs)) : std::lround(r);
    if (e >= epochs) {
      n.Child("rungs").Fail("rung " + Node::FormatNumber(r) + " is epoch " + std::to_string(e) +
                            ", not before the last epoch " + std::to_string(epochs) +
                            " (training.epochs)");
    }
  }
}

void ParseExecution(const Node& n, Config& c) {
  n.ExpectMap(
      {"device", "workers", "threads_per_worker", "deterministic", "tail_balance", "tail_share"});
  search::ExecutionOptions& e = c.execution;
  n.GetChoice("device", e.device, {"cpu", "cuda"}, [](const std::string& s) {
    if (s.rfind("cuda:", 0) != 0 || s.size() == 5) return false;
    return s.find_first_not_of("0123456789", 5) == std::string::npos;
  });
  n.Get("workers", e.workers, 0, 1024);
  n.Get("threads_per_worker", e.threads_per_worker, 0, 1024);
  n.Get("deterministic", e.deterministic);
  n.Get("tail_balance", e.tail_balance);
  n.Get("tail_share", e.tail_share);
  // Deterministic mode keeps every trial at one intra-op thread (its results
  // depend on the thread count): asking for both is a contradiction. Left
  // out, tail_balance simply does not apply in deterministic mode.
  if (e.deterministic && e.tail_balance && n.Has("tail_balance")) {
    n.Child("tail_balance")
        .Fail(
            "not with execution.deterministic: true, which keeps one intra-op thread per trial "
            "(bit-identical results depend on it); drop one of the two");
  }
  // Two answers to the same tail: tail_balance gives the running trials more
  // threads, tail_share starts the last trials beside them. Left out,
  // tail_share gives way to an explicit tail_balance: true.
  if (e.tail_balance && e.tail_share && n.Has("tail_share")) {
    n.Child("tail_share")
        .Fail(
            "not with execution.tail_balance: true (both handle the study's last trials: "
            "tail_share starts them beside the running ones, tail_balance gives the running "
            "ones the idle cores' threads); drop one of the two");
  }
  if (e.tail_balance) e.tail_share = false;
}

void ParseStorage(const Node& n, Config& c) {
  n.ExpectMap({"db", "checkpoints"});
  n.Get("db", c.storage.db);
  n.Get("checkpoints", c.storage.checkpoints);
}

// The document's top-level mapping; ConfigError naming file:line otherwise.
YAML::Node LoadMapping(const std::string& yaml_text, const std::string& source,
                       const char* expected) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + (e.mark.line >= 0 ? ":" + std::to_string(e.mark.line + 1) : "") +
                      ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw ConfigError(source + ": expected " + expected);
  return root;
}

}  // namespace

Config ParseConfig(const std::string& yaml_text, const std::string& source) {
  Config c;
  c.source = source;
  c.yaml_text = yaml_text;
  const YAML::Node root = LoadMapping(yaml_text, source, "a YAML mapping at the top level");
  Node top(root, "", &c.source);
  top.ExpectMap({"name", "seed", "model", "space", "data", "training", "quantization", "search",
                 "execution", "storage", "pruning"});
  if (!top.Has("name")) throw ConfigError(source + ": missing key 'name' (the study's name)");
  {
    Node name = top.Child("name");
    c.name = name.String();
    if (c.name.empty() || c.name.find_first_of("/\\ \t") != std::string::npos) {
      name.Fail("a study name must be non-empty, without spaces or slashes");
    }
  }
  if (top.Has("seed")) {
    Node s = top.Child("seed");
    const double v = s.Number();
    if (v < 0 || v != std::floor(v) || v > 9.0e15) s.Fail("expected an integer >= 0");
    c.seed = static_cast<uint64_t>(v);
  }
  if (top.Has("data")) ParseData(top.Child("data"), c);
  bool input_given = false;
  if (top.Has("model")) ParseModel(top.Child("model"), c, input_given);
  if (!input_given) {
    // The input shape follows the dataset unless model.input says otherwise.
    if (c.data.dataset == "fashion_mnist" || c.data.dataset == "mnist" || c.data.dataset == "idx") {
      c.model.in_channels = 1;
      c.model.in_height = c.model.in_width = 28;
    }
  }
  if (top.Has("search")) ParseSearch(top.Child("search"), c);
  const bool progressive = c.search.strategy == "progressive";
  if (top.Has("space")) {
    ParseSpace(top.Child("space"), c);
  } else if (progressive) {
    c.paths.push_back(space::PathSpec{});  // the progressive search's default seed: regular
  } else {
    throw ConfigError(source + ": missing key 'space' (space.paths)");
  }
  if (top.Has("training")) ParseTraining(top.Child("training"), c);
  if (top.Has("quantization")) ParseQuantization(top.Child("quantization"), c);
  if (top.Has("execution")) ParseExecution(top.Child("execution"), c);
  if (top.Has("storage")) ParseStorage(top.Child("storage"), c);
  if (top.Has("pruning")) {
    ParsePruning(top.Child("pruning"), c.pruning);
    CheckPruning(top.Child("pruning"), c);
  }

  if (progressive) {
    const search::ProgressiveOptions& p = c.search.progressive;
    Node search = top.Child("search");
    if (p.expand_epoch >= 1 && p.expand_epoch > c.training.epochs) {
      search.Child("progressive")
          .Child("expand_epoch")
          .Fail("beyond training.epochs (" + std::to_string(c.training.epochs) + ")");
    }
    if (c.data.validation == 0) {
      search.Child("strategy")
          .Fail(
              "needs a validation split (data.validation > 0): the progressive search expands the "
              "front of validation results, never test results");
    }
    if (p.max_epochs > 0 && p.max_epochs < c.training.epochs) {
      search.Child("progressive")
          .Child("max_epochs")
          .Fail("is less than one trial's budget (training.epochs = " +
                std::to_string(c.training.epochs) + ")");
    }
  }
  // Whole-config checks: the macro and every candidate of the paths.
  try {
    (void)c.candidates();
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    // Errors from the macro itself carry no location: point at the model section.
    if (msg.rfind("model:", 0) == 0) {
      Node where = top.Has("model") ? top.Child("model") : top;
      throw ConfigError(where.Where() + ": " + msg);
    }
    throw;
  }
  return c;
}

search::PruningOptions ParsePruningOptions(const std::string& yaml_text,
                                           const std::string& source) {
  const YAML::Node root = LoadMapping(yaml_text, source, "a YAML mapping (the pruning options)");
  search::PruningOptions p;
  if (root["pruning"]) {
    Node top(root, "", &source);
    ParsePruning(top.Child("pruning"), p);
  } else {
    ParsePruning(Node(root, "pruning", &source), p);
  }
  return p;
}

Config LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

std::vector<space::Candidate> Config::candidates() const {
  return space::ExpandPaths(macro(), paths);
}

std::string Config::db_path() const {
  return storage.db.empty() ? "runs/" + name + ".db" : storage.db;
}

std::string Config::checkpoint_dir() const {
  if (!storage.checkpoints.empty()) return storage.checkpoints;
  std::string db = db_path();
  if (db.size() > 3 && db.compare(db.size() - 3, 3, ".db") == 0) db.resize(db.size() - 3);
  return db + ".ckpt";
}

}  // namespace fnas
