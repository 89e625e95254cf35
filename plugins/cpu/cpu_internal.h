// Internal declarations shared by the CPU plugin's files: the opaque handle structs behind
// the ABI's tsr_*_t types, the host services and handle validation.
//
// Ownership: every handle is allocated with new by its create/alloc call and deleted by its
// destroy/free call. A device counts the objects made on it (live) so closing a device that
// still owns something fails instead of leaving dangling handles. Handles carry a magic
// number so that a stale or foreign pointer is reported as INVALID_ARGUMENT where possible.
#ifndef TESSERA_PLUGINS_CPU_CPU_INTERNAL_H
#define TESSERA_PLUGINS_CPU_CPU_INTERNAL_H

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "tessera/plugin.h"
#include "tessera/plugin.hpp"
#include "tensor_check.h"

namespace tsr::cpu {

// The shared op validation (View, view(), require_*; plugins/common/tensor_check.h).
using namespace tsr::plugin;

constexpr uint64_t kDeviceMagic = 0x7473722d63707544ull;
constexpr uint64_t kBufferMagic = 0x7473722d63707542ull;
constexpr uint64_t kStreamMagic = 0x7473722d63707553ull;
constexpr uint64_t kEventMagic = 0x7473722d63707545ull;
constexpr uint64_t kWeightMagic = 0x7473722d63707557ull;
constexpr uint64_t kGraphMagic = 0x7473722d63707547ull;
constexpr uint64_t kDeadMagic = 0xdeaddeaddeaddeadull;

// Buffers are aligned for the widest vector loads (AVX-512) and cache lines.
constexpr size_t kBufferAlignment = 64;

// The plugin's host services (logging, options), attached by tsr_plugin_get_api.
tsr::sdk::Host& host();

// True between initialize() and shutdown().
bool is_initialized();
void require_initialized(const char* what);

// TSR_DEVICE_CAP_LINEAR_OUT_PARTS is claimed (and linear takes out_parts) unless the host
// option cpu.linear_out_parts=0, which makes the engine run q, k and v as three GEMMs: the
// path of plugins without the capability, for tests and A/B benchmarks.
bool linear_out_parts_enabled();
// The host option cpu.q8_activations (default on): whether quantized linears quantize their
// activations to int8 per block of 32 (else f32 on dequantized weights). Asked at each
// call: the host answers with the options of the engine asking (several engines of one
// process may differ), so weights read it once, at prepack.
bool q8_activations_enabled();
// The host option cpu.amx (default on): whether quantized linears of 16 or more activation
// rows run on AMX tiles where the CPU, the OS and the build have AMX-INT8 (quant_tiles.h).
// Read once per weight, at prepack, like cpu.q8_activations.
bool amx_option_enabled();

}  // namespace tsr::cpu

struct tsr_device_s {
  uint64_t magic = tsr::cpu::kDeviceMagic;
  std::atomic<int64_t> live{0};  // buffers, streams, events and weights made on it
};

struct tsr_buffer_s {
  uint64_t magic = tsr::cpu::kBufferMagic;
  tsr_device_s* device = nullptr;
  tsr_buffer_kind kind = TSR_BUFFER_KIND_DEVICE;
  size_t bytes = 0;
  void* data = nullptr;  // never NULL, also for zero-byte buffers
};

struct tsr_graph_s;

struct tsr_stream_s {
  uint64_t magic = tsr::cpu::kStreamMagic;
  tsr_device_s* device = nullptr;
  // Non-NULL between graph_begin_capture and graph_end_capture: ops and device-side copies
  // are validated and recorded into it instead of running.
  tsr_graph_s* capturing = nullptr;
};

// A recorded sequence of ops (graph.cpp). Each step holds a copy of its op's params, whose
// tensors name buffers by handle, so a launch reads the buffers' contents at launch time,
// as a CUDA graph does.
struct tsr_graph_s {
  uint64_t magic = tsr::cpu::kGraphMagic;
  tsr_device_s* device = nullptr;
  std::vector<std::function<void()>> steps;
};

struct tsr_event_s {
  uint64_t magic = tsr::cpu::kEventMagic;
  tsr_device_s* device = nullptr;
  bool recorded = false;
  std::chrono::steady_clock::time_point when{};
};

namespace tsr::cpu {

tsr_device_s* check_device(tsr_device_t device, const char* what);
tsr_buffer_s* check_buffer(tsr_buffer_t buffer, const char* what);
tsr_stream_s* check_stream(tsr_stream_t stream, const char* what);
tsr_event_s* check_event(tsr_event_t event, const char* what);
// Throws FAILED_PRECONDITION when `stream` is capturing a graph: `what` cannot be recorded.
void refuse_during_capture(const tsr_stream_s* stream, const char* what);

// Throws INVALID_ARGUMENT unless [offset, offset + bytes) lies inside the buffer.
void check_range(const tsr_buffer_s* buffer, size_t offset, size_t bytes, const char* what);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_CPU_INTERNAL_H
