// Test host and plugin loader (see plugin_harness.h).
#include "plugin_harness.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tsr::test {

std::string cpu_plugin_file() {
  if (const char* dir = std::getenv("TESSERA_PLUGIN_PATH"); dir != nullptr && *dir != '\0') {
    const std::filesystem::path candidate = std::filesystem::path(dir) / "libtessera-cpu.so";
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return TESSERA_CPU_PLUGIN_FILE;
}

TestHost::TestHost() {
  api_.struct_size = sizeof api_;
  api_.ctx = this;
  api_.log = &TestHost::log;
  api_.get_option = &TestHost::get_option;
  api_.kv_set = &TestHost::kv_set;
  api_.kv_get = &TestHost::kv_get;
  api_.cancel_requested = &TestHost::cancel;
}

void TestHost::log(void* ctx, tsr_log_level level, const char*, const char* message) {
  auto* self = static_cast<TestHost*>(ctx);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->logs_.push_back({level, message});
}

const char* TestHost::get_option(void* ctx, const char* key) {
  auto* self = static_cast<TestHost*>(ctx);
  const auto it = self->options.find(key);
  return it == self->options.end() ? nullptr : it->second.c_str();
}

int TestHost::kv_set(void*, const char*, const void*, size_t) {
  return TSR_HOST_FAILED;
}
int TestHost::kv_get(void*, const char*, void*, size_t, size_t*, int64_t) {
  return TSR_HOST_NOT_FOUND;
}
int TestHost::cancel(void*) {
  return 0;
}

std::vector<LogLine> TestHost::logs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return logs_;
}

bool TestHost::logged(tsr_log_level at_least, const std::string& needle) const {
  for (const LogLine& line : logs()) {
    if (line.level >= at_least && line.message.find(needle) != std::string::npos) return true;
  }
  return false;
}

Status take(tsr_error* error) {
  Status s;
  if (error == nullptr) return s;
  s.code = error->code;
  s.message = error->message != nullptr ? error->message : "";
  error->destroy(error);
  return s;
}

namespace {
void check(tsr_error* error, const char* what) {
  const Status s = take(error);
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.message);
}
}  // namespace

Plugin::Plugin(Options options) : host_(std::make_unique<TestHost>()) {
  host_->options = std::move(options);
  // A name no other process can hold: the pid alone is not enough where test processes of
  // several containers (separate pid namespaces) share /tmp, and overwriting a copy that
  // another process has mapped changes its code under it. mkstemp creates the file
  // exclusively; the copy then fills it.
  std::string name =
      (std::filesystem::temp_directory_path() / "tessera-cpu-test-XXXXXX.so").string();
  const int fd = ::mkstemps(name.data(), 3);
  if (fd < 0) throw std::runtime_error("mkstemps failed for " + name);
  ::close(fd);
  const std::filesystem::path copy = name;
  std::filesystem::copy_file(cpu_plugin_file(), copy,
                             std::filesystem::copy_options::overwrite_existing);
  path_ = copy.string();
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  auto get_api = reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(handle_, TSR_PLUGIN_GET_API_SYMBOL));
  if (get_api == nullptr) throw std::runtime_error("tsr_plugin_get_api missing");
  api_ = get_api(host_->api(), TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
  if (api_ == nullptr) throw std::runtime_error("tsr_plugin_get_api refused");
  check(api_->initialize(), "initialize");
  check(api_->device_open(0, &device_), "device_open");
  check(api_->stream_create(device_, &stream_), "stream_create");
}

Plugin::~Plugin() {
  for (tsr_buffer_t b : buffers_) take(api_->buffer_free(b));
  if (stream_ != nullptr) take(api_->stream_destroy(stream_));
  if (device_ != nullptr) take(api_->device_close(device_));
  if (api_ != nullptr) api_->shutdown();
  // The copy stays mapped (oneDNN and OpenMP may hold thread-local state pointing into it);
  // only the file is removed.
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

std::string Plugin::diag(const std::string& key) const {
  struct Ctx {
    std::string key;
    std::string value;
  } ctx{key, ""};
  tsr_diag_sink sink{};
  sink.struct_size = sizeof sink;
  sink.ctx = &ctx;
  sink.push = [](void* c, const tsr_diag_item* item) {
    auto* self = static_cast<Ctx*>(c);
    if (self->key == item->key && item->value != nullptr) self->value = item->value;
  };
  check(api_->diagnose(&sink), "diagnose");
  return ctx.value;
}

std::string Plugin::active_isa() const {
  const std::string value = diag("cpu.isa");
  return value.substr(0, value.find(' '));
}

tsr_buffer_t Plugin::alloc(size_t bytes, tsr_buffer_kind kind) {
  tsr_buffer_t b = nullptr;
  check(api_->buffer_alloc(device_, bytes, kind, &b), "buffer_alloc");
  buffers_.push_back(b);
  return b;
}

void* Plugin::host_ptr(tsr_buffer_t buffer) const {
  void* p = nullptr;
  check(api_->buffer_host_ptr(buffer, &p), "buffer_host_ptr");
  return p;
}

size_t numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

tsr_tensor make_tensor(tsr_buffer_t buffer, tsr_dtype dtype, std::vector<int64_t> shape,
                       size_t offset) {
  tsr_tensor t{};
  t.struct_size = sizeof t;
  t.buffer = buffer;
  t.offset = offset;
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t.shape[i] = shape[i];
  return t;
}

tsr_tensor Plugin::upload(const void* data, size_t bytes, tsr_dtype dtype,
                          std::vector<int64_t> shape) {
  tsr_buffer_t b = alloc(bytes);
  if (bytes > 0) check(api_->memcpy_h2d(stream_, b, 0, data, bytes), "memcpy_h2d");
  return make_tensor(b, dtype, std::move(shape));
}

tsr_tensor Plugin::empty(tsr_dtype dtype, std::vector<int64_t> shape) {
  size_t elem = 4;
  if (dtype == TSR_DTYPE_BF16 || dtype == TSR_DTYPE_F16) elem = 2;
  if (dtype == TSR_DTYPE_I64 || dtype == TSR_DTYPE_U64) elem = 8;
  if (dtype == TSR_DTYPE_I8 || dtype == TSR_DTYPE_U8) elem = 1;
  const size_t bytes = numel(shape) * elem;
  tsr_buffer_t b = alloc(bytes);
  std::memset(host_ptr(b), 0, bytes);
  return make_tensor(b, dtype, std::move(shape));
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  // F16C from CPUID: clang 14's __builtin_cpu_supports does not know it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
}

}  // namespace tsr::test
