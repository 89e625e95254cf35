// Level Zero entry points resolved from libze_loader.so.1 with dlopen, so the XPU plugin
// loads (and reports no device) on machines without Level Zero. Types come from the
// ze_api.h/zes_api.h headers at build time; nothing links against the loader.
//
// The Sysman (zes*) entry points are optional: missing ones stay nullptr. Sysman needs
// ZES_ENABLE_SYSMAN=1 in the environment before the first zeInit (the loader installed on
// Debian 12 predates zesInit); ze_loader() sets it, without overriding a user's value,
// before returning the table for the first time.
#pragma once

#include <level_zero/ze_api.h>
#include <level_zero/zes_api.h>

#include <string>

namespace tsr::xpu {

#define TSR_ZE_REQUIRED(X)                  \
  X(zeInit)                                 \
  X(zeDriverGet)                            \
  X(zeDriverGetProperties)                  \
  X(zeDeviceGet)                            \
  X(zeDeviceGetProperties)                  \
  X(zeDeviceGetMemoryProperties)            \
  X(zeDeviceGetCommandQueueGroupProperties) \
  X(zeContextCreate)                        \
  X(zeContextDestroy)                       \
  X(zeMemAllocDevice)                       \
  X(zeMemAllocHost)                         \
  X(zeMemFree)                              \
  X(zeMemGetAllocProperties)                \
  X(zeCommandListCreateImmediate)           \
  X(zeCommandListDestroy)                   \
  X(zeCommandListAppendMemoryCopy)          \
  X(zeCommandListAppendMemoryFill)          \
  X(zeCommandListAppendBarrier)             \
  X(zeCommandListAppendWaitOnEvents)        \
  X(zeCommandListAppendEventReset)          \
  X(zeEventPoolCreate)                      \
  X(zeEventPoolDestroy)                     \
  X(zeEventCreate)                          \
  X(zeEventDestroy)                         \
  X(zeEventHostSynchronize)                 \
  X(zeEventHostReset)                       \
  X(zeEventQueryKernelTimestamp)            \
  X(zeModuleCreate)                         \
  X(zeModuleDestroy)                        \
  X(zeModuleBuildLogGetString)              \
  X(zeModuleBuildLogDestroy)                \
  X(zeKernelCreate)                         \
  X(zeKernelDestroy)                        \
  X(zeKernelSetGroupSize)                   \
  X(zeKernelSetArgumentValue)               \
  X(zeCommandListAppendLaunchKernel)

#define TSR_ZE_OPTIONAL(X)         \
  X(zeDevicePciGetPropertiesExt)   \
  X(zesDeviceGetProperties)        \
  X(zesDeviceEnumFrequencyDomains) \
  X(zesFrequencyGetProperties)     \
  X(zesFrequencyGetState)          \
  X(zesFrequencyGetRange)          \
  X(zesDevicePciGetProperties)     \
  X(zesDevicePciGetState)          \
  X(zesDevicePciGetBars)           \
  X(zesDeviceEnumMemoryModules)    \
  X(zesMemoryGetProperties)

struct ZeLoader {
  // Empty when loaded; else why not (dlopen's message, or a missing required symbol).
  std::string error;
#define TSR_ZE_MEMBER(name) decltype(&::name) name = nullptr;
  TSR_ZE_REQUIRED(TSR_ZE_MEMBER)
  TSR_ZE_OPTIONAL(TSR_ZE_MEMBER)
#undef TSR_ZE_MEMBER
  bool loaded() const {
    return error.empty();
  }
};

// Loads libze_loader.so.1 once (thread-safe) and keeps it loaded for the process.
const ZeLoader& ze_loader();

// "ZE_RESULT_ERROR_UNINITIALIZED" for a result code.
const char* ze_result_name(ze_result_t result);

}  // namespace tsr::xpu
