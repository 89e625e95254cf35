// Model: one decoder family's weights on a device and its forward pass. A family file
// (llama.cpp, qwen3.cpp, …) subclasses it: load() names and shapes every weight it needs
// (Hugging Face and GGUF spellings) and forward() enqueues the step's ops, built from the
// shared layer helpers of models/layers.h. The model runner owns everything else a step
// touches (activation buffers, step inputs, the KV cache, graphs) and hands it to forward()
// in a ForwardContext, so a family never allocates.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "runtime/buffer.h"
#include "runtime/stream.h"
#include "runtime/weight.h"

namespace tessera::models {

enum class WeightFileKind { kHuggingFace, kGguf };

// Where a family's load() takes its weights from (a Hugging Face directory or a GGUF file).
// Every call checks the tensor's shape against the one given and fails naming the tensor.
class WeightLoader {
 public:
  virtual ~WeightLoader() = default;
  virtual WeightFileKind kind() const = 0;
  // The activation dtype plain tensors are uploaded in.
  virtual tsr_dtype dtype() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // A plain tensor in the activation dtype (embedding table, norm weights, biases).
  virtual runtime::Buffer plain(const std::string& name, const std::vector<int64_t>& shape) = 0;
  // A linear weight [rows, cols] (rows = output features), prepacked by the plugin. Several
  // names are stacked by rows, each [rows_each, cols] (gate and up fused into one GEMM).
  virtual runtime::Weight linear(const std::vector<std::string>& names, int64_t rows_each,
                                 int64_t cols) = 0;
  // Bytes a decoded token reads beyond the prepacked linear weights (one embedding row):
  // the numerator of the decode roofline.
  virtual void add_bytes_per_token(uint64_t bytes) = 0;
};

// The shape of one forward pass as the ops see it.
struct StepShape {
  int64_t tokens = 0;
  int64_t seqs = 0;
  int64_t logit_rows = 0;
  int32_t table_width = 0;  // block_tables row length
  int32_t max_seq_len = 0;  // attention's bound on seq_lens
};

// Activation buffers, sized by the runner for its largest step (engine/activation_sizes).
// q_normed / k_normed exist only for families that normalize q and k per head.
struct Activations {
  runtime::Buffer hidden, normed, q, k, v, q_normed, k_normed, attn, o_out, gate_up, act, mlp_out,
      gathered, logits;
};

// The step inputs, uploaded by the runner (see engine/forward_batch.h for their meaning).
struct StepInputs {
  runtime::Buffer ids, positions, slots, query_start_loc, seq_lens, block_tables, logits_indices;
};

// Everything forward() may read or write, owned by the runner.
struct ForwardContext {
  runtime::Device& device;
  runtime::Stream& stream;
  tsr_dtype dtype;  // activation dtype
  StepShape shape;
  const StepInputs& inputs;
  Activations& act;
  const std::vector<runtime::Buffer>& kv_cache;  // one per layer
  tsr_kv_layout kv_layout;
  int64_t num_kv_blocks;
};

class Model {
 public:
  explicit Model(model::ModelConfig config) : config_(std::move(config)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const model::ModelConfig& config() const { return config_; }
  // Loads and checks every weight of the family.
  virtual void load(WeightLoader& loader) = 0;
  // The plugin ops forward() calls (ids of ops.def); the runner refuses a device without them.
  virtual std::span<const tsr_op_id> required_ops() const = 0;
  // Enqueues one step on ctx.stream: the logits of ctx.shape.logit_rows rows (the rows of
  // inputs.logits_indices) end in act.logits as f32 [rows, vocab]. Must not allocate or
  // synchronize: decode steps are captured as device graphs.
  virtual void forward(const ForwardContext& ctx) const = 0;

 protected:
  model::ModelConfig config_;
};

}  // namespace tessera::models
