// Header-only C++17 helpers for plugin authors, on top of the C ABI in plugin.h:
//   - tsr::sdk::Error and make_error(): build the tsr_error* the ABI returns;
//   - guard(): run a lambda, turning any exception into a tsr_error* (no exception may
//     cross the C boundary);
//   - Host: log through the host's sink (plugins never print) and read options;
//   - dtype sizes, tensor element counts and f16/bf16 conversions.
// Nothing here allocates per call beyond an error's message.
#ifndef TESSERA_PLUGIN_HPP
#define TESSERA_PLUGIN_HPP

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "tessera/plugin.h"

namespace tsr::sdk {

// An exception carrying an ABI error code; guard() maps it onto a tsr_error.
class Error : public std::runtime_error {
 public:
  Error(tsr_error_code code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  tsr_error_code code() const noexcept { return code_; }

 private:
  tsr_error_code code_;
};

namespace detail {
struct OwnedError {
  tsr_error error;
  char message[1];  // allocated larger
};
inline void destroy_error(tsr_error* error) {
  std::free(error);
}
}  // namespace detail

// Allocates a tsr_error the caller of the ABI function owns. Never throws: on allocation
// failure it returns a static out-of-memory error whose destroy is a no-op.
inline tsr_error* make_error(tsr_error_code code, const char* message) noexcept {
  const size_t length = std::strlen(message);
  auto* owned = static_cast<detail::OwnedError*>(std::malloc(sizeof(detail::OwnedError) + length));
  if (owned == nullptr) {
    static tsr_error oom = {sizeof(tsr_error), TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                            "out of host memory while reporting an error", [](tsr_error*) {}};
    return &oom;
  }
  std::memcpy(owned->message, message, length + 1);
  owned->error.struct_size = sizeof(tsr_error);
  owned->error.code = code;
  owned->error.message = owned->message;
  owned->error.destroy = &detail::destroy_error;
  return &owned->error;
}

inline tsr_error* make_error(tsr_error_code code, const std::string& message) noexcept {
  return make_error(code, message.c_str());
}

// Runs `body` and converts exceptions to errors: Error keeps its code, bad_alloc becomes
// RESOURCE_EXHAUSTED, anything else INTERNAL. `body` returns void or tsr_error*.
template <class Body>
tsr_error* guard(Body&& body) noexcept {
  try {
    if constexpr (std::is_same_v<decltype(body()), void>) {
      body();
      return nullptr;
    } else {
      return body();
    }
  } catch (const Error& e) {
    return make_error(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return make_error(TSR_ERROR_CODE_RESOURCE_EXHAUSTED, "out of host memory");
  } catch (const std::exception& e) {
    return make_error(TSR_ERROR_CODE_INTERNAL, e.what());
  } catch (...) {
    return make_error(TSR_ERROR_CODE_INTERNAL, "unknown exception in plugin");
  }
}

// printf-style message formatting for checks and logs.
inline std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char stack[512];
  va_list copy;
  va_copy(copy, args);
  const int needed = std::vsnprintf(stack, sizeof stack, fmt, copy);
  va_end(copy);
  std::string out;
  if (needed < 0) {
    out = fmt;
  } else if (static_cast<size_t>(needed) < sizeof stack) {
    out.assign(stack, static_cast<size_t>(needed));
  } else {
    out.resize(static_cast<size_t>(needed));
    std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  }
  va_end(args);
  return out;
}

// Throws Error(code, formatted message) when `cond` is false. Use inside guard().
#define TSR_PLUGIN_CHECK(cond, code, ...)                                          \
  do {                                                                             \
    if (!(cond)) throw ::tsr::sdk::Error((code), ::tsr::sdk::format(__VA_ARGS__)); \
  } while (0)

#define TSR_PLUGIN_CHECK_ARG(cond, ...) \
  TSR_PLUGIN_CHECK(cond, TSR_ERROR_CODE_INVALID_ARGUMENT, __VA_ARGS__)

// The host services handed to tsr_plugin_get_api. Keep one per plugin (a static).
class Host {
 public:
  void attach(const tsr_host_api* api, const char* plugin_name) noexcept {
    api_ = api;
    name_ = plugin_name;
  }
  bool attached() const noexcept { return api_ != nullptr; }

  void log(tsr_log_level level, const std::string& message) const noexcept {
    if (api_ != nullptr && api_->log != nullptr)
      api_->log(api_->ctx, level, name_, message.c_str());
  }
  void info(const std::string& m) const noexcept { log(TSR_LOG_LEVEL_INFO, m); }
  void warn(const std::string& m) const noexcept { log(TSR_LOG_LEVEL_WARN, m); }
  void debug(const std::string& m) const noexcept { log(TSR_LOG_LEVEL_DEBUG, m); }

  // An option's value or nullptr; falls back to `fallback` when unset.
  const char* option(const char* key, const char* fallback = nullptr) const noexcept {
    if (api_ == nullptr || api_->get_option == nullptr) return fallback;
    const char* value = api_->get_option(api_->ctx, key);
    return value != nullptr ? value : fallback;
  }

  bool cancel_requested() const noexcept {
    return api_ != nullptr && TSR_STRUCT_HAS(api_, tsr_host_api, cancel_requested) &&
           api_->cancel_requested != nullptr && api_->cancel_requested(api_->ctx) != 0;
  }

  const tsr_host_api* api() const noexcept { return api_; }

 private:
  const tsr_host_api* api_ = nullptr;
  const char* name_ = "plugin";
};

inline size_t dtype_size(tsr_dtype dtype) noexcept {
  switch (dtype) {
    case TSR_DTYPE_F32:
    case TSR_DTYPE_I32:
      return 4;
    case TSR_DTYPE_F16:
    case TSR_DTYPE_BF16:
      return 2;
    case TSR_DTYPE_I64:
    case TSR_DTYPE_U64:
      return 8;
    case TSR_DTYPE_U8:
    case TSR_DTYPE_I8:
    case TSR_DTYPE_FP8_E4M3:
      return 1;
    default:
      return 0;
  }
}

inline const char* dtype_name(tsr_dtype dtype) noexcept {
  switch (dtype) {
    case TSR_DTYPE_F32:
      return "f32";
    case TSR_DTYPE_F16:
      return "f16";
    case TSR_DTYPE_BF16:
      return "bf16";
    case TSR_DTYPE_I32:
      return "i32";
    case TSR_DTYPE_I64:
      return "i64";
    case TSR_DTYPE_U8:
      return "u8";
    case TSR_DTYPE_I8:
      return "i8";
    case TSR_DTYPE_FP8_E4M3:
      return "fp8_e4m3";
    case TSR_DTYPE_U64:
      return "u64";
    default:
      return "invalid";
  }
}

inline bool tensor_present(const tsr_tensor& t) noexcept {
  return t.buffer != nullptr;
}

inline int64_t tensor_numel(const tsr_tensor& t) noexcept {
  int64_t n = 1;
  for (int32_t i = 0; i < t.ndim && i < TSR_MAX_DIMS; ++i) n *= t.shape[i];
  return n;
}

inline size_t tensor_bytes(const tsr_tensor& t) noexcept {
  return static_cast<size_t>(tensor_numel(t)) * dtype_size(t.dtype);
}

// bf16 <-> f32 with round-to-nearest-even; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) noexcept {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_f32(uint16_t value) noexcept {
  const uint32_t bits = static_cast<uint32_t>(value) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

// IEEE binary16 <-> f32 with round-to-nearest-even, subnormals, Inf and NaN.
inline float f16_to_f32(uint16_t h) noexcept {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

inline uint16_t f32_to_f16(float value) noexcept {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> Inf
  if (abs < 0x38800000u) {                                               // subnormal or zero
    if (abs < 0x33000000u) return sign;
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t remainder = abs & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

// fp8 e4m3fn (no Inf; 0x7f/0xff are NaN; max 448) -> f32.
inline float fp8_e4m3_to_f32(uint8_t v) noexcept {
  const uint32_t sign = (v & 0x80u) ? 1u : 0u;
  const uint32_t exponent = (v >> 3) & 0xfu;
  const uint32_t mantissa = v & 0x7u;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) {
    magnitude = static_cast<float>(mantissa) / 8.0f * (1.0f / 64.0f);
  } else {
    magnitude = (1.0f + static_cast<float>(mantissa) / 8.0f) *
                static_cast<float>(std::ldexp(1.0, static_cast<int>(exponent) - 7));
  }
  return sign ? -magnitude : magnitude;
}

}  // namespace tsr::sdk

#endif  // TESSERA_PLUGIN_HPP
