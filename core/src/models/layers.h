// Shared building blocks of the decoder families: tensor naming, weight loading of the usual
// blocks, and the blocks' forward passes as plugin ops on the context's stream.
//   attention_block: q/k/v projections (+ bias), optional per-head q/k RMSNorm, RoPE,
//                    KV-cache write, paged attention over the mixed batch, o-projection
//   gated_mlp:       gate and up in one GEMM, act(gate) * up (SwiGLU: silu, GeGLU: gelu_tanh),
//                    down-projection
//   rms_norm:        optionally fused with the residual add
//   embed / logits:  token embedding; final rows gathered, LM head to f32 logits
// A family file picks its blocks and names; nothing here branches on the family.
#pragma once

#include <string>

#include "models/model.h"

namespace tessera::models {

// One tensor's name in a Hugging Face checkpoint and in a GGUF file. Layer tensors are
// relative to the layer ("self_attn.q_proj.weight" under "model.layers.N.", "attn_q.weight"
// under "blk.N.").
struct TensorName {
  const char* hf;
  const char* gguf;
};

std::string layer_tensor_name(const TensorName& name, int layer, WeightFileKind kind);
std::string global_tensor_name(const TensorName& name, WeightFileKind kind);

struct AttentionNames {
  TensorName q, k, v, o;
  TensorName q_bias, k_bias, v_bias;  // used when the family has q/k/v biases
  TensorName q_norm, k_norm;          // used when the family normalizes q and k per head
};
struct GatedMlpNames {
  TensorName gate, up, down;
};
struct EmbeddingNames {
  TensorName embedding, final_norm, lm_head;
};

// The ops of the blocks below: embed, rms_norm, attention_block, swiglu_mlp, logits.
extern const tsr_op_id kDecoderOps[8];
// The same with GeGLU's gelu_tanh_mul (ABI 1.2) in place of silu_mul.
extern const tsr_op_id kGegluDecoderOps[8];

// The Llama layout, which llama.cpp's GGUF names follow for every family it converts.
extern const AttentionNames kLlamaAttentionNames;
extern const GatedMlpNames kLlamaMlpNames;
extern const EmbeddingNames kLlamaEmbeddingNames;
extern const TensorName kLlamaAttnNorm;  // input_layernorm
extern const TensorName kLlamaFfnNorm;   // post_attention_layernorm

struct AttentionWeights {
  // qkv valid: q, k and v stacked in one weight whose GEMM writes the three outputs (linear's
  // out_parts); q, k and v are then empty. Otherwise three weights.
  runtime::Weight qkv;
  runtime::Weight q, k, v, o;
  runtime::Buffer q_bias, k_bias, v_bias;  // empty: no bias
  runtime::Buffer q_norm, k_norm;          // empty: no per-head norm
};
struct AttentionFeatures {
  bool qkv_bias = false;
  bool qk_norm = false;
  // Added to the q/k norm weights at load (Gemma's x * (1 + w) norms).
  float qk_norm_offset = 0.0f;
};
AttentionWeights load_attention(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                                const AttentionNames& names, AttentionFeatures features);

struct GatedMlpWeights {
  runtime::Weight gate_up;  // [2 * intermediate, hidden]: gate rows, then up rows
  runtime::Weight down;
};
GatedMlpWeights load_gated_mlp(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                               const GatedMlpNames& names);

struct EmbeddingWeights {
  runtime::Buffer table;  // [vocab, hidden], activation dtype
  runtime::Buffer final_norm;
  runtime::Weight lm_head;  // the embedding table again when tied
};
// The table first and the output side (final norm, LM head) after the layers, so that
// weights load in file order.
// `table_map` applies to the embedding table only, never to a tied LM head.
void load_embedding_table(WeightLoader& loader, const model::ModelConfig& cfg,
                          const EmbeddingNames& names, EmbeddingWeights& w,
                          ValueMap table_map = {});
void load_output(WeightLoader& loader, const model::ModelConfig& cfg, const EmbeddingNames& names,
                 EmbeddingWeights& w, ValueMap final_norm_map = {});

// Fused checkpoints (Phi-3): q, k and v as row ranges of one [q | k | v] tensor, each loaded
// as its own weight (the ops take dense q, k and v); gate and up as one [gate | up] tensor,
// which is the layout gated_mlp's single GEMM wants. Unsharded only: a rank's gate and up
// rows would be two ranges of the fused tensor.
AttentionWeights load_fused_qkv_attention(WeightLoader& loader, const model::ModelConfig& cfg,
                                          int layer, const TensorName& qkv, const TensorName& o);
GatedMlpWeights load_fused_gated_mlp(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                                     const TensorName& gate_up, const TensorName& down);

// A per-layer norm weight of `width` elements.
runtime::Buffer load_norm(WeightLoader& loader, const TensorName& name, int layer, int64_t width,
                          ValueMap map = {});

// --- forward blocks (enqueue only; shapes from ctx.shape, this rank's heads from ctx.layout) ---

// Sums x[0, count) over the tensor-parallel ranks in place (nothing without a group).
void all_reduce(const ForwardContext& ctx, const runtime::Buffer& x, int64_t count);

// act.hidden = table[ids].
void embed(const ForwardContext& ctx, const model::ModelConfig& cfg, const runtime::Buffer& table);
// out = rms_norm(x (+ residual)) * weight over [rows, width]; with a residual, the sum is
// also written back into the residual (the residual stream advances).
void rms_norm(const ForwardContext& ctx, const runtime::Buffer& x, const runtime::Buffer* residual,
              const runtime::Buffer& weight, const runtime::Buffer& out, int64_t rows,
              int64_t width, double eps);
// out[m, n] = x[m, k] · w^T (+ bias).
void linear(const ForwardContext& ctx, const runtime::Buffer& x, int64_t m, int64_t k,
            const runtime::Weight& w, const runtime::Buffer* bias, const runtime::Buffer& out,
            int64_t n, tsr_dtype out_dtype);
// What one layer's attention may set apart from the config's defaults (Gemma 3's local
// layers: their own window and rope base; its scale from query_pre_attn_scalar).
struct AttentionLayerParams {
  double scale = 0.0;          // softmax scale of q·k
  int64_t sliding_window = 0;  // 0: full attention
  double rope_theta = 10000.0;
  // Points into the model's config, which outlives every step (LongRoPE's factors are host
  // arrays the rope op reads); nullptr: no scaling.
  const model::RopeScaling* rope_scaling = nullptr;
  double logit_softcap = 0.0;  // 0: none
};
// The config's: 1/sqrt(head_dim), its window, rope_theta and rope_scaling (`cfg` must
// outlive the result).
AttentionLayerParams default_attention_params(const model::ModelConfig& cfg);

// Self-attention of one layer over act.normed; the o-projection lands in act.o_out.
void attention_block(const ForwardContext& ctx, const model::ModelConfig& cfg, int layer,
                     const AttentionWeights& w);
void attention_block(const ForwardContext& ctx, const model::ModelConfig& cfg, int layer,
                     const AttentionWeights& w, const AttentionLayerParams& params);

enum class GateActivation { kSilu, kGeluTanh };
// Gated MLP over act.normed; the result lands in act.mlp_out.
void gated_mlp(const ForwardContext& ctx, const model::ModelConfig& cfg, const GatedMlpWeights& w,
               GateActivation activation);
// SwiGLU: gated_mlp with silu.
void swiglu_mlp(const ForwardContext& ctx, const model::ModelConfig& cfg, const GatedMlpWeights& w);
// The logits of the wanted rows of act.normed (already final-normed) into act.logits.
void logits(const ForwardContext& ctx, const model::ModelConfig& cfg,
            const runtime::Weight& lm_head);

}  // namespace tessera::models
