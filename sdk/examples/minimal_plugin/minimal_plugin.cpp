// The smallest complete Tessera plugin: one device backed by host memory, buffers,
// synchronous streams and events, copies, f32 weight prepacking, KV block sizes, and two
// ops (add, silu_mul) for f32. Everything else is NULL, which the host and the
// conformance suite read as "unsupported". A starting point for a new backend: replace the
// memcpy/loops with device runtime calls and add ops one at a time, running
// tessera-conformance after each.
//
// Ownership: every handle is a heap object owned by whoever received it from this plugin and
// released through the matching destroy/free call. Streams execute work at enqueue time,
// which trivially keeps "in enqueue order".
#include <tessera/plugin.h>
#include <tessera/plugin.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

struct tsr_device_s {
  int32_t index;
};
struct tsr_buffer_s {
  void* data;
  size_t size;
};
struct tsr_stream_s {
  tsr_device_s* device;
};
struct tsr_event_s {
  std::chrono::steady_clock::time_point when;
  bool recorded;
};
struct tsr_weight_s {
  std::vector<float> values;  // [rows][cols]
  int64_t rows, cols;
};

namespace {

using tsr::sdk::Error;
using tsr::sdk::guard;

tsr::sdk::Host g_host;
constexpr const char* kName = "minimal";

// ---- validation helpers ----------------------------------------------------------------

template <class T>
void check_params(const T* p, const char* op) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr, "%s: params is NULL", op);
  TSR_PLUGIN_CHECK_ARG(p->struct_size >= sizeof(T), "%s: params.struct_size %zu < %zu", op,
                       p->struct_size, sizeof(T));
}

void check_range(const tsr_buffer_s* b, size_t offset, size_t bytes, const char* what) {
  TSR_PLUGIN_CHECK_ARG(b != nullptr, "%s: buffer is NULL", what);
  TSR_PLUGIN_CHECK_ARG(offset <= b->size && bytes <= b->size - offset,
                       "%s: range [%zu, +%zu) outside a buffer of %zu bytes", what, offset, bytes,
                       b->size);
}

// The f32 data of a tensor, after checking its view lies inside its buffer.
float* f32_data(const tsr_tensor& t, const char* field) {
  TSR_PLUGIN_CHECK_ARG(t.struct_size >= sizeof(tsr_tensor), "%s: struct_size too small", field);
  TSR_PLUGIN_CHECK_ARG(t.dtype == TSR_DTYPE_F32, "%s: dtype %s, only f32 is supported", field,
                       tsr::sdk::dtype_name(t.dtype));
  TSR_PLUGIN_CHECK_ARG(t.ndim >= 1 && t.ndim <= TSR_MAX_DIMS, "%s: ndim %d", field, t.ndim);
  for (int32_t i = 0; i < t.ndim; ++i) {
    TSR_PLUGIN_CHECK_ARG(t.shape[i] >= 0, "%s: negative dimension", field);
  }
  check_range(t.buffer, t.offset, tsr::sdk::tensor_bytes(t), field);
  return reinterpret_cast<float*>(static_cast<char*>(t.buffer->data) + t.offset);
}

bool same_shape(const tsr_tensor& a, const tsr_tensor& b) {
  if (a.ndim != b.ndim) return false;
  for (int32_t i = 0; i < a.ndim; ++i) {
    if (a.shape[i] != b.shape[i]) return false;
  }
  return true;
}

void check_stream(tsr_stream_t s) {
  TSR_PLUGIN_CHECK_ARG(s != nullptr, "stream is NULL");
}

// ---- ops -------------------------------------------------------------------------------

void validate_add(const tsr_add_params* p) {
  check_params(p, "add");
  f32_data(p->a, "add.a");
  f32_data(p->b, "add.b");
  f32_data(p->out, "add.out");
  TSR_PLUGIN_CHECK_ARG(same_shape(p->a, p->b) && same_shape(p->a, p->out),
                       "add: a, b and out must have one shape");
}

tsr_error* op_add(tsr_stream_t stream, const tsr_add_params* p) {
  return guard([&] {
    check_stream(stream);
    validate_add(p);
    const float* a = f32_data(p->a, "add.a");
    const float* b = f32_data(p->b, "add.b");
    float* out = f32_data(p->out, "add.out");
    const int64_t n = tsr::sdk::tensor_numel(p->a);
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];  // out may alias a or b
  });
}

void validate_silu_mul(const tsr_silu_mul_params* p) {
  check_params(p, "silu_mul");
  f32_data(p->x, "silu_mul.x");
  f32_data(p->out, "silu_mul.out");
  TSR_PLUGIN_CHECK_ARG(p->x.ndim == 2 && p->out.ndim == 2, "silu_mul: x and out must be 2-D");
  TSR_PLUGIN_CHECK_ARG(p->x.shape[0] == p->out.shape[0] && p->x.shape[1] == 2 * p->out.shape[1],
                       "silu_mul: x must be [T, 2I] for out [T, I]");
}

tsr_error* op_silu_mul(tsr_stream_t stream, const tsr_silu_mul_params* p) {
  return guard([&] {
    check_stream(stream);
    validate_silu_mul(p);
    const float* x = f32_data(p->x, "silu_mul.x");
    float* out = f32_data(p->out, "silu_mul.out");
    const int64_t rows = p->out.shape[0], inner = p->out.shape[1];
    for (int64_t r = 0; r < rows; ++r) {
      const float* gate = x + r * 2 * inner;
      const float* up = gate + inner;
      for (int64_t i = 0; i < inner; ++i) {
        out[r * inner + i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
      }
    }
  });
}

const tsr_ops_api g_ops = [] {
  tsr_ops_api ops{};
  ops.struct_size = sizeof(tsr_ops_api);
  ops.add = &op_add;
  ops.silu_mul = &op_silu_mul;
  return ops;
}();

// Answers truthfully: the op exists and these params would pass its validation.
int op_supported(tsr_device_t, tsr_op_id op, const void* params) {
  try {
    switch (op) {
      case TSR_OP_ADD:
        if (params != nullptr) validate_add(static_cast<const tsr_add_params*>(params));
        return 1;
      case TSR_OP_SILU_MUL:
        if (params != nullptr) validate_silu_mul(static_cast<const tsr_silu_mul_params*>(params));
        return 1;
      default:
        return 0;
    }
  } catch (...) {
    return 0;
  }
}

// ---- lifecycle and devices ---------------------------------------------------------------

tsr_error* initialize() {
  return nullptr;
}
void shutdown() {}

tsr_error* device_count(int32_t* count) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(count != nullptr, "count is NULL");
    *count = 1;
  });
}

tsr_error* device_get_properties(int32_t index, tsr_device_properties* props) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(props != nullptr, "props is NULL");
    TSR_PLUGIN_CHECK(index == 0, TSR_ERROR_CODE_NOT_FOUND, "no device %d (there is one)", index);
    tsr_device_properties full{};
    std::snprintf(full.name, sizeof full.name, "minimal host-memory device");
    std::snprintf(full.vendor, sizeof full.vendor, "Tessera SDK example");
    full.type = TSR_DEVICE_TYPE_OTHER;
    full.total_memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                        static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    full.compute_units = 1;
    full.caps = TSR_DEVICE_CAP_UNIFIED_HOST;
    full.activation_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_F32);
    full.kv_cache_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_F32);
    full.weight_formats = TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_F32);
    // Write only what the caller's struct_size covers, and keep its struct_size.
    const size_t caller_size = props->struct_size;
    const size_t n = std::min(caller_size, sizeof full);
    if (n > sizeof(size_t)) {
      std::memcpy(reinterpret_cast<char*>(props) + sizeof(size_t),
                  reinterpret_cast<const char*>(&full) + sizeof(size_t), n - sizeof(size_t));
    }
  });
}

tsr_error* device_open(int32_t index, tsr_device_t* out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "out is NULL");
    TSR_PLUGIN_CHECK(index == 0, TSR_ERROR_CODE_NOT_FOUND, "no device %d (there is one)", index);
    *out = new tsr_device_s{index};
  });
}

tsr_error* device_close(tsr_device_t device) {
  delete device;
  return nullptr;
}

tsr_error* device_memory_info(tsr_device_t, uint64_t* free_bytes, uint64_t* total_bytes) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(free_bytes != nullptr && total_bytes != nullptr, "NULL output");
    const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    *total_bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * page;
    *free_bytes = std::min(*total_bytes, static_cast<uint64_t>(sysconf(_SC_AVPHYS_PAGES)) * page);
  });
}

// ---- buffers, streams, events, copies ------------------------------------------------------

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                        tsr_buffer_t* out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "device or out is NULL");
    TSR_PLUGIN_CHECK_ARG(kind == TSR_BUFFER_KIND_DEVICE || kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "unknown buffer kind %d", static_cast<int>(kind));
    void* data = nullptr;
    if (bytes > 0) {
      data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      TSR_PLUGIN_CHECK(data != nullptr, TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                       "cannot allocate %zu bytes", bytes);
    }
    *out = new tsr_buffer_s{data, bytes};
  });
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  if (buffer != nullptr) std::free(buffer->data);
  delete buffer;
  return nullptr;
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr && out != nullptr, "buffer or out is NULL");
    *out = buffer->data;
  });
}

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "device or out is NULL");
    *out = new tsr_stream_s{device};
  });
}

tsr_error* stream_destroy(tsr_stream_t stream) {
  delete stream;
  return nullptr;
}

tsr_error* stream_synchronize(tsr_stream_t stream) {
  return guard([&] { check_stream(stream); });
}

tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "device or out is NULL");
    *out = new tsr_event_s{{}, false};
  });
}

tsr_error* event_destroy(tsr_event_t event) {
  delete event;
  return nullptr;
}

tsr_error* event_record(tsr_event_t event, tsr_stream_t stream) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event is NULL");
    check_stream(stream);
    event->when = std::chrono::steady_clock::now();
    event->recorded = true;
  });
}

tsr_error* event_synchronize(tsr_event_t event) {
  return guard([&] { TSR_PLUGIN_CHECK_ARG(event != nullptr, "event is NULL"); });
}

tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event) {
  return guard([&] {
    check_stream(stream);
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event is NULL");
  });
}

tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(start != nullptr && end != nullptr && ms != nullptr, "NULL argument");
    TSR_PLUGIN_CHECK(start->recorded && end->recorded, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "event_elapsed_ms: both events must be recorded");
    *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  });
}

tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes) {
  return guard([&] {
    check_stream(stream);
    check_range(dst, dst_offset, bytes, "memcpy_h2d dst");
    TSR_PLUGIN_CHECK_ARG(src != nullptr || bytes == 0, "memcpy_h2d: src is NULL");
    if (bytes > 0) std::memcpy(static_cast<char*>(dst->data) + dst_offset, src, bytes);
  });
}

tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes) {
  return guard([&] {
    check_stream(stream);
    check_range(src, src_offset, bytes, "memcpy_d2h src");
    TSR_PLUGIN_CHECK_ARG(dst != nullptr || bytes == 0, "memcpy_d2h: dst is NULL");
    if (bytes > 0) std::memcpy(dst, static_cast<const char*>(src->data) + src_offset, bytes);
  });
}

tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes) {
  return guard([&] {
    check_stream(stream);
    check_range(dst, dst_offset, bytes, "memcpy_d2d dst");
    check_range(src, src_offset, bytes, "memcpy_d2d src");
    if (bytes > 0) {
      std::memmove(static_cast<char*>(dst->data) + dst_offset,
                   static_cast<const char*>(src->data) + src_offset, bytes);
    }
  });
}

tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes) {
  return guard([&] {
    check_stream(stream);
    check_range(dst, offset, bytes, "memset_d");
    if (bytes > 0) std::memset(static_cast<char*>(dst->data) + offset, value, bytes);
  });
}

// ---- weights and KV ------------------------------------------------------------------------

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* d, tsr_weight_t* out) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && d != nullptr && out != nullptr, "NULL argument");
    TSR_PLUGIN_CHECK_ARG(d->struct_size >= offsetof(tsr_weight_desc, mins),
                         "desc.struct_size too small");
    TSR_PLUGIN_CHECK_ARG(
        d->format >= TSR_WEIGHT_FORMAT_F32 && d->format <= TSR_WEIGHT_FORMAT_FP8_E4M3,
        "unknown weight format %d", static_cast<int>(d->format));
    TSR_PLUGIN_CHECK(d->format == TSR_WEIGHT_FORMAT_F32, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "only f32 weights are supported");
    TSR_PLUGIN_CHECK_ARG(d->rows > 0 && d->cols > 0, "rows and cols must be positive");
    TSR_PLUGIN_CHECK_ARG(d->data != nullptr, "desc.data is NULL");
    const auto* src = static_cast<const float*>(d->data);
    *out = new tsr_weight_s{std::vector<float>(src, src + d->rows * d->cols), d->rows, d->cols};
  });
}

tsr_error* weight_destroy(tsr_weight_t weight) {
  delete weight;
  return nullptr;
}

tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(weight != nullptr && bytes != nullptr, "NULL argument");
    *bytes = weight->values.size() * sizeof(float);
  });
}

tsr_error* kv_block_bytes(tsr_device_t, const tsr_kv_layout* layout, uint64_t* bytes) {
  return guard([&] {
    TSR_PLUGIN_CHECK_ARG(layout != nullptr && bytes != nullptr, "NULL argument");
    TSR_PLUGIN_CHECK_ARG(layout->num_kv_heads > 0 && layout->head_dim > 0 && layout->block_size > 0,
                         "kv layout: heads, head_dim and block_size must be positive");
    TSR_PLUGIN_CHECK(layout->dtype == TSR_DTYPE_F32, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "only an f32 KV cache is supported");
    *bytes = 2ull * layout->block_size * layout->num_kv_heads * layout->head_dim * sizeof(float);
  });
}

const tsr_plugin_api g_api = [] {
  tsr_plugin_api a{};
  a.struct_size = sizeof(tsr_plugin_api);
  a.abi_major = TSR_ABI_VERSION_MAJOR;
  a.abi_minor = TSR_ABI_VERSION_MINOR;
  a.name = kName;
  a.version = "0.1.0";
  a.device_type = TSR_DEVICE_TYPE_OTHER;
  a.initialize = &initialize;
  a.shutdown = &shutdown;
  a.device_count = &device_count;
  a.device_get_properties = &device_get_properties;
  a.device_open = &device_open;
  a.device_close = &device_close;
  a.device_memory_info = &device_memory_info;
  a.buffer_alloc = &buffer_alloc;
  a.buffer_free = &buffer_free;
  a.buffer_host_ptr = &buffer_host_ptr;
  a.stream_create = &stream_create;
  a.stream_destroy = &stream_destroy;
  a.stream_synchronize = &stream_synchronize;
  a.event_create = &event_create;
  a.event_destroy = &event_destroy;
  a.event_record = &event_record;
  a.event_synchronize = &event_synchronize;
  a.stream_wait_event = &stream_wait_event;
  a.event_elapsed_ms = &event_elapsed_ms;
  a.memcpy_h2d = &memcpy_h2d;
  a.memcpy_d2h = &memcpy_d2h;
  a.memcpy_d2d = &memcpy_d2d;
  a.memset_d = &memset_d;
  a.weight_prepack = &weight_prepack;
  a.weight_destroy = &weight_destroy;
  a.weight_bytes = &weight_bytes;
  a.kv_block_bytes = &kv_block_bytes;
  a.ops = &g_ops;
  a.op_supported = &op_supported;
  return a;
}();

}  // namespace

extern "C" TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api(const tsr_host_api* host,
                                                                      uint32_t abi_major,
                                                                      uint32_t abi_minor) {
  g_host.attach(host, kName);
  if (abi_major != TSR_ABI_VERSION_MAJOR) {
    g_host.log(TSR_LOG_LEVEL_ERROR,
               tsr::sdk::format("host ABI %u.%u, plugin built for %d.%d", abi_major, abi_minor,
                                TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR));
    return nullptr;
  }
  return &g_api;
}

extern "C" TSR_PLUGIN_EXPORT int32_t tsr_plugin_score(void) {
  return 1;
}
