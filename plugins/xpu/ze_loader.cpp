// See ze_loader.h.
#include "ze_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace tsr::xpu {

const ZeLoader& ze_loader() {
  static ZeLoader loader;
  static std::once_flag once;
  std::call_once(once, [] {
    // Must precede the first zeInit of the process for Sysman to work on core handles.
    setenv("ZES_ENABLE_SYSMAN", "1", 0);
    void* handle = dlopen("libze_loader.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      loader.error = reason != nullptr ? reason : "dlopen(libze_loader.so.1) failed";
      return;
    }
#define TSR_ZE_RESOLVE(name) \
  loader.name = reinterpret_cast<decltype(loader.name)>(dlsym(handle, #name));
    TSR_ZE_REQUIRED(TSR_ZE_RESOLVE)
    TSR_ZE_OPTIONAL(TSR_ZE_RESOLVE)
#undef TSR_ZE_RESOLVE
#define TSR_ZE_REQUIRE(name)                          \
  if (loader.name == nullptr && loader.error.empty()) \
    loader.error = "libze_loader.so.1 lacks " #name;
    TSR_ZE_REQUIRED(TSR_ZE_REQUIRE)
#undef TSR_ZE_REQUIRE
  });
  return loader;
}

const char* ze_result_name(ze_result_t result) {
  switch (result) {
    case ZE_RESULT_SUCCESS:
      return "ZE_RESULT_SUCCESS";
    case ZE_RESULT_NOT_READY:
      return "ZE_RESULT_NOT_READY";
    case ZE_RESULT_ERROR_DEVICE_LOST:
      return "ZE_RESULT_ERROR_DEVICE_LOST";
    case ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY:
      return "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY";
    case ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY:
      return "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY";
    case ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS:
      return "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS";
    case ZE_RESULT_ERROR_NOT_AVAILABLE:
      return "ZE_RESULT_ERROR_NOT_AVAILABLE";
    case ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE:
      return "ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE";
    case ZE_RESULT_ERROR_UNINITIALIZED:
      return "ZE_RESULT_ERROR_UNINITIALIZED";
    case ZE_RESULT_ERROR_UNSUPPORTED_VERSION:
      return "ZE_RESULT_ERROR_UNSUPPORTED_VERSION";
    case ZE_RESULT_ERROR_UNSUPPORTED_FEATURE:
      return "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE";
    case ZE_RESULT_ERROR_INVALID_ARGUMENT:
      return "ZE_RESULT_ERROR_INVALID_ARGUMENT";
    case ZE_RESULT_ERROR_INVALID_NULL_HANDLE:
      return "ZE_RESULT_ERROR_INVALID_NULL_HANDLE";
    case ZE_RESULT_ERROR_INVALID_NULL_POINTER:
      return "ZE_RESULT_ERROR_INVALID_NULL_POINTER";
    case ZE_RESULT_ERROR_INVALID_SIZE:
      return "ZE_RESULT_ERROR_INVALID_SIZE";
    case ZE_RESULT_ERROR_UNSUPPORTED_SIZE:
      return "ZE_RESULT_ERROR_UNSUPPORTED_SIZE";
    case ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION:
      return "ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION";
    case ZE_RESULT_ERROR_UNKNOWN:
      return "ZE_RESULT_ERROR_UNKNOWN";
    default:
      return "ZE_RESULT_(other)";
  }
}

}  // namespace tsr::xpu
