#include "config/config.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace fnas {
namespace {

const char* kIssueExample = R"(name: factorizenet-cifar10
model:
  input: [3, 32, 32]
  width: 1.0
  classes: 10
space:
  paths:
    - regular
    - depthwise
    - uniform: [2, 4, 8, 16]
    - reverse_pyramid: [2, 4]
    - per_layer: [[1, 2, 4, 4, 8, 16, 32, 64]]
)";

std::string ErrorOf(const std::string& yaml) {
  try {
    ParseConfig(yaml, "study.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, IssueExampleParses) {
  Config c = ParseConfig(kIssueExample, "study.yaml");
  EXPECT_EQ(c.name, "factorizenet-cifar10");
  EXPECT_EQ(c.model.in_channels, 3);
  EXPECT_EQ(c.paths.size(), 5u);
  auto cands = c.candidates();
  ASSERT_EQ(cands.size(), 9u);  // regular, depthwise, 4 uniform, 2 rpyr, 1 per-layer
  EXPECT_EQ(cands[0].name, "regular");
  EXPECT_EQ(cands[6].name, "rpyr-finit2");
  EXPECT_EQ(cands[8].name, "layers-1.2.4.4.8.16.32.64");
  EXPECT_EQ(c.db_path(), "runs/factorizenet-cifar10.db");
  EXPECT_EQ(c.checkpoint_dir(), "runs/factorizenet-cifar10.ckpt");
  EXPECT_EQ(c.yaml_text, kIssueExample);
}

TEST(ConfigTest, DefaultsComeFromTheStructs) {
  Config c = ParseConfig("name: x\nspace: {paths: [regular]}\n");
  EXPECT_EQ(c.training.epochs, 200);
  EXPECT_EQ(c.training.batch_size, 128);
  EXPECT_DOUBLE_EQ(c.training.lr, 0.01);
  EXPECT_EQ(c.quantization.calibration_samples, 1024);
  EXPECT_EQ(c.data.dataset, "fashion_mnist");
  // The input follows the dataset when model.input is absent.
  EXPECT_EQ(c.model.in_channels, 1);
  EXPECT_EQ(c.model.in_height, 28);
}

TEST(ConfigTest, UnknownKeyNamesKeyAndLine) {
  const std::string e = ErrorOf("name: x\nmodel:\n  widht: 0.5\nspace: {paths: [regular]}\n");
  EXPECT_NE(e.find("study.yaml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("model.widht"), std::string::npos) << e;
  EXPECT_NE(e.find("width"), std::string::npos) << e;  // the known keys are listed
}

TEST(ConfigTest, WrongTypeNamesKeyValueAndLine) {
  const std::string e = ErrorOf("name: x\nspace: {paths: [regular]}\ntraining:\n  lr: fast\n");
  EXPECT_NE(e.find("study.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("training.lr"), std::string::npos) << e;
  EXPECT_NE(e.find("'fast'"), std::string::npos) << e;
  EXPECT_NE(e.find("number"), std::string::npos) << e;
}

TEST(ConfigTest, OutOfRangeNamesKeyValueAndLine) {
  const std::string e = ErrorOf("name: x\nspace: {paths: [regular]}\ntraining:\n\n  epochs: 0\n");
  EXPECT_NE(e.find("study.yaml:5"), std::string::npos) << e;
  EXPECT_NE(e.find("training.epochs = '0'"), std::string::npos) << e;
  EXPECT_NE(e.find("[1, 100000]"), std::string::npos) << e;
}

TEST(ConfigTest, BadFactorizationNamesPathLayerAndLine) {
  const std::string e = ErrorOf(
      "name: x\nmodel: {input: [3, 32, 32]}\nspace:\n  paths:\n    - regular\n"
      "    - uniform: [2, 3]\n");
  EXPECT_NE(e.find("study.yaml:6"), std::string::npos) << e;
  EXPECT_NE(e.find("uniform f=3"), std::string::npos) << e;
  EXPECT_NE(e.find("conv_64_1"), std::string::npos) << e;
  EXPECT_NE(e.find("in-depth 64"), std::string::npos) << e;
}

TEST(ConfigTest, PerLayerAcceptsListsAndDottedStrings) {
  Config c = ParseConfig(
      "name: x\nmodel: {input: [3, 32, 32]}\nspace:\n  paths:\n"
      "    - per_layer: [[1, 1, 1, 1, 1, 1, 1, 2], '2.2.2.2.2.2.2.2']\n");
  auto cands = c.candidates();
  ASSERT_EQ(cands.size(), 2u);
  EXPECT_EQ(cands[1].name, "uniform-f2");
  EXPECT_NE(ErrorOf("name: x\nspace:\n  paths:\n    - per_layer: [[1, 2]]\n").find("needs 8 rates"),
            std::string::npos);
}

TEST(ConfigTest, ProgressiveStrategyOptionsAndErrors) {
  const Config c = ParseConfig(
      "name: x\ntraining: {epochs: 10}\n"
      "search:\n  strategy: progressive\n  progressive: {unit: stage, expand_epoch: 0.3, "
      "max_trials: 9, max_epochs: 60}\n");
  EXPECT_EQ(c.search.strategy, "progressive");
  EXPECT_EQ(c.search.progressive.unit, "stage");
  EXPECT_DOUBLE_EQ(c.search.progressive.expand_epoch, 0.3);
  EXPECT_EQ(c.search.progressive.max_trials, 9);
  EXPECT_EQ(c.search.progressive.max_epochs, 60);
  // Without space.paths the seed is the regular net.
  ASSERT_EQ(c.candidates().size(), 1u);
  EXPECT_EQ(c.candidates()[0].name, "regular");

  const std::string unit =
      ErrorOf("name: x\nsearch:\n  strategy: progressive\n  progressive:\n    unit: layers\n");
  EXPECT_NE(unit.find("study.yaml:5: search.progressive.unit = 'layers': expected one of layer, "
                      "stage"),
            std::string::npos)
      << unit;
  const std::string late = ErrorOf(
      "name: x\ntraining: {epochs: 4}\nsearch:\n  strategy: progressive\n  progressive:\n"
      "    expand_epoch: 5\n");
  EXPECT_NE(late.find("study.yaml:6: search.progressive.expand_epoch = '5': beyond training.epochs "
                      "(4)"),
            std::string::npos)
      << late;
  const std::string grid =
      ErrorOf("name: x\nspace: {paths: [regular]}\nsearch:\n  progressive: {unit: stage}\n");
  EXPECT_NE(grid.find("search.progressive = {unit: stage}: needs search.strategy: progressive"),
            std::string::npos)
      << grid;
  const std::string validation =
      ErrorOf("name: x\ndata: {validation: 0}\nsearch:\n  strategy: progressive\n");
  EXPECT_NE(
      validation.find("study.yaml:4: search.strategy = 'progressive': needs a validation split"),
      std::string::npos)
      << validation;
  EXPECT_NE(
      ErrorOf("name: x\nsearch: {strategy: random}\n").find("expected one of grid, progressive"),
      std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nsearch: {strategy: progressive, progressive: {foo: 1}}\n")
                .find("unknown key 'search.progressive.foo'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nsearch: {strategy: progressive, progressive: {expand_epoch: 1.5}}\n")
                .find("must be an integer"),
            std::string::npos);
}

TEST(ConfigTest, OtherErrors) {
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [zigzag]}\n").find("unknown path"), std::string::npos);
  EXPECT_NE(ErrorOf("name: x\n").find("missing key 'space'"), std::string::npos);
  EXPECT_NE(ErrorOf("space: {paths: [regular]}\n").find("missing key 'name'"), std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [regular\n").find("not valid YAML"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [regular]}\nexecution: {device: gpu}\n")
                .find("execution.device"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [regular]}\ntraining: {init: {name: rand_uniform}}\n")
                .find("needs a scale"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [regular]}\ndata: {dataset: cifar10}\n")
                .find("needs data.path"),
            std::string::npos);
  // The macro's own checks point at the model section.
  const std::string tiny =
      ErrorOf("name: x\nmodel:\n  input: [1, 2, 2]\nspace: {paths: [regular]}\n");
  EXPECT_NE(tiny.find("study.yaml:3"), std::string::npos) << tiny;
  EXPECT_NE(tiny.find("too small"), std::string::npos) << tiny;
}

TEST(ConfigTest, MilestonesAreReadAsGivenAndMustIncrease) {
  // Resolving fractions against the budget is training logic
  // (tests/evaluators/train/trainer_test.cpp, MilestoneEpochs).
  Config c = ParseConfig(
      "name: x\nspace: {paths: [regular]}\ntraining: {milestones: [0.375, 0.6, 0.85]}\n");
  EXPECT_EQ(c.training.milestones, (std::vector<double>{0.375, 0.6, 0.85}));
  Config d = ParseConfig("name: x\nspace: {paths: [regular]}\n");
  EXPECT_EQ(d.training.milestones, (std::vector<double>{75, 120, 170}));
  EXPECT_NE(ErrorOf("name: x\nspace: {paths: [regular]}\ntraining: {milestones: [5, 3]}\n")
                .find("must increase"),
            std::string::npos);
}

TEST(ConfigTest, ShippedConfigsLoad) {
  for (const char* name : {"factorizenet-cifar10.yaml", "quickstart.yaml"}) {
    Config c = LoadConfig(std::string(FNAS_SOURCE_DIR) + "/configs/" + name);
    EXPECT_GE(c.candidates().size(), 4u) << name;
  }
  EXPECT_THROW(LoadConfig("/nonexistent/x.yaml"), ConfigError);
}

TEST(ConfigTest, QuantizationSection) {
  const Config c = ParseConfig(
      "name: x\nspace: {paths: [regular]}\nquantization:\n  calibration_samples: 64\n"
      "  percentile: 0.5\n  mode: fake\n  eval_batch: 32\n");
  EXPECT_EQ(c.quantization.calibration_samples, 64);
  EXPECT_DOUBLE_EQ(c.quantization.percentile, 0.5);
  EXPECT_EQ(c.quantization.mode, "fake");
  EXPECT_EQ(c.quantization.eval_batch, 32);
  std::string e = ErrorOf("name: x\nspace: {paths: [regular]}\nquantization: {mode: float}\n");
  EXPECT_NE(e.find("quantization.mode"), std::string::npos) << e;
  EXPECT_NE(e.find("float"), std::string::npos) << e;
  e = ErrorOf("name: x\nspace: {paths: [regular]}\nquantization:\n  percentile: 60\n");
  EXPECT_NE(e.find("study.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("quantization.percentile"), std::string::npos) << e;
}

TEST(ConfigTest, CalibrationMethodsAndThePaperPreset) {
  const std::string head = "name: x\nspace: {paths: [regular]}\n";
  Config c = ParseConfig(head + "quantization: {calibration_samples: 64}\n");
  EXPECT_EQ(c.quantization.calibration, "minmax");  // the default
  EXPECT_TRUE(c.quantization.record_methods.empty());
  EXPECT_EQ(c.quantization.sqnr_samples, 256);
  EXPECT_FALSE(c.quantization.fake_agreement);
  c = ParseConfig(head +
                  "quantization:\n  calibration: entropy\n  record_methods: [minmax, mse]\n"
                  "  sqnr_samples: 0\n  fake_agreement: true\n");
  EXPECT_EQ(c.quantization.calibration, "entropy");
  EXPECT_EQ(c.quantization.record_methods, (std::vector<std::string>{"minmax", "mse"}));
  EXPECT_EQ(c.quantization.sqnr_samples, 0);
  EXPECT_TRUE(c.quantization.fake_agreement);
  // The paper's setting, and a key beside it overriding it.
  c = ParseConfig(head + "quantization: {preset: paper, calibration_samples: 10}\n");
  EXPECT_EQ(c.quantization.calibration, "percentile");
  EXPECT_DOUBLE_EQ(c.quantization.percentile, 1.0);
  EXPECT_EQ(c.quantization.calibration_samples, 10);
  c = ParseConfig(head + "quantization: {preset: paper}\n");
  EXPECT_EQ(c.quantization.calibration_samples, 1024);
  std::string e = ErrorOf(head + "quantization:\n  record_methods: [minmax, kl]\n");
  EXPECT_NE(e.find("quantization.record_methods[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("kl"), std::string::npos) << e;
  EXPECT_NE(e.find("study.yaml:4"), std::string::npos) << e;
  e = ErrorOf(head + "quantization: {calibration: histogram}\n");
  EXPECT_NE(e.find("quantization.calibration"), std::string::npos) << e;
  EXPECT_NE(e.find("mse"), std::string::npos) << e;  // the choices are listed
  e = ErrorOf(head + "quantization: {preset: tflite}\n");
  EXPECT_NE(e.find("quantization.preset"), std::string::npos) << e;
}

}  // namespace
}  // namespace fnas

namespace fnas {
namespace {

TEST(ConfigPruningTest, ParsesEveryKey) {
  const Config c = ParseConfig(
      "name: x\nspace: {paths: [regular]}\ntraining: {epochs: 8}\n"
      "pruning:\n  pruner: quant-aware\n  rungs: [0.25, 4]\n  eta: 2.5\n  min_peers: 5\n"
      "  margin: 0.01\n  max_rel_decrease: 7.5\n  qmse_worst_fraction: 0.2\n"
      "  evaluation: fake\n  calibration_samples: 128\n",
      "study.yaml");
  const search::PruningOptions& p = c.pruning;
  EXPECT_EQ(p.pruner, "quant-aware");
  EXPECT_EQ(p.rungs, (std::vector<double>{0.25, 4}));
  EXPECT_DOUBLE_EQ(p.eta, 2.5);
  EXPECT_EQ(p.min_peers, 5);
  EXPECT_DOUBLE_EQ(p.margin, 0.01);
  EXPECT_DOUBLE_EQ(p.max_rel_decrease, 7.5);
  EXPECT_DOUBLE_EQ(p.qmse_worst_fraction, 0.2);
  EXPECT_EQ(p.evaluation, "fake");
  EXPECT_EQ(p.calibration_samples, 128);
  // Defaults from the struct.
  const Config d = ParseConfig("name: x\nspace: {paths: [regular]}\n", "study.yaml");
  EXPECT_EQ(d.pruning.pruner, "none");
  EXPECT_TRUE(d.pruning.rungs.empty());
}

TEST(ConfigPruningTest, ErrorsNameKeyValueAndLine) {
  const std::string head = "name: x\nspace: {paths: [regular]}\ntraining: {epochs: 4}\npruning:\n";
  EXPECT_NE(ErrorOf(head + "  pruner: hyperband\n")
                .find("study.yaml:5: pruning.pruner = 'hyperband': expected one of asha"),
            std::string::npos);
  EXPECT_NE(ErrorOf(head + "  pruner: asha\n").find("needs pruning.rungs"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "  rungs: [2, 1]\n").find("rungs must increase"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "  rungs: [1.5]\n").find("must be an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "  rungs: [4]\n")
                .find("pruning.rungs = [4]: rung 4 is epoch 4, not before the last epoch 4"),
            std::string::npos);
  EXPECT_NE(ErrorOf(head + "  eta: 1\n").find("pruning.eta = '1': must be > 1"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "  evaluation: float\n").find("pruning.evaluation"), std::string::npos);
  EXPECT_NE(ErrorOf(head + "  qmse_worst_fraction: 2\n").find("must be in [0, 1]"),
            std::string::npos);
  EXPECT_NE(ErrorOf(head + "  rung: [1]\n").find("unknown key 'pruning.rung'"), std::string::npos);
}

TEST(ConfigPruningTest, ReplayMappingAloneOrInAStudyConfig) {
  const search::PruningOptions a = ParsePruningOptions("{pruner: asha, eta: 2}", "--pruning");
  EXPECT_EQ(a.pruner, "asha");
  EXPECT_DOUBLE_EQ(a.eta, 2);
  EXPECT_TRUE(a.rungs.empty());
  const search::PruningOptions b =
      ParsePruningOptions("name: x\npruning: {pruner: median, rungs: [2]}\n", "f.yaml");
  EXPECT_EQ(b.pruner, "median");
  EXPECT_EQ(b.rungs, (std::vector<double>{2}));
  try {
    ParsePruningOptions("pruner: asha\netaa: 2\n", "p.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("p.yaml:2: unknown key 'pruning.etaa'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace fnas

namespace fnas {
namespace {

TEST(ConfigTest, TailBalanceIsOffByDefaultAndRefusedInDeterministicMode) {
  const std::string base = "name: x\nspace: {paths: [regular]}\n";
  EXPECT_FALSE(ParseConfig(base).execution.tail_balance);
  EXPECT_FALSE(ParseConfig(base + "execution: {tail_balance: false}\n").execution.tail_balance);
  EXPECT_TRUE(
      ParseConfig(base + "execution: {workers: 2, tail_balance: true}\n").execution.tail_balance);
  // Deterministic mode alone: no error; the driver does not balance it.
  const Config det = ParseConfig(base + "execution: {deterministic: true}\n");
  EXPECT_TRUE(det.execution.deterministic);
  EXPECT_NO_THROW(ParseConfig(base + "execution: {deterministic: true, tail_balance: false}\n"));

  const std::string type = ErrorOf(base + "execution:\n  tail_balance: sometimes\n");
  EXPECT_NE(type.find("study.yaml:4: execution.tail_balance = 'sometimes': expected true or false"),
            std::string::npos)
      << type;
  // Asking for both is a contradiction, named at the key.
  const std::string both =
      ErrorOf(base + "execution:\n  deterministic: true\n  tail_balance: true\n");
  EXPECT_NE(both.find("study.yaml:5: execution.tail_balance = 'true': not with "
                      "execution.deterministic: true"),
            std::string::npos)
      << both;
  const std::string unknown = ErrorOf(base + "execution: {tail_balanse: true}\n");
  EXPECT_NE(unknown.find("tail_balance"), std::string::npos) << unknown;  // listed as known
}

// Found by fuzz/config_fuzzer.cpp (scripts/fuzz.sh config): a YAML complex key
// ("? key" that is itself a list or mapping) escaped as yaml-cpp's "bad
// conversion" instead of a ConfigError naming the place.
TEST(ConfigTest, ComplexKeysAreRefusedAtTheirLine) {
  const std::string top = ErrorOf("name: x\nspace: {paths: [regular]}\n? [a, b]\n: 1\n");
  EXPECT_NE(top.find("study.yaml:3"), std::string::npos) << top;
  EXPECT_NE(top.find("a key must be a name, not [a, b]"), std::string::npos) << top;
  const std::string nested =
      ErrorOf("name: x\nspace: {paths: [regular]}\ntraining:\n  lr: 0.1\n  ? {zoom: 1}\n  : 2\n");
  EXPECT_NE(nested.find("study.yaml:5"), std::string::npos) << nested;
  EXPECT_NE(nested.find("training: a key must be a name"), std::string::npos) << nested;
  const std::string path = ErrorOf("name: x\nspace:\n  paths:\n    - {? [u]: [2]}\n");
  EXPECT_NE(path.find("a key must be a name"), std::string::npos) << path;
}

}  // namespace
}  // namespace fnas
