// A test host for the CPU plugin: loads a private copy of libtessera-cpu.so (so several
// instances with different options, e.g. cpu.isa, can live in one process), initializes
// it, opens device 0 and a stream, and offers small helpers to move tensors in and out.
#ifndef TESSERA_TESTS_CPU_PLUGIN_PLUGIN_HARNESS_H
#define TESSERA_TESTS_CPU_PLUGIN_PLUGIN_HARNESS_H

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::test {

// The plugin file: $TESSERA_PLUGIN_PATH/libtessera-cpu.so, else the build's target file.
std::string cpu_plugin_file();

struct LogLine {
  tsr_log_level level;
  std::string message;
};

class TestHost {
 public:
  TestHost();
  std::map<std::string, std::string> options;
  std::vector<LogLine> logs() const;
  bool logged(tsr_log_level at_least, const std::string& needle) const;
  const tsr_host_api* api() const { return &api_; }

 private:
  static void log(void* ctx, tsr_log_level level, const char* plugin, const char* message);
  static const char* get_option(void* ctx, const char* key);
  static int kv_set(void*, const char*, const void*, size_t);
  static int kv_get(void*, const char*, void*, size_t, size_t*, int64_t);
  static int cancel(void*);
  tsr_host_api api_{};
  mutable std::mutex mutex_;
  std::vector<LogLine> logs_;
};

// An owned tsr_error*; empty on success.
struct Status {
  tsr_error_code code = TSR_ERROR_CODE_OK;
  std::string message;
  bool ok() const { return code == TSR_ERROR_CODE_OK; }
};
Status take(tsr_error* error);

using Options = std::map<std::string, std::string>;

class Plugin {
 public:
  // Loads a fresh copy with these options and initializes it. Throws on failure.
  explicit Plugin(Options options = {});
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const tsr_plugin_api& api() const { return *api_; }
  const tsr_ops_api& ops() const { return *api_->ops; }
  tsr_device_t device() const { return device_; }
  tsr_stream_t stream() const { return stream_; }
  TestHost& host() { return *host_; }
  // The "cpu.isa" diagnostic's value (e.g. "avx2 (detected: avx2; ...)").
  std::string diag(const std::string& key) const;
  std::string active_isa() const;

  tsr_buffer_t alloc(size_t bytes, tsr_buffer_kind kind = TSR_BUFFER_KIND_DEVICE);
  void* host_ptr(tsr_buffer_t buffer) const;
  // A tensor over a new buffer filled with `bytes` of data.
  tsr_tensor upload(const void* data, size_t bytes, tsr_dtype dtype, std::vector<int64_t> shape);
  tsr_tensor empty(tsr_dtype dtype, std::vector<int64_t> shape);
  template <class T>
  tsr_tensor upload(const std::vector<T>& v, tsr_dtype dtype, std::vector<int64_t> shape) {
    return upload(v.data(), v.size() * sizeof(T), dtype, std::move(shape));
  }
  template <class T>
  std::vector<T> download(const tsr_tensor& t, size_t count) const {
    std::vector<T> out(count);
    const auto* base = static_cast<const unsigned char*>(host_ptr(t.buffer)) + t.offset;
    std::copy(reinterpret_cast<const T*>(base), reinterpret_cast<const T*>(base) + count,
              out.begin());
    return out;
  }

 private:
  std::unique_ptr<TestHost> host_;
  std::string path_;
  void* handle_ = nullptr;
  const tsr_plugin_api* api_ = nullptr;
  tsr_device_t device_ = nullptr;
  tsr_stream_t stream_ = nullptr;
  std::vector<tsr_buffer_t> buffers_;
};

tsr_tensor make_tensor(tsr_buffer_t buffer, tsr_dtype dtype, std::vector<int64_t> shape,
                       size_t offset = 0);
size_t numel(const std::vector<int64_t>& shape);

// Does the CPU (and so the plugin) support the ISA? For skipping tests.
bool cpu_has_avx2();
bool cpu_has_avx512();

}  // namespace tsr::test

#endif  // TESSERA_TESTS_CPU_PLUGIN_PLUGIN_HARNESS_H
