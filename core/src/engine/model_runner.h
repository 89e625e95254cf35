// Runs the decoder forward pass for one flat batch through plugin ops, on one stream:
// embedding, per layer RMSNorm (fused with the residual add), q/k/v projections (+ bias,
// + per-head q/k norm), RoPE, KV-cache write, paged attention over the mixed batch,
// o-projection, SwiGLU MLP with gate and up fused in one GEMM; then the final norm, the
// rows whose logits are wanted, the LM head (f32 logits) and the sample op.
//
// Applies the scheduler's plan to KV state (block copies for copy-on-write, swap out/in)
// and owns the KV cache (one buffer per layer, block outermost) and the host swap space.
// Activation buffers are sized once for max_num_tokens: nothing is allocated per step.
//
// Decode steps (one query token per sequence) run as device graphs when the device offers
// them and graphs are not turned off (--enforce-eager): the batch is padded to the next of a
// set of captured sizes (padding rows write no KV and their logits are ignored), its inputs
// are copied into the runner's fixed buffers and the graph of that size is launched. A size
// is captured the first time it is needed, right after one eager run of the same shape
// (which warms plugin workspaces, so nothing is allocated during capture). Attention gets
// the full block-table width and max_model_len as its length bound, so one graph serves
// every context length.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "engine/forward_batch.h"
#include "engine/model_weights.h"
#include "runtime/graph.h"
#include "runtime/stream.h"

namespace tessera::engine {

struct RunnerOptions {
  int32_t max_num_tokens = 2048;  // per step (max_num_batched_tokens)
  int32_t max_num_seqs = 256;
  int32_t block_size = 16;
  int32_t max_blocks_per_seq = 0;  // ceil(max_model_len / block_size)
  int32_t max_logprobs = 20;
  tsr_dtype kv_dtype = TSR_DTYPE_F32;
  // Decode graphs: used when the device offers them and this is true.
  bool use_graphs = true;
  // Batch sizes to capture (ascending); empty: 1, 2, 4, 8 then every 8 up to
  // min(max_num_seqs, 256). Larger decode batches run eagerly.
  std::vector<int32_t> graph_batch_sizes;
};

using BlockPairs = std::vector<std::pair<int64_t, int64_t>>;  // (src, dst)

class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
              const RunnerOptions& options);

  const RunnerOptions& options() const { return options_; }
  tsr_kv_layout kv_layout() const;
  // Bytes of one block across all layers (what one KV block costs on the device).
  uint64_t kv_block_bytes_all_layers() const;
  // Activation bytes held by this runner (sized for max_num_tokens).
  uint64_t activation_bytes() const { return activation_bytes_; }

  void allocate_kv_cache(int64_t num_blocks);
  void allocate_swap_space(int64_t num_host_blocks);
  int64_t num_kv_blocks() const { return num_blocks_; }
  int64_t num_swap_blocks() const { return num_swap_blocks_; }

  // The forward pass; leaves logits of batch.logits_indices rows on the device.
  void forward(const ForwardBatch& batch);
  // Samples one token per logits row; synchronizes the stream.
  SampleResult sample(const SamplingBatch& sampling);
  // Logits of the last forward, [rows, vocab] (tests and debugging).
  std::vector<float> logits_to_host();

  void copy_blocks(const BlockPairs& pairs);
  void swap_out(const BlockPairs& device_to_host);
  void swap_in(const BlockPairs& host_to_device);
  void synchronize() { stream_.synchronize(); }

  // Whether decode steps run as graphs, and the sizes captured so far (tests, logs).
  bool graphs_enabled() const { return graphs_enabled_; }
  std::vector<int32_t> captured_graph_sizes() const;

 private:
  // The shape of one forward pass as the ops see it.
  struct StepShape {
    int64_t tokens = 0;
    int64_t seqs = 0;
    int64_t logit_rows = 0;
    int32_t table_width = 0;  // block_tables row length
    int32_t max_seq_len = 0;  // attention's bound on seq_lens
  };
  void enqueue_forward(const StepShape& shape);
  void upload_inputs(const ForwardBatch& batch);
  // The captured size a decode batch of `seqs` rows pads to; 0 when it runs eagerly.
  int32_t graph_size_for(const ForwardBatch& batch) const;
  void forward_with_graph(const ForwardBatch& batch, int32_t size);

  tsr_tensor tensor(const runtime::Buffer& buffer, tsr_dtype dtype,
                    std::initializer_list<int64_t> shape) const;
  template <class T>
  void upload(const runtime::Buffer& buffer, const std::vector<T>& values);

  std::shared_ptr<runtime::Device> device_;
  const ModelWeights& weights_;
  RunnerOptions options_;
  runtime::Stream stream_;
  tsr_dtype dtype_;
  uint64_t activation_bytes_ = 0;
  int32_t num_logit_rows_ = 0;

  // Activations [max_num_tokens, …].
  runtime::Buffer hidden_, normed_, q_, k_, v_, q_normed_, k_normed_, attn_, o_out_, gate_up_, act_,
      mlp_out_, gathered_, logits_;
  // Step inputs.
  runtime::Buffer ids_, positions_, slots_, query_start_loc_, seq_lens_, block_tables_,
      logits_indices_;
  // Sampling inputs and outputs.
  runtime::Buffer temperature_, top_k_, top_p_, min_p_, repetition_, presence_, frequency_, seeds_,
      history_, history_offsets_, history_prompt_lens_, out_tokens_, out_logprobs_, top_ids_,
      top_values_;
  size_t history_capacity_ = 0;

  std::vector<runtime::Buffer> kv_cache_;    // one per layer
  std::vector<runtime::Buffer> swap_space_;  // one per layer, host pinned
  int64_t num_blocks_ = 0;
  int64_t num_swap_blocks_ = 0;
  uint64_t block_bytes_ = 0;  // one layer

  bool graphs_enabled_ = false;
  std::map<int32_t, runtime::Graph> graphs_;  // by padded batch size
  ForwardBatch graph_inputs_;                 // the padded decode batch of the last graph step
};

}  // namespace tessera::engine
