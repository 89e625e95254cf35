// cuBLASLt loaded with dlopen (see cublaslt.h): the library, per-device handles and the
// cache of algorithm choices.
#include "cublaslt.h"

#include <dlfcn.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "cuda_internal.h"

namespace tsr::cuda::lt {
namespace {

#define TSR_STR2(x) #x
#define TSR_STR(x) TSR_STR2(x)
// The soname of the major version whose headers we compiled against.
constexpr const char* kLibrary = "libcublasLt.so." TSR_STR(CUBLAS_VER_MAJOR);
#undef TSR_STR
#undef TSR_STR2

struct Library {
  void* handle = nullptr;
  std::string error;
  Api api;
};

const Library& library() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    lib.handle = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (lib.handle == nullptr) {
      const char* reason = dlerror();
      lib.error = reason != nullptr ? reason : std::string("dlopen(") + kLibrary + ") failed";
      return;
    }
    auto resolve = [](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib.handle, name));
      if (fn == nullptr && lib.error.empty()) lib.error = std::string(kLibrary) + " lacks " + name;
    };
    Api& a = lib.api;
    resolve(a.create, "cublasLtCreate");
    resolve(a.get_version, "cublasLtGetVersion");
    resolve(a.desc_create, "cublasLtMatmulDescCreate");
    resolve(a.desc_destroy, "cublasLtMatmulDescDestroy");
    resolve(a.desc_set, "cublasLtMatmulDescSetAttribute");
    resolve(a.layout_create, "cublasLtMatrixLayoutCreate");
    resolve(a.layout_destroy, "cublasLtMatrixLayoutDestroy");
    resolve(a.pref_create, "cublasLtMatmulPreferenceCreate");
    resolve(a.pref_destroy, "cublasLtMatmulPreferenceDestroy");
    resolve(a.pref_set, "cublasLtMatmulPreferenceSetAttribute");
    resolve(a.heuristic, "cublasLtMatmulAlgoGetHeuristic");
    resolve(a.matmul, "cublasLtMatmul");
    resolve(a.status_string, "cublasLtGetStatusString");
    if (lib.error.empty()) {
      host().debug(sdk::format("cuBLASLt loaded: %s, version %zu", kLibrary, a.get_version()));
    }
  });
  return lib;
}

struct KeyHash {
  size_t operator()(const MatmulKey& k) const {
    size_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    mix(static_cast<uint64_t>(k.device));
    mix(static_cast<uint64_t>(k.m));
    mix(static_cast<uint64_t>(k.n));
    mix(static_cast<uint64_t>(k.k));
    mix(static_cast<uint64_t>(k.a_type) << 16 | static_cast<uint64_t>(k.b_type) << 8 |
        static_cast<uint64_t>(k.d_type));
    mix(static_cast<uint64_t>(k.epilogue) << 16 | static_cast<uint64_t>(k.bias_type) << 8 |
        static_cast<uint64_t>(k.scaled));
    mix(static_cast<uint64_t>(k.align_a) << 48 | static_cast<uint64_t>(k.align_b) << 32 |
        static_cast<uint64_t>(k.align_d) << 16 | static_cast<uint64_t>(k.align_bias));
    return h;
  }
};

// Prefill shapes vary with the batch; the bound keeps a long-running server's map small.
constexpr size_t kMaxCachedAlgos = 4096;

struct AlgoCache {
  std::mutex mutex;
  std::unordered_map<MatmulKey, MatmulAlgo, KeyHash> map;
};

AlgoCache& algo_cache() {
  static AlgoCache cache;
  return cache;
}

}  // namespace

bool MatmulKey::operator==(const MatmulKey& o) const {
  return device == o.device && m == o.m && n == o.n && k == o.k && a_type == o.a_type &&
         b_type == o.b_type && d_type == o.d_type && epilogue == o.epilogue &&
         bias_type == o.bias_type && scaled == o.scaled && align_a == o.align_a &&
         align_b == o.align_b && align_d == o.align_d && align_bias == o.align_bias;
}

bool available(std::string* reason) {
  const Library& lib = library();
  if (reason != nullptr) *reason = lib.error;
  return lib.error.empty();
}

const Api& api() {
  const Library& lib = library();
  TSR_PLUGIN_CHECK(lib.error.empty(), TSR_ERROR_CODE_UNAVAILABLE,
                   "cuBLASLt (%s) is not available: %s", kLibrary, lib.error.c_str());
  return lib.api;
}

cublasLtHandle_t handle(int device_index) {
  static std::mutex mutex;
  static std::array<cublasLtHandle_t, 64> handles{};
  TSR_PLUGIN_CHECK_ARG(device_index >= 0 && device_index < static_cast<int>(handles.size()),
                       "cuBLASLt: CUDA device index %d out of range", device_index);
  const Api& a = api();
  std::lock_guard<std::mutex> lock(mutex);
  cublasLtHandle_t& slot = handles[static_cast<size_t>(device_index)];
  if (slot == nullptr) {
    // The caller made the device current; cublasLtCreate binds nothing else.
    check(a.create(&slot), "cublasLtCreate");
  }
  return slot;
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const Library& lib = library();
  const char* text = lib.api.status_string != nullptr ? lib.api.status_string(status) : "error";
  const tsr_error_code code =
      status == CUBLAS_STATUS_ALLOC_FAILED ? TSR_ERROR_CODE_RESOURCE_EXHAUSTED
      : status == CUBLAS_STATUS_NOT_INITIALIZED || status == CUBLAS_STATUS_ARCH_MISMATCH
          ? TSR_ERROR_CODE_UNAVAILABLE
          : TSR_ERROR_CODE_INTERNAL;
  throw sdk::Error(
      code, sdk::format("%s failed: %s (cublasStatus %d)", what, text, static_cast<int>(status)));
}

bool lookup(const MatmulKey& key, MatmulAlgo* out) {
  AlgoCache& cache = algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const auto it = cache.map.find(key);
  if (it == cache.map.end()) return false;
  *out = it->second;
  return true;
}

void remember(const MatmulKey& key, const MatmulAlgo& algo) {
  AlgoCache& cache = algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  if (cache.map.size() >= kMaxCachedAlgos) cache.map.clear();
  cache.map[key] = algo;
}

int alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  int align = 256;
  while (align > 1 && address % static_cast<uintptr_t>(align) != 0) align /= 2;
  return align;
}

}  // namespace tsr::cuda::lt
