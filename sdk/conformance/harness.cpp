// The conformance harness: plugin loading through dlopen, the suite's own host services,
// device memory with guard bytes, dtype conversions, randomness and the error metric.
// Written by hand so that nothing is shared with the plugins under test.
#include "harness.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <sstream>

namespace tsr::conformance {

namespace {

// ---- host services ----------------------------------------------------------------------

struct HostState {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, std::vector<uint8_t>> kv;
  std::deque<std::string> option_strings;  // returned option values never move
  std::atomic<int> cancel{0};
};

HostState& host_state() {
  static HostState state;
  return state;
}

const char* level_name(tsr_log_level level) {
  switch (level) {
    case TSR_LOG_LEVEL_TRACE:
      return "trace";
    case TSR_LOG_LEVEL_DEBUG:
      return "debug";
    case TSR_LOG_LEVEL_INFO:
      return "info";
    case TSR_LOG_LEVEL_WARN:
      return "warn";
    case TSR_LOG_LEVEL_ERROR:
      return "error";
  }
  return "?";
}

void host_log(void*, tsr_log_level level, const char* plugin_name, const char* message) {
  // Debug and trace would drown the test output; TESSERA_CONFORMANCE_VERBOSE shows them.
  if (level < TSR_LOG_LEVEL_INFO && !verbose()) return;
  std::fprintf(stderr, "[plugin %s] %s: %s\n", plugin_name ? plugin_name : "?", level_name(level),
               message ? message : "(null)");
}

std::string env_name(const std::string& prefix, const std::string& key, bool upper) {
  std::string name = prefix;
  for (char c : key) {
    if (c == '.' || c == '-') {
      name += '_';
    } else {
      name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    }
  }
  return name;
}

// --option wins; then TESSERA_OPT_<key> (as written, '.'/'-' as '_', then upper-cased), then
// the core's TESSERA_PLUGIN_OPT_<KEY>, so a plugin sees the options it would see in tessera.
const char* host_get_option(void*, const char* key) {
  if (key == nullptr) return nullptr;
  HostState& state = host_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  const auto& explicit_options = options().plugin_options;
  const auto it = explicit_options.find(key);
  if (it != explicit_options.end()) return it->second.c_str();
  for (const std::string& name :
       {env_name("TESSERA_OPT_", key, false), env_name("TESSERA_OPT_", key, true),
        env_name("TESSERA_PLUGIN_OPT_", key, true)}) {
    if (const char* value = std::getenv(name.c_str())) {
      state.option_strings.emplace_back(value);
      return state.option_strings.back().c_str();
    }
  }
  return nullptr;
}

int host_kv_set(void*, const char* key, const void* value, size_t size) {
  if (key == nullptr || (value == nullptr && size > 0)) return TSR_HOST_FAILED;
  HostState& state = host_state();
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    const auto* bytes = static_cast<const uint8_t*>(value);
    state.kv[key] = std::vector<uint8_t>(bytes, bytes + size);
  }
  state.changed.notify_all();
  return TSR_HOST_OK;
}

int host_kv_get(void*, const char* key, void* value, size_t capacity, size_t* size,
                int64_t timeout_ms) {
  if (key == nullptr) return TSR_HOST_FAILED;
  HostState& state = host_state();
  std::unique_lock<std::mutex> lock(state.mutex);
  const auto present = [&] { return state.kv.count(key) > 0; };
  if (timeout_ms < 0) {
    state.changed.wait(lock, present);
  } else if (!state.changed.wait_for(lock, std::chrono::milliseconds(timeout_ms), present)) {
    return TSR_HOST_TIMEOUT;
  }
  const std::vector<uint8_t>& stored = state.kv[key];
  if (size != nullptr) *size = stored.size();
  if (capacity < stored.size()) return TSR_HOST_TOO_SMALL;
  if (!stored.empty()) std::memcpy(value, stored.data(), stored.size());
  return TSR_HOST_OK;
}

int host_cancel_requested(void*) {
  return host_state().cancel.load();
}

const tsr_host_api* host_api() {
  static const tsr_host_api api = {sizeof(tsr_host_api),  nullptr,      &host_log,
                                   &host_get_option,      &host_kv_set, &host_kv_get,
                                   &host_cancel_requested};
  return &api;
}

std::mt19937_64& case_rng() {
  static std::mt19937_64 generator;
  return generator;
}

std::vector<std::string>& covered_list() {
  static std::vector<std::string> list;
  return list;
}

}  // namespace

// ---- plugin ---------------------------------------------------------------------------------

Options& options() {
  static Options opts;
  return opts;
}

LoadedPlugin& plugin() {
  static LoadedPlugin loaded;
  return loaded;
}

const tsr_plugin_api& api() {
  return *plugin().api;
}
tsr_device_t device() {
  return plugin().device;
}

std::string load_plugin(const Options& opts) {
  LoadedPlugin& p = plugin();
  p.handle = dlopen(opts.plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (p.handle == nullptr) return "cannot load " + opts.plugin_path + ": " + dlerror();
  auto get_api =
      reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(p.handle, TSR_PLUGIN_GET_API_SYMBOL));
  if (get_api == nullptr) {
    return opts.plugin_path + " does not export " TSR_PLUGIN_GET_API_SYMBOL;
  }
  p.api = get_api(host_api(), TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
  if (p.api == nullptr) return opts.plugin_path + ": tsr_plugin_get_api refused this host";
  const tsr_plugin_api& a = *p.api;
  if (a.struct_size < offsetof(tsr_plugin_api, abi_minor) + sizeof(uint32_t)) {
    return opts.plugin_path + ": tsr_plugin_api.struct_size too small";
  }
  if (a.abi_major != TSR_ABI_VERSION_MAJOR) {
    return opts.plugin_path + ": plugin ABI " + std::to_string(a.abi_major) + "." +
           std::to_string(a.abi_minor) + " but this suite is ABI " +
           std::to_string(TSR_ABI_VERSION_MAJOR) + "." + std::to_string(TSR_ABI_VERSION_MINOR);
  }
  if (!TSR_STRUCT_HAS(&a, tsr_plugin_api, op_supported)) {
    return opts.plugin_path + ": tsr_plugin_api.struct_size " + std::to_string(a.struct_size) +
           " is too small for ABI v1 (ops and op_supported missing)";
  }
  p.name = a.name != nullptr ? a.name : "?";
  for (auto fn : {(void*)a.initialize, (void*)a.device_count, (void*)a.device_open,
                  (void*)a.device_close, (void*)a.buffer_alloc, (void*)a.buffer_free,
                  (void*)a.stream_create, (void*)a.stream_destroy, (void*)a.stream_synchronize,
                  (void*)a.memcpy_h2d, (void*)a.memcpy_d2h, (void*)a.op_supported}) {
    if (fn == nullptr) return "plugin " + p.name + ": a required function pointer is NULL";
  }
  Status st = take(a.initialize());
  if (!st.ok) {
    if (st.code == TSR_ERROR_CODE_UNAVAILABLE) {
      p.skip_reason = "plugin " + p.name + ": no device: " + st.message;
      return "";
    }
    return "plugin " + p.name + ": initialize failed: " + code_name(st.code) + ": " + st.message;
  }
  p.initialized = true;
  int32_t count = -1;
  st = take(a.device_count(&count));
  if (!st.ok) return "plugin " + p.name + ": device_count failed: " + st.message;
  if (count <= 0) {
    p.skip_reason = "plugin " + p.name + ": no device: device_count is " + std::to_string(count);
    return "";
  }
  if (opts.device_index < 0 || opts.device_index >= count) {
    return "plugin " + p.name + ": --device " + std::to_string(opts.device_index) +
           " but the plugin has " + std::to_string(count) + " device(s)";
  }
  p.props = {};
  p.props.struct_size = sizeof(tsr_device_properties);
  st = take(a.device_get_properties(opts.device_index, &p.props));
  if (!st.ok) return "plugin " + p.name + ": device_get_properties failed: " + st.message;
  st = take(a.device_open(opts.device_index, &p.device));
  if (!st.ok) {
    if (st.code == TSR_ERROR_CODE_UNAVAILABLE) {
      p.skip_reason = "plugin " + p.name + ": no device: " + st.message;
      return "";
    }
    return "plugin " + p.name + ": device_open failed: " + st.message;
  }
  return "";
}

void unload_plugin() {
  LoadedPlugin& p = plugin();
  if (p.api != nullptr) {
    if (p.device != nullptr) {
      const Status st = take(p.api->device_close(p.device));
      if (!st.ok) std::fprintf(stderr, "device_close failed: %s\n", st.message.c_str());
    }
    if (p.initialized && p.api->shutdown != nullptr) p.api->shutdown();
  }
  // The plugin stays mapped: unloading it could run its destructors after ours.
  p.device = nullptr;
  p.initialized = false;
}

// ---- errors -------------------------------------------------------------------------------

Status take(tsr_error* error) {
  Status st;
  if (error == nullptr) return st;
  st.ok = false;
  st.code = error->code;
  st.message = error->message != nullptr ? error->message : "";
  st.well_formed =
      error->message != nullptr && error->message[0] != '\0' && error->destroy != nullptr;
  if (st.message.empty()) st.message = "(no message)";
  if (error->destroy != nullptr) error->destroy(error);
  return st;
}

std::string code_name(tsr_error_code code) {
  switch (code) {
    case TSR_ERROR_CODE_OK:
      return "OK";
    case TSR_ERROR_CODE_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case TSR_ERROR_CODE_UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case TSR_ERROR_CODE_RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case TSR_ERROR_CODE_UNAVAILABLE:
      return "UNAVAILABLE";
    case TSR_ERROR_CODE_INTERNAL:
      return "INTERNAL";
    case TSR_ERROR_CODE_CANCELLED:
      return "CANCELLED";
    case TSR_ERROR_CODE_NOT_FOUND:
      return "NOT_FOUND";
    case TSR_ERROR_CODE_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
  }
  return "code " + std::to_string(static_cast<int>(code));
}

// ---- device memory --------------------------------------------------------------------------

Stream::Stream() {
  const Status st = take(api().stream_create(device(), &stream_));
  if (!st.ok) {
    ADD_FAILURE() << "stream_create failed: " << code_name(st.code) << ": " << st.message;
    stream_ = nullptr;
  }
}

Stream::~Stream() {
  if (stream_ == nullptr) return;
  sync();
  const Status st = take(api().stream_destroy(stream_));
  if (!st.ok) ADD_FAILURE() << "stream_destroy failed: " << st.message;
}

void Stream::sync() const {
  const Status st = take(api().stream_synchronize(stream_));
  if (!st.ok)
    ADD_FAILURE() << "stream_synchronize failed: " << code_name(st.code) << ": " << st.message;
}

Buffer::Buffer(size_t bytes, tsr_buffer_kind kind) : bytes_(bytes) {
  const Status st = take(api().buffer_alloc(device(), bytes, kind, &buffer_));
  if (!st.ok) {
    ADD_FAILURE() << "buffer_alloc(" << bytes << ") failed: " << code_name(st.code) << ": "
                  << st.message;
    buffer_ = nullptr;
  }
}

Buffer::~Buffer() {
  if (buffer_ == nullptr) return;
  const Status st = take(api().buffer_free(buffer_));
  if (!st.ok) ADD_FAILURE() << "buffer_free failed: " << st.message;
}

void Buffer::write(const Stream& s, size_t offset, const std::vector<uint8_t>& bytes) const {
  if (buffer_ == nullptr || bytes.empty()) return;
  const Status st = take(api().memcpy_h2d(s.get(), buffer_, offset, bytes.data(), bytes.size()));
  if (!st.ok) ADD_FAILURE() << "memcpy_h2d failed: " << code_name(st.code) << ": " << st.message;
  s.sync();
}

std::vector<uint8_t> Buffer::read(const Stream& s, size_t offset, size_t bytes) const {
  std::vector<uint8_t> out(bytes);
  if (buffer_ == nullptr || bytes == 0) return out;
  s.sync();
  const Status st = take(api().memcpy_d2h(s.get(), out.data(), buffer_, offset, bytes));
  if (!st.ok) ADD_FAILURE() << "memcpy_d2h failed: " << code_name(st.code) << ": " << st.message;
  s.sync();
  return out;
}

namespace {
uint8_t guard_byte(size_t i) {
  return static_cast<uint8_t>(0xA5u ^ (i * 29u));
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}
}  // namespace

Tensor::Tensor(const Stream& s, tsr_dtype dtype, std::vector<int64_t> shape, std::string name)
    : stream_(s),
      buffer_(2 * kGuardBytes + static_cast<size_t>(product(shape)) * dtype_bytes(dtype)),
      name_(std::move(name)) {
  view_.struct_size = sizeof(tsr_tensor);
  view_.buffer = buffer_.get();
  view_.offset = kGuardBytes;
  view_.dtype = dtype;
  view_.ndim = static_cast<int32_t>(shape.size());
  for (size_t i = 0; i < shape.size() && i < TSR_MAX_DIMS; ++i) view_.shape[i] = shape[i];
  // Guards and the payload start as a pattern, so an output the op forgot to write shows.
  std::vector<uint8_t> fill(buffer_.size());
  for (size_t i = 0; i < fill.size(); ++i) fill[i] = guard_byte(i);
  buffer_.write(s, 0, fill);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int32_t i = 0; i < view_.ndim; ++i) n *= view_.shape[i];
  return n;
}

void Tensor::upload(const std::vector<double>& values) const {
  upload_bytes(encode(view_.dtype, values));
}

void Tensor::upload_bytes(const std::vector<uint8_t>& bytes) const {
  EXPECT_EQ(bytes.size(), this->bytes()) << name_;
  buffer_.write(stream_, kGuardBytes, bytes);
}

std::vector<double> Tensor::values() const {
  return decode(view_.dtype, raw());
}

std::vector<uint8_t> Tensor::raw() const {
  return buffer_.read(stream_, kGuardBytes, bytes());
}

void Tensor::check_guards() const {
  const std::vector<uint8_t> all = buffer_.read(stream_, 0, buffer_.size());
  const size_t end = kGuardBytes + bytes();
  size_t bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i >= kGuardBytes && i < end) continue;
    if (all[i] != guard_byte(i)) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad > 0) {
    const long long rel = first < kGuardBytes
                              ? static_cast<long long>(first) - static_cast<long long>(kGuardBytes)
                              : static_cast<long long>(first - end);
    ADD_FAILURE() << "guard bytes of " << name_ << " overwritten: " << bad << " byte(s), first at "
                  << (first < kGuardBytes ? "" : "+") << rel
                  << (first < kGuardBytes ? " before the start" : " past the end");
  }
}

tsr_tensor absent_tensor() {
  tsr_tensor t{};
  t.struct_size = sizeof(tsr_tensor);
  t.buffer = nullptr;
  t.dtype = TSR_DTYPE_INVALID;
  return t;
}

// ---- randomness ---------------------------------------------------------------------------

std::mt19937_64& rng() {
  return case_rng();
}

void reseed_for_current_test() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
  uint64_t h = options().seed ^ 0x9e3779b97f4a7c15ull;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  std::seed_seq seq{static_cast<uint32_t>(h), static_cast<uint32_t>(h >> 32)};
  case_rng().seed(seq);
}

std::vector<double> random_uniform(size_t n, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> out(n);
  for (double& v : out) v = dist(rng());
  return out;
}

std::vector<double> random_normal(size_t n, double stddev) {
  std::normal_distribution<double> dist(0.0, stddev);
  std::vector<double> out(n);
  for (double& v : out) v = dist(rng());
  return out;
}

int64_t random_int(int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  return dist(rng());
}

std::vector<double> rounded(tsr_dtype dtype, std::vector<double> values) {
  for (double& v : values) v = round_to(dtype, v);
  return values;
}

// ---- comparison -------------------------------------------------------------------------

bool verbose() {
  static const bool on = std::getenv("TESSERA_CONFORMANCE_VERBOSE") != nullptr;
  return on;
}

double finite_norm(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) {
    if (std::isfinite(x)) sum += x * x;
  }
  return std::sqrt(sum);
}

double normalized_error(const std::vector<double>& out, const std::vector<double>& ref) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.size() && i < out.size(); ++i) {
    if (!std::isfinite(ref[i])) continue;
    const double d = out[i] - ref[i];
    diff += d * d;
    norm += ref[i] * ref[i];
  }
  if (out.size() != ref.size()) return INFINITY;
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

double tolerance(tsr_dtype dtype) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      return 1e-4;
    case TSR_DTYPE_F16:
      return 2e-3;
    case TSR_DTYPE_BF16:
      return 1e-2;
    default:
      return 0;
  }
}

::testing::AssertionResult close(const std::vector<double>& out, const std::vector<double>& ref,
                                 double tol) {
  if (out.size() != ref.size()) {
    return ::testing::AssertionFailure() << "size " << out.size() << " != reference " << ref.size();
  }
  size_t mismatched = 0;
  std::ostringstream first;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool agree = std::isnan(ref[i])   ? std::isnan(out[i])
                       : std::isinf(ref[i]) ? out[i] == ref[i]
                                            : std::isfinite(out[i]);
    if (!agree && mismatched++ == 0) {
      first << " (first at index " << i << ": got " << out[i] << ", reference " << ref[i] << ")";
    }
  }
  if (mismatched > 0) {
    return ::testing::AssertionFailure()
           << mismatched << " element(s) disagree on NaN/Inf" << first.str();
  }
  const double err = normalized_error(out, ref);
  if (verbose()) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::printf("  %s.%s: normalized error %.3g, tolerance %.3g (%.0f%% of it)\n",
                info ? info->test_suite_name() : "?", info ? info->name() : "?", err, tol,
                tol > 0 ? 100.0 * err / tol : 0.0);
  }
  if (!(err <= tol)) {
    size_t worst = 0;
    double worst_diff = -1;
    for (size_t i = 0; i < ref.size(); ++i) {
      if (!std::isfinite(ref[i])) continue;
      const double d = std::fabs(out[i] - ref[i]);
      if (d > worst_diff) {
        worst_diff = d;
        worst = i;
      }
    }
    return ::testing::AssertionFailure()
           << "normalized error " << err << " > tolerance " << tol << "; worst element " << worst
           << ": got " << out[worst] << ", reference " << ref[worst];
  }
  return ::testing::AssertionSuccess() << "normalized error " << err;
}

// ---- ops -----------------------------------------------------------------------------------

const char* op_name(tsr_op_id op) {
  switch (op) {
#define TSR_OP(UPPER, lower, params) \
  case TSR_OP_##UPPER:               \
    return #lower;
#include "tessera/ops.def"
#undef TSR_OP
    default:
      return "?";
  }
}

namespace {
// The op's function pointer, or NULL when absent or beyond the table's struct_size.
bool op_pointer_set(tsr_op_id op) {
  const tsr_ops_api* ops = api().ops;
  if (ops == nullptr) return false;
  switch (op) {
#define TSR_OP(UPPER, lower, params) \
  case TSR_OP_##UPPER:               \
    return TSR_STRUCT_HAS(ops, tsr_ops_api, lower) && ops->lower != nullptr;
#include "tessera/ops.def"
#undef TSR_OP
    default:
      return false;
  }
}
}  // namespace

bool op_available(tsr_op_id op) {
  return op_pointer_set(op) && api().op_supported(device(), op, nullptr) != 0;
}

bool op_supported_for(tsr_op_id op, const void* params) {
  return op_pointer_set(op) && api().op_supported(device(), op, params) != 0;
}

void ConformanceTest::SetUp() {
  if (!plugin().skip_reason.empty()) GTEST_SKIP() << plugin().skip_reason;
  reseed_for_current_test();
}

std::string CaseSkips::summary() const {
  if (declined_.empty()) {
    return ran_ == 0 ? std::string("op ") + op_name(op_) + ": no case ran" : std::string();
  }
  std::string out = std::string("op ") + op_name(op_) + " declined by plugin " + plugin().name +
                    " (op_supported = 0) for: ";
  for (size_t i = 0; i < declined_.size(); ++i) out += (i ? "; " : "") + declined_[i];
  return out;
}

::testing::AssertionResult failed_with(const Status& st,
                                       std::initializer_list<tsr_error_code> codes) {
  if (st.ok) return ::testing::AssertionFailure() << "the call succeeded but should have failed";
  if (!st.well_formed) {
    return ::testing::AssertionFailure()
           << "error without message or destroy function (" << code_name(st.code) << ")";
  }
  for (tsr_error_code c : codes) {
    if (st.code == c) return ::testing::AssertionSuccess() << code_name(st.code);
  }
  std::string expected;
  for (tsr_error_code c : codes) expected += (expected.empty() ? "" : " or ") + code_name(c);
  return ::testing::AssertionFailure() << "failed with " << code_name(st.code) << " (" << st.message
                                       << "), expected " << expected;
}

bool register_covered_op(const char* name) {
  covered_list().emplace_back(name);
  return true;
}

const std::vector<std::string>& covered_ops() {
  return covered_list();
}

}  // namespace tsr::conformance
