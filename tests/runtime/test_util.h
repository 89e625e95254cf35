// Helpers shared by the runtime tests: loader options that see only the fake plugins, an
// environment variable set for one scope, and access to a fake plugin's test counters.
#pragma once

#include <dlfcn.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "tessera/plugins.h"

namespace tessera::runtime::testing {

inline const std::string kPluginRoot = TESSERA_RUNTIME_TEST_PLUGIN_DIR;
inline const std::string kBrokenDir = kPluginRoot + "/broken";
inline const std::string kSelectDir = kPluginRoot + "/select";
inline std::string order_dir(const std::string& set) {
  return kPluginRoot + "/order/" + set;
}

// Only the given directories: no TESSERA_PLUGIN_PATH, no default directory.
inline LoaderOptions only_dirs(std::vector<std::string> dirs) {
  LoaderOptions options;
  options.plugin_dirs = std::move(dirs);
  options.use_environment = false;
  options.use_default_dir = false;
  return options;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A reference to an already loaded fake plugin, for its test counters (fake_plugin.cpp).
class FakeHooks {
 public:
  explicit FakeHooks(const std::string& file)
      : handle_(dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD)) {}
  ~FakeHooks() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  FakeHooks(const FakeHooks&) = delete;
  FakeHooks& operator=(const FakeHooks&) = delete;

  bool loaded() const { return handle_ != nullptr; }
  int call(const char* name) const {
    auto fn = reinterpret_cast<int (*)()>(dlsym(handle_, name));
    return fn != nullptr ? fn() : -1000;
  }
  int live_errors() const { return call("fake_live_errors"); }
  int live_objects() const { return call("fake_live_objects"); }
  int violations() const { return call("fake_violations"); }
  int shutdowns() const { return call("fake_shutdowns"); }

 private:
  void* handle_;
};

}  // namespace tessera::runtime::testing
