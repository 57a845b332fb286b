// The kernel list itself: names that say what a variant is, and the choice
// kernel_config() makes at every level.
#include <string>

#include "test_util.h"

namespace slim::kernels::test {
namespace {

// dtype_op_tile_isa: the GEMM tile is MRxNR, activations step over u<n>
// elements, the convolutions and pools over <n>c channels.
template <class K>
std::string expected_name(const K& k) {
  std::string tile;
  if constexpr (K::family == Family::kF32Gemm || K::family == Family::kQ8Gemm) {
    tile = std::to_string(k.tile_rows) + "x" + std::to_string(k.tile_cols);
  } else if constexpr (K::family == Family::kF32Vact || K::family == Family::kF32Vbinary ||
                       K::family == Family::kF32Softmax || K::family == Family::kF32LayerNorm ||
                       K::family == Family::kQ8Add || K::family == Family::kQ8Mul ||
                       K::family == Family::kQ8Quantize || K::family == Family::kQ8Dequantize ||
                       K::family == Family::kQ8Lookup) {
    tile = "u" + std::to_string(k.tile_cols);
  } else {
    tile = std::to_string(k.tile_cols) + "c";
  }
  return std::string(family_name(K::family)) + "_" + tile + "_" + isa_name(k.isa);
}

template <class K>
void check_name(const char* listed, const K& k) {
  const std::string want = expected_name(k);
  EXPECT_TRUE(want == k.name, std::string(listed) + ": its name is '" + k.name + "', its tile and ISA say " + want);
  EXPECT_TRUE(std::string(listed) == k.name, std::string("kernel_list.h lists ") + listed + " for '" + k.name + "'");
  EXPECT_TRUE(k.fn != nullptr, std::string(listed) + ": no function");
}

const F32GemmKernel* chosen(const KernelConfig& c, const F32GemmKernel&) { return c.f32_gemm; }
const F32DwconvKernel* chosen(const KernelConfig& c, const F32DwconvKernel&) { return c.f32_dwconv; }
const F32MaxPoolKernel* chosen(const KernelConfig& c, const F32MaxPoolKernel&) { return c.f32_maxpool; }
const F32AvgPoolKernel* chosen(const KernelConfig& c, const F32AvgPoolKernel&) { return c.f32_avgpool; }
const F32GlobalAvgPoolKernel* chosen(const KernelConfig& c, const F32GlobalAvgPoolKernel&) { return c.f32_gavgpool; }
const F32GlobalMaxPoolKernel* chosen(const KernelConfig& c, const F32GlobalMaxPoolKernel&) { return c.f32_gmaxpool; }
const F32VactKernel* chosen(const KernelConfig& c, const F32VactKernel&) { return c.f32_vact; }
const F32VbinaryKernel* chosen(const KernelConfig& c, const F32VbinaryKernel&) { return c.f32_vbinary; }
const F32SoftmaxKernel* chosen(const KernelConfig& c, const F32SoftmaxKernel&) { return c.f32_softmax; }
const F32LayerNormKernel* chosen(const KernelConfig& c, const F32LayerNormKernel&) { return c.f32_layernorm; }
const Q8GemmKernel* chosen(const KernelConfig& c, const Q8GemmKernel&) { return c.q8_gemm; }
const Q8DwconvKernel* chosen(const KernelConfig& c, const Q8DwconvKernel&) { return c.q8_dwconv; }
const Q8MaxPoolKernel* chosen(const KernelConfig& c, const Q8MaxPoolKernel&) { return c.q8_maxpool; }
const Q8GlobalAvgPoolKernel* chosen(const KernelConfig& c, const Q8GlobalAvgPoolKernel&) { return c.q8_gavgpool; }
const Q8AddKernel* chosen(const KernelConfig& c, const Q8AddKernel&) { return c.q8_add; }
const Q8MulKernel* chosen(const KernelConfig& c, const Q8MulKernel&) { return c.q8_mul; }
const Q8QuantizeKernel* chosen(const KernelConfig& c, const Q8QuantizeKernel&) { return c.q8_quantize; }
const Q8DequantizeKernel* chosen(const KernelConfig& c, const Q8DequantizeKernel&) { return c.q8_dequantize; }
const Q8LookupKernel* chosen(const KernelConfig& c, const Q8LookupKernel&) { return c.q8_lookup; }

int level(Isa isa) { return static_cast<int>(isa); }

// `k` is a variant of the config's family: the config must hold one no
// higher than its level and never pass over `k` when `k` fits better.
template <class K>
void check_choice(const KernelConfig& c, const K& k) {
  const K* got = chosen(c, k);
  const std::string where = std::string("kernel_config(") + isa_name(c.isa) + ")." + family_name(K::family);
  if (got == nullptr) {
    record_failure(where + " is null");
    return;
  }
  EXPECT_TRUE(level(got->isa) <= level(c.isa), where + " = " + got->name + " is above the level");
  EXPECT_TRUE(level(k.isa) > level(c.isa) || level(k.isa) <= level(got->isa),
              where + " = " + got->name + " although " + k.name + " fits better");
}

}  // namespace

GENERAL_TEST(kernel_names_say_dtype_op_tile_isa) {
#define SLIM_CHECK_NAME(family, name) check_name(#name, name);
  SLIM_KERNELS(SLIM_CHECK_NAME)
#undef SLIM_CHECK_NAME
}

GENERAL_TEST(kernel_config_picks_the_best_variant) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    const KernelConfig& c = kernel_config(isa);
    const int want = level(isa) < level(cpu_isa()) ? level(isa) : level(cpu_isa());
    EXPECT_TRUE(level(c.isa) == want, std::string("kernel_config(") + isa_name(isa) + ") is capped at " +
                                          isa_name(c.isa) + " on a CPU that runs " + isa_name(cpu_isa()));
    EXPECT_TRUE(&kernel_config(isa) == &c, "kernel_config builds its choice once");
#define SLIM_CHECK_CHOICE(family, name) check_choice(c, name);
    SLIM_KERNELS(SLIM_CHECK_CHOICE)
#undef SLIM_CHECK_CHOICE
  }
  EXPECT_TRUE(kernel_config(Isa::kScalar).f32_gemm == &f32_gemm_4x4_scalar, "the scalar level runs the reference");
  EXPECT_TRUE(kernel_config(Isa::kScalar).q8_gemm == &q8_gemm_4x4_scalar, "the scalar level runs the q8 reference");
}

}  // namespace slim::kernels::test
