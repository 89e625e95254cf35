// weight_prepack / weight_destroy / weight_bytes / weight_formats of the CUDA plugin: the
// canonical weight (host memory) is re-laid out on the host in bounded row chunks and copied
// into one device allocation per weight (layouts in cuda_weights.h). Runs at load, so plain
// synchronous cudaMemcpy from pageable memory is fine here; the host's cancellation flag is
// polled between chunks.
#include "cuda_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor_check.h"

namespace tsr::cuda {
namespace {

constexpr const char* kOp = "weight_prepack";
// Host staging per copy; bounds the extra host memory a big weight needs while loading.
constexpr size_t kStagingBytes = size_t{32} << 20;

int64_t round_up(int64_t v, int64_t to) {
  return (v + to - 1) / to * to;
}

void check_desc(const tsr_weight_desc* d) {
  // A host of ABI 1.0 passes the descriptor without `mins` (INT4_GROUP_ASYM is not ours).
  plugin::check_params_size(d, d != nullptr ? d->struct_size : 0, offsetof(tsr_weight_desc, mins),
                            kOp);
  TSR_PLUGIN_CHECK_ARG(
      d->format >= TSR_WEIGHT_FORMAT_F32 && d->format <= TSR_WEIGHT_FORMAT_FP8_E4M3,
      "%s: format %d is not a tsr_weight_format", kOp, static_cast<int>(d->format));
  TSR_PLUGIN_CHECK_ARG(d->rows > 0 && d->rows < (int64_t{1} << 31), "%s: rows %lld out of range",
                       kOp, static_cast<long long>(d->rows));
  TSR_PLUGIN_CHECK_ARG(d->cols > 0 && d->cols < (int64_t{1} << 31), "%s: cols %lld out of range",
                       kOp, static_cast<long long>(d->cols));
  TSR_PLUGIN_CHECK_ARG(d->data != nullptr, "%s: data is NULL", kOp);
  TSR_PLUGIN_CHECK_ARG(plugin::is_activation_dtype(d->compute_dtype),
                       "%s: compute_dtype %s is not f32, bf16 or f16", kOp,
                       sdk::dtype_name(d->compute_dtype));
  if (!is_quantized(d->format)) return;
  TSR_PLUGIN_CHECK_ARG(d->scales != nullptr, "%s: scales is NULL for a quantized format", kOp);
  if (d->format == TSR_WEIGHT_FORMAT_INT8_GROUP || d->format == TSR_WEIGHT_FORMAT_INT4_GROUP) {
    TSR_PLUGIN_CHECK_ARG(d->group_size > 0 && d->cols % d->group_size == 0,
                         "%s: group_size %lld must be positive and divide cols %lld", kOp,
                         static_cast<long long>(d->group_size), static_cast<long long>(d->cols));
  }
  if (d->format == TSR_WEIGHT_FORMAT_INT4_GROUP) {
    TSR_PLUGIN_CHECK_ARG(d->cols % 2 == 0, "%s: cols %lld must be even for INT4_GROUP", kOp,
                         static_cast<long long>(d->cols));
  }
}

tsr_dtype source_dtype(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_F32   ? TSR_DTYPE_F32
         : f == TSR_WEIGHT_FORMAT_F16 ? TSR_DTYPE_F16
                                      : TSR_DTYPE_BF16;
}

float load(const void* base, tsr_dtype type, size_t i) {
  switch (type) {
    case TSR_DTYPE_F32: {
      float v;
      std::memcpy(&v, static_cast<const unsigned char*>(base) + i * 4, 4);
      return v;
    }
    case TSR_DTYPE_F16: {
      uint16_t v;
      std::memcpy(&v, static_cast<const unsigned char*>(base) + i * 2, 2);
      return sdk::f16_to_f32(v);
    }
    default: {
      uint16_t v;
      std::memcpy(&v, static_cast<const unsigned char*>(base) + i * 2, 2);
      return sdk::bf16_to_f32(v);
    }
  }
}

void store(float v, tsr_dtype type, unsigned char* dst) {
  if (type == TSR_DTYPE_F32) {
    std::memcpy(dst, &v, 4);
    return;
  }
  const uint16_t bits = type == TSR_DTYPE_F16 ? sdk::f32_to_f16(v) : sdk::f32_to_bf16(v);
  std::memcpy(dst, &bits, 2);
}

// The dtype a dense weight is kept in for activations of `compute` (see cuda_weights.h).
// Mirrors the CPU plugin's rule (bf16 activations -> bf16 weights, f32 -> f32) and adds f16,
// which cuBLASLt multiplies natively, unless a value would overflow it.
tsr_dtype dense_storage(const tsr_weight_desc& d) {
  const tsr_dtype src = source_dtype(d.format);
  if (d.compute_dtype == TSR_DTYPE_F32) return TSR_DTYPE_F32;
  if (d.compute_dtype == TSR_DTYPE_BF16) return TSR_DTYPE_BF16;
  if (src == TSR_DTYPE_F16) return TSR_DTYPE_F16;
  const size_t count = static_cast<size_t>(d.rows) * static_cast<size_t>(d.cols);
  for (size_t i = 0; i < count; ++i) {
    const float v = load(d.data, src, i);
    if (std::isfinite(v) && std::isinf(sdk::f16_to_f32(sdk::f32_to_f16(v)))) {
      host().debug(sdk::format("%s: a %lldx%lld weight exceeds the f16 range; kept in f32", kOp,
                               static_cast<long long>(d.rows), static_cast<long long>(d.cols)));
      return TSR_DTYPE_F32;
    }
  }
  return TSR_DTYPE_F16;
}

WeightKind kind_of(tsr_weight_format f, tsr_dtype dense) {
  switch (f) {
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      return WeightKind::kInt8;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      return WeightKind::kInt4;
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return WeightKind::kFp8;
    default:
      return dense == TSR_DTYPE_F32   ? WeightKind::kF32
             : dense == TSR_DTYPE_F16 ? WeightKind::kF16
                                      : WeightKind::kBF16;
  }
}

// Writes rows [r0, r0 + count) of the device layout into `dst` (count * ld bytes).
void pack_rows(const tsr_weight_desc& d, const tsr_weight_s& w, int64_t r0, int64_t count,
               unsigned char* dst) {
  const WeightView& v = w.view;
  const auto* src = static_cast<const unsigned char*>(d.data);
  const size_t ld = static_cast<size_t>(v.ld);
  if (!is_quantized(d.format)) {
    const tsr_dtype from = source_dtype(d.format);
    const size_t k = static_cast<size_t>(v.k);
    const size_t first = static_cast<size_t>(r0) * k;
    if (from == w.dense_dtype) {
      std::memcpy(dst, src + first * sdk::dtype_size(from), static_cast<size_t>(count) * ld);
      return;
    }
    const size_t elem = sdk::dtype_size(w.dense_dtype);
    const size_t total = static_cast<size_t>(count) * k;
    for (size_t i = 0; i < total; ++i)
      store(load(src, from, first + i), w.dense_dtype, dst + i * elem);
    return;
  }
  const bool int4 = d.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  const size_t row_bytes = static_cast<size_t>(int4 ? d.cols / 2 : d.cols);
  // Zero in each encoding: int8 0, e4m3 +0, and two int4 nibbles of 8 (u - 8 = 0).
  const unsigned char pad = int4 ? 0x88 : 0x00;
  for (int64_t r = 0; r < count; ++r) {
    unsigned char* row = dst + static_cast<size_t>(r) * ld;
    std::memcpy(row, src + static_cast<size_t>(r0 + r) * row_bytes, row_bytes);
    std::memset(row + row_bytes, pad, ld - row_bytes);
  }
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
  // kernel where cuBLASLt cannot be loaded.
  uint32_t bits = 0;
  for (int f = TSR_WEIGHT_FORMAT_F32; f <= TSR_WEIGHT_FORMAT_FP8_E4M3; ++f) {
    bits |= TSR_WEIGHT_FORMAT_BIT(f);
  }
  return bits;
}

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr, "%s: device is NULL", kOp);
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "%s: out is NULL", kOp);
    check_desc(desc);
    const tsr_weight_desc& d = *desc;
    set_device(device);

    auto w = std::make_unique<tsr_weight_s>();
    w->device = device;
    w->format = d.format;
    WeightView& v = w->view;
    v.n = d.rows;
    v.k = d.cols;
    const bool grouped =
        d.format == TSR_WEIGHT_FORMAT_INT8_GROUP || d.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
    v.group = grouped ? d.group_size : d.cols;
    v.groups = is_quantized(d.format) ? d.cols / v.group : 0;
    if (is_quantized(d.format)) {
      const int64_t row_bytes = d.format == TSR_WEIGHT_FORMAT_INT4_GROUP ? d.cols / 2 : d.cols;
      v.ld = round_up(row_bytes, 16);
    } else {
      w->dense_dtype = dense_storage(d);
      v.ld = d.cols * static_cast<int64_t>(sdk::dtype_size(w->dense_dtype));
    }
    v.kind = kind_of(d.format, w->dense_dtype);

    const size_t data_bytes = static_cast<size_t>(v.n) * static_cast<size_t>(v.ld);
    const size_t scales_offset =
        static_cast<size_t>(round_up(static_cast<int64_t>(data_bytes), 256));
    const size_t scales_bytes = static_cast<size_t>(v.n) * static_cast<size_t>(v.groups) * 4;
    const size_t total = scales_bytes > 0 ? scales_offset + scales_bytes : data_bytes;
    DeviceMemory memory;
    check(cudaMalloc(&memory.ptr, total),
          sdk::format("%s: cudaMalloc(%zu bytes)", kOp, total).c_str());
    auto* base = static_cast<unsigned char*>(memory.ptr);

    const int64_t rows_per_chunk =
        std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / static_cast<size_t>(v.ld)));
    std::vector<unsigned char> staging(static_cast<size_t>(std::min(rows_per_chunk, v.n)) *
                                       static_cast<size_t>(v.ld));
    for (int64_t r0 = 0; r0 < v.n; r0 += rows_per_chunk) {
      TSR_PLUGIN_CHECK(!host().cancel_requested(), TSR_ERROR_CODE_CANCELLED,
                       "%s: cancelled by the host", kOp);
      const int64_t count = std::min(rows_per_chunk, v.n - r0);
      pack_rows(d, *w, r0, count, staging.data());
      check(cudaMemcpy(base + static_cast<size_t>(r0) * static_cast<size_t>(v.ld), staging.data(),
                       static_cast<size_t>(count) * static_cast<size_t>(v.ld),
                       cudaMemcpyHostToDevice),
            "weight_prepack: cudaMemcpy");
    }
    if (scales_bytes > 0) {
      check(cudaMemcpy(base + scales_offset, d.scales, scales_bytes, cudaMemcpyHostToDevice),
            "weight_prepack: cudaMemcpy (scales)");
    }
    v.data = base;
    v.scales = scales_bytes > 0 ? reinterpret_cast<const float*>(base + scales_offset) : nullptr;
    w->memory = memory.ptr;
    w->bytes = total;
    memory.ptr = nullptr;
    w->magic = kWeightMagic;
    host().debug(sdk::format("weight %lldx%lld format %d: %llu device bytes",
                             static_cast<long long>(v.n), static_cast<long long>(v.k),
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
