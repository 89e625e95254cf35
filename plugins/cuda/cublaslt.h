// cuBLASLt for the CUDA plugin's linear op, loaded at run time.
//
// The library is opened with dlopen("libcublasLt.so.<major>") on first use (major = the
// CUBLAS_VER_MAJOR of the headers we were built with, whose ABI we use) instead of being
// linked: the plugin then loads on machines without it, and only dense matmuls report
// UNAVAILABLE there. Only cublasLt.h is needed at build time, for the types.
//
// Handles: one cublasLtHandle_t per device index, created on first use under a mutex and
// kept for the life of the process (destroying it at exit could run after the driver is
// gone). Algorithm choices are cached per problem (see MatmulKey) because
// cublasLtMatmulAlgoGetHeuristic costs tens of microseconds per call.
#pragma once

#include <cublasLt.h>

#include <cstdint>
#include <string>

namespace tsr::cuda::lt {

// The entry points we resolve with dlsym.
struct Api {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtGetVersion) get_version = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  decltype(&cublasLtGetStatusString) status_string = nullptr;
};

// Whether the library loaded with every entry point; `reason` (when not NULL) gets the
// loader's message otherwise.
bool available(std::string* reason = nullptr);

// The loaded library; throws UNAVAILABLE naming the library and the loader's reason.
const Api& api();

// The handle of a device (created lazily, thread-safe).
cublasLtHandle_t handle(int device_index);

// Throws naming `what` unless status is CUBLAS_STATUS_SUCCESS: RESOURCE_EXHAUSTED for an
// allocation failure, UNAVAILABLE for an unusable library or GPU, INTERNAL otherwise.
void check(cublasStatus_t status, const char* what);

// One row-major problem out[M, N] = x[M, K] · W^T for the cache of algorithm choices.
struct MatmulKey {
  int device = 0;
  int64_t m = 0, n = 0, k = 0;
  int a_type = 0, b_type = 0, d_type = 0;  // cudaDataType_t of W, x, out
  int epilogue = 0;                        // cublasLtEpilogue_t
  int bias_type = 0;
  int scaled = 0;  // A/B scale pointers set (fp8)
  // Largest power of two (<= 256) dividing each address: the heuristic must only offer
  // algorithms that tolerate the alignment of this call's pointers.
  int align_a = 0, align_b = 0, align_d = 0, align_bias = 0;
  bool operator==(const MatmulKey& o) const;
};

struct MatmulAlgo {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
};

// The cache of algorithm choices: lookup returns whether `key` was seen (and its answer);
// remember stores one (the map is bounded: it starts over when full).
bool lookup(const MatmulKey& key, MatmulAlgo* out);
void remember(const MatmulKey& key, const MatmulAlgo& algo);

// Power-of-two alignment of an address, capped at 256.
int alignment_of(const void* p);

}  // namespace tsr::cuda::lt
