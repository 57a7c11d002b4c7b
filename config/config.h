// A study's configuration: the one place where YAML becomes plain option
// structs. Core code never sees a YAML node. A Config is a value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/options.h"
#include "search/options.h"
#include "space/candidate.h"
#include "space/macro.h"
#include "space/paths.h"

namespace fnas {

struct Config {
  std::string name = "study";
  uint64_t seed = 42;
  space::MacroOptions model;
  std::vector<space::PathSpec> paths;
  evaluators::DataOptions data;
  evaluators::TrainOptions training;
  evaluators::QuantOptions quantization;
  search::SearchOptions search;
  search::ExecutionOptions execution;
  search::StorageOptions storage;
  search::PruningOptions pruning;

  std::string source;     // the file it came from ("<string>" if parsed from text)
  std::string yaml_text;  // the exact text, kept so a study can be resumed from its store

  space::Macro macro() const { return space::Macro(model); }
  // Every candidate of the configured paths, each once.
  std::vector<space::Candidate> candidates() const;
  // storage.db, or runs/<name>.db.
  std::string db_path() const;
  // storage.checkpoints, or the db path with ".ckpt" in place of ".db".
  std::string checkpoint_dir() const;
};

// Parses and validates; throws ConfigError whose message names the key, the
// value and file:line.
Config ParseConfig(const std::string& yaml_text, const std::string& source = "<string>");
// The pruning options of a `pruning:` mapping given alone (replay --pruning):
// `yaml_text` is either a document with a top-level `pruning` key (a study
// config) or the mapping itself; errors name key, value and file:line.
// Rungs may be left out (replay then uses the study's recorded rungs).
search::PruningOptions ParsePruningOptions(const std::string& yaml_text,
                                           const std::string& source = "<string>");
// Reads the file (ConfigError if it cannot be read) and parses it.
Config LoadConfig(const std::string& path);

}  // namespace fnas
