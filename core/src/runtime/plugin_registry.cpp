// Plugin discovery and validation with Boost.DLL (see tessera/plugins.h).
//
// Every check a candidate goes through ends either in a LoadedPlugin or in one Refusal
// line; nothing here throws for a bad plugin. Boost.DLL is built with BOOST_DLL_USE_STD_FS
// (set by CMake for this target only), so paths are std::filesystem paths.
#include "tessera/plugins.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <set>
#include <string_view>
#include <system_error>

#include "common/log.h"
#include "runtime/host_services.h"
#include "runtime/plugin_error.h"

namespace tessera::runtime {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "libtessera-";
constexpr std::string_view kSuffix = ".so";
// A device count beyond this is garbage from a broken plugin, not hardware.
constexpr int32_t kMaxDevices = 4096;
// ABI 1.0's table ends at `diagnose`; a 1.x host keeps requiring exactly the 1.0 fields.
constexpr size_t kRequiredTableSize =
    offsetof(tsr_plugin_api, diagnose) + sizeof(tsr_plugin_api::diagnose);

class LoadedPluginImpl final : public LoadedPlugin {
 public:
  LoadedPluginImpl(boost::dll::shared_library library, const tsr_plugin_api* api, std::string file,
                   int32_t score)
      : library_(std::move(library)),
        api_(api),
        name_(api->name),
        file_(std::move(file)),
        version_(api->version != nullptr ? api->version : ""),
        score_(score) {}

  ~LoadedPluginImpl() override {
    // The registry outlives everything made on these devices (see tessera/plugins.h), so
    // shutdown is the last call the plugin sees, as the ABI requires.
    if (initialized_) api_->shutdown();
  }

  const std::string& name() const override { return name_; }
  const std::string& file() const override { return file_; }
  uint32_t abi_major() const override { return api_->abi_major; }
  uint32_t abi_minor() const override { return api_->abi_minor; }
  int32_t score() const override { return score_; }
  const tsr_plugin_api* api() const override { return api_; }
  const std::vector<DeviceInfo>& devices() const override { return devices_; }
  const std::string& status_note() const override { return note_; }
  const std::string& version() const override { return version_; }
  tsr_device_type device_type() const override { return api_->device_type; }

  void mark_initialized() { initialized_ = true; }
  void add_note(const std::string& note) { note_ += note_.empty() ? note : "; " + note; }
  std::vector<DeviceInfo>& mutable_devices() { return devices_; }

 private:
  // Declared first so that it is destroyed last: the library is unloaded only after
  // shutdown() ran and nothing refers into it any more.
  boost::dll::shared_library library_;
  const tsr_plugin_api* api_;
  std::string name_;
  std::string file_;
  std::string version_;
  int32_t score_;
  std::string note_;
  std::vector<DeviceInfo> devices_;
  bool initialized_ = false;
};

class PluginRegistryImpl final : public PluginRegistry {
 public:
  explicit PluginRegistryImpl(const LoaderOptions& options) : options_(options) {}

  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const override { return plugins_; }
  const std::vector<Refusal>& refusals() const override { return refusals_; }
  const std::vector<std::string>& searched_dirs() const override { return searched_dirs_; }
  const std::vector<SearchDir>& search_path() const override { return search_path_; }

  void run();

 private:
  void add_dir(const std::string& dir, SearchOrigin origin);
  void scan_dir(const SearchDir& dir);
  void load_candidate(const fs::path& path);
  void refuse(const fs::path& path, const std::string& name, std::string reason);
  void probe_devices(LoadedPluginImpl& plugin);

  LoaderOptions options_;
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<Refusal> refusals_;
  std::vector<std::string> searched_dirs_;
  std::vector<SearchDir> search_path_;
  std::set<std::string> seen_dirs_;
  std::set<std::string> seen_files_;
};

std::string name_from_file(const fs::path& path) {
  std::string stem = path.filename().string();
  if (stem.starts_with(kPrefix)) stem.erase(0, kPrefix.size());
  if (stem.ends_with(kSuffix)) stem.erase(stem.size() - kSuffix.size());
  return stem;
}

bool is_candidate_name(const std::string& file_name) {
  return file_name.size() > kPrefix.size() + kSuffix.size() && file_name.starts_with(kPrefix) &&
         file_name.ends_with(kSuffix);
}

// Boost.DLL's exception text wraps dlerror(); keep only dlerror's own words when present.
std::string load_error_text(const std::exception& e) {
  const std::string what = e.what();
  const std::string marker = "dlerror system message: ";
  const auto start = what.find(marker);
  if (start == std::string::npos) return what;
  const auto end = what.rfind(')');
  const auto from = start + marker.size();
  return what.substr(from, end == std::string::npos || end < from ? std::string::npos : end - from);
}

bool valid_plugin_name(const std::string& name) {
  if (name.empty() || name == "auto") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// The first required function pointer that is NULL, or nullptr when all are set.
const char* missing_required_function(const tsr_plugin_api& api) {
#define TSR_REQUIRE(field) \
  if (api.field == nullptr) return #field;
  TSR_REQUIRE(initialize)
  TSR_REQUIRE(shutdown)
  TSR_REQUIRE(device_count)
  TSR_REQUIRE(device_get_properties)
  TSR_REQUIRE(device_open)
  TSR_REQUIRE(device_close)
  TSR_REQUIRE(device_memory_info)
  TSR_REQUIRE(buffer_alloc)
  TSR_REQUIRE(buffer_free)
  TSR_REQUIRE(buffer_host_ptr)
  TSR_REQUIRE(stream_create)
  TSR_REQUIRE(stream_destroy)
  TSR_REQUIRE(stream_synchronize)
  TSR_REQUIRE(event_create)
  TSR_REQUIRE(event_destroy)
  TSR_REQUIRE(event_record)
  TSR_REQUIRE(event_synchronize)
  TSR_REQUIRE(stream_wait_event)
  TSR_REQUIRE(event_elapsed_ms)
  TSR_REQUIRE(memcpy_h2d)
  TSR_REQUIRE(memcpy_d2h)
  TSR_REQUIRE(memcpy_d2d)
  TSR_REQUIRE(memset_d)
  TSR_REQUIRE(weight_prepack)
  TSR_REQUIRE(weight_destroy)
  TSR_REQUIRE(weight_bytes)
  TSR_REQUIRE(kv_block_bytes)
  TSR_REQUIRE(ops)
  TSR_REQUIRE(op_supported)
#undef TSR_REQUIRE
  return nullptr;
}

std::string default_plugin_dir() {
  std::error_code ec;
  const fs::path exe = boost::dll::program_location(ec);
  if (ec) return {};
  return (exe.parent_path() / ".." / "lib" / "tessera" / "plugins").lexically_normal().string();
}

std::string host_abi() {
  return fmt::format("{}.{}", TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
}

void terminate_string(char* text, size_t size) {
  text[size - 1] = '\0';
}

}  // namespace

const char* search_origin_name(SearchOrigin origin) {
  switch (origin) {
    case SearchOrigin::kPluginDirFlag:
      return "--plugin-dir";
    case SearchOrigin::kEnvironment:
      return "TESSERA_PLUGIN_PATH";
    case SearchOrigin::kDefault:
      return "default";
  }
  return "unknown";
}

const char* device_type_name(tsr_device_type type) {
  switch (type) {
    case TSR_DEVICE_TYPE_CPU:
      return "cpu";
    case TSR_DEVICE_TYPE_CUDA:
      return "cuda";
    case TSR_DEVICE_TYPE_XPU:
      return "xpu";
    case TSR_DEVICE_TYPE_OTHER:
      return "other";
  }
  return "unknown";
}

void PluginRegistryImpl::run() {
  auto& host = HostServices::instance();
  for (const auto& [key, value] : options_.plugin_options) host.set_option(key, value);

  for (const auto& dir : options_.plugin_dirs) add_dir(dir, SearchOrigin::kPluginDirFlag);
  if (options_.use_environment) {
    if (const char* env = std::getenv("TESSERA_PLUGIN_PATH")) {
      std::string_view rest = env;
      while (!rest.empty()) {
        const auto colon = rest.find(':');
        add_dir(std::string(rest.substr(0, colon)), SearchOrigin::kEnvironment);
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
    }
  }
  if (options_.use_default_dir) {
    add_dir(options_.default_dir.empty() ? default_plugin_dir() : options_.default_dir,
            SearchOrigin::kDefault);
  }
  for (const auto& dir : search_path_) scan_dir(dir);
}

void PluginRegistryImpl::add_dir(const std::string& dir, SearchOrigin origin) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::path absolute = fs::absolute(dir, ec);
  if (ec) absolute = dir;
  const fs::path canonical = fs::weakly_canonical(absolute, ec);
  const std::string key = ec ? absolute.lexically_normal().string() : canonical.string();
  if (!seen_dirs_.insert(key).second) return;
  SearchDir entry{absolute.lexically_normal().string(), origin, fs::is_directory(absolute, ec)};
  searched_dirs_.push_back(entry.path);
  search_path_.push_back(std::move(entry));
}

void PluginRegistryImpl::scan_dir(const SearchDir& dir) {
  if (!dir.exists) return;
  std::error_code ec;
  std::vector<fs::path> candidates;
  for (fs::directory_iterator it(dir.path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file_name = it->path().filename().string();
    if (!is_candidate_name(file_name)) continue;
    std::error_code type_ec;
    if (fs::is_directory(it->path(), type_ec)) continue;
    candidates.push_back(it->path());
  }
  if (ec) TSR_LOG_WARN("cannot list plugin directory {}: {}", dir.path, ec.message());
  // Directory order is arbitrary; sorting makes duplicate-name refusals reproducible.
  std::sort(candidates.begin(), candidates.end());
  for (const auto& path : candidates) {
    std::error_code canon_ec;
    const fs::path real = fs::canonical(path, canon_ec);
    const std::string key = canon_ec ? path.string() : real.string();
    if (!seen_files_.insert(key).second) {
      TSR_LOG_DEBUG("plugin {} is {} again; skipped", path.string(), key);
      continue;
    }
    load_candidate(path);
  }
}

void PluginRegistryImpl::refuse(const fs::path& path, const std::string& name, std::string reason) {
  TSR_LOG_DEBUG("plugin {} refused: {}", path.string(), reason);
  refusals_.push_back(Refusal{path.string(), std::move(reason), name});
}

void PluginRegistryImpl::load_candidate(const fs::path& path) {
  const std::string file = path.string();
  const std::string file_name = path.filename().string();
  std::string name = name_from_file(path);

  boost::dll::shared_library library;
  try {
    // rtld_now: a missing dependency or symbol is reported here, as a refusal, rather than
    // as a crash at the first call.
    library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    refuse(path, name, "not a loadable shared object: " + load_error_text(e));
    return;
  }

  using GetApi = const tsr_plugin_api*(const tsr_host_api*, uint32_t, uint32_t);
  if (!library.has(TSR_PLUGIN_GET_API_SYMBOL)) {
    refuse(path, name,
           fmt::format("no {} symbol: not a Tessera plugin, or the entry point is not "
                       "exported (TSR_PLUGIN_EXPORT, extern \"C\")",
                       TSR_PLUGIN_GET_API_SYMBOL));
    return;
  }
  const tsr_plugin_api* api = nullptr;
  try {
    api = library.get<GetApi>(TSR_PLUGIN_GET_API_SYMBOL)(
        HostServices::instance().api(), TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
  } catch (...) {
    refuse(path, name,
           fmt::format("{} threw an exception across the C ABI", TSR_PLUGIN_GET_API_SYMBOL));
    return;
  }
  if (api == nullptr) {
    refuse(path, name,
           fmt::format("{} returned NULL: the plugin refused host ABI {} (its log says why)",
                       TSR_PLUGIN_GET_API_SYMBOL, host_abi()));
    return;
  }
  if (!TSR_STRUCT_HAS(api, tsr_plugin_api, abi_minor)) {
    refuse(path, name,
           fmt::format("plugin table too small: struct_size {} cannot even hold the ABI version",
                       api->struct_size));
    return;
  }
  if (api->abi_major != TSR_ABI_VERSION_MAJOR) {
    refuse(path, name,
           fmt::format("ABI version mismatch: {} was built for plugin ABI {}.{}, this host "
                       "speaks ABI {}; rebuild the plugin against a matching SDK",
                       file_name, api->abi_major, api->abi_minor, host_abi()));
    return;
  }
  if (api->struct_size < kRequiredTableSize) {
    refuse(path, name,
           fmt::format("plugin table too small: struct_size {} bytes, host ABI {} needs at "
                       "least {}",
                       api->struct_size, host_abi(), kRequiredTableSize));
    return;
  }
  if (api->name == nullptr || api->name[0] == '\0') {
    refuse(path, name, "the plugin table has an empty name");
    return;
  }
  name = api->name;
  if (!valid_plugin_name(name)) {
    refuse(
        path, name,
        fmt::format("invalid plugin name '{}' (letters, digits, '-', '_', '.'; not 'auto')", name));
    return;
  }
  if (const char* missing = missing_required_function(*api)) {
    refuse(path, name, fmt::format("required function {} is NULL", missing));
    return;
  }
  const int graph_functions = (api->graph_begin_capture != nullptr) +
                              (api->graph_end_capture != nullptr) + (api->graph_launch != nullptr) +
                              (api->graph_destroy != nullptr);
  if (graph_functions != 0 && graph_functions != 4) {
    refuse(path, name, "graph capture functions must be all set or all NULL");
    return;
  }
  if (const LoadedPlugin* first = find(name)) {
    refuse(path, name,
           fmt::format("duplicate plugin name '{}': already loaded from {}", name, first->file()));
    return;
  }

  int32_t score = 1;
  if (library.has(TSR_PLUGIN_SCORE_SYMBOL)) {
    score = library.get<int32_t()>(TSR_PLUGIN_SCORE_SYMBOL)();
  }

  if (tsr_error* error = api->initialize()) {
    refuse(path, name, "initialize failed: " + take_error_message(error));
    return;
  }
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  auto plugin = std::make_unique<LoadedPluginImpl>(std::move(library), api,
                                                   ec ? file : absolute.string(), score);
  plugin->mark_initialized();
  probe_devices(*plugin);
  TSR_LOG_DEBUG("plugin {} {} loaded from {}: {} device(s), score {}", plugin->name(),
                plugin->version(), plugin->file(), plugin->devices().size(), score);
  plugins_.push_back(std::move(plugin));
}

void PluginRegistryImpl::probe_devices(LoadedPluginImpl& plugin) {
  const tsr_plugin_api& api = *plugin.api();
  int32_t count = 0;
  if (tsr_error* error = api.device_count(&count)) {
    plugin.add_note("device_count failed: " + take_error_message(error));
    return;
  }
  if (count < 0 || count > kMaxDevices) {
    plugin.add_note(fmt::format("device_count returned {}; treated as 0", count));
    return;
  }
  if (count == 0) {
    plugin.add_note(plugin.score() <= 0 ? "no devices (score 0: cannot run on this machine)"
                                        : "no devices found");
    return;
  }
  for (int32_t index = 0; index < count; ++index) {
    DeviceInfo info;
    info.index = index;
    info.properties.struct_size = sizeof(tsr_device_properties);
    if (tsr_error* error = api.device_get_properties(index, &info.properties)) {
      plugin.add_note(
          fmt::format("device {}: properties unavailable: {}", index, take_error_message(error)));
      info.properties = tsr_device_properties{};
      info.properties.struct_size = sizeof(tsr_device_properties);
    }
    // A plugin must not change struct_size or leave strings unterminated; enforce both.
    info.properties.struct_size = sizeof(tsr_device_properties);
    terminate_string(info.properties.name, sizeof info.properties.name);
    terminate_string(info.properties.vendor, sizeof info.properties.vendor);
    terminate_string(info.properties.pci_bus_id, sizeof info.properties.pci_bus_id);
    info.total_memory = info.properties.total_memory;
    if (options_.query_memory) {
      tsr_device_t device = nullptr;
      if (tsr_error* error = api.device_open(index, &device)) {
        TSR_LOG_DEBUG("{}: device_open({}) for memory info: {}", plugin.name(), index,
                      take_error_message(error));
      } else {
        uint64_t free_bytes = 0;
        uint64_t total_bytes = 0;
        if (tsr_error* error = api.device_memory_info(device, &free_bytes, &total_bytes)) {
          TSR_LOG_DEBUG("{}: device_memory_info({}): {}", plugin.name(), index,
                        take_error_message(error));
        } else {
          info.free_memory = free_bytes;
          if (total_bytes != 0) info.total_memory = total_bytes;
        }
        if (tsr_error* error = api.device_close(device)) {
          TSR_LOG_WARN("{}: device_close({}): {}", plugin.name(), index, take_error_message(error));
        }
      }
    }
    plugin.mutable_devices().push_back(info);
  }
}

const LoadedPlugin* PluginRegistry::find(const std::string& name) const {
  for (const auto& plugin : plugins()) {
    if (plugin->name() == name) return plugin.get();
  }
  return nullptr;
}

const Refusal* PluginRegistry::find_refusal(const std::string& name) const {
  for (const auto& refusal : refusals()) {
    if (refusal.name == name) return &refusal;
  }
  return nullptr;
}

std::unique_ptr<PluginRegistry> PluginRegistry::discover(const LoaderOptions& options) {
  auto registry = std::make_unique<PluginRegistryImpl>(options);
  registry->run();
  return registry;
}

}  // namespace tessera::runtime
