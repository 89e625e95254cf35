#include "engine/activation_sizes.h"

#include <algorithm>

#include "tessera/plugin.hpp"

namespace tessera::engine {

ActivationSizes activation_sizes(const model::ModelConfig& cfg, tsr_dtype dtype, size_t t,
                                 size_t seqs, size_t max_blocks_per_seq, size_t max_logprobs,
                                 bool qk_norm) {
  const size_t e = tsr::sdk::dtype_size(dtype);
  const auto h = static_cast<size_t>(cfg.hidden_size);
  const auto q_dim = static_cast<size_t>(cfg.num_heads * cfg.head_dim);
  const auto kv_dim = static_cast<size_t>(cfg.num_kv_heads * cfg.head_dim);
  const auto inter = static_cast<size_t>(cfg.intermediate_size);
  const auto vocab = static_cast<size_t>(cfg.vocab_size);
  ActivationSizes s;
  s.logit_rows = std::min(t, seqs);  // at most one logits row per sequence
  s.hidden = s.normed = s.o_out = s.mlp_out = t * h * e;
  s.q = s.attn = t * q_dim * e;
  s.k = s.v = t * kv_dim * e;
  if (qk_norm) {
    s.q_normed = s.q;
    s.k_normed = s.k;
  }
  s.gate_up = t * 2 * inter * e;
  s.act = t * inter * e;
  s.gathered = s.logit_rows * h * e;
  s.logits = s.logit_rows * vocab * 4;
  s.step_inputs = t * (4 + 4 + 8) + (seqs + 1) * 4 + seqs * 4 + seqs * max_blocks_per_seq * 4 +
                  s.logit_rows * 4;
  s.sampling = s.logit_rows * (7 * 4 + 8 + 4 + 4 + 4) + (s.logit_rows + 1) * 4 +
               2 * (s.logit_rows * max_logprobs * 4 + 4);
  return s;
}

}  // namespace tessera::engine
