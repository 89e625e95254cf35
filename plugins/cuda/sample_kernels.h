// The sample kernel's launch interface, shared by the host code (ops_sample.cpp, g++) and
// sample.cu (nvcc). Every pointer is a device pointer (never dereferenced on the host); an
// absent per-row tensor is nullptr and means "off" exactly as in the CPU plugin. The kernel
// runs one thread block per row and works on per-row copies of the logits in `workspace`
// (slots rows at a time: a block loops over rows blockIdx.x, blockIdx.x + slots, ...), so the
// input logits are never modified.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace tsr::cuda {

// The kernel's thread block size: the draw and the searches assume exactly this many threads.
inline constexpr int kSampleThreads = 1024;

struct SampleArgs {
  const float* logits = nullptr;  // [rows, vocab]
  int32_t rows = 0;
  int32_t vocab = 0;
  const float* temperature = nullptr;
  const int32_t* top_k = nullptr;
  const float* top_p = nullptr;
  const float* min_p = nullptr;
  const float* repetition = nullptr;
  const float* presence = nullptr;
  const float* frequency = nullptr;
  const uint64_t* seeds = nullptr;
  uint64_t step = 0;
  // History: all three set or all nullptr. Offsets and token ids are device data; the kernel
  // clamps offsets into [0, history_len] and ignores ids outside [0, vocab).
  const int32_t* history = nullptr;
  int64_t history_len = 0;
  const int32_t* offsets = nullptr;      // [rows + 1]
  const int32_t* prompt_lens = nullptr;  // [rows]
  int32_t* out_tokens = nullptr;         // [rows]
  float* out_logprobs = nullptr;         // [rows] or nullptr
  int32_t num_top = 0;
  int32_t* top_ids = nullptr;   // [rows, num_top] when num_top > 0
  float* top_values = nullptr;  // [rows, num_top] when num_top > 0
  void* workspace = nullptr;    // sample_workspace_bytes(slots, vocab) bytes, 256-aligned
  int32_t slots = 0;            // thread blocks launched, 1..rows
};

// Row slots (thread blocks) to launch for `rows` rows: enough to fill the GPU, bounded so the
// workspace stays within a fixed budget for big vocabularies.
int32_t sample_slots(int64_t rows, int64_t vocab, int sm_count);

// Workspace bytes for `slots` row slots: per slot the penalised logits (f32), the tempered
// logits (f32, also the penalty counts) and their exp-weights (f64).
size_t sample_workspace_bytes(int64_t slots, int64_t vocab);

cudaError_t launch_sample(const SampleArgs& args, cudaStream_t stream);

}  // namespace tsr::cuda
