// Runs one flat batch on one stream: uploads the step inputs into fixed buffers, calls the
// model family's forward() (models/model.h) with the runner's activation buffers and KV
// cache, then the sample op.
//
// execute() runs one scheduler plan: applies it to KV state (swap out, swap in, block copies
// for copy-on-write, in that order), applies its block-table deltas to the persistent
// per-request state, turns the scheduled requests into the flat batch (input ids, positions,
// slot mapping, block tables, logits rows) and their sampling rows, runs the forward and
// samples. The persistent state is one row per request handle (scheduler/request.h), from
// add_request() until a plan lists the handle in `finished_handles`: sampling parameters,
// seed, the token history when penalties ask for it, and the request's block table, which
// each plan only patches (scheduler/scheduler_output.h). The runner owns the KV cache (one
// buffer per layer, block outermost) and the host swap space.
// Activation buffers are sized once for max_num_tokens, and the batch, sampling rows and
// step output are members whose vectors keep their capacity: a steady decode step allocates
// nothing on the host (tests/engine/steady_decode_alloc_test.cpp counts).
//
// Tensor parallelism (models/tensor_parallel.h): with N ranks the runner holds one device,
// one stream, one set of activations and inputs, one KV cache and one swap space per rank
// (each 1/N of the model's KV heads), and one communicator each. The plan stays single:
// every rank applies the same KV moves and runs the same batch, each forward on its own
// thread (collectives block until every rank arrives); rank 0 samples. The plan's deltas are
// applied once, to rank 0's state; every rank then runs the same flat batch built from it. Decode
// graphs are not used with N > 1 (a CPU graph would run its collectives at capture time). Under MPI
// each process's runner holds its own rank only; rank 0's forwards every KV allocation, KV
// move and batch to the others first (set_command_sink, engine/runner_commands.h), which
// run() them.
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

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <string>
#include <unordered_map>

#include "engine/forward_batch.h"
#include "engine/model_weights.h"
#include "engine/rank_threads.h"
#include "engine/runner_commands.h"
#include "runtime/communicator.h"
#include "runtime/graph.h"
#include "runtime/stream.h"
#include "scheduler/scheduler_output.h"
#include "tessera/request_output.h"
#include "tessera/sampling_params.h"

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

// Prompt logprobs a step computed for one request: prompt[first_token + i] at entries[i]
// (first_token >= 1; each prompt token is scored once, in order, across chunks).
struct PromptLogprobs {
  std::string id;
  int32_t first_token = 0;
  std::vector<TokenLogprob> entries;
};

// What one executed plan produced: one sampled token per scheduled request that needed
// logits, in plan order, and the sample op's full result for those rows (same order); and
// the prompt logprobs of the requests that asked, for the prompt positions of this step.
struct StepOutput {
  std::vector<sched::SampledToken> sampled;
  SampleResult sample;
  std::vector<PromptLogprobs> prompt_logprobs;
};

// Where a tensor-parallel run spends its forward passes, summed since the last reset: wall
// time of the passes and, within it, of rank 0's collectives; all passes, and those of
// decode-only steps (one query token per sequence) on their own.
struct CollectiveTiming {
  uint64_t forwards = 0;
  double forward_seconds = 0;
  double collective_seconds = 0;
  uint64_t decode_forwards = 0;
  double decode_forward_seconds = 0;
  double decode_collective_seconds = 0;
};

class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
              const RunnerOptions& options);
  // Tensor parallel: rank i runs weights[i] (loaded with shard {i, N}) on devices[i].
  ModelRunner(std::vector<std::shared_ptr<runtime::Device>> devices,
              std::vector<const ModelWeights*> weights, const RunnerOptions& options);
  // Tensor parallel across processes (MPI): this process's rank only, `comm` joining it to
  // the other processes' runners (weights loaded with shard {comm->rank(), comm->size()}).
  ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
              const RunnerOptions& options, std::unique_ptr<runtime::Communicator> comm);
  ~ModelRunner();

  int32_t tensor_parallel_size() const { return tp_size_; }
  // MPI rank 0: every KV allocation, KV move and forward pass is first handed to `sink`
  // (which broadcasts it to the other processes), and a stop when the runner is destroyed.
  void set_command_sink(std::function<void(const RunnerCommand&)> sink) { sink_ = std::move(sink); }
  // MPI ranks other than 0: runs a command received from rank 0 (not kStop).
  void run(const RunnerCommand& command);
  // Synchronizes around every collective so that its time is its own (bench latency).
  void set_profile_collectives(bool on);
  CollectiveTiming collective_timing() const;
  void reset_collective_timing();

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

  // Sampling state of a request the scheduler will schedule, under the handle the scheduler
  // gave it; `seed` is the request's base seed (sampling rows are seeded by it and the output
  // position). Replaces whatever the handle held before. A plan listing the handle in
  // `finished_handles` drops it.
  void add_request(sched::RequestHandle handle, const SamplingParams& params, uint64_t seed,
                   const std::vector<int32_t>& prompt);
  // Applies and runs one plan (KV moves even when nothing is scheduled); synchronizes. The
  // result lives in the runner until the next execute() (its vectors are reused).
  const StepOutput& execute(const sched::SchedulerOutput& plan);

  // The forward pass; leaves logits of batch.logits_indices rows on the device.
  void forward(const ForwardBatch& batch);
  // Samples one token per logits row; synchronizes the stream.
  SampleResult sample(const SamplingBatch& sampling);
  void sample_into(const SamplingBatch& sampling, SampleResult& result);
  // Logits of the last forward, [rows, vocab] (tests and debugging).
  std::vector<float> logits_to_host();
  // The linear op alone on the model's first gate/up weight (Model::gate_up_probe) with
  // `rows` activation rows (clamped to max_num_tokens): the best of `repeats` timed runs
  // after one warm-up (gemm_calibration.cpp). Not while a step runs; nullopt under tensor
  // parallelism or for a family without the weight.
  struct GemmTiming {
    int64_t rows = 0;
    int64_t out_features = 0;
    int64_t in_features = 0;
    double seconds = 0;
  };
  std::optional<GemmTiming> time_gate_up_gemm(int64_t rows, int repeats);

  void copy_blocks(const BlockPairs& pairs);
  void swap_out(const BlockPairs& device_to_host);
  void swap_in(const BlockPairs& host_to_device);
  void synchronize() { stream_.synchronize(); }

  // Whether decode steps run as graphs, and the sizes captured so far (tests, logs).
  bool graphs_enabled() const { return graphs_enabled_; }
  std::vector<int32_t> captured_graph_sizes() const;

 private:
  // The shape of one forward pass as the ops see it.
  struct RequestSampling {
    SamplingParams params;
    uint64_t seed = 0;
    int32_t num_prompt = 0;
    int32_t num_outputs = 0;       // tokens sampled so far
    std::vector<int32_t> history;  // prompt + outputs, kept only when a penalty is on
    std::vector<int32_t> prompt;   // kept only for prompt logprobs
    int32_t prompt_scored = 0;     // prompt positions whose next token is scored already
  };
  // One batch row whose logits score a prompt token: row `row` of the flat batch predicts
  // request->prompt[position + 1].
  struct PromptRow {
    RequestSampling* request = nullptr;
    int32_t row = 0;
    int32_t position = 0;
    size_t output = 0;  // index into step_output_.prompt_logprobs
  };
  // Queues the rows of `sr` (a request with prompt logprobs) that score prompt tokens.
  void add_prompt_rows(const sched::ScheduledRequest& sr, RequestSampling& r, int32_t first_row);
  // Runs the LM head over the queued prompt rows (in slices the logits buffer holds) and
  // log-softmaxes them on the host in float64. After sampling: it reuses act.logits.
  void score_prompt_rows();
  // One persistent row per request handle. `known`: add_request() gave sampling parameters
  // (a plan may schedule a request the runner was never told of: default sampling).
  struct RequestState {
    bool known = false;
    RequestSampling sampling;
    std::vector<int32_t> block_table;  // patched by each plan's delta
    size_t history_room = 0;           // this request's share of history_room_
  };
  void release_history_room(RequestState& state);
  RequestState& state_of(sched::RequestHandle handle);
  // Drops the rows of finished requests and patches the block tables of scheduled ones;
  // returns the widest table of the step.
  int32_t apply_plan_deltas(const sched::SchedulerOutput& plan);
  // Fills batch_ and sampling_ from the plan; the rows that need logits go to `rows`.
  void prepare_inputs(const sched::SchedulerOutput& plan, std::vector<RequestSampling*>& rows);
  void apply_kv_moves(const sched::SchedulerOutput& plan);

  // One tensor-parallel rank's device and everything a forward pass on it touches.
  struct Rank {
    std::shared_ptr<runtime::Device> device;
    const ModelWeights* weights = nullptr;
    runtime::Stream stream;
    models::Activations act;  // [max_num_tokens, …] of this rank's heads
    models::StepInputs inputs;
    std::vector<runtime::Buffer> kv_cache;    // one per layer
    std::vector<runtime::Buffer> swap_space;  // one per layer, host pinned
    std::unique_ptr<runtime::Communicator> comm;
    std::vector<int32_t> local_ids;  // vocabulary-parallel: the batch's ids in this shard
  };
  static std::vector<std::unique_ptr<Rank>> make_ranks(
      const std::vector<std::shared_ptr<runtime::Device>>& devices,
      const std::vector<const ModelWeights*>& weights, int32_t group_size = 0);
  void init_rank(Rank& rank, bool lead);
  Rank& lead() { return *ranks_.front(); }
  const Rank& lead() const { return *ranks_.front(); }

  using StepShape = models::StepShape;
  void enqueue_forward(Rank& rank, const StepShape& shape);
  void upload_inputs(Rank& rank, const ForwardBatch& batch);
  // Runs the step on every rank of this process, each on its own thread.
  void forward_all_ranks(const ForwardBatch& batch, const StepShape& shape);
  void finish_construction();
  void reserve_step_vectors();
  // The captured size a decode batch of `seqs` rows pads to; 0 when it runs eagerly.
  int32_t graph_size_for(const ForwardBatch& batch) const;
  void forward_with_graph(const ForwardBatch& batch, int32_t size);

  tsr_tensor tensor(const runtime::Buffer& buffer, tsr_dtype dtype,
                    std::initializer_list<int64_t> shape) const;
  template <class T>
  void upload(const runtime::Buffer& buffer, const std::vector<T>& values) {
    upload(stream_, buffer, values);
  }
  template <class T>
  static void upload(runtime::Stream& stream, const runtime::Buffer& buffer,
                     const std::vector<T>& values) {
    if (!values.empty()) {
      stream.copy_to_device(buffer, 0, values.data(), values.size() * sizeof(T));
    }
  }

  std::vector<std::unique_ptr<Rank>> ranks_;  // rank 0 first: it samples
  std::unique_ptr<RankThreads> threads_;      // ranks 1..N-1 of this process
  int32_t tp_size_ = 1;                       // ranks of all processes
  std::function<void(const RunnerCommand&)> sink_;
  RunnerCommand command_;  // reused by send()
  void send(RunnerCommand::Kind kind, int64_t count, const BlockPairs* pairs,
            const ForwardBatch* batch);
  // Aliases of rank 0's, which is all there is without tensor parallelism.
  std::shared_ptr<runtime::Device> device_;
  const ModelWeights& weights_;
  RunnerOptions options_;
  runtime::Stream& stream_;
  tsr_dtype dtype_;
  uint64_t activation_bytes_ = 0;  // of one rank
  int32_t num_logit_rows_ = 0;
  int32_t logit_row_capacity_ = 0;  // rows act.gathered and act.logits hold
  std::vector<PromptRow> prompt_rows_;
  std::vector<int32_t> prompt_row_indices_;
  std::vector<float> prompt_logits_;  // host copy of one slice's logits
  std::vector<int32_t> logits_permutation_;
  CollectiveTiming timing_;

  models::Activations& act_;
  models::StepInputs& inputs_;
  // Sampling inputs and outputs (rank 0).
  runtime::Buffer temperature_, top_k_, top_p_, min_p_, repetition_, presence_, frequency_, seeds_,
      history_, history_offsets_, history_prompt_lens_, out_tokens_, out_logprobs_, top_ids_,
      top_values_;
  size_t history_capacity_ = 0;

  int64_t num_blocks_ = 0;
  int64_t num_swap_blocks_ = 0;
  uint64_t block_bytes_ = 0;  // one layer of one rank

  std::vector<RequestState> states_;  // by request handle
  // Prompt + max_tokens summed over the known requests with penalties: the most history
  // tokens a step can concatenate, reserved in sampling_ at add_request().
  size_t history_room_ = 0;
  // Reused from step to step so that their vectors keep their capacity.
  ForwardBatch batch_;
  SamplingBatch sampling_;
  BlockPairs pairs_;
  std::vector<RequestSampling*> sampled_rows_;
  StepOutput step_output_;

  bool graphs_enabled_ = false;
  std::map<int32_t, runtime::Graph> graphs_;  // by padded batch size
  ForwardBatch graph_inputs_;                 // the padded decode batch of the last graph step
};

}  // namespace tessera::engine
