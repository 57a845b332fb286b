// Every op the engine runs, grouped by the file that defines it with
// DEFINE_OP(Type). The registry (core/op.cpp) is built from this list, and
// engine.supported_ops() from the registry. The declarations below come from
// the list: DEFINE_OP's definition is qualified (slim::ops::define_X), so an
// op defined but not listed fails to compile; one listed but not defined
// fails to link.
#pragma once

#define SLIM_OPS(X)                                                                                     \
  /* arithmetic.cpp */ X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Mod) X(Max) X(Min) X(Sum) X(Mean)          \
  /* argmax_argmin.cpp */ X(ArgMax) X(ArgMin)                                                         \
  /* attention.cpp */ X(MatMulSoftmaxMatMul)                                                          \
  /* cast.cpp */ X(Cast) X(CastLike)                                                                  \
  /* compare.cpp */ X(Equal) X(Less) X(Greater) X(LessOrEqual) X(GreaterOrEqual)                      \
  /* control_flow.cpp */ X(If) X(Loop) X(Scan)                                                      \
  /* conv.cpp */ X(Conv)                                                                              \
  /* conv_transpose.cpp */ X(ConvTranspose)                                                           \
  /* dynamic_quant.cpp */ X(DynamicQuantizeLinear) X(MatMulInteger) X(ConvInteger) X(DynamicQuantMatMul)\
  /* fill.cpp */ X(ConstantOfShape) X(Range)                                                          \
  /* gemm.cpp */ X(Gemm)                                                                              \
  /* identity.cpp */ X(Identity) X(Dropout)                                                           \
  /* logical.cpp */ X(And) X(Or) X(Xor) X(Not)                                                        \
  /* matmul.cpp */ X(MatMul)                                                                          \
  /* movement.cpp */ X(Concat) X(Split) X(Slice) X(Transpose) X(Expand) X(Tile) X(Pad)                \
  X(DepthToSpace) X(SpaceToDepth) X(Gather)                                                           \
  /* normalization.cpp */ X(BatchNormalization) X(InstanceNormalization) X(LayerNormalization)        \
  /* pool.cpp */ X(MaxPool) X(AveragePool) X(GlobalAveragePool) X(GlobalMaxPool) X(LpPool)             \
  /* prelu.cpp */ X(PRelu)                                                                            \
  /* qgemm.cpp */ X(QGemm) X(QLinearMatMul)                                                           \
  /* qlinear_conv.cpp */ X(QLinearConv)                                                               \
  /* qlinear_elementwise.cpp */ X(QLinearAdd) X(QLinearMul) X(QLinearLookup) X(QLinearConcat)         \
  /* qlinear_pool.cpp */ X(QLinearGlobalAveragePool)                                                  \
  /* quantize.cpp */ X(QuantizeLinear) X(DequantizeLinear)                                            \
  /* recurrent.cpp */ X(LSTM) X(GRU) X(RNN)                                                          \
  /* reduce.cpp */ X(ReduceMean) X(ReduceSum) X(ReduceMax) X(ReduceMin) X(ReduceProd) X(ReduceL2)     \
  X(ReduceL1) X(ReduceLogSum) X(ReduceLogSumExp) X(ReduceSumSquare)                                   \
  /* reshape.cpp */ X(Reshape) X(Flatten) X(Squeeze) X(Unsqueeze)                                     \
  /* resize.cpp */ X(Resize)                                                                          \
  /* shape.cpp */ X(Shape) X(Size)                                                                    \
  /* softmax.cpp */ X(Softmax) X(LogSoftmax)                                                          \
  /* unary.cpp */ X(Relu) X(Sigmoid) X(Tanh) X(Erf) X(SiLU) X(HardSwish) X(HardSigmoid) X(LeakyRelu)  \
  X(Gelu) X(Clip) X(Exp) X(Elu) X(Selu) X(Softplus) X(Softsign) X(Sqrt) X(Neg) X(Log) X(Abs)          \
  X(Reciprocal) X(Floor) X(Ceil) X(Round) X(Sin) X(Cos)                                               \
  /* where.cpp */ X(Where)                                                                             \
  /* cumulative.cpp */ X(CumSum) X(CumProd)                                                           \
  /* indexing.cpp */ X(GatherElements) X(GatherND) X(ScatterElements) X(ScatterND) X(OneHot) X(Trilu) \
  X(NonZero)                                                                                           \
  /* topk.cpp */ X(TopK) X(Hardmax)                                                                 \
  /* normalization_extra.cpp */ X(LpNormalization) X(RMSNormalization) X(GroupNormalization)          \
  X(MeanVarianceNormalization) X(LRN)                                                                 \
  /* elementwise_extra.cpp */ X(IsNaN) X(IsInf) X(Sign) X(Celu) X(ThresholdedRelu) X(Shrink) X(Mish)   \
  X(Swish) X(Tan) X(Asin) X(Acos) X(Atan) X(Sinh) X(Cosh) X(Asinh) X(Acosh) X(Atanh) X(BitwiseAnd)    \
  X(BitwiseOr) X(BitwiseXor) X(BitwiseNot) X(BitShift) X(EyeLike) X(ReverseSequence)                 \
  /* einsum.cpp */ X(Einsum)

namespace slim {
class OpDef;
namespace ops {
#define SLIM_DECLARE_OP(type) OpDef define_##type();
SLIM_OPS(SLIM_DECLARE_OP)
#undef SLIM_DECLARE_OP
}  // namespace ops
}  // namespace slim
