// kernel_config(): the variant of every kernel for one ISA level, chosen once
// from kernel_list.h (the XNNPACK src/configs/ scheme: a struct of kernel
// pointers filled once from the CPU's features, read by every later call).
#include "kernels/kernels.h"

namespace slim::kernels {
namespace {

void offer(KernelConfig& c, const F32GemmKernel& k) { c.f32_gemm = &k; }
void offer(KernelConfig& c, const F32DwconvKernel& k) { c.f32_dwconv = &k; }
void offer(KernelConfig& c, const F32MaxPoolKernel& k) { c.f32_maxpool = &k; }
void offer(KernelConfig& c, const F32AvgPoolKernel& k) { c.f32_avgpool = &k; }
void offer(KernelConfig& c, const F32GlobalAvgPoolKernel& k) { c.f32_gavgpool = &k; }
void offer(KernelConfig& c, const F32GlobalMaxPoolKernel& k) { c.f32_gmaxpool = &k; }
void offer(KernelConfig& c, const F32VactKernel& k) { c.f32_vact = &k; }
void offer(KernelConfig& c, const F32VbinaryKernel& k) { c.f32_vbinary = &k; }
void offer(KernelConfig& c, const F32SoftmaxKernel& k) { c.f32_softmax = &k; }
void offer(KernelConfig& c, const F32LayerNormKernel& k) { c.f32_layernorm = &k; }
void offer(KernelConfig& c, const Q8GemmKernel& k) { c.q8_gemm = &k; }
void offer(KernelConfig& c, const Q8DwconvKernel& k) { c.q8_dwconv = &k; }
void offer(KernelConfig& c, const Q8MaxPoolKernel& k) { c.q8_maxpool = &k; }
void offer(KernelConfig& c, const Q8GlobalAvgPoolKernel& k) { c.q8_gavgpool = &k; }
void offer(KernelConfig& c, const Q8AddKernel& k) { c.q8_add = &k; }
void offer(KernelConfig& c, const Q8MulKernel& k) { c.q8_mul = &k; }
void offer(KernelConfig& c, const Q8QuantizeKernel& k) { c.q8_quantize = &k; }
void offer(KernelConfig& c, const Q8DequantizeKernel& k) { c.q8_dequantize = &k; }
void offer(KernelConfig& c, const Q8LookupKernel& k) { c.q8_lookup = &k; }

KernelConfig build(Isa level) {
  KernelConfig c{};
  c.isa = level;
  // List order is preference order, so the last variant allowed wins; the
  // scalar variants come first and are always allowed, so no slot stays empty.
#define SLIM_OFFER(family, name) \
  if (static_cast<int>(name.isa) <= static_cast<int>(level)) offer(c, name);
  SLIM_KERNELS(SLIM_OFFER)
#undef SLIM_OFFER
  return c;
}

}  // namespace

const char* family_name(Family family) {
  switch (family) {
    case Family::kF32Gemm: return "f32_gemm";
    case Family::kF32Dwconv: return "f32_dwconv";
    case Family::kF32MaxPool: return "f32_maxpool";
    case Family::kF32AvgPool: return "f32_avgpool";
    case Family::kF32GlobalAvgPool: return "f32_gavgpool";
    case Family::kF32GlobalMaxPool: return "f32_gmaxpool";
    case Family::kF32Vact: return "f32_vact";
    case Family::kF32Vbinary: return "f32_vbinary";
    case Family::kF32Softmax: return "f32_softmax";
    case Family::kF32LayerNorm: return "f32_layernorm";
    case Family::kQ8Gemm: return "q8_gemm";
    case Family::kQ8Dwconv: return "q8_dwconv";
    case Family::kQ8MaxPool: return "q8_maxpool";
    case Family::kQ8GlobalAvgPool: return "q8_gavgpool";
    case Family::kQ8Add: return "q8_add";
    case Family::kQ8Mul: return "q8_mul";
    case Family::kQ8Quantize: return "q8_quantize";
    case Family::kQ8Dequantize: return "q8_dequantize";
    case Family::kQ8Lookup: return "q8_lookup";
  }
  return "unknown";
}

const KernelConfig& kernel_config(Isa isa) {
  static const KernelConfig configs[] = {build(Isa::kScalar), build(Isa::kAvx2), build(Isa::kAvx512),
                                         build(Isa::kAvx512Vnni)};
  const int level = static_cast<int>(isa) < static_cast<int>(cpu_isa()) ? static_cast<int>(isa)
                                                                          : static_cast<int>(cpu_isa());
  return configs[level];
}

}  // namespace slim::kernels
