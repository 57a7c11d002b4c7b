// Epoch checkpoints of a training run: the model's parameters and buffers, the
// optimizer's momentum buffers, the epoch, the RNG states of data order and
// augmentation, and the epoch records so far. Written atomically (temporary
// file, fsync, rename): a reader sees the previous checkpoint or the new one,
// never a torn file. The file is a torch pickle (`torch.load` reads it in
// Python: a dict of tensors and scalars). Free functions; thread-safe for
// distinct paths.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "evaluators/records.h"
#include "space/candidate.h"
#include "space/macro.h"
#include "space/model.h"

namespace fnas::evaluators {

// Everything of a training run's state except the model weights.
struct TrainingState {
  std::string candidate_key;  // "1.2.4.4.8.8.16.16": rebuilds the plan with the macro
  int epoch = 0;              // epochs done (counting from 1)
  std::vector<EpochRecord> records;
  // Momentum buffer of each parameter, by the model's parameter name.
  std::map<std::string, torch::Tensor> momentum;
  torch::Tensor order_rng;  // torch::Generator states (uint8 tensors)
  torch::Tensor augment_rng;
};

// Writes `model` (parameters and buffers, by name) and `state` to `path`
// atomically, creating its directory. Throws EnvironmentError naming the path
// when the file system fails (disk full, I/O error, read-only), RuntimeError
// when the model cannot be serialized.
void SaveCheckpoint(const std::string& path, const space::FactorizeNetImpl& model,
                    const TrainingState& state);

// Reads the checkpoint at `path` into `model` (every parameter and buffer
// must be there, with the same shape) and returns the rest. Throws DataError
// naming the path and what is wrong (not a checkpoint, another network).
TrainingState LoadCheckpoint(const std::string& path, space::FactorizeNetImpl& model);

// A trained model from a checkpoint, for evaluation (quantization, reports).
struct LoadedModel {
  space::Candidate candidate;
  int epoch = 0;
  std::vector<EpochRecord> records;
  space::FactorizeNet model{nullptr};  // weights loaded, in eval() mode
};
// Builds the candidate's network from `macro` and loads its weights. Throws
// DataError naming the path when the file is missing, not a checkpoint, or of
// another macro.
LoadedModel LoadModelCheckpoint(const std::string& path, const space::Macro& macro);

// The checkpoint file of `candidate` in `dir`: DIR/<candidate.name>.ckpt.
std::string CheckpointFile(const std::string& dir, const space::Candidate& candidate);

}  // namespace fnas::evaluators
