#include "space/dense.h"

#include <torch/torch.h>

#ifdef FNAS_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

namespace fnas::space {

namespace {

bool GemmApplies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto cpu_float = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && !t.is_mkldnn();
  };
  return DenseGemmAvailable() && cpu_float(x) && cpu_float(weight) &&
         (!bias.defined() || cpu_float(bias));
}

// Row-major C[m, n] = A[m, k] B[k, n] (+ C when accumulate), A and B given
// transposed when ta / tb ('T'), through oneDNN's sgemm.
void Gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc) {
#ifdef FNAS_HAVE_DNNL
  const dnnl_status_t status =
      dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc);
  TORCH_CHECK(status == dnnl_success, "Dense: oneDNN's sgemm failed with status ",
              static_cast<int>(status));
#else
  (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
  (void)accumulate, (void)c, (void)ldc;
  TORCH_CHECK(false, "Dense: this build has no oneDNN sgemm");
#endif
}

// y = x W^T + b for contiguous x [N, K], W [M, K], b [M] (or undefined).
at::Tensor GemmForward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const int64_t n = x.size(0), k = x.size(1), m = w.size(0);
  // A fresh output (for n == 1, expand().contiguous() would be the bias itself, which the GEMM
  // then accumulates into).
  at::Tensor y = torch::empty({n, m}, x.options());
  if (b.defined()) y.copy_(b.expand({n, m}));
  if (n > 0 && m > 0) {
    Gemm('N', 'T', n, m, k, x.data_ptr<float>(), k, w.data_ptr<float>(), k, b.defined(),
         y.data_ptr<float>(), m);
  }
  return y;
}

// The bias is passed as [0] when there is none (LibTorch 1.13's custom
// functions take no undefined tensor).
class DenseFunction : public torch::autograd::Function<DenseFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    ctx->save_for_backward({x, weight});
    if (bias.numel() > 0) ctx->saved_data["bias"] = true;
    return GemmForward(x, weight, bias.numel() > 0 ? bias : torch::Tensor());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t n = x.size(0), k = x.size(1), m = w.size(0);
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) {  // dx [N, K] = dy [N, M] W [M, K]
      dx = m > 0 ? torch::empty({n, k}, x.options()) : torch::zeros({n, k}, x.options());
      if (m > 0) {
        Gemm('N', 'N', n, k, m, dy.data_ptr<float>(), m, w.data_ptr<float>(), k, false,
             dx.data_ptr<float>(), k);
      }
    }
    if (ctx->needs_input_grad(1)) {  // dW [M, K] = dy^T [M, N] x [N, K]
      dw = n > 0 ? torch::empty({m, k}, w.options()) : torch::zeros({m, k}, w.options());
      if (n > 0) {
        Gemm('T', 'N', m, k, n, dy.data_ptr<float>(), m, x.data_ptr<float>(), k, false,
             dw.data_ptr<float>(), k);
      }
    }
    const bool bias = ctx->saved_data.count("bias") > 0;
    if (bias && ctx->needs_input_grad(2)) db = dy.sum(0);
    return {dx, dw, db};
  }
};

// The 1x1 convolution over [N, in, 1, 1]: oneDNN's convolution (any device).
at::Tensor ConvDense(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t n = x.size(0), in = weight.size(1), out = weight.size(0);
  return torch::conv2d(x.reshape({n, in, 1, 1}), weight.view({out, in, 1, 1}), bias).view({n, out});
}

}  // namespace

bool DenseGemmAvailable() {
#ifdef FNAS_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

at::Tensor Dense(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                 DenseKernel kernel) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1) &&
                  (!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0))),
              "Dense: needs x [N, in], weight [out, in] and bias [out]; got ", x.sizes(), ", ",
              weight.sizes(), " and ", bias.defined() ? bias.sizes() : at::IntArrayRef{});
  const bool gemm = GemmApplies(x, weight, bias);
  TORCH_CHECK(kernel != DenseKernel::kGemm || gemm,
              "Dense: the GEMM needs float CPU tensors and a build with oneDNN's sgemm");
  if (kernel == DenseKernel::kConv || !gemm) return ConvDense(x, weight, bias);
  const at::Tensor xc = x.contiguous(), wc = weight.contiguous();
  const at::Tensor bc = bias.defined() ? bias.contiguous() : bias;
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() ||
                                                      (bias.defined() && bias.requires_grad()));
  if (!grad) return GemmForward(xc, wc, bc);
  return DenseFunction::apply(xc, wc, bc.defined() ? bc : torch::empty({0}, x.options()));
}

}  // namespace fnas::space
