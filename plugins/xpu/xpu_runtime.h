// The one internal interface the XPU plugin's ops and memory calls use, with two thin
// implementations: Level Zero (runtime_level_zero.cpp, the production path on Intel GPUs,
// kernels loaded as SPIR-V built at build time) and OpenCL (runtime_opencl.cpp, kernels
// compiled from the same OpenCL C source at first use; how CI runs every kernel on PoCL).
// The plugin option xpu.runtime=level_zero|opencl|auto picks one per process (xpu_plugin.cpp).
//
// Only memory, queues, events, the kernel program and launches live here: no op logic.
// Handles are opaque pointers owned by the runtime that made them (RtMem: a Level Zero USM
// pointer or a cl_mem). Every call throws sdk::Error on failure. A queue runs its work in
// enqueue order (an in-order OpenCL queue; a Level Zero immediate list with a barrier after
// each command).
//
// Kernel arguments: a buffer argument is passed to the kernel as two parameters, the
// buffer's base (a global pointer) and a byte offset (ulong), because OpenCL 1.2 cannot
// point into the middle of a cl_mem without sub-buffers and their alignment rules; the
// kernels rebuild the element pointer (kernels/common.cl, XPU_PTR).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tsr::xpu {

using RtMem = void*;
using RtQueue = void*;
using RtEvent = void*;
using RtKernel = void*;

struct RtDeviceInfo {
  std::string name;
  std::string vendor;
  std::string pci_bus_id;  // "" when the runtime does not say
  uint64_t total_memory = 0;
  uint32_t compute_units = 0;
  bool is_gpu = true;
};

struct KernelArg {
  enum class Kind { kBuffer, kScalar };
  Kind kind = Kind::kScalar;
  RtMem mem = nullptr;          // kBuffer: may be nullptr for an absent optional tensor
  uint64_t offset = 0;          // kBuffer: bytes from the buffer's start
  const void* value = nullptr;  // kScalar
  size_t size = 0;              // kScalar

  static KernelArg buffer(RtMem mem, uint64_t offset) {
    KernelArg a;
    a.kind = Kind::kBuffer;
    a.mem = mem;
    a.offset = offset;
    return a;
  }
  template <class T>
  static KernelArg scalar(const T& v) {
    KernelArg a;
    a.value = &v;
    a.size = sizeof(T);
    return a;
  }
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual const char* name() const = 0;  // "level_zero" or "opencl"
  // Why there is no device ("" when there is one).
  virtual const std::string& no_device_reason() const = 0;
  virtual int device_count() const = 0;
  virtual const RtDeviceInfo& info(int device) const = 0;

  // Device memory, or host memory the device reads (host == true: *host_ptr gets its
  // address, valid until free).
  virtual RtMem alloc(int device, size_t bytes, bool host, void** host_ptr) = 0;
  virtual void free(int device, RtMem mem) = 0;

  virtual RtQueue queue_create(int device) = 0;
  virtual void queue_destroy(RtQueue queue) = 0;
  virtual void queue_finish(RtQueue queue) = 0;
  virtual void copy(RtQueue queue, RtMem dst, size_t dst_offset, RtMem src, size_t src_offset,
                    size_t bytes) = 0;
  // From pageable host memory: `src` may be reused as soon as this returns.
  virtual void write(RtQueue queue, RtMem dst, size_t offset, const void* src, size_t bytes) = 0;
  // To host memory that stays valid until the queue is finished.
  virtual void read(RtQueue queue, void* dst, RtMem src, size_t offset, size_t bytes) = 0;
  virtual void fill(RtQueue queue, RtMem dst, size_t offset, uint8_t value, size_t bytes) = 0;

  virtual RtEvent event_create(int device) = 0;
  virtual void event_destroy(RtEvent event) = 0;
  // Signalled once everything enqueued on `queue` before it has finished.
  virtual void event_record(RtEvent event, RtQueue queue) = 0;
  virtual void event_wait_host(RtEvent event) = 0;
  virtual void queue_wait_event(RtQueue queue, RtEvent event) = 0;
  virtual float elapsed_ms(RtEvent start, RtEvent end) = 0;

  // The named kernel of the plugin's program on `device`, built (or loaded) once per process.
  virtual RtKernel kernel(int device, const char* name) = 0;
  // groups[i] work-groups of local[i] work-items in each of three dimensions.
  virtual void launch(RtQueue queue, RtKernel kernel, const KernelArg* args, size_t num_args,
                      const size_t groups[3], const size_t local[3]) = 0;
};

// Each returns a runtime with zero or more devices (never null); `gpu_only` keeps GPUs only
// (OpenCL under xpu.runtime=auto; PoCL's CPU device is taken only when asked for by name).
std::unique_ptr<Runtime> make_level_zero_runtime();
std::unique_ptr<Runtime> make_opencl_runtime(bool gpu_only);

// The kernel program, embedded at build time (xpu_kernels_embed.cpp, generated).
struct KernelProgram {
  const char* source = nullptr;  // OpenCL C 1.2, all of kernels/*.cl
  size_t source_size = 0;
  const unsigned char* spirv = nullptr;  // nullptr when the build had no SPIR-V tools
  size_t spirv_size = 0;
};
const KernelProgram& kernel_program();

}  // namespace tsr::xpu
