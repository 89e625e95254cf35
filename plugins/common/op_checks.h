// Validation shared by every plugin, for everything that does not depend on where tensors
// live: params struct, dtypes, ranks, shapes, aliasing and scalar parameters, with the same
// messages everywhere. Nothing here reads tensor data. Each check returns the views it made
// and the list of tensors the op touches (`tensors`), so a plugin adds only what it alone
// can check: the CPU reads index values (ids, slots, block tables, sampling rows); device
// plugins walk `tensors` for residency and alignment (require_on_device in their ops
// headers). One place to change a rule, and a new plugin cannot forget one.
#ifndef TESSERA_PLUGINS_COMMON_OP_CHECKS_H
#define TESSERA_PLUGINS_COMMON_OP_CHECKS_H

#include "tensor_check.h"

namespace tsr::plugin {

// A tensor an op touches, with the name its messages use.
struct NamedTensor {
  const tsr_tensor* tensor = nullptr;
  View view;
  const char* field = nullptr;
};

// The present tensors of one op call (at most the sample op's 15).
class OpTensors {
 public:
  static constexpr int kMax = 16;
  void add(const tsr_tensor& t, const View& v, const char* field);
  const NamedTensor* begin() const { return items_; }
  const NamedTensor* end() const { return items_ + count_; }
  int size() const { return count_; }

 private:
  NamedTensor items_[kMax];
  int count_ = 0;
};

struct EmbeddingViews {
  View ids, table, out;
  OpTensors tensors;
};
EmbeddingViews check_embedding(const tsr_embedding_params* p, const char* op);

// linear's params: struct_size must reach `out` (ABI 1.0); out_parts (ABI 1.3) is read only
// when the struct holds it.
const tsr_linear_params& linear_params(const tsr_linear_params* p, const char* op);
// linear's outputs for a weight of n rows: out alone ([.., n], x's rank and leading dims, x's
// dtype or f32), or with out_parts (TSR_DEVICE_CAP_LINEAR_OUT_PARTS) out and one or two parts
// whose last dims add up to n, all of out's dtype and shape but the last dim, none
// overlapping x or each other. A plugin without the capability passes parts_supported false
// and any present part is refused.
struct LinearOutViews {
  View outs[3];
  int count = 1;  // out, then the present parts
};
LinearOutViews check_linear_outputs(const tsr_linear_params& p, const View& x, int64_t n,
                                    bool parts_supported, const char* op);

struct RmsNormViews {
  View x, weight, out, residual;
  bool fused = false;  // residual present
  OpTensors tensors;
};
RmsNormViews check_rms_norm(const tsr_rms_norm_params* p, const char* op);

struct RopeViews {
  View query, positions, key;
  bool has_key = false;
  OpTensors tensors;
};
RopeViews check_rope(const tsr_rope_params* p, const char* op);

struct GatherRowsViews {
  View x, indices, out;
  OpTensors tensors;
};
GatherRowsViews check_gather_rows(const tsr_gather_rows_params* p, const char* op);

struct SiluMulViews {
  View x, out;
  OpTensors tensors;
};
SiluMulViews check_silu_mul(const tsr_silu_mul_params* p, const char* op);
// ABI 1.2: gelu_tanh_mul has silu_mul's shapes and dtypes.
SiluMulViews check_gelu_tanh_mul(const tsr_gelu_tanh_mul_params* p, const char* op);

// out may alias a or b exactly (an in-place residual add), never partially.
struct AddViews {
  View a, b, out;
  OpTensors tensors;
};
AddViews check_add(const tsr_add_params* p, const char* op);

// paged_attention: the cache layout and buffer, query/out, the batch description's dtypes and
// shapes, and the scalars. The batch's values (query_start_loc, seq_lens, block tables) are
// the plugin's to check where it can read them.
struct PagedAttentionViews {
  View query, out, query_start_loc, seq_lens, block_tables;
  int64_t tokens = 0, num_seqs = 0, query_heads = 0, kv_heads = 0;
  OpTensors tensors;  // the cache buffer is not among them: it is params.cache
};
PagedAttentionViews check_paged_attention(const tsr_paged_attention_params* p, const char* op);

// kv_cache_write / kv_cache_read: key and value [T, kv_heads, head_dim] in one activation
// dtype, slot_mapping i64 [T], and the cache (layout, buffer of num_blocks blocks). For a read
// key and value are outputs and must not overlap.
struct KvCacheViews {
  View key, value, slot_mapping;
  OpTensors tensors;  // the cache buffer is not among them
};
KvCacheViews check_kv_cache_io(const tsr_kv_layout& layout, tsr_buffer_t cache, int64_t num_blocks,
                               const tsr_tensor& key, const tsr_tensor& value,
                               const tsr_tensor& slot_mapping, bool is_read, const char* op);

// sample: logits f32 [B, V]; every optional per-row tensor [B] in its dtype (absent = off);
// the history triple when history_offsets is present; the outputs, none overlapping logits.
struct SampleViews {
  View logits;
  int64_t rows = 0, vocab = 0, top_n = 0;
  const float* temperature = nullptr;  // NULL when absent, likewise below
  const int32_t* top_k = nullptr;
  const float* top_p = nullptr;
  const float* min_p = nullptr;
  const float* repetition_penalty = nullptr;
  const float* presence_penalty = nullptr;
  const float* frequency_penalty = nullptr;
  const uint64_t* seeds = nullptr;
  bool has_history = false;
  View history_offsets, history_tokens, history_prompt_lens;
  View out_tokens;
  bool has_logprobs = false;
  View out_logprobs;
  View top_ids, top_values;  // when top_n > 0
  OpTensors tensors;
};
SampleViews check_sample(const tsr_sample_params* p, const char* op);

}  // namespace tsr::plugin

#endif  // TESSERA_PLUGINS_COMMON_OP_CHECKS_H
