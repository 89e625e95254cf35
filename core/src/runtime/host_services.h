// The services the host hands to every plugin (tsr_host_api): logging into spdlog, option
// lookup, an in-process key-value store for collective bootstrap, and cancellation.
//
// One process-wide instance: a plugin keeps the tsr_host_api pointer for as long as it is
// loaded, so the table and everything it returns (option strings) must never move or be
// freed. Option values handed out stay valid for the life of the process, even when the
// option is later overwritten. Every function is thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/plugin.h"
#include "tessera/plugins.h"

namespace tessera::runtime {

class HostServices {
 public:
  static HostServices& instance();

  // The table passed to tsr_plugin_get_api; lives until process exit.
  const tsr_host_api* api() const { return &api_; }

  // Options: explicit values (--plugin-option) win over the environment variable
  // TESSERA_PLUGIN_OPT_<KEY> (key upper-cased, '.' and '-' become '_').
  void set_option(const std::string& key, const std::string& value);
  void clear_options();  // forgets explicit values (tests); returned strings stay valid
  // The option's value, or NULL. The pointer stays valid until process exit. Allocates only
  // the first time it hands out a value (plugins may ask on every op call).
  const char* get_option(std::string_view key);
  static std::string environment_name(std::string_view key);  // TESSERA_PLUGIN_OPT_…

  // Key-value store. kv_get waits up to timeout_ms (negative: forever) for the key.
  void kv_set(const std::string& key, const void* value, size_t size);
  int kv_get(const std::string& key, void* value, size_t capacity, size_t* size,
             int64_t timeout_ms);
  void kv_clear();  // tests

 private:
  HostServices();

  tsr_host_api api_{};
  std::mutex options_mutex_;
  std::map<std::string, std::string, std::less<>> explicit_options_;
  // Every string ever returned, so returned pointers never dangle; a value is stored once
  // per distinct (key, value).
  std::map<std::string, std::deque<std::string>, std::less<>> returned_;
  std::mutex kv_mutex_;
  std::condition_variable kv_changed_;
  std::map<std::string, std::vector<unsigned char>> kv_;
};

// Cancellation (request_cancel, cancel_requested, install_cancel_on_sigint) is public:
// tessera/plugins.h.

}  // namespace tessera::runtime
