// The XPU plugin's OpenCL runtime (see xpu_runtime.h): the ICD loader (libOpenCL.so.1) is
// opened with dlopen so the plugin loads where it is missing; the kernel program is built
// from the embedded OpenCL C 1.2 source once per device and process (PoCL keeps its own
// on-disk cache of compiled programs as well, so later processes skip LLVM).
//
// One context and one in-order, profiling-enabled queue per stream, per device. Host-visible
// buffers are CL_MEM_ALLOC_HOST_PTR buffers mapped once for their lifetime: OpenCL 1.2 has no
// pinned-host allocation of its own, and the plugin only copies to and from them between
// host accesses that the ABI already orders with stream synchronization.
#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <dlfcn.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/plugin.hpp"
#include "xpu_runtime.h"

namespace tsr::xpu {
namespace {

#define TSR_CL_FUNCTIONS(X)       \
  X(clGetPlatformIDs)             \
  X(clGetPlatformInfo)            \
  X(clGetDeviceIDs)               \
  X(clGetDeviceInfo)              \
  X(clCreateContext)              \
  X(clReleaseContext)             \
  X(clCreateCommandQueue)         \
  X(clReleaseCommandQueue)        \
  X(clFinish)                     \
  X(clCreateBuffer)               \
  X(clReleaseMemObject)           \
  X(clEnqueueCopyBuffer)          \
  X(clEnqueueWriteBuffer)         \
  X(clEnqueueReadBuffer)          \
  X(clEnqueueFillBuffer)          \
  X(clEnqueueMapBuffer)           \
  X(clEnqueueUnmapMemObject)      \
  X(clEnqueueMarkerWithWaitList)  \
  X(clEnqueueBarrierWithWaitList) \
  X(clWaitForEvents)              \
  X(clReleaseEvent)               \
  X(clGetEventProfilingInfo)      \
  X(clCreateProgramWithSource)    \
  X(clBuildProgram)               \
  X(clGetProgramBuildInfo)        \
  X(clReleaseProgram)             \
  X(clCreateKernel)               \
  X(clReleaseKernel)              \
  X(clSetKernelArg)               \
  X(clEnqueueNDRangeKernel)

struct ClLoader {
  std::string error;
#define TSR_CL_MEMBER(name) decltype(&::name) name = nullptr;
  TSR_CL_FUNCTIONS(TSR_CL_MEMBER)
#undef TSR_CL_MEMBER
};

const ClLoader& cl() {
  static const ClLoader loader = [] {
    ClLoader l;
    void* handle = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      l.error = why != nullptr ? why : "dlopen(libOpenCL.so.1) failed";
      return l;
    }
#define TSR_CL_RESOLVE(name)                                         \
  l.name = reinterpret_cast<decltype(l.name)>(dlsym(handle, #name)); \
  if (l.name == nullptr && l.error.empty()) l.error = "libOpenCL.so.1 lacks " #name;
    TSR_CL_FUNCTIONS(TSR_CL_RESOLVE)
#undef TSR_CL_RESOLVE
    return l;
  }();
  return loader;
}

void check_cl(cl_int rc, const char* what) {
  if (rc == CL_SUCCESS) return;
  tsr_error_code code = TSR_ERROR_CODE_INTERNAL;
  if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES ||
      rc == CL_OUT_OF_HOST_MEMORY || rc == CL_INVALID_BUFFER_SIZE) {
    code = TSR_ERROR_CODE_RESOURCE_EXHAUSTED;
  }
  throw sdk::Error(code, sdk::format("%s failed: OpenCL error %d", what, static_cast<int>(rc)));
}

std::string device_string(cl_device_id device, cl_device_info what) {
  size_t size = 0;
  if (cl().clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  cl().clGetDeviceInfo(device, what, size, s.data(), nullptr);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

template <class T>
T device_value(cl_device_id device, cl_device_info what) {
  T value{};
  cl().clGetDeviceInfo(device, what, sizeof value, &value, nullptr);
  return value;
}

struct ClDevice {
  cl_device_id id = nullptr;
  cl_context context = nullptr;
  cl_command_queue internal = nullptr;  // for mapping host buffers
  RtDeviceInfo info;
  uint64_t max_alloc = 0;  // CL_DEVICE_MAX_MEM_ALLOC_SIZE
  std::mutex mutex;        // guards program, kernels and argument setting + enqueue
  cl_program program = nullptr;
  std::map<std::string, cl_kernel> kernels;
};

struct ClMem {
  cl_mem mem = nullptr;
  void* host = nullptr;  // mapped address of a host-visible buffer
  ClDevice* device = nullptr;
};

struct ClQueue {
  cl_command_queue queue = nullptr;
  ClDevice* device = nullptr;
};

struct ClEvent {
  cl_event event = nullptr;  // the last recorded marker, or nullptr
};

class OpenClRuntime final : public Runtime {
 public:
  explicit OpenClRuntime(bool gpu_only) {
    if (!cl().error.empty()) {
      reason_ = "OpenCL ICD loader not found (" + cl().error + ")";
      return;
    }
    cl_uint platform_count = 0;
    if (cl().clGetPlatformIDs(0, nullptr, &platform_count) != CL_SUCCESS || platform_count == 0) {
      reason_ = "no OpenCL platform (no ICD installed)";
      return;
    }
    std::vector<cl_platform_id> platforms(platform_count);
    check_cl(cl().clGetPlatformIDs(platform_count, platforms.data(), nullptr), "clGetPlatformIDs");
    for (cl_platform_id platform : platforms) {
      cl_uint count = 0;
      const cl_device_type type = gpu_only ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_ALL;
      if (cl().clGetDeviceIDs(platform, type, 0, nullptr, &count) != CL_SUCCESS) continue;
      std::vector<cl_device_id> ids(count);
      check_cl(cl().clGetDeviceIDs(platform, type, count, ids.data(), nullptr), "clGetDeviceIDs");
      for (cl_device_id id : ids) add_device(id, gpu_only);
    }
    if (devices_.empty()) {
      reason_ = gpu_only ? "no OpenCL GPU device" : "no OpenCL device";
    }
  }

  ~OpenClRuntime() override {
    for (auto& d : devices_) {
      for (auto& [name, k] : d->kernels) cl().clReleaseKernel(k);
      if (d->program != nullptr) cl().clReleaseProgram(d->program);
      if (d->internal != nullptr) cl().clReleaseCommandQueue(d->internal);
      if (d->context != nullptr) cl().clReleaseContext(d->context);
    }
  }

  const char* name() const override { return "opencl"; }
  const std::string& no_device_reason() const override { return reason_; }
  int device_count() const override { return static_cast<int>(devices_.size()); }
  const RtDeviceInfo& info(int device) const override { return devices_.at(device)->info; }

  RtMem alloc(int device, size_t bytes, bool host, void** host_ptr) override {
    ClDevice& d = *devices_.at(device);
    TSR_PLUGIN_CHECK(bytes <= d.max_alloc, TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                     "a buffer of %zu bytes exceeds the OpenCL device's largest allocation "
                     "(CL_DEVICE_MAX_MEM_ALLOC_SIZE %llu bytes): lower "
                     "--gpu-memory-utilization or the KV cache size",
                     bytes, static_cast<unsigned long long>(d.max_alloc));
    cl_int rc = CL_SUCCESS;
    const cl_mem_flags flags = CL_MEM_READ_WRITE | (host ? CL_MEM_ALLOC_HOST_PTR : 0);
    cl_mem mem = cl().clCreateBuffer(d.context, flags, bytes, nullptr, &rc);
    check_cl(rc, sdk::format("clCreateBuffer(%zu bytes)", bytes).c_str());
    auto* m = new ClMem{mem, nullptr, &d};
    if (host) {
      std::lock_guard<std::mutex> lock(d.mutex);
      m->host = cl().clEnqueueMapBuffer(d.internal, mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                        bytes, 0, nullptr, nullptr, &rc);
      if (rc != CL_SUCCESS) {
        cl().clReleaseMemObject(mem);
        delete m;
        check_cl(rc, "clEnqueueMapBuffer");
      }
      if (host_ptr != nullptr) *host_ptr = m->host;
    }
    return m;
  }

  void free(int, RtMem mem) override {
    auto* m = static_cast<ClMem*>(mem);
    if (m->host != nullptr) {
      std::lock_guard<std::mutex> lock(m->device->mutex);
      cl().clEnqueueUnmapMemObject(m->device->internal, m->mem, m->host, 0, nullptr, nullptr);
      cl().clFinish(m->device->internal);
    }
    const cl_int rc = cl().clReleaseMemObject(m->mem);
    delete m;
    check_cl(rc, "clReleaseMemObject");
  }

  RtQueue queue_create(int device) override {
    ClDevice& d = *devices_.at(device);
    cl_int rc = CL_SUCCESS;
    cl_command_queue q = cl().clCreateCommandQueue(d.context, d.id, CL_QUEUE_PROFILING_ENABLE, &rc);
    check_cl(rc, "clCreateCommandQueue");
    return new ClQueue{q, &d};
  }

  void queue_destroy(RtQueue queue) override {
    auto* q = static_cast<ClQueue*>(queue);
    cl().clFinish(q->queue);
    const cl_int rc = cl().clReleaseCommandQueue(q->queue);
    delete q;
    check_cl(rc, "clReleaseCommandQueue");
  }

  void queue_finish(RtQueue queue) override {
    check_cl(cl().clFinish(static_cast<ClQueue*>(queue)->queue), "clFinish");
  }

  void copy(RtQueue queue, RtMem dst, size_t dst_offset, RtMem src, size_t src_offset,
            size_t bytes) override {
    check_cl(cl().clEnqueueCopyBuffer(q(queue), mem(src), mem(dst), src_offset, dst_offset, bytes,
                                      0, nullptr, nullptr),
             "clEnqueueCopyBuffer");
  }

  void write(RtQueue queue, RtMem dst, size_t offset, const void* src, size_t bytes) override {
    // Blocking: the ABI lets the caller reuse a pageable source when the call returns.
    check_cl(cl().clEnqueueWriteBuffer(q(queue), mem(dst), CL_TRUE, offset, bytes, src, 0, nullptr,
                                       nullptr),
             "clEnqueueWriteBuffer");
  }

  void read(RtQueue queue, void* dst, RtMem src, size_t offset, size_t bytes) override {
    check_cl(cl().clEnqueueReadBuffer(q(queue), mem(src), CL_FALSE, offset, bytes, dst, 0, nullptr,
                                      nullptr),
             "clEnqueueReadBuffer");
  }

  void fill(RtQueue queue, RtMem dst, size_t offset, uint8_t value, size_t bytes) override {
    check_cl(
        cl().clEnqueueFillBuffer(q(queue), mem(dst), &value, 1, offset, bytes, 0, nullptr, nullptr),
        "clEnqueueFillBuffer");
  }

  RtEvent event_create(int) override { return new ClEvent{}; }

  void event_destroy(RtEvent event) override {
    auto* e = static_cast<ClEvent*>(event);
    if (e->event != nullptr) cl().clReleaseEvent(e->event);
    delete e;
  }

  void event_record(RtEvent event, RtQueue queue) override {
    auto* e = static_cast<ClEvent*>(event);
    cl_event marker = nullptr;
    check_cl(cl().clEnqueueMarkerWithWaitList(q(queue), 0, nullptr, &marker),
             "clEnqueueMarkerWithWaitList");
    if (e->event != nullptr) cl().clReleaseEvent(e->event);
    e->event = marker;
  }

  void event_wait_host(RtEvent event) override {
    auto* e = static_cast<ClEvent*>(event);
    if (e->event != nullptr) check_cl(cl().clWaitForEvents(1, &e->event), "clWaitForEvents");
  }

  void queue_wait_event(RtQueue queue, RtEvent event) override {
    auto* e = static_cast<ClEvent*>(event);
    if (e->event == nullptr) return;
    check_cl(cl().clEnqueueBarrierWithWaitList(q(queue), 1, &e->event, nullptr),
             "clEnqueueBarrierWithWaitList");
  }

  float elapsed_ms(RtEvent start, RtEvent end) override {
    auto* a = static_cast<ClEvent*>(start);
    auto* b = static_cast<ClEvent*>(end);
    TSR_PLUGIN_CHECK(a->event != nullptr && b->event != nullptr, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "event_elapsed_ms: both events must have been recorded");
    cl_ulong ta = 0;
    cl_ulong tb = 0;
    check_cl(
        cl().clGetEventProfilingInfo(a->event, CL_PROFILING_COMMAND_END, sizeof ta, &ta, nullptr),
        "clGetEventProfilingInfo");
    check_cl(
        cl().clGetEventProfilingInfo(b->event, CL_PROFILING_COMMAND_END, sizeof tb, &tb, nullptr),
        "clGetEventProfilingInfo");
    return static_cast<float>(static_cast<double>(tb - ta) / 1e6);
  }

  RtKernel kernel(int device, const char* name) override {
    ClDevice& d = *devices_.at(device);
    std::lock_guard<std::mutex> lock(d.mutex);
    if (auto it = d.kernels.find(name); it != d.kernels.end()) return it->second;
    if (d.program == nullptr) build_program(d);
    cl_int rc = CL_SUCCESS;
    cl_kernel k = cl().clCreateKernel(d.program, name, &rc);
    check_cl(rc, sdk::format("clCreateKernel(%s)", name).c_str());
    d.kernels.emplace(name, k);
    return k;
  }

  void launch(RtQueue queue, RtKernel kernel, const KernelArg* args, size_t num_args,
              const size_t groups[3], const size_t local[3]) override {
    auto* qu = static_cast<ClQueue*>(queue);
    auto k = static_cast<cl_kernel>(kernel);
    size_t global[3];
    for (int i = 0; i < 3; ++i) global[i] = groups[i] * local[i];
    if (global[0] == 0 || global[1] == 0 || global[2] == 0) return;
    // A kernel object's arguments are shared state: set and enqueue under the device lock.
    std::lock_guard<std::mutex> lock(qu->device->mutex);
    cl_uint index = 0;
    for (size_t i = 0; i < num_args; ++i) {
      if (args[i].kind == KernelArg::Kind::kBuffer) {
        cl_mem m = args[i].mem != nullptr ? mem(args[i].mem) : nullptr;
        const cl_ulong offset = args[i].offset;
        check_cl(cl().clSetKernelArg(k, index++, sizeof m, &m), "clSetKernelArg");
        check_cl(cl().clSetKernelArg(k, index++, sizeof offset, &offset), "clSetKernelArg");
      } else {
        check_cl(cl().clSetKernelArg(k, index++, args[i].size, args[i].value), "clSetKernelArg");
      }
    }
    check_cl(
        cl().clEnqueueNDRangeKernel(qu->queue, k, 3, nullptr, global, local, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
  }

 private:
  static cl_command_queue q(RtQueue queue) { return static_cast<ClQueue*>(queue)->queue; }
  static cl_mem mem(RtMem m) { return static_cast<ClMem*>(m)->mem; }

  void add_device(cl_device_id id, bool gpu_only) {
    if (gpu_only && device_value<cl_uint>(id, CL_DEVICE_VENDOR_ID) != 0x8086) return;
    auto d = std::make_unique<ClDevice>();
    d->id = id;
    cl_int rc = CL_SUCCESS;
    d->context = cl().clCreateContext(nullptr, 1, &id, nullptr, nullptr, &rc);
    check_cl(rc, "clCreateContext");
    d->internal = cl().clCreateCommandQueue(d->context, id, 0, &rc);
    check_cl(rc, "clCreateCommandQueue");
    d->info.name = device_string(id, CL_DEVICE_NAME);
    d->info.vendor = device_string(id, CL_DEVICE_VENDOR);
    d->info.total_memory = device_value<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_SIZE);
    d->max_alloc = device_value<cl_ulong>(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    d->info.compute_units = device_value<cl_uint>(id, CL_DEVICE_MAX_COMPUTE_UNITS);
    d->info.is_gpu = (device_value<cl_device_type>(id, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_GPU) != 0;
    devices_.push_back(std::move(d));
  }

  static void build_program(ClDevice& d) {
    const KernelProgram& prog = kernel_program();
    const char* source = prog.source;
    const size_t size = prog.source_size;
    cl_int rc = CL_SUCCESS;
    cl_program program = cl().clCreateProgramWithSource(d.context, 1, &source, &size, &rc);
    check_cl(rc, "clCreateProgramWithSource");
    rc = cl().clBuildProgram(program, 1, &d.id, "-cl-std=CL1.2", nullptr, nullptr);
    if (rc != CL_SUCCESS) {
      size_t log_size = 0;
      cl().clGetProgramBuildInfo(program, d.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &log_size);
      std::string log(log_size, '\0');
      cl().clGetProgramBuildInfo(program, d.id, CL_PROGRAM_BUILD_LOG, log_size, log.data(),
                                 nullptr);
      cl().clReleaseProgram(program);
      throw sdk::Error(TSR_ERROR_CODE_INTERNAL,
                       sdk::format("building the XPU kernels with OpenCL failed (%d): %s",
                                   static_cast<int>(rc), log.substr(0, 4000).c_str()));
    }
    d.program = program;
  }

  std::string reason_;
  std::vector<std::unique_ptr<ClDevice>> devices_;
};

}  // namespace

std::unique_ptr<Runtime> make_opencl_runtime(bool gpu_only) {
  return std::make_unique<OpenClRuntime>(gpu_only);
}

}  // namespace tsr::xpu
