// The integer model on disk (docs/integer-model.md): DIR/manifest.json (the
// layers in order with shapes, quantization parameters and requantization
// multipliers) and little-endian binary files of uint8 weights and int32
// biases, enough for another program to run the integer inference alone.
// Free functions; thread-safe for distinct directories.
#pragma once

#include <string>
#include <vector>

#include "evaluators/quant/quant_net.h"

namespace fnas::evaluators {

// What the manifest says besides the network itself.
struct ExportInfo {
  std::string candidate;  // name, e.g. "uniform-f4"
  std::string key;        // factorization key
  std::string dataset;    // dataset name
  // Preprocessing of raw pixels p (uint8): x = (p / 255 - mean[c]) / std[c]
  // in float32; empty = x = p / 255.
  std::vector<float> mean, std;
};

// Writes manifest.json and the binary files into `dir` (created if needed).
// Throws RuntimeError naming the path on I/O failure.
void ExportIntegerNet(const IntegerNet& net, const ExportInfo& info, const std::string& dir);

// Reads an exported model back (DataError naming the file on a bad export).
IntegerNet ReadIntegerNet(const std::string& dir, ExportInfo* info = nullptr);

}  // namespace fnas::evaluators
