// Host services for plugins (see host_services.h).
#include "runtime/host_services.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace tessera::runtime {

namespace {

std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");

void on_sigint(int) {
  g_cancel.store(true);
  std::signal(SIGINT, SIG_DFL);
}

void host_log(void*, tsr_log_level level, const char* plugin, const char* message) {
  const char* who = plugin != nullptr ? plugin : "plugin";
  const char* what = message != nullptr ? message : "";
  spdlog::level::level_enum spd = spdlog::level::info;
  switch (level) {
    case TSR_LOG_LEVEL_TRACE:
      spd = spdlog::level::trace;
      break;
    case TSR_LOG_LEVEL_DEBUG:
      spd = spdlog::level::debug;
      break;
    case TSR_LOG_LEVEL_INFO:
      spd = spdlog::level::info;
      break;
    case TSR_LOG_LEVEL_WARN:
      spd = spdlog::level::warn;
      break;
    case TSR_LOG_LEVEL_ERROR:
      spd = spdlog::level::err;
      break;
  }
  spdlog::log(spd, "[{}] {}", who, what);
}

const char* host_get_option(void* ctx, const char* key) {
  if (key == nullptr) return nullptr;
  try {
    return static_cast<HostServices*>(ctx)->get_option(key);
  } catch (...) {
    return nullptr;
  }
}

int host_kv_set(void* ctx, const char* key, const void* value, size_t size) {
  if (key == nullptr || (value == nullptr && size != 0)) return TSR_HOST_FAILED;
  try {
    static_cast<HostServices*>(ctx)->kv_set(key, value, size);
    return TSR_HOST_OK;
  } catch (...) {
    return TSR_HOST_FAILED;
  }
}

int host_kv_get(void* ctx, const char* key, void* value, size_t capacity, size_t* size,
                int64_t timeout_ms) {
  if (key == nullptr || (value == nullptr && capacity != 0)) return TSR_HOST_FAILED;
  try {
    return static_cast<HostServices*>(ctx)->kv_get(key, value, capacity, size, timeout_ms);
  } catch (...) {
    return TSR_HOST_FAILED;
  }
}

int host_cancel_requested(void*) {
  return g_cancel.load() ? 1 : 0;
}

}  // namespace

HostServices& HostServices::instance() {
  // Never destroyed: plugins may call in during static destruction of other objects.
  static HostServices* services = new HostServices();
  return *services;
}

HostServices::HostServices() {
  api_.struct_size = sizeof(tsr_host_api);
  api_.ctx = this;
  api_.log = &host_log;
  api_.get_option = &host_get_option;
  api_.kv_set = &host_kv_set;
  api_.kv_get = &host_kv_get;
  api_.cancel_requested = &host_cancel_requested;
}

namespace {

constexpr std::string_view kEnvironmentPrefix = "TESSERA_PLUGIN_OPT_";

// Writes TESSERA_PLUGIN_OPT_<KEY> into out[0, size) with a terminating NUL; false if it does
// not fit.
bool write_environment_name(std::string_view key, char* out, size_t size) {
  if (kEnvironmentPrefix.size() + key.size() + 1 > size) return false;
  char* at = std::copy(kEnvironmentPrefix.begin(), kEnvironmentPrefix.end(), out);
  for (const char c : key) {
    *at++ = (c == '.' || c == '-') ? '_'
                                   : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  *at = '\0';
  return true;
}

}  // namespace

std::string HostServices::environment_name(std::string_view key) {
  std::string name(kEnvironmentPrefix.size() + key.size() + 1, '\0');
  write_environment_name(key, name.data(), name.size());
  name.pop_back();
  return name;
}

void HostServices::set_option(const std::string& key, const std::string& value) {
  std::lock_guard lock(options_mutex_);
  explicit_options_[key] = value;
}

void HostServices::clear_options() {
  std::lock_guard lock(options_mutex_);
  explicit_options_.clear();
}

const char* HostServices::get_option(std::string_view key) {
  std::lock_guard lock(options_mutex_);
  std::optional<std::string_view> value;
  if (auto it = explicit_options_.find(key); it != explicit_options_.end()) {
    value = it->second;
  } else {
    // On the stack: plugins may look an option up on every op call.
    char stack_name[128];
    const char* env = nullptr;
    if (write_environment_name(key, stack_name, sizeof(stack_name))) {
      env = std::getenv(stack_name);
    } else {
      env = std::getenv(environment_name(key).c_str());
    }
    if (env != nullptr) value = env;
  }
  if (!value) return nullptr;
  auto found = returned_.find(key);
  if (found == returned_.end())
    found = returned_.emplace(std::string(key), std::deque<std::string>{}).first;
  auto& history = found->second;
  for (const auto& s : history) {
    if (s == *value) return s.c_str();
  }
  // A deque never moves its elements on push_back, so earlier pointers stay valid.
  history.emplace_back(*value);
  return history.back().c_str();
}

void HostServices::kv_set(const std::string& key, const void* value, size_t size) {
  {
    std::lock_guard lock(kv_mutex_);
    const auto* bytes = static_cast<const unsigned char*>(value);
    kv_[key] = std::vector<unsigned char>(bytes, bytes + size);
  }
  kv_changed_.notify_all();
}

int HostServices::kv_get(const std::string& key, void* value, size_t capacity, size_t* size,
                         int64_t timeout_ms) {
  std::unique_lock lock(kv_mutex_);
  auto present = [&] { return kv_.count(key) > 0; };
  if (timeout_ms < 0) {
    kv_changed_.wait(lock, present);
  } else if (!kv_changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), present)) {
    return TSR_HOST_TIMEOUT;
  }
  const auto& stored = kv_.at(key);
  if (size != nullptr) *size = stored.size();
  const size_t copied = std::min(capacity, stored.size());
  if (copied != 0) std::memcpy(value, stored.data(), copied);
  return capacity < stored.size() ? TSR_HOST_TOO_SMALL : TSR_HOST_OK;
}

void HostServices::kv_clear() {
  std::lock_guard lock(kv_mutex_);
  kv_.clear();
}

void request_cancel() noexcept {
  g_cancel.store(true);
}
void clear_cancel() noexcept {
  g_cancel.store(false);
}
bool cancel_requested() noexcept {
  return g_cancel.load();
}

void install_cancel_on_sigint() {
  std::signal(SIGINT, &on_sigint);
}

}  // namespace tessera::runtime
