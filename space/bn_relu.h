// Training-mode BatchNorm2d, optionally fused with the ReLU that follows it,
// for channels-last (NHWC) float CPU tensors: one pass for the batch
// statistics and one writing max(0, x * scale + shift), instead of LibTorch's
// separate batch_norm and relu (more passes over memory, more tensors). The
// backward keeps only the input: it recomputes where the ReLU passed the
// gradient from x and the forward's own constants (the same float
// expression, so the same decisions), one stream fewer to read in each of
// its two passes than reading the output back.
//
// It reads and updates the BatchNorm2d module's own parameters and buffers
// (weight, bias, running_mean, running_var, num_batches_tracked) exactly as
// the module's training forward does, so checkpoints, BN folding and export
// see no difference. Gradients flow to the input, weight and bias; the
// backward is not itself differentiable (no double backward).
//
// Determinism: the per-channel sums are accumulated in double over
// fixed-size row chunks reduced in a fixed order, so the results are
// bit-identical whatever at::get_num_threads() is. The AVX-512 and the
// portable kernels agree to within float rounding (they differ only in
// fused multiply-adds).
//
// Like the module it works on, not thread-safe for one module; calls on
// different modules may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

namespace torch::nn {
class BatchNorm2dImpl;
}  // namespace torch::nn

namespace fnas::space {

// Which kernels run the passes: kAuto takes AVX-512 when the CPU has it.
// Choosing kAvx512 on a CPU without it throws.
enum class BnReluKernel { kAuto, kPortable, kAvx512 };

// Whether this CPU runs the AVX-512 kernels.
bool BnReluAvx512Supported();

// Whether BatchNormReluTrain takes x with bn: bn in training mode, affine and
// tracking running statistics; x a non-empty 4-d float CPU tensor,
// contiguous in channels-last memory format, with bn's channel count.
bool FusedBnReluApplies(const torch::nn::BatchNorm2dImpl& bn, const at::Tensor& x);

// relu(bn(x)) (or bn(x) when relu is false) in training mode: normalizes by
// the batch mean and biased variance, updates bn's running mean and
// (unbiased) running variance with its momentum and counts the batch in
// num_batches_tracked, as bn->forward(x) does. Requires
// FusedBnReluApplies(bn, x); the output is channels-last. Throws, as LibTorch
// does, when a channel has a single value (N * H * W == 1).
at::Tensor BatchNormReluTrain(torch::nn::BatchNorm2dImpl& bn, const at::Tensor& x, bool relu,
                              BnReluKernel kernel = BnReluKernel::kAuto);

}  // namespace fnas::space
