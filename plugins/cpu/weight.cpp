// weight_prepack / weight_destroy / weight_bytes and the linear op, which routes a call to
// the weight's kernels (float, quantized, or oneDNN's bf16 matmul) and handles dtype edges and
// bias.
#include "weight.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "api_functions.h"
#include "convert.h"
#include "kernels.h"
#include "op_checks.h"
#include "ops.h"
#include "parallel.h"
#include "tensor_check.h"
#include "weight_desc_check.h"

namespace tsr::cpu {

tsr_weight_s* check_weight(tsr_weight_t weight, const char* what) {
  TSR_PLUGIN_CHECK_ARG(weight != nullptr && weight->magic == kWeightMagic,
                       "%s: not a valid cpu weight handle", what);
  return weight;
}

namespace {

// The symmetric quantized formats (the asym ones are packed by linear_asym*.cpp).
bool is_quantized(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || f == TSR_WEIGHT_FORMAT_INT8_GROUP ||
         f == TSR_WEIGHT_FORMAT_INT4_GROUP || f == TSR_WEIGHT_FORMAT_FP8_E4M3;
}

// A oneDNN bf16 matmul for an F32 weight, or NULL when oneDNN has no real bf16 kernel here.
std::unique_ptr<OnednnGemm> onednn_bf16_gemm(const tsr_weight_desc& desc) {
  // The file's mapping may place an f32 tensor off a 4-byte boundary: copy it then.
  std::vector<float> aligned;
  const auto* values = static_cast<const float*>(desc.data);
  if (reinterpret_cast<uintptr_t>(desc.data) % alignof(float) != 0) {
    aligned.resize(static_cast<size_t>(desc.rows) * static_cast<size_t>(desc.cols));
    std::memcpy(aligned.data(), desc.data, aligned.size() * sizeof(float));
    values = aligned.data();
  }
  return OnednnGemm::create_bf16(values, desc.rows, desc.cols);
}

}  // namespace

namespace api {

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out) {
  return tsr::sdk::guard([&] {
    require_initialized("weight_prepack");
    tsr_device_s* d = check_device(device, "weight_prepack");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "weight_prepack: out is NULL");
    plugin::check_weight_desc(desc);
    TSR_PLUGIN_CHECK(!host().cancel_requested(), TSR_ERROR_CODE_CANCELLED,
                     "weight_prepack: cancelled by the host");
    bind_threads();
    auto w = std::make_unique<tsr_weight_s>();
    w->device = d;
    w->format = desc->format;
    w->n = desc->rows;
    w->k = desc->cols;
    if (desc->format == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM) {
      w->asym = AsymInt4Weight::create(*desc);
    } else if (desc->format == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM) {
      w->asym8 = AsymInt8Weight::create(*desc);
      host().debug("weight " + std::to_string(desc->rows) + "x" + std::to_string(desc->cols) +
                   ": int8_group_asym, " + (w->asym8->five_bit() ? "5-bit tiles" : "uint8 rows"));
    } else if (is_quantized(desc->format)) {
      w->quant = QuantWeight::create(*desc);
    } else if (desc->format == TSR_WEIGHT_FORMAT_F16 || desc->format == TSR_WEIGHT_FORMAT_BF16) {
      // Kept 16-bit whatever the compute dtype: a step reads half the bytes of f32.
      w->half = HalfWeight::create(*desc);
    } else {
      // F32. With bf16 compute, oneDNN's matmul in bf16 where this CPU has a real bf16 kernel
      // (AVX-512 BF16 / AMX); otherwise our own f32 kernels, which allocate nothing per call.
      if (desc->compute_dtype == TSR_DTYPE_BF16) w->gemm = onednn_bf16_gemm(*desc);
      if (w->gemm) {
        host().debug("weight " + std::to_string(desc->rows) + "x" + std::to_string(desc->cols) +
                     ": oneDNN " + w->gemm->describe());
      } else {
        w->dense = F32Weight::create(*desc);
        host().debug("weight " + std::to_string(desc->rows) + "x" + std::to_string(desc->cols) +
                     ": f32, own GEMV below " + std::to_string(kF32GemmMinRows) +
                     " rows, tiles + sgemm above");
      }
    }
    d->live.fetch_add(1);
    *out = w.release();
  });
}

tsr_error* weight_destroy(tsr_weight_t weight) {
  return tsr::sdk::guard([&] {
    tsr_weight_s* w = check_weight(weight, "weight_destroy");
    w->device->live.fetch_sub(1);
    w->magic = kDeadMagic;
    delete w;
  });
}

tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes) {
  return tsr::sdk::guard([&] {
    tsr_weight_s* w = check_weight(weight, "weight_bytes");
    TSR_PLUGIN_CHECK_ARG(bytes != nullptr, "weight_bytes: bytes is NULL");
    *bytes = w->gemm    ? w->gemm->bytes()
             : w->dense ? w->dense->bytes()
             : w->half  ? w->half->bytes()
             : w->asym  ? w->asym->bytes()
             : w->asym8 ? w->asym8->bytes()
                        : w->quant->bytes();
  });
}

}  // namespace api

namespace ops {
namespace {

// Fault injection, for tests of how the engine and server survive a failing op: with the
// plugin option cpu.fail_linear_every=N, every Nth executed linear call of the process fails
// with INTERNAL (the calls in between run normally). Unset or 0: off.
void inject_linear_fault() {
  const char* text = host().option("cpu.fail_linear_every");
  if (text == nullptr) return;
  char* end = nullptr;
  const long long every = std::strtoll(text, &end, 10);
  TSR_PLUGIN_CHECK_ARG(end != text && *end == '\0' && every >= 0,
                       "cpu.fail_linear_every: '%s' is not a non-negative integer", text);
  if (every == 0) return;
  static std::atomic<long long> calls{0};
  const long long call = calls.fetch_add(1) + 1;
  TSR_PLUGIN_CHECK(call % every != 0, TSR_ERROR_CODE_INTERNAL,
                   "linear: injected fault (cpu.fail_linear_every=%lld, call %lld)", every, call);
}

}  // namespace

void linear(const tsr_linear_params* p, bool execute) {
  constexpr const char* op = "linear";
  const auto& prm = tsr::plugin::linear_params(p, op);
  const tsr_weight_s* w = check_weight(prm.weight, "linear: weight");
  const View x = view(prm.x, op, "x");
  require_activation(x, op, "x");
  require_dim(x, x.ndim - 1, w->k, op, "x");
  const auto outs = tsr::plugin::check_linear_outputs(prm, x, w->n, linear_out_parts_enabled(), op);
  View bias;
  const bool has_bias = present(prm.bias);
  if (has_bias) {
    bias = view(prm.bias, op, "bias");
    require_dtype(bias, x.dtype, op, "bias");
    require_ndim(bias, 1, op, "bias");
    require_dim(bias, 0, w->n, op, "bias");
    for (int i = 0; i < outs.count; ++i) require_no_overlap(outs.outs[i], bias, op, "out", "bias");
  }
  if (!execute) return;
  inject_linear_fault();

  const View& out = outs.outs[0];
  const int64_t m = x.rows();
  const int64_t n = w->n;
  const int64_t k = w->k;
  if (m == 0) return;
  // Activations in the dtype the kernel takes.
  const bool want_bf16 = w->gemm && w->gemm->bf16();
  const void* src = x.data;
  if (want_bf16 ? x.dtype != TSR_DTYPE_BF16 : x.dtype != TSR_DTYPE_F32) {
    float* conv = scratch_f32(4, static_cast<size_t>(want_bf16 ? (m * k + 1) / 2 : m * k));
    const tsr_dtype target = want_bf16 ? TSR_DTYPE_BF16 : TSR_DTYPE_F32;
    const size_t dst_elem = want_bf16 ? 2 : 4;
    parallel_for(
        m,
        [&](int64_t r) {
          float* row = scratch_f32(0, static_cast<size_t>(k));
          load_f32(x.data + static_cast<size_t>(r * k) * x.elem, x.dtype, row, k);
          store_f32(row, target,
                    reinterpret_cast<unsigned char*>(conv) + static_cast<size_t>(r * k) * dst_elem,
                    k);
        },
        m * k > kParallelGrain);
    src = conv;
  }
  // Split outputs go through one f32 [m, n] result and are copied out per row (a small part
  // of a GEMM's time; the kernels write rows of `ldo` = n).
  const bool direct = out.dtype == TSR_DTYPE_F32 && outs.count == 1;
  float* dst = direct ? out.as<float>() : scratch_f32(3, static_cast<size_t>(m * n));
  if (w->gemm) {
    w->gemm->run(src, m, dst);
  } else if (w->dense) {
    w->dense->run(static_cast<const float*>(src), m, dst);
  } else if (w->half) {
    w->half->run(static_cast<const float*>(src), m, dst);
  } else if (w->asym) {
    w->asym->run(static_cast<const float*>(src), m, dst);
  } else if (w->asym8) {
    w->asym8->run(static_cast<const float*>(src), m, dst);
  } else {
    w->quant->run(static_cast<const float*>(src), m, dst);
  }
  if (!has_bias && direct) return;
  const float* b = has_bias ? as_f32(bias.data, bias.dtype, n, 5) : nullptr;
  parallel_for(
      m,
      [&](int64_t r) {
        float* row = dst + r * n;
        if (b != nullptr) kernels().add(row, b, row, n);
        if (direct) return;
        int64_t column = 0;
        for (int i = 0; i < outs.count; ++i) {
          const View& o = outs.outs[i];
          const int64_t width = o.dim(o.ndim - 1);
          store_f32(row + column, o.dtype, o.data + static_cast<size_t>(r * width) * o.elem, width);
          column += width;
        }
      },
      m * n > kParallelGrain);
}

}  // namespace ops
}  // namespace tsr::cpu
