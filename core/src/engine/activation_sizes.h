// Bytes of every activation buffer the model runner allocates for one step of
// max_num_tokens tokens. One function, used both by the runner (to allocate) and by
// `tessera plan` (to predict without a device), so the plan cannot drift from what runs.
#pragma once

#include <cstddef>

#include "model/model_config.h"
#include "tessera/plugin.h"

namespace tessera::engine {

struct ActivationSizes {
  size_t hidden = 0, normed = 0, q = 0, k = 0, v = 0, q_normed = 0, k_normed = 0, attn = 0,
         o_out = 0, gate_up = 0, act = 0, mlp_out = 0, gathered = 0, logits = 0;
  size_t step_inputs = 0;  // ids, positions, slots, block tables, …
  size_t sampling = 0;     // per-row sampling parameters and outputs
  size_t logit_rows = 0;

  size_t total() const {
    return hidden + normed + q + k + v + q_normed + k_normed + attn + o_out + gate_up + act +
           mlp_out + gathered + logits + step_inputs + sampling;
  }
};

ActivationSizes activation_sizes(const model::ModelConfig& cfg, tsr_dtype dtype,
                                 size_t max_num_tokens, size_t max_num_seqs,
                                 size_t max_blocks_per_seq, size_t max_logprobs, bool qk_norm);

}  // namespace tessera::engine
