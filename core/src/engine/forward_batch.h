// The flat batch one engine step runs: every scheduled request's new tokens concatenated
// (prefill chunks and decode rows together), with what paged attention needs to find each
// request's context in the KV cache. Built by the ModelRunner from the scheduler's plan; host
// vectors, uploaded by the ModelRunner.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::engine {

struct ForwardBatch {
  std::vector<int32_t> input_ids;        // [T]
  std::vector<int32_t> positions;        // [T]
  std::vector<int64_t> slot_mapping;     // [T] block * block_size + offset
  std::vector<int32_t> query_start_loc;  // [B + 1]
  std::vector<int32_t> seq_lens;         // [B] context length including this step's tokens
  std::vector<int32_t> block_tables;     // [B * max_blocks_per_seq], padded with 0
  int32_t max_blocks_per_seq = 0;
  std::vector<int32_t>
      logits_indices;  // rows of T whose logits are wanted (one per sampled request)

  int32_t num_tokens() const { return static_cast<int32_t>(input_ids.size()); }
  // Empties every vector, keeping their capacity.
  void clear() {
    input_ids.clear();
    positions.clear();
    slot_mapping.clear();
    query_start_loc.clear();
    seq_lens.clear();
    block_tables.clear();
    logits_indices.clear();
    max_blocks_per_seq = 0;
  }
  int32_t num_seqs() const { return static_cast<int32_t>(seq_lens.size()); }
};

// Per-row sampling parameters for the rows of logits_indices, in the same order.
struct SamplingBatch {
  std::vector<float> temperature;
  std::vector<int32_t> top_k;
  std::vector<float> top_p;
  std::vector<float> min_p;
  std::vector<float> repetition_penalty;
  std::vector<float> presence_penalty;
  std::vector<float> frequency_penalty;
  std::vector<uint64_t> seeds;
  std::vector<int32_t> history_tokens;   // prompt + output tokens of every row, concatenated
  std::vector<int32_t> history_offsets;  // [rows + 1]
  std::vector<int32_t> history_prompt_lens;
  int32_t num_top_logprobs = 0;  // the largest top-N any row asked for
  bool want_logprobs = false;

  // Empties every vector, keeping their capacity.
  void clear() {
    for (auto* v : {&temperature, &top_p, &min_p, &repetition_penalty, &presence_penalty,
                    &frequency_penalty}) {
      v->clear();
    }
    for (auto* v : {&top_k, &history_tokens, &history_offsets, &history_prompt_lens}) v->clear();
    seeds.clear();
    num_top_logprobs = 0;
    want_logprobs = false;
  }
};

struct SampleResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;   // chosen token's, when asked
  std::vector<int32_t> top_ids;  // [rows * num_top_logprobs]
  std::vector<float> top_logprobs;
};

}  // namespace tessera::engine
