// weight_prepack / weight_destroy / weight_bytes / weight_formats of the CUDA plugin: the
// canonical weight (host memory) is re-laid out on the host in bounded row chunks
// (weight_layout.cpp) and copied into one device allocation per weight (layouts in
// cuda_weights.h). Runs at load, so plain
// synchronous cudaMemcpy from pageable memory is fine here; the host's cancellation flag is
// polled between chunks.
#include "cuda_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor_check.h"
#include "weight_layout.h"

namespace tsr::cuda {
namespace {

constexpr const char* kOp = "weight_prepack";
// Host staging per copy; bounds the extra host memory a big weight needs while loading.
constexpr size_t kStagingBytes = size_t{32} << 20;

// The dtype a dense weight is kept in for activations of `compute` (see cuda_weights.h).
// Mirrors the CPU plugin's rule (bf16 activations -> bf16 weights, f32 -> f32) and adds f16,
// which cuBLASLt multiplies natively, unless a value would overflow it.
tsr_dtype dense_storage(const tsr_weight_desc& d) {
  const tsr_dtype src = dense_source_dtype(d.format);
  if (d.compute_dtype == TSR_DTYPE_F32) return TSR_DTYPE_F32;
  if (d.compute_dtype == TSR_DTYPE_BF16) return TSR_DTYPE_BF16;
  if (src == TSR_DTYPE_F16) return TSR_DTYPE_F16;
  const size_t count = static_cast<size_t>(d.rows) * static_cast<size_t>(d.cols);
  for (size_t i = 0; i < count; ++i) {
    const float v = load_dense(d.data, src, i);
    if (std::isfinite(v) && std::isinf(sdk::f16_to_f32(sdk::f32_to_f16(v)))) {
      host().debug(sdk::format("%s: a %lldx%lld weight exceeds the f16 range; kept in f32", kOp,
                               static_cast<long long>(d.rows), static_cast<long long>(d.cols)));
      return TSR_DTYPE_F32;
    }
  }
  return TSR_DTYPE_F16;
}

struct DeviceMemory {
  void* ptr = nullptr;
  ~DeviceMemory() {
    if (ptr != nullptr) (void)cudaFree(ptr);
  }
};

}  // namespace

const tsr_weight_s* check_weight(tsr_weight_t weight, const char* what) {
  TSR_PLUGIN_CHECK_ARG(weight != nullptr && weight->magic == kWeightMagic,
                       "%s: not a valid cuda weight handle", what);
  return weight;
}

uint32_t weight_formats(int device_index) {
  (void)device_index;
  // Every format on every architecture: FP8 falls back to the dequantizing kernels where
  // cuBLASLt has no fp8 matmul (compute capability < 8.9), dense formats to the tiled
  // kernel where cuBLASLt cannot be loaded; the asym formats always use our kernels.
  uint32_t bits = 0;
  for (int f = TSR_WEIGHT_FORMAT_F32; is_known_format(static_cast<tsr_weight_format>(f)); ++f) {
    bits |= TSR_WEIGHT_FORMAT_BIT(f);
  }
  return bits;
}

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr, "%s: device is NULL", kOp);
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "%s: out is NULL", kOp);
    check_weight_desc(desc);
    const tsr_weight_desc& d = *desc;
    set_device(device);

    auto w = std::make_unique<tsr_weight_s>();
    w->device = device;
    w->format = d.format;
    if (!is_quantized(d.format)) w->dense_dtype = dense_storage(d);
    const WeightLayout layout = plan_weight_layout(d, w->dense_dtype);
    const int64_t n = layout.view.n;
    const size_t ld = static_cast<size_t>(layout.view.ld);
    DeviceMemory memory;
    check(cudaMalloc(&memory.ptr, layout.total_bytes),
          sdk::format("%s: cudaMalloc(%zu bytes)", kOp, layout.total_bytes).c_str());
    auto* base = static_cast<unsigned char*>(memory.ptr);

    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / ld));
    std::vector<unsigned char> staging(static_cast<size_t>(std::min(rows_per_chunk, n)) * ld);
    for (int64_t r0 = 0; r0 < n; r0 += rows_per_chunk) {
      TSR_PLUGIN_CHECK(!host().cancel_requested(), TSR_ERROR_CODE_CANCELLED,
                       "%s: cancelled by the host", kOp);
      const int64_t count = std::min(rows_per_chunk, n - r0);
      pack_weight_rows(d, layout, w->dense_dtype, r0, count, staging.data());
      check(cudaMemcpy(base + static_cast<size_t>(r0) * ld, staging.data(),
                       static_cast<size_t>(count) * ld, cudaMemcpyHostToDevice),
            "weight_prepack: cudaMemcpy");
    }
    if (layout.scales_bytes > 0) {
      check(cudaMemcpy(base + layout.scales_offset, d.scales, layout.scales_bytes,
                       cudaMemcpyHostToDevice),
            "weight_prepack: cudaMemcpy (scales)");
    }
    if (layout.mins_bytes > 0) {
      check(
          cudaMemcpy(base + layout.mins_offset, d.mins, layout.mins_bytes, cudaMemcpyHostToDevice),
          "weight_prepack: cudaMemcpy (mins)");
    }
    bind_weight_view(layout, base, &w->view);
    w->memory = memory.ptr;
    w->bytes = layout.total_bytes;
    memory.ptr = nullptr;
    w->magic = kWeightMagic;
    host().debug(sdk::format("weight %lldx%lld format %d: %llu device bytes",
                             static_cast<long long>(n), static_cast<long long>(layout.view.k),
                             static_cast<int>(d.format),
                             static_cast<unsigned long long>(w->bytes)));
    *out = w.release();
  });
}

tsr_error* weight_destroy(tsr_weight_t weight) {
  return sdk::guard([&] {
    const tsr_weight_s* checked = check_weight(weight, "weight_destroy");
    std::unique_ptr<tsr_weight_s> owned(const_cast<tsr_weight_s*>(checked));
    owned->magic = 0;
    set_device(owned->device);
    // Frees only after work already enqueued with the weight is done (cudaFree syncs).
    check(cudaFree(owned->memory), "weight_destroy: cudaFree");
  });
}

tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes) {
  return sdk::guard([&] {
    const tsr_weight_s* w = check_weight(weight, "weight_bytes");
    TSR_PLUGIN_CHECK_ARG(bytes != nullptr, "weight_bytes: bytes is NULL");
    *bytes = w->bytes;
  });
}

}  // namespace tsr::cuda
