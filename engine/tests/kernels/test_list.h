// Every kernel test. X(Family, test) tests are run by main.cpp on each variant
// of that family in kernel_list.h that the CPU runs, so a new variant is
// tested without touching the tests; KERNELS_GENERAL(X) tests run once.
// The declarations below come from these lists, so a test defined but not
// listed fails to compile (-Wmissing-declarations) and one listed but not
// defined fails to link.
#pragma once

#define SLIM_KERNEL_TESTS(X)                                   \
  X(F32Gemm, sgemm_packed_matches_reference)                   \
  X(F32Gemm, sgemm_unpacked_matches_reference)                 \
  X(F32Gemm, pack_b_transposed_equals_pack_b)                  \
  X(F32Gemm, sgemm_rejects_bad_arguments)                      \
  X(F32Gemm, conv2d_matches_reference)                         \
  X(F32Gemm, conv2d_rejects_bad_arguments)                     \
  X(F32Gemm, winograd_conv2d_matches_reference)                \
  X(F32Dwconv, depthwise_conv2d_matches_reference)             \
  X(F32Dwconv, depthwise_conv2d_rejects_bad_arguments)         \
  X(F32MaxPool, max_pool2d_matches_reference)                  \
  X(F32MaxPool, max_pool2d_propagates_nan)                     \
  X(F32MaxPool, max_pool2d_rejects_bad_arguments)              \
  X(F32AvgPool, avg_pool2d_matches_reference)                  \
  X(F32GlobalAvgPool, global_avg_pool_matches_reference)       \
  X(F32GlobalAvgPool, global_avg_pool_rejects_bad_arguments)   \
  X(F32GlobalMaxPool, global_max_pool_matches_reference)       \
  X(F32GlobalMaxPool, global_max_pool_propagates_nan)          \
  X(F32Vact, activation_piecewise_linear)                      \
  X(F32Vact, activation_transcendental)                        \
  X(F32Vact, activation_erf_abs_error_below_1e6)               \
  X(F32Vact, activation_propagates_nan_and_saturates_at_infinity) \
  X(F32Vact, activation_rejects_bad_arguments)                 \
  X(F32Vbinary, binary_matches_reference)                      \
  X(F32Vbinary, binary_in_place_and_nan)                       \
  X(F32Vbinary, binary_rejects_bad_arguments)                  \
  X(F32Softmax, softmax_matches_reference)                     \
  X(F32Softmax, softmax_nan_row_and_bad_arguments)             \
  X(F32LayerNorm, layer_norm_matches_reference)                \
  X(F32LayerNorm, layer_norm_rejects_bad_arguments)            \
  X(Q8Gemm, q8_gemm_matches_reference)                         \
  X(Q8Gemm, q8_gemm_rounds_ties_to_even)                       \
  X(Q8Gemm, q8_gemm_int32_output)                              \
  X(Q8Gemm, q8_gemm_extreme_values_do_not_overflow)            \
  X(Q8Gemm, q8_pack_b_transposed_equals_pack_b)                \
  X(Q8Gemm, q8_gemm_rejects_bad_arguments)                     \
  X(Q8Gemm, q8_conv2d_matches_reference)                       \
  X(Q8Gemm, q8_conv2d_rejects_bad_arguments)                   \
  X(Q8Dwconv, q8_depthwise_conv2d_matches_reference)           \
  X(Q8Dwconv, q8_depthwise_conv2d_extreme_values_are_exact)    \
  X(Q8Dwconv, q8_depthwise_conv2d_rounds_ties_to_even)         \
  X(Q8Dwconv, q8_depthwise_conv2d_rejects_bad_arguments)       \
  X(Q8MaxPool, q8_max_pool2d_matches_reference)                \
  X(Q8GlobalAvgPool, q8_global_avg_pool_matches_reference)     \
  X(Q8Add, q8_add_matches_reference)                           \
  X(Q8Mul, q8_mul_matches_reference)                           \
  X(Q8Quantize, q8_quantize_matches_reference)                 \
  X(Q8Dequantize, q8_dequantize_matches_reference)             \
  X(Q8Lookup, q8_lookup_matches_reference)

#define SLIM_KERNEL_GENERAL_TESTS(X)        \
  X(kernel_names_say_dtype_op_tile_isa)     \
  X(kernel_config_picks_the_best_variant)   \
  X(pool2d_ceil_mode_output_size)           \
  X(pool2d_validation_names_the_field)
