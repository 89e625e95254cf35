// A fake plugin for the loader tests, built many times with different compile definitions
// (see CMakeLists.txt next to it): well-behaved variants with N host-memory "devices", and
// deliberately broken variants (FAKE_KIND) that the loader must refuse with a reason.
// Written by hand: it exists to misbehave in controlled ways, which no package provides.
//
// The fake keeps live-object counters, exported as plain C functions, so tests can check
// that the host destroyed every error and freed every object before closing its device.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "tessera/plugin.h"

#define FAKE_KIND_NORMAL 0
#define FAKE_KIND_NO_SYMBOL 1
#define FAKE_KIND_NULL_API 2
#define FAKE_KIND_ABI_MAJOR 3
#define FAKE_KIND_SMALL_STRUCT 4
#define FAKE_KIND_INIT_FAILS 5
#define FAKE_KIND_NULL_FUNCTION 6
#define FAKE_KIND_COUNT_FAILS 7

#ifndef FAKE_KIND
#define FAKE_KIND FAKE_KIND_NORMAL
#endif
#ifndef FAKE_NAME
#error "FAKE_NAME must be defined"
#endif
#ifndef FAKE_VERSION
#define FAKE_VERSION "0.0.1"
#endif
#ifndef FAKE_DEVICES
#define FAKE_DEVICES 1
#endif
#ifndef FAKE_TYPE
#define FAKE_TYPE TSR_DEVICE_TYPE_OTHER
#endif

struct tsr_device_s {
  int32_t index;
  std::atomic<int> children{0};
};
struct tsr_buffer_s {
  tsr_device_s* device;
  std::vector<unsigned char> data;
};
struct tsr_stream_s {
  tsr_device_s* device;
};
struct tsr_event_s {
  tsr_device_s* device;
  std::chrono::steady_clock::time_point when;
  bool recorded;
};
struct tsr_weight_s {
  tsr_device_s* device;
  std::vector<unsigned char> data;
};

namespace {

constexpr uint64_t kDeviceMemory = 8ull << 30;
const tsr_host_api* g_host = nullptr;
int32_t g_devices = 0;
std::atomic<int> g_live_errors{0};
std::atomic<int> g_live_objects{0};
std::atomic<int> g_violations{0};
std::atomic<int> g_shutdowns{0};
std::atomic<uint64_t> g_allocated{0};

struct FakeError {
  tsr_error error;
  std::string message;
};

void destroy_error(tsr_error* error) {
  delete reinterpret_cast<FakeError*>(error);
  --g_live_errors;
}

tsr_error* make_error(tsr_error_code code, const std::string& message) {
  auto* e = new FakeError{{sizeof(tsr_error), code, nullptr, &destroy_error}, message};
  e->error.message = e->message.c_str();
  ++g_live_errors;
  return &e->error;
}

void log(tsr_log_level level, const std::string& message) {
  if (g_host != nullptr) g_host->log(g_host->ctx, level, FAKE_NAME, message.c_str());
}

template <class T>
T* adopt(T* object) {
  ++g_live_objects;
  ++object->device->children;
  return object;
}

template <class T>
void release(T* object) {
  --object->device->children;
  --g_live_objects;
  delete object;
}

tsr_error* initialize() {
#if FAKE_KIND == FAKE_KIND_INIT_FAILS
  log(TSR_LOG_LEVEL_DEBUG, "initialize fails on purpose");
  return make_error(TSR_ERROR_CODE_UNAVAILABLE, "no fake driver on this machine");
#else
  g_devices = FAKE_DEVICES;
  const std::string key = std::string(FAKE_NAME) + ".devices";
  if (const char* value = g_host->get_option(g_host->ctx, key.c_str()))
    g_devices = std::atoi(value);
  log(TSR_LOG_LEVEL_DEBUG, "initialized with " + std::to_string(g_devices) + " devices");
  return nullptr;
#endif
}

void shutdown() {
  ++g_shutdowns;
}

tsr_error* device_count(int32_t* count) {
#if FAKE_KIND == FAKE_KIND_COUNT_FAILS
  (void)count;
  return make_error(TSR_ERROR_CODE_UNAVAILABLE, "fake driver too old");
#else
  *count = g_devices;
  return nullptr;
#endif
}

tsr_error* device_get_properties(int32_t index, tsr_device_properties* props) {
  if (index < 0 || index >= g_devices)
    return make_error(TSR_ERROR_CODE_NOT_FOUND, "no such device");
  std::snprintf(props->name, sizeof props->name, "Fake %s device %d", FAKE_NAME, index);
  std::snprintf(props->vendor, sizeof props->vendor, "Tessera tests");
  std::snprintf(props->pci_bus_id, sizeof props->pci_bus_id, "0000:%02x:00.0", index + 1);
  props->type = FAKE_TYPE;
  props->total_memory = kDeviceMemory;
  props->compute_units = 4;
  props->caps = TSR_DEVICE_CAP_UNIFIED_HOST;
#ifdef FAKE_RUNS_MODELS
  props->activation_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_F32);
  props->weight_formats = TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_F32) |
                          TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_INT4_GROUP);
#endif
  return nullptr;
}

tsr_error* device_open(int32_t index, tsr_device_t* out) {
  if (index < 0 || index >= g_devices)
    return make_error(TSR_ERROR_CODE_NOT_FOUND, "no such device");
  *out = new tsr_device_s{index};
  ++g_live_objects;
  return nullptr;
}

tsr_error* device_close(tsr_device_t device) {
  if (device->children.load() != 0) {
    ++g_violations;
    return make_error(TSR_ERROR_CODE_FAILED_PRECONDITION, "device closed before its objects");
  }
  delete device;
  --g_live_objects;
  return nullptr;
}

tsr_error* device_memory_info(tsr_device_t, uint64_t* free_bytes, uint64_t* total_bytes) {
  *total_bytes = kDeviceMemory;
  *free_bytes = kDeviceMemory - g_allocated.load();
  return nullptr;
}

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind, tsr_buffer_t* out) {
  if (bytes > kDeviceMemory) {
    return make_error(TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                      "cannot allocate " + std::to_string(bytes) + " bytes");
  }
  *out = adopt(new tsr_buffer_s{device, std::vector<unsigned char>(bytes)});
  g_allocated += bytes;
  return nullptr;
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  g_allocated -= buffer->data.size();
  release(buffer);
  return nullptr;
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  *out = buffer->data.data();
  return nullptr;
}

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  *out = adopt(new tsr_stream_s{device});
  return nullptr;
}
tsr_error* stream_destroy(tsr_stream_t stream) {
  release(stream);
  return nullptr;
}
tsr_error* stream_synchronize(tsr_stream_t) {
  return nullptr;
}
tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  *out = adopt(new tsr_event_s{device, {}, false});
  return nullptr;
}
tsr_error* event_destroy(tsr_event_t event) {
  release(event);
  return nullptr;
}
tsr_error* event_record(tsr_event_t event, tsr_stream_t) {
  event->when = std::chrono::steady_clock::now();
  event->recorded = true;
  return nullptr;
}
tsr_error* event_synchronize(tsr_event_t) {
  return nullptr;
}
tsr_error* stream_wait_event(tsr_stream_t, tsr_event_t) {
  return nullptr;
}
tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  if (!start->recorded || !end->recorded) {
    return make_error(TSR_ERROR_CODE_FAILED_PRECONDITION, "event not recorded");
  }
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return nullptr;
}

tsr_error* memcpy_h2d(tsr_stream_t, tsr_buffer_t dst, size_t offset, const void* src, size_t n) {
  if (n != 0) std::memcpy(dst->data.data() + offset, src, n);
  return nullptr;
}
tsr_error* memcpy_d2h(tsr_stream_t, void* dst, tsr_buffer_t src, size_t offset, size_t n) {
  if (n != 0) std::memcpy(dst, src->data.data() + offset, n);
  return nullptr;
}
tsr_error* memcpy_d2d(tsr_stream_t, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t n) {
  if (n != 0) std::memmove(dst->data.data() + dst_offset, src->data.data() + src_offset, n);
  return nullptr;
}
tsr_error* memset_d(tsr_stream_t, tsr_buffer_t dst, size_t offset, int value, size_t n) {
  if (n != 0) std::memset(dst->data.data() + offset, value, n);
  return nullptr;
}

tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out) {
  if (desc->format != TSR_WEIGHT_FORMAT_F32) {
    return make_error(TSR_ERROR_CODE_UNIMPLEMENTED, "only f32 weights");
  }
  const size_t bytes = static_cast<size_t>(desc->rows * desc->cols) * sizeof(float);
  const auto* data = static_cast<const unsigned char*>(desc->data);
  *out = adopt(new tsr_weight_s{device, std::vector<unsigned char>(data, data + bytes)});
  return nullptr;
}
tsr_error* weight_destroy(tsr_weight_t weight) {
  release(weight);
  return nullptr;
}
tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes) {
  *bytes = weight->data.size();
  return nullptr;
}

tsr_error* kv_block_bytes(tsr_device_t, const tsr_kv_layout* layout, uint64_t* bytes) {
  if (layout->dtype != TSR_DTYPE_F32)
    return make_error(TSR_ERROR_CODE_INVALID_ARGUMENT, "f32 only");
  *bytes = 2ull * static_cast<uint64_t>(layout->num_kv_heads) *
           static_cast<uint64_t>(layout->head_dim) * static_cast<uint64_t>(layout->block_size) * 4;
  return nullptr;
}

int op_supported(tsr_device_t, tsr_op_id, const void*) {
#ifdef FAKE_RUNS_MODELS
  return 1;  // claimed for device selection only: the fake runs no op
#else
  return 0;
#endif
}

tsr_error* diagnose(const tsr_diag_sink* sink) {
  tsr_diag_item item{sizeof(tsr_diag_item), "fake.ok", "yes",  nullptr,
                     TSR_DIAG_STATUS_OK,    "fake",    nullptr};
  sink->push(sink->ctx, &item);
  return nullptr;
}

tsr_ops_api make_ops() {
  tsr_ops_api ops{};
  ops.struct_size = sizeof(tsr_ops_api);
  return ops;
}

const tsr_ops_api kOps = make_ops();

tsr_plugin_api make_api() {
  tsr_plugin_api api{};
  api.struct_size = sizeof(tsr_plugin_api);
  api.abi_major = TSR_ABI_VERSION_MAJOR;
  api.abi_minor = TSR_ABI_VERSION_MINOR;
  api.name = FAKE_NAME;
  api.version = FAKE_VERSION;
  api.device_type = FAKE_TYPE;
  api.initialize = &initialize;
  api.shutdown = &shutdown;
  api.device_count = &device_count;
  api.device_get_properties = &device_get_properties;
  api.device_open = &device_open;
  api.device_close = &device_close;
  api.device_memory_info = &device_memory_info;
  api.buffer_alloc = &buffer_alloc;
  api.buffer_free = &buffer_free;
  api.buffer_host_ptr = &buffer_host_ptr;
  api.stream_create = &stream_create;
  api.stream_destroy = &stream_destroy;
  api.stream_synchronize = &stream_synchronize;
  api.event_create = &event_create;
  api.event_destroy = &event_destroy;
  api.event_record = &event_record;
  api.event_synchronize = &event_synchronize;
  api.stream_wait_event = &stream_wait_event;
  api.event_elapsed_ms = &event_elapsed_ms;
  api.memcpy_h2d = &memcpy_h2d;
  api.memcpy_d2h = &memcpy_d2h;
  api.memcpy_d2d = &memcpy_d2d;
  api.memset_d = &memset_d;
  api.weight_prepack = &weight_prepack;
  api.weight_destroy = &weight_destroy;
  api.weight_bytes = &weight_bytes;
  api.kv_block_bytes = &kv_block_bytes;
  api.ops = &kOps;
  api.op_supported = &op_supported;
  api.diagnose = &diagnose;
#if FAKE_KIND == FAKE_KIND_ABI_MAJOR
  api.abi_major = TSR_ABI_VERSION_MAJOR + 1;
#elif FAKE_KIND == FAKE_KIND_SMALL_STRUCT
  api.struct_size = offsetof(tsr_plugin_api, initialize);
#elif FAKE_KIND == FAKE_KIND_NULL_FUNCTION
  api.memcpy_d2h = nullptr;
#endif
  return api;
}

const tsr_plugin_api kApi = make_api();

const tsr_plugin_api* get_api(const tsr_host_api* host, uint32_t abi_major, uint32_t) {
  if (abi_major != TSR_ABI_VERSION_MAJOR) return nullptr;
  g_host = host;
#if FAKE_KIND == FAKE_KIND_NULL_API
  log(TSR_LOG_LEVEL_WARN, "refusing to load (test)");
  return nullptr;
#else
  return &kApi;
#endif
}

}  // namespace

extern "C" {

#if FAKE_KIND == FAKE_KIND_NO_SYMBOL
// Exported under the wrong name: the loader must not find its entry point.
TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api_v0(const tsr_host_api* host,
                                                              uint32_t abi_major,
                                                              uint32_t abi_minor) {
  return get_api(host, abi_major, abi_minor);
}
#else
TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api(const tsr_host_api* host,
                                                           uint32_t abi_major, uint32_t abi_minor) {
  return get_api(host, abi_major, abi_minor);
}
#endif

#ifdef FAKE_SCORE
TSR_PLUGIN_EXPORT int32_t tsr_plugin_score(void) {
  return FAKE_SCORE;
}
#endif

// Test hooks (not part of the ABI).
TSR_PLUGIN_EXPORT int fake_live_errors(void) {
  return g_live_errors.load();
}
TSR_PLUGIN_EXPORT int fake_live_objects(void) {
  return g_live_objects.load();
}
TSR_PLUGIN_EXPORT int fake_violations(void) {
  return g_violations.load();
}
TSR_PLUGIN_EXPORT int fake_shutdowns(void) {
  return g_shutdowns.load();
}

}  // extern "C"
