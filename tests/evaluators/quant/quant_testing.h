// Test helpers: a small FactorizeNet trained for a few SGD steps on a
// synthetic 4-class image set generated here (no dataset files needed).
#pragma once

#include <torch/torch.h>

#include "evaluators/train/dataset.h"
#include "space/model.h"

namespace fnas::evaluators::testing {

// 3 x 12 x 12 uint8 images; class k has a bright blob in quadrant k, plus noise.
inline Split SyntheticSplit(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Split s;
  s.labels = torch::randint(0, 4, {n}, torch::kInt64);
  torch::Tensor img = torch::rand({n, 3, 12, 12}) * 90;
  auto lab = s.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = lab[i];
    const int64_t y = (k / 2) * 6, x = (k % 2) * 6;
    img[i].slice(1, y + 1, y + 5).slice(2, x + 1, x + 5) += 120 + 40 * (k % 3);
  }
  s.images = img.clamp(0, 255).to(torch::kUInt8);
  return s;
}

// (x / 255 - 0.3) / 0.25 on each of the 3 channels.
inline const evaluators::Normalization Normalize{{0.3f, 0.3f, 0.3f}, {0.25f, 0.25f, 0.25f}};

inline space::Plan SmallPlan(const space::Factorization& f = {1, 2, 8, 4, 1, 16, 2, 32}) {
  space::MacroOptions m;
  m.in_channels = 3;
  m.in_height = m.in_width = 12;
  m.width = 0.125;  // depths 8, 16, 32
  m.dense = {32};
  m.classes = 4;
  return space::BuildPlan(space::Macro(m), f);
}

// A net trained for `steps` SGD steps of batch 32 on `train`.
inline space::FactorizeNet TrainedNet(const Split& train, int steps, uint64_t seed,
                                      const space::Plan& plan = SmallPlan()) {
  torch::manual_seed(seed);
  space::FactorizeNet net(plan);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  net->train();
  const int64_t n = train.size();
  for (int s = 0; s < steps; ++s) {
    const int64_t b = (s * 32) % (n - 32);
    const torch::Tensor x = Normalize(train.images.slice(0, b, b + 32));
    const torch::Tensor y = train.labels.slice(0, b, b + 32);
    opt.zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(net->forward(x), y);
    loss.backward();
    opt.step();
  }
  net->eval();
  return net;
}

}  // namespace fnas::evaluators::testing
