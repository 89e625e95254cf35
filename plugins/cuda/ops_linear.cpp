// The linear op of the CUDA plugin: validation (the CPU plugin's checks and messages) and
// the choice of path per weight format and M:
//   F32/F16/BF16 weights   cuBLASLt matmul, compute 32F (plain 32F, no TF32, so f32 results
//                          match an f32 reference), bias through CUBLASLT_EPILOGUE_BIAS when
//                          its dtype is the output's; otherwise, and for an output dtype
//                          cuBLASLt cannot write from these inputs, an f32 result in the
//                          workspace finished by launch_linear_epilogue. Activations whose
//                          dtype differs from the weight's storage dtype are converted into
//                          the workspace first. Without cuBLASLt (or without an algorithm
//                          for the call) the tiled kernel runs instead.
//   INT8/INT4 weights      M <= kGemvMaxRows: the dequantizing GEMV; larger M: the tiled
//   (and their _ASYM       dequantizing GEMM (linear_quant.cu).
//   variants)
//   FP8_E4M3 weights       compute capability >= 8.9, M >= kFp8GemmMinRows, N and K
//                          multiples of 16: x quantized per tensor to e4m3 on the device,
//                          cuBLASLt fp8 matmul ("TN", B scale pointer = x's scale) into f32,
//                          then the epilogue applies the weight's per-row scales and bias.
//                          Otherwise the dequantizing GEMV / tiled GEMM, as for int8.
// Nothing here allocates or synchronizes except stream_workspace (which refuses to grow
// while capturing), and nothing reads device data on the host: the op can be captured.
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>

#include "cublaslt.h"
#include "cuda_ops.h"
#include "cuda_weights.h"
#include "linear_kernels.h"

namespace tsr::cuda::ops {
namespace {

constexpr const char* kOp = "linear";
constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
// Below this many rows the fp8 GEMV (one read of the weight) beats quantizing x for the
// tensor cores.
constexpr int64_t kFp8GemmMinRows = 16;

// The kernels (GEMV, tiled GEMM, conversions, epilogue) access x, bias and out one element
// at a time at its natural alignment; a view whose offset breaks it would fault on the
// device and poison the context, so it is refused here (the CPU plugin has no such limit).
void require_aligned(const View& v, const char* field) {
  TSR_PLUGIN_CHECK_ARG(reinterpret_cast<uintptr_t>(v.data) % v.elem == 0,
                       "%s: %s: offset is not a multiple of its %zu-byte element size", kOp, field,
                       v.elem);
}

size_t align256(size_t v) {
  return (v + 255) / 256 * 256;
}

// Consecutive 256-byte aligned pieces of one stream workspace request.
class Carver {
 public:
  size_t add(size_t bytes) {
    const size_t at = used_;
    used_ += align256(bytes);
    return at;
  }
  size_t total() const { return used_; }

 private:
  size_t used_ = 0;
};

cudaDataType_t cuda_type(tsr_dtype d) {
  switch (d) {
    case TSR_DTYPE_F16:
      return CUDA_R_16F;
    case TSR_DTYPE_BF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

template <class T, class Destroy>
struct LtObject {
  T object = nullptr;
  Destroy destroy;
  explicit LtObject(Destroy d) : destroy(d) {}
  ~LtObject() {
    if (object != nullptr) (void)destroy(object);
  }
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;
};

// One cuBLASLt matmul of the row-major problem D[M, N] = x[M, K] · W^T.
//
// cuBLASLt is column-major. A row-major [R][C] matrix with leading stride ld is, read as
// column-major, the C x R matrix with the same ld: its transpose, for free. So we ask for
// the transposed problem D^T[N, M] = W[N, K] · x^T[K, M]:
//   A = W: row-major [N][K] reads as the column-major K x N matrix (ld = lda >= K), which is
//          W^T; TRANSA = T turns it back into W (N x K).  -> m = N, k = K.
//   B = x: row-major [M][K] reads as the column-major K x M matrix x^T (ld = K); TRANSB = N.
//                                                            -> n = M.
//   D:     column-major N x M with ld = N is exactly row-major [M][N]: our output.
// A bias vector of length N (D's rows) lands on the output's columns, as linear wants.
// This is the "TN" layout, the one cuBLASLt's fp8 kernels require.
struct LtCall {
  const void* a = nullptr;  // W
  cudaDataType_t a_type = CUDA_R_32F;
  int64_t lda = 0;          // elements between W rows
  const void* b = nullptr;  // x
  cudaDataType_t b_type = CUDA_R_32F;
  void* d = nullptr;  // out (or f32 scratch)
  cudaDataType_t d_type = CUDA_R_32F;
  int64_t m = 0, n = 0, k = 0;
  const void* bias = nullptr;  // epilogue bias of bias_type, or nullptr
  cudaDataType_t bias_type = CUDA_R_32F;
  const float* b_scale = nullptr;  // device scale of x (fp8), or nullptr
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Enqueues the matmul; returns false (enqueuing nothing) when cuBLASLt offers no algorithm
// for it. `before` runs after the algorithm is known and before the matmul is enqueued.
bool lt_matmul(tsr_stream_s* stream, const LtCall& c, const std::function<void()>& before) {
  const lt::Api& api = lt::api();
  cublasLtHandle_t handle = lt::handle(stream->device->index);

  LtObject<cublasLtMatmulDesc_t, decltype(api.desc_destroy)> desc(api.desc_destroy);
  lt::check(api.desc_create(&desc.object, CUBLAS_COMPUTE_32F, CUDA_R_32F),
            "cublasLtMatmulDescCreate");
  auto set_desc = [&](cublasLtMatmulDescAttributes_t attr, const void* value, size_t size) {
    lt::check(api.desc_set(desc.object, attr, value, size), "cublasLtMatmulDescSetAttribute");
  };
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  const cublasOperation_t trans_b = CUBLAS_OP_N;
  set_desc(CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a);
  set_desc(CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b);
  const cublasLtEpilogue_t epilogue =
      c.bias != nullptr ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  if (c.bias != nullptr) {
    const int32_t bias_type = c.bias_type;
    set_desc(CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue);
    set_desc(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias, sizeof c.bias);
    set_desc(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type);
  }
  if (c.b_scale != nullptr) {
    set_desc(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &c.b_scale, sizeof c.b_scale);
  }

  auto layout = [&](LtObject<cublasLtMatrixLayout_t, decltype(api.layout_destroy)>& l,
                    cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
    lt::check(api.layout_create(&l.object, type, static_cast<uint64_t>(rows),
                                static_cast<uint64_t>(cols), ld),
              "cublasLtMatrixLayoutCreate");
  };
  LtObject<cublasLtMatrixLayout_t, decltype(api.layout_destroy)> a_layout(api.layout_destroy);
  LtObject<cublasLtMatrixLayout_t, decltype(api.layout_destroy)> b_layout(api.layout_destroy);
  LtObject<cublasLtMatrixLayout_t, decltype(api.layout_destroy)> d_layout(api.layout_destroy);
  layout(a_layout, c.a_type, c.k, c.n, c.lda);
  layout(b_layout, c.b_type, c.k, c.m, c.k);
  layout(d_layout, c.d_type, c.n, c.m, c.n);

  lt::MatmulKey key;
  key.device = stream->device->index;
  key.m = c.m;
  key.n = c.n;
  key.k = c.k;
  key.a_type = c.a_type;
  key.b_type = c.b_type;
  key.d_type = c.d_type;
  key.epilogue = epilogue;
  key.bias_type = c.bias != nullptr ? c.bias_type : -1;
  key.scaled = c.b_scale != nullptr ? 1 : 0;
  key.align_a = lt::alignment_of(c.a);
  key.align_b = lt::alignment_of(c.b);
  key.align_d = lt::alignment_of(c.d);
  key.align_bias = c.bias != nullptr ? lt::alignment_of(c.bias) : 0;
  // lda is not in the key: it equals k for every weight we hand to cuBLASLt.
  lt::MatmulAlgo algo;
  if (!lt::lookup(key, &algo)) {
    LtObject<cublasLtMatmulPreference_t, decltype(api.pref_destroy)> pref(api.pref_destroy);
    lt::check(api.pref_create(&pref.object), "cublasLtMatmulPreferenceCreate");
    auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* value, size_t size) {
      lt::check(api.pref_set(pref.object, attr, value, size),
                "cublasLtMatmulPreferenceSetAttribute");
    };
    const uint64_t workspace = c.workspace_bytes;
    set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
    const uint32_t align_a = static_cast<uint32_t>(key.align_a);
    const uint32_t align_b = static_cast<uint32_t>(key.align_b);
    const uint32_t align_d = static_cast<uint32_t>(key.align_d);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof align_d);
    set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof align_d);
    cublasLtMatmulHeuristicResult_t result;
    std::memset(&result, 0, sizeof result);
    int count = 0;
    const cublasStatus_t status =
        api.heuristic(handle, desc.object, a_layout.object, b_layout.object, d_layout.object,
                      d_layout.object, pref.object, 1, &result, &count);
    // NOT_SUPPORTED (no kernel for these types/shapes) is an answer, not an error.
    algo.found =
        status == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    if (algo.found) algo.algo = result.algo;
    lt::remember(key, algo);
  }
  if (!algo.found) return false;
  if (before) before();
  const float alpha = 1.0f;
  const float beta = 0.0f;
  lt::check(api.matmul(handle, desc.object, &alpha, c.a, a_layout.object, c.b, b_layout.object,
                       &beta, c.d, d_layout.object, c.d, d_layout.object, &algo.algo, c.workspace,
                       c.workspace_bytes, stream->stream),
            "cublasLtMatmul");
  return true;
}

struct Call {
  tsr_stream_s* stream;
  const tsr_weight_s* w;
  LinearIo io;
  int64_t m, n, k;
};

void warn_no_cublaslt_once(const std::string& reason) {
  static std::once_flag once;
  std::call_once(once, [&] {
    host().warn("linear: dense weights use the plugin's own (slower) GEMM kernel: " + reason);
  });
}

// Dense weights through cuBLASLt; false when it cannot run this call.
bool dense_lt(const Call& c) {
  std::string reason;
  if (!lt::available(&reason)) {
    warn_no_cublaslt_once(reason);
    return false;
  }
  const tsr_dtype s = c.w->dense_dtype;
  const LinearIo& io = c.io;
  const bool convert_x = io.x_dtype != s;
  // cuBLASLt writes f32 from any of our input types, and 16-bit from the same 16-bit type.
  const bool d_is_out = io.out_dtype == TSR_DTYPE_F32 || io.out_dtype == s;
  const tsr_dtype d_dtype = d_is_out ? io.out_dtype : TSR_DTYPE_F32;
  const bool lt_bias = io.bias != nullptr && d_is_out && io.x_dtype == d_dtype;
  const bool finish = (io.bias != nullptr && !lt_bias) || !d_is_out;

  Carver carve;
  const size_t at_lt = carve.add(kLtWorkspaceBytes);
  const size_t x_bytes = static_cast<size_t>(c.m * c.k) * sdk::dtype_size(s);
  const size_t at_x = convert_x ? carve.add(x_bytes) : 0;
  const size_t at_d = d_is_out ? 0 : carve.add(static_cast<size_t>(c.m * c.n) * 4);
  auto* ws = static_cast<unsigned char*>(stream_workspace(c.stream, carve.total(), kOp));

  LtCall call;
  call.a = c.w->view.data;
  call.a_type = cuda_type(s);
  call.lda = c.k;
  call.b = convert_x ? static_cast<const void*>(ws + at_x) : io.x;
  call.b_type = cuda_type(s);
  call.d = d_is_out ? io.out : static_cast<void*>(ws + at_d);
  call.d_type = cuda_type(d_dtype);
  call.m = c.m;
  call.n = c.n;
  call.k = c.k;
  call.bias = lt_bias ? io.bias : nullptr;
  call.bias_type = cuda_type(io.x_dtype);
  call.workspace = ws + at_lt;
  call.workspace_bytes = kLtWorkspaceBytes;
  const bool ran = lt_matmul(c.stream, call, [&] {
    if (convert_x) {
      check(launch_convert(io.x, io.x_dtype, ws + at_x, s, c.m * c.k, c.stream->stream),
            "linear: convert x");
    }
  });
  if (!ran) return false;
  if (finish) {
    check(launch_linear_epilogue(static_cast<const float*>(call.d), c.m, c.n, nullptr,
                                 lt_bias ? nullptr : io.bias, io.x_dtype, io.out, io.out_dtype,
                                 c.stream->stream),
          "linear: epilogue");
  }
  return true;
}

bool fp8_lt_eligible(const Call& c) {
  if (c.m < kFp8GemmMinRows || c.k % 16 != 0 || c.n % 16 != 0) return false;
  const DeviceInfo& info = device_info(c.stream->device->index);
  if (info.cc_major * 10 + info.cc_minor < 89) return false;
  return lt::available();
}

// FP8 weights through cuBLASLt's fp8 matmul; false when it cannot run this call.
bool fp8_lt(const Call& c) {
  if (!fp8_lt_eligible(c)) return false;
  const LinearIo& io = c.io;
  Carver carve;
  const size_t at_lt = carve.add(kLtWorkspaceBytes);
  const size_t at_q = carve.add(static_cast<size_t>(c.m * c.k));
  const size_t at_amax = carve.add(sizeof(unsigned int));
  const size_t at_scale = carve.add(sizeof(float));
  const size_t at_d = carve.add(static_cast<size_t>(c.m * c.n) * 4);
  auto* ws = static_cast<unsigned char*>(stream_workspace(c.stream, carve.total(), kOp));

  LtCall call;
  call.a = c.w->view.data;
  call.a_type = CUDA_R_8F_E4M3;
  call.lda = c.w->view.ld;  // == K: K is a multiple of 16, so rows carry no padding
  call.b = ws + at_q;
  call.b_type = CUDA_R_8F_E4M3;
  call.d = ws + at_d;
  call.d_type = CUDA_R_32F;
  call.m = c.m;
  call.n = c.n;
  call.k = c.k;
  call.b_scale = reinterpret_cast<const float*>(ws + at_scale);
  call.workspace = ws + at_lt;
  call.workspace_bytes = kLtWorkspaceBytes;
  const bool ran = lt_matmul(c.stream, call, [&] {
    check(launch_fp8_quantize(io.x, io.x_dtype, c.m * c.k, ws + at_q,
                              reinterpret_cast<unsigned int*>(ws + at_amax),
                              reinterpret_cast<float*>(ws + at_scale), c.stream->stream),
          "linear: fp8 quantize x");
  });
  if (!ran) return false;
  // The weight's per-row scales are per output column here.
  check(
      launch_linear_epilogue(reinterpret_cast<const float*>(ws + at_d), c.m, c.n, c.w->view.scales,
                             io.bias, io.x_dtype, io.out, io.out_dtype, c.stream->stream),
      "linear: fp8 epilogue");
  return true;
}

}  // namespace

void linear(tsr_stream_s* stream, const tsr_linear_params* p, bool execute) {
  const auto& prm = tsr::plugin::linear_params(p, kOp);
  const tsr_weight_s* w = check_weight(prm.weight, "linear: weight");
  const View x = view(prm.x, kOp, "x");
  require_device(stream, prm.x, kOp, "x");
  require_device(stream, prm.out, kOp, "out");
  require_activation(x, kOp, "x");
  require_dim(x, x.ndim - 1, w->view.k, kOp, "x");
  // No out_parts here (the device does not claim TSR_DEVICE_CAP_LINEAR_OUT_PARTS).
  const View out = tsr::plugin::check_linear_outputs(prm, x, w->view.n, false, kOp).outs[0];
  View bias;
  const bool has_bias = present(prm.bias);
  if (has_bias) {
    bias = view(prm.bias, kOp, "bias");
    require_device(stream, prm.bias, kOp, "bias");
    require_dtype(bias, x.dtype, kOp, "bias");
    require_ndim(bias, 1, kOp, "bias");
    require_dim(bias, 0, w->view.n, kOp, "bias");
    require_no_overlap(out, bias, kOp, "out", "bias");
    require_aligned(bias, "bias");
  }
  require_aligned(x, "x");
  require_aligned(out, "out");
  if (stream != nullptr) {
    TSR_PLUGIN_CHECK_ARG(w->device->index == stream->device->index,
                         "%s: weight: prepacked on CUDA device %d but the stream is on device %d",
                         kOp, w->device->index, stream->device->index);
  }
  if (!execute) return;

  Call c{stream, w, {}, x.rows(), w->view.n, w->view.k};
  if (c.m == 0) return;
  c.io.x = x.data;
  c.io.x_dtype = x.dtype;
  c.io.m = c.m;
  c.io.bias = has_bias ? bias.data : nullptr;
  c.io.out = out.data;
  c.io.out_dtype = out.dtype;

  const WeightKind kind = w->view.kind;
  const bool quantized = is_quantized_kind(kind);
  if (!quantized && dense_lt(c)) return;
  if (kind == WeightKind::kFp8 && fp8_lt(c)) return;
  if (quantized && c.m <= kGemvMaxRows) {
    check(launch_quant_gemv(w->view, c.io, stream->stream), "linear: quantized GEMV");
    return;
  }
  check(launch_tiled_gemm(w->view, c.io, stream->stream), "linear: tiled GEMM");
}

}  // namespace tsr::cuda::ops
