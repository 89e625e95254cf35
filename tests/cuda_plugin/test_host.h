// A tiny tsr_host_api for loading a plugin in tests with dlopen, without the core's loader:
// it records log lines and serves options from a map. Written by hand because the tests
// must not depend on the core runtime.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::test {

struct TestHost {
  std::mutex mutex;
  std::vector<std::string> logs;
  std::map<std::string, std::string> options;
  tsr_host_api api{};

  TestHost() {
    api.struct_size = sizeof api;
    api.ctx = this;
    api.log = [](void* ctx, tsr_log_level, const char* plugin, const char* message) {
      auto* self = static_cast<TestHost*>(ctx);
      std::lock_guard<std::mutex> lock(self->mutex);
      self->logs.push_back(std::string(plugin) + ": " + message);
    };
    api.get_option = [](void* ctx, const char* key) -> const char* {
      auto* self = static_cast<TestHost*>(ctx);
      const auto it = self->options.find(key);
      return it == self->options.end() ? nullptr : it->second.c_str();
    };
    api.kv_set = [](void*, const char*, const void*, size_t) { return TSR_HOST_FAILED; };
    api.kv_get = [](void*, const char*, void*, size_t, size_t*, int64_t) {
      return TSR_HOST_NOT_FOUND;
    };
    api.cancel_requested = [](void*) { return 0; };
  }

  std::vector<std::string> logs_containing(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::string> out;
    for (const auto& line : logs) {
      if (line.find(needle) != std::string::npos) out.push_back(line);
    }
    return out;
  }
};

// The plugin library, loaded once per test process and never unloaded (as the core does
// while anything the plugin made may be alive).
inline void* load_plugin(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  EXPECT_NE(handle, nullptr) << (handle == nullptr ? dlerror() : "");
  return handle;
}

// Takes ownership of an error and returns its code and message.
struct ErrorInfo {
  tsr_error_code code = TSR_ERROR_CODE_OK;
  std::string message;
};
inline ErrorInfo take(tsr_error* error) {
  ErrorInfo info;
  if (error != nullptr) {
    info.code = error->code;
    info.message = error->message;
    error->destroy(error);
  }
  return info;
}

// Copies every pushed diagnostics item (the plugin's strings live only during push).
struct DiagCollector {
  struct Item {
    std::string key, value, unit, source, hint;
    tsr_diag_status status;
  };
  std::vector<Item> copies;
  tsr_diag_sink sink{sizeof(tsr_diag_sink), this, [](void* ctx, const tsr_diag_item* item) {
                       auto* self = static_cast<DiagCollector*>(ctx);
                       auto s = [](const char* p) {
                         return p != nullptr ? std::string(p) : std::string();
                       };
                       self->copies.push_back(Item{s(item->key), s(item->value), s(item->unit),
                                                   s(item->source), s(item->hint), item->status});
                     }};
};

}  // namespace tsr::test
