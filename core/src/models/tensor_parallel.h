// Tensor parallelism (Megatron-style) as the model families see it: which slice of every
// weight one rank holds and which collectives join the ranks' partial results.
//   q/k/v, gate/up  column-parallel: rank r holds its heads' (or its intermediate slice's)
//                   output rows; KV heads are divided among ranks, or replicated when the
//                   ranks outnumber them (each rank then holds the one KV head its query
//                   heads read).
//   o_proj, down    row-parallel: rank r holds the input columns of its heads / slice; the
//                   partial outputs are summed by one all-reduce after each.
//   embedding       vocabulary-parallel: rank r holds rows [r V/N, (r+1) V/N) plus a zero
//                   row that out-of-shard ids are mapped to; an all-reduce joins them.
//   LM head         vocabulary-parallel: each rank computes its logits columns; an
//                   all-gather and a row permutation assemble [rows, vocab] on every rank.
// When the vocabulary does not divide by N, embedding and LM head stay whole on every rank.
#pragma once

#include <cstdint>

#include "model/model_config.h"

namespace tessera::models {

struct TensorShard {
  int32_t rank = 0;
  int32_t size = 1;  // tensor-parallel size; 1 = unsharded
};

// What one rank holds, in heads, rows and columns of the full model.
struct ShardLayout {
  int64_t q_heads = 0;  // query heads of this rank
  int64_t q_head_begin = 0;
  int64_t kv_heads = 0;  // KV heads of this rank (1 when replicated)
  int64_t kv_head_begin = 0;
  int64_t intermediate = 0;  // MLP intermediate features of this rank
  int64_t intermediate_begin = 0;
  bool vocab_parallel = false;  // embedding and LM head split by vocabulary rows
  int64_t vocab = 0;            // vocabulary rows of this rank (the whole vocabulary if not)
  int64_t vocab_begin = 0;
};

// Throws one message naming --tensor-parallel-size when `size` cannot split `config`
// (heads, KV heads or the intermediate size do not divide).
void check_tensor_parallel(const model::ModelConfig& config, int32_t size);
ShardLayout shard_layout(const model::ModelConfig& config, TensorShard shard);

}  // namespace tessera::models
