// Model: one decoder family's weights on a device and its forward pass. A family file
// (llama.cpp, qwen3.cpp, …) subclasses it: load() names and shapes every weight it needs
// (Hugging Face and GGUF spellings) and forward() enqueues the step's ops, built from the
// shared layer helpers of models/layers.h. The model runner owns everything else a step
// touches (activation buffers, step inputs, the KV cache, graphs) and hands it to forward()
// in a ForwardContext, so a family never allocates.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "models/tensor_parallel.h"
#include "runtime/buffer.h"
#include "runtime/communicator.h"
#include "runtime/stream.h"
#include "runtime/weight.h"

namespace tessera::models {

enum class WeightFileKind { kHuggingFace, kGguf };

// A rank's part of a tensor (models/tensor_parallel.h): rows [row_begin, row_begin + rows)
// and columns [col_begin, col_begin + cols) of the full tensor; a negative count means all.
struct TensorSlice {
  int64_t row_begin = 0;
  int64_t rows = -1;
  int64_t col_begin = 0;
  int64_t cols = -1;
};

// A map a plain tensor's values go through in f32 before they are converted to the
// activation dtype and uploaded: v * scale + offset. Families fold constants of their
// definition into weights with it (Gemma's (1 + w) norms, its sqrt(hidden)-scaled embedding).
struct ValueMap {
  float scale = 1.0f;
  float offset = 0.0f;
  bool identity() const { return scale == 1.0f && offset == 0.0f; }
};

// Where a family's load() takes its weights from (a Hugging Face directory or a GGUF file).
// Every call checks the tensor's full shape against the one given and fails naming the
// tensor; the slice (tensor parallelism) is cut after that check.
class WeightLoader {
 public:
  virtual ~WeightLoader() = default;
  virtual WeightFileKind kind() const = 0;
  // The activation dtype plain tensors are uploaded in.
  virtual tsr_dtype dtype() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // The rank this loader loads for (every slice below is this rank's).
  virtual TensorShard shard() const = 0;
  // A plain tensor in the activation dtype (embedding table, norm weights, biases): the rows
  // of `slice` of its first dimension (columns are not cut), followed by `zero_rows` rows of
  // zeros (the vocabulary-parallel embedding's row for ids of other ranks). The file's values
  // pass through `map` first (zero rows stay zero).
  virtual runtime::Buffer plain(const std::string& name, const std::vector<int64_t>& shape,
                                TensorSlice slice = {}, int64_t zero_rows = 0,
                                ValueMap map = {}) = 0;
  // A linear weight [rows, cols] (rows = output features), prepacked by the plugin. Several
  // names are stacked by rows, each [rows_each, cols] and each cut by `slice` first (gate
  // and up fused into one GEMM, each sharded on its own).
  virtual runtime::Weight linear(const std::vector<std::string>& names, int64_t rows_each,
                                 int64_t cols, TensorSlice slice = {}) = 0;
  // Several tensors stacked by rows into one weight whose GEMM writes each part's rows to its
  // own output tensor (linear's out_parts, on a device with TSR_DEVICE_CAP_LINEAR_OUT_PARTS):
  // q, k and v as one pass over the weights. Each part is [rows, cols] in the file, cut by its
  // slice (its own heads on a tensor-parallel rank). Returns an invalid Weight, having loaded
  // nothing, when the device cannot split outputs or the parts are stored in different types
  // (GGUF Q4_K_M keeps attn_v in Q6_K beside Q4_K q and k): the caller loads them one by one.
  struct StackedPart {
    std::string name;
    int64_t rows = 0;
    TensorSlice slice;
  };
  virtual runtime::Weight linear_with_split_output(const std::vector<StackedPart>& parts,
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
// Tensor parallelism adds logits_local (this rank's vocabulary columns) and logits_ranks (every
// rank's, rank-major, before the permutation into act.logits).
struct Activations {
  runtime::Buffer hidden, normed, q, k, v, q_normed, k_normed, attn, o_out, gate_up, act, mlp_out,
      gathered, logits, logits_local, logits_ranks;
};

// The step inputs, uploaded by the runner (see engine/forward_batch.h for their meaning).
// With a vocabulary-parallel embedding, `ids` holds this rank's local rows (ids of other ranks
// mapped to the zero row); logits_permutation is the gather that turns rank-major logits into
// [rows, vocab] (row r * N + q of the result is row q * rows + r of act.logits_ranks).
struct StepInputs {
  runtime::Buffer ids, positions, slots, query_start_loc, seq_lens, block_tables, logits_indices,
      logits_permutation;
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
  // This rank's part of the model, and its group (nullptr when the model is not sharded).
  const ShardLayout& layout;
  runtime::Communicator* comm;
  // Tensor parallelism: where a failed op's error is kept so that the rank still reaches
  // every collective of the step (nullptr: ops throw at once).
  std::exception_ptr* failure = nullptr;
};

class Model {
 public:
  explicit Model(model::ModelConfig config) : config_(std::move(config)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const model::ModelConfig& config() const { return config_; }
  // Loads and checks every weight of the family (this rank's slices: loader.shard()).
  virtual void load(WeightLoader& loader) = 0;
  // The plugin ops forward() calls (ids of ops.def); the runner refuses a device without them.
  virtual std::span<const tsr_op_id> required_ops() const = 0;
  // Enqueues one step on ctx.stream: the logits of ctx.shape.logit_rows rows (the rows of
  // inputs.logits_indices) end in act.logits as f32 [rows, vocab]. Must not allocate or
  // synchronize: decode steps are captured as device graphs.
  virtual void forward(const ForwardContext& ctx) const = 0;
  // Prompt logprobs: after forward(), act.normed holds every token's final-normed hidden
  // state; this runs the LM head again over the ctx.shape.logit_rows rows of
  // inputs.logits_indices (into act.logits, as forward() ends). False: the family cannot (its
  // forward does not leave act.normed so), and prompt logprobs are refused for it.
  virtual bool lm_head_rows(const ForwardContext& ctx) const {
    static_cast<void>(ctx);
    return false;
  }
  // The weight a prefill spends most of its time in: the first layer's fused gate/up
  // projection, [2 x this rank's intermediate size, hidden]. `bench latency` times the
  // linear op on it alone (ModelRunner::time_gate_up_gemm) for the same-run GEMM peak it
  // quotes beside prefill FLOP/s. Null: the family has no such weight.
  virtual const runtime::Weight* gate_up_probe() const { return nullptr; }

 protected:
  model::ModelConfig config_;
};

}  // namespace tessera::models
