// Weight prepacking of the XPU plugin: the canonical layout of plugin.h is uploaded to the
// device unchanged (kernels/linear.cl dequantizes while it multiplies), so a weight costs its
// canonical bytes plus its f32 scales (and mins, for the asymmetric formats). The upload runs on a
// queue of its own and is waited for, since the caller's host data is only valid during the call.
#include <memory>

#include "tensor_check.h"
#include "weight_desc_check.h"
#include "xpu_internal.h"

namespace tsr::xpu {
namespace {

constexpr uint32_t kWeightMagic = 0x58505557u;  // "XPUW"
constexpr const char* kOp = "weight_prepack";

using plugin::weight_format_asym;
using plugin::weight_format_grouped;

size_t data_bytes(const tsr_weight_desc& d) {
  const size_t elems = static_cast<size_t>(d.rows) * static_cast<size_t>(d.cols);
  switch (d.format) {
    case TSR_WEIGHT_FORMAT_F32:
      return elems * 4;
    case TSR_WEIGHT_FORMAT_F16:
    case TSR_WEIGHT_FORMAT_BF16:
      return elems * 2;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return elems / 2;
    default:
      return elems;
  }
}

size_t scale_count(const tsr_weight_desc& d) {
  switch (d.format) {
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return static_cast<size_t>(d.rows);
    default:
      return weight_format_grouped(d.format)
                 ? static_cast<size_t>(d.rows) * static_cast<size_t>(d.cols / d.group_size)
                 : 0;
  }
}

// Frees what it holds unless released: the weight under construction.
struct WeightOwner {
  std::unique_ptr<tsr_weight_s> w;
  ~WeightOwner() {
    if (!w) return;
    if (w->data != nullptr) runtime().free(w->device->index, w->data);
    if (w->scales != nullptr) runtime().free(w->device->index, w->scales);
    if (w->mins != nullptr) runtime().free(w->device->index, w->mins);
  }
};

}  // namespace

const tsr_weight_s* check_weight(tsr_weight_t weight, const char* what) {
  TSR_PLUGIN_CHECK_ARG(weight != nullptr && weight->magic == kWeightMagic,
                       "%s: not a valid XPU weight handle", what);
  return weight;
}

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr, "%s: device is NULL", kOp);
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "%s: out is NULL", kOp);
    plugin::check_weight_desc(desc, kOp);
    const tsr_weight_desc& d = *desc;
    Runtime& rt = runtime();
    WeightOwner owner;
    owner.w.reset(new tsr_weight_s{kWeightMagic, device, d.format, d.rows, d.cols, d.group_size,
                                   nullptr, nullptr, nullptr, 0});
    tsr_weight_s& w = *owner.w;
    const size_t bytes = data_bytes(d);
    const size_t scales = scale_count(d) * sizeof(float);
    const size_t mins = weight_format_asym(d.format) ? scales : 0;
    w.data = rt.alloc(device->index, bytes, false, nullptr);
    if (scales > 0) w.scales = rt.alloc(device->index, scales, false, nullptr);
    if (mins > 0) w.mins = rt.alloc(device->index, mins, false, nullptr);
    RtQueue queue = rt.queue_create(device->index);
    try {
      rt.write(queue, w.data, 0, d.data, bytes);
      if (scales > 0) rt.write(queue, w.scales, 0, d.scales, scales);
      if (mins > 0) rt.write(queue, w.mins, 0, d.mins, mins);
      rt.queue_finish(queue);
    } catch (...) {
      rt.queue_destroy(queue);
      throw;
    }
    rt.queue_destroy(queue);
    w.bytes = bytes + scales + mins;
    device->dev->allocated += w.bytes;
    *out = owner.w.release();
  });
}

tsr_error* weight_destroy(tsr_weight_t weight) {
  return sdk::guard([&] {
    check_weight(weight, "weight_destroy");
    weight->device->dev->allocated -= weight->bytes;
    WeightOwner owner;
    owner.w.reset(weight);
    weight->magic = 0;
  });
}

tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes) {
  return sdk::guard([&] {
    const tsr_weight_s* w = check_weight(weight, "weight_bytes");
    TSR_PLUGIN_CHECK_ARG(bytes != nullptr, "weight_bytes: bytes is NULL");
    *bytes = w->bytes;
  });
}

}  // namespace tsr::xpu
