// A fully connected layer, y = x W^T + b, for FactorizeNet and the folded
// float net. On float CPU tensors it runs oneDNN's sgemm (the library
// LibTorch's convolutions already run on): Debian's LibTorch links the
// reference BLAS for matrix products, and the other route, oneDNN's 1x1
// convolution over [N, in, 1, 1], reorders the weights every call and runs
// the backward at about a quarter of the GEMM's rate (README.md,
// Performance). Differentiable in x, W and b (no double backward). Elsewhere
// (CUDA, other dtypes, a build without oneDNN's header) it is the 1x1
// convolution.
//
// Determinism: with one intra-op thread the products are the same from run
// to run; with more, oneDNN may split the reductions by thread, as its
// convolutions do. Thread-safe: calls share no state.
#pragma once

#include <ATen/core/Tensor.h>

namespace fnas::space {

// Which route Dense takes: kAuto takes the GEMM where it applies.
enum class DenseKernel { kAuto, kGemm, kConv };

// Whether this build has oneDNN's sgemm.
bool DenseGemmAvailable();

// x [N, in], weight [out, in], bias [out] or undefined: x W^T + b as [N, out].
// kGemm on a CUDA tensor, another dtype or a build without the GEMM throws.
at::Tensor Dense(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                 DenseKernel kernel = DenseKernel::kAuto);

}  // namespace fnas::space
