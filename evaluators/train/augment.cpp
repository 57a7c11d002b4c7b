#include "evaluators/train/augment.h"

#include <cmath>

namespace fnas::evaluators {

torch::Tensor AffineTheta(const torch::Tensor& tx, const torch::Tensor& ty,
                          const torch::Tensor& zoom, const torch::Tensor& angle,
                          const torch::Tensor& flip_x, const torch::Tensor& flip_y, int64_t height,
                          int64_t width) {
  // Rotation in pixel space, expressed in normalized coordinates:
  // D^-1 R D with D = diag(W / 2, H / 2).
  const double hw = static_cast<double>(height) / width, wh = static_cast<double>(width) / height;
  torch::Tensor c = torch::cos(angle) * zoom, s = torch::sin(angle) * zoom;
  torch::Tensor row0 = torch::stack({c * flip_x, -s * hw * flip_y, 2 * tx}, 1);
  torch::Tensor row1 = torch::stack({s * wh * flip_x, c * flip_y, 2 * ty}, 1);
  return torch::stack({row0, row1}, 1).to(torch::kFloat32);
}

torch::Tensor Augment(const torch::Tensor& images, const AugmentOptions& o, at::Generator& gen) {
  if (!o.enabled) return images;
  const int64_t n = images.size(0);
  // Per image: tx, ty, zoom, angle, hflip, vflip (always drawn, so the stream
  // does not depend on which transforms are on).
  torch::Tensor u = torch::rand({n, 6}, gen, torch::kFloat64);
  auto sym = [&](int col, double mag) { return (u.select(1, col) * 2 - 1) * mag; };
  auto flip = [&](int col, bool on) {
    return on ? torch::where(u.select(1, col) < 0.5, -1.0, 1.0).to(torch::kFloat64)
              : torch::ones({n}, torch::kFloat64);
  };
  const bool affine = o.shift > 0 || o.zoom > 0 || o.rotation > 0;
  if (!affine) {
    torch::Tensor out = images;
    if (o.hflip) {
      torch::Tensor m = (u.select(1, 4) < 0.5).view({n, 1, 1, 1});
      out = torch::where(m, out.flip({3}), out);
    }
    if (o.vflip) {
      torch::Tensor m = (u.select(1, 5) < 0.5).view({n, 1, 1, 1});
      out = torch::where(m, out.flip({2}), out);
    }
    return out;
  }
  torch::Tensor theta = AffineTheta(sym(0, o.shift), sym(1, o.shift), 1 + sym(2, o.zoom),
                                    sym(3, o.rotation * M_PI / 180.0), flip(4, o.hflip),
                                    flip(5, o.vflip), images.size(2), images.size(3));
  torch::Tensor grid = torch::nn::functional::affine_grid(theta.to(images.dtype()), images.sizes(),
                                                          /*align_corners=*/false);
  return torch::nn::functional::grid_sample(images, grid,
                                            torch::nn::functional::GridSampleFuncOptions()
                                                .mode(torch::kBilinear)
                                                .padding_mode(torch::kBorder)
                                                .align_corners(false));
}

}  // namespace fnas::evaluators
