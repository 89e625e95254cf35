#include "engine/model_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/log.h"
#include "engine/activation_sizes.h"
#include "runtime/op_table.h"
#include "tessera/plugin.hpp"

namespace tessera::engine {

namespace {

const tsr_tensor kAbsent{sizeof(tsr_tensor), nullptr, 0, TSR_DTYPE_INVALID, 0, {0, 0, 0, 0}};

uint64_t mix64(uint64_t x) {  // splitmix64 finalizer: decorrelates nearby seeds
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool penalized(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

}  // namespace

namespace {

std::vector<std::shared_ptr<runtime::Device>> one(std::shared_ptr<runtime::Device> device) {
  return {std::move(device)};
}

}  // namespace

ModelRunner::ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
                         const RunnerOptions& options)
    : ModelRunner(one(std::move(device)), std::vector<const ModelWeights*>{&weights}, options) {}

ModelRunner::ModelRunner(std::vector<std::shared_ptr<runtime::Device>> devices,
                         std::vector<const ModelWeights*> weights, const RunnerOptions& options)
    : ranks_(make_ranks(devices, weights)),
      device_(ranks_.front()->device),
      weights_(*ranks_.front()->weights),
      options_(options),
      stream_(ranks_.front()->stream),
      dtype_(weights_.activation_dtype()),
      act_(ranks_.front()->act),
      inputs_(ranks_.front()->inputs) {
  tp_size_ = static_cast<int32_t>(ranks_.size());
  if (ranks_.size() > 1) {
    std::vector<std::shared_ptr<runtime::Device>> group;
    for (const auto& r : ranks_) group.push_back(r->device);
    auto comms = runtime::Communicator::create_group(group);
    for (size_t i = 0; i < ranks_.size(); ++i) ranks_[i]->comm = std::move(comms[i]);
    threads_ = std::make_unique<RankThreads>(static_cast<int>(ranks_.size()));
  }
  finish_construction();
}

ModelRunner::ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
                         const RunnerOptions& options, std::unique_ptr<runtime::Communicator> comm)
    : ranks_(make_ranks(one(std::move(device)), {&weights}, comm->size())),
      device_(ranks_.front()->device),
      weights_(*ranks_.front()->weights),
      options_(options),
      stream_(ranks_.front()->stream),
      dtype_(weights_.activation_dtype()),
      act_(ranks_.front()->act),
      inputs_(ranks_.front()->inputs) {
  TSR_INVARIANT(weights.shard().rank == comm->rank() && weights.shard().size == comm->size(),
                "weights of shard {} of {} for communicator rank {} of {}", weights.shard().rank,
                weights.shard().size, comm->rank(), comm->size());
  tp_size_ = comm->size();
  ranks_.front()->comm = std::move(comm);
  finish_construction();
}

void ModelRunner::finish_construction() {
  const auto& cfg = weights_.config();
  TSR_CHECK(options_.max_num_tokens > 0 && options_.max_num_seqs > 0 && options_.block_size > 0,
            "max_num_batched_tokens, max_num_seqs and block_size must be positive");
  if (options_.max_blocks_per_seq <= 0) {
    options_.max_blocks_per_seq = static_cast<int32_t>(
        (cfg.max_position_embeddings + options_.block_size - 1) / options_.block_size);
  }
  for (size_t i = 0; i < ranks_.size(); ++i) init_rank(*ranks_[i], i == 0);
  reserve_step_vectors();
  block_bytes_ = device_->kv_block_bytes(kv_layout());
  // Fail at construction, naming the op, rather than mid-step on a NULL entry: the ops the
  // family's forward uses, then the runner's own.
  static constexpr tsr_op_id kRunnerOps[] = {TSR_OP_SAMPLE, TSR_OP_COPY_BLOCKS, TSR_OP_SWAP_BLOCKS};
  for (const auto& rank : ranks_) {
    for (const auto needed :
         {rank->weights->model().required_ops(), std::span<const tsr_op_id>(kRunnerOps)}) {
      const tsr_op_id missing = runtime::first_missing_op(rank->device->ops(), needed);
      TSR_CHECK_KIND(missing == TSR_OP_COUNT, ErrorKind::kUnavailable,
                     "device {} (plugin {}) does not implement the '{}' op yet, so it cannot run "
                     "models; use another --device",
                     rank->device->label(), rank->device->plugin().name(),
                     runtime::op_name(missing));
    }
  }
  // A CPU graph would run the collectives while capturing; NCCL under capture is untested.
  graphs_enabled_ = options_.use_graphs && tp_size_ == 1 && runtime::Graph::supported(*device_);
  if (options_.graph_batch_sizes.empty()) {
    const int32_t largest = std::min(options_.max_num_seqs, 256);
    for (int32_t size : {1, 2, 4}) {
      if (size < largest) options_.graph_batch_sizes.push_back(size);
    }
    for (int32_t size = 8; size < largest; size += 8) options_.graph_batch_sizes.push_back(size);
    options_.graph_batch_sizes.push_back(largest);
  }
  std::sort(options_.graph_batch_sizes.begin(), options_.graph_batch_sizes.end());
  // A graph pads to its size, so sizes beyond what the buffers hold are dropped.
  const int32_t fits = std::min(options_.max_num_seqs, options_.max_num_tokens);
  std::erase_if(options_.graph_batch_sizes, [&](int32_t size) { return size < 1 || size > fits; });
}

ModelRunner::~ModelRunner() {
  if (!sink_) return;
  try {
    send(RunnerCommand::Kind::kStop, 0, nullptr, nullptr);
  } catch (const std::exception& e) {
    TSR_LOG_ERROR("could not stop the other tensor-parallel ranks: {}", e.what());
  }
}

void ModelRunner::send(RunnerCommand::Kind kind, int64_t count, const BlockPairs* pairs,
                       const ForwardBatch* batch) {
  if (!sink_) return;
  command_.kind = kind;
  command_.count = count;
  command_.pairs = pairs != nullptr ? *pairs : BlockPairs{};
  command_.batch = batch != nullptr ? *batch : ForwardBatch{};
  sink_(command_);
}

void ModelRunner::run(const RunnerCommand& c) {
  using Kind = RunnerCommand::Kind;
  switch (c.kind) {
    case Kind::kForward:
      forward(c.batch);
      stream_.synchronize();
      return;
    case Kind::kAllocateKv:
      allocate_kv_cache(c.count);
      return;
    case Kind::kAllocateSwap:
      allocate_swap_space(c.count);
      return;
    case Kind::kCopy:
      copy_blocks(c.pairs);
      return;
    case Kind::kSwapOut:
      swap_out(c.pairs);
      return;
    case Kind::kSwapIn:
      swap_in(c.pairs);
      return;
    case Kind::kStop:
      break;
  }
  TSR_INVARIANT(false, "runner command {} cannot be run", static_cast<int>(c.kind));
}

// The ranks exist before the members that alias rank 0's parts are bound to them.
std::vector<std::unique_ptr<ModelRunner::Rank>> ModelRunner::make_ranks(
    const std::vector<std::shared_ptr<runtime::Device>>& devices,
    const std::vector<const ModelWeights*>& weights, int32_t group_size) {
  const bool local = group_size == 0;  // every rank of the group is in this process
  if (local) group_size = static_cast<int32_t>(devices.size());
  TSR_CHECK(!devices.empty() && devices.size() == weights.size(),
            "a model runner needs one loaded model per device ({} devices, {} models)",
            devices.size(), weights.size());
  std::vector<std::unique_ptr<ModelRunner::Rank>> ranks;
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto shard = weights[i]->shard();
    TSR_INVARIANT(shard.size == group_size && (!local || shard.rank == static_cast<int32_t>(i)),
                  "rank {} of {} got the weights of shard {} of {}", i, devices.size(), shard.rank,
                  shard.size);
    auto rank = std::make_unique<ModelRunner::Rank>();
    rank->device = devices[i];
    rank->weights = weights[i];
    rank->stream = runtime::Stream::create(devices[i]);
    ranks.push_back(std::move(rank));
  }
  return ranks;
}

// Activations of this rank's heads and slices; sampling buffers only on rank 0, which samples.
void ModelRunner::init_rank(Rank& rank, bool lead) {
  const auto& cfg = weights_.config();
  const auto& layout = rank.weights->layout();
  model::ModelConfig local = cfg;  // the shapes this rank's ops see
  local.num_heads = layout.q_heads;
  local.num_kv_heads = layout.kv_heads;
  local.intermediate_size = layout.intermediate;
  const auto t = static_cast<size_t>(options_.max_num_tokens);
  const auto seqs = static_cast<size_t>(options_.max_num_seqs);
  const auto sizes =
      activation_sizes(local, dtype_, t, seqs, static_cast<size_t>(options_.max_blocks_per_seq),
                       static_cast<size_t>(options_.max_logprobs), cfg.qk_norm);
  const size_t rows = sizes.logit_rows;
  if (lead) logit_row_capacity_ = static_cast<int32_t>(rows);
  const auto n = static_cast<size_t>(ranks_.size());
  auto alloc = [&](size_t bytes) {
    if (lead) activation_bytes_ += bytes;
    return runtime::Buffer::allocate(rank.device, bytes);
  };
  models::Activations& act = rank.act;
  act.hidden = alloc(sizes.hidden);
  act.normed = alloc(sizes.normed);
  act.q = alloc(sizes.q);
  act.k = alloc(sizes.k);
  act.v = alloc(sizes.v);
  if (cfg.qk_norm) {
    act.q_normed = alloc(sizes.q_normed);
    act.k_normed = alloc(sizes.k_normed);
  }
  act.attn = alloc(sizes.attn);
  act.o_out = alloc(sizes.o_out);
  act.gate_up = alloc(sizes.gate_up);
  act.act = alloc(sizes.act);
  act.mlp_out = alloc(sizes.mlp_out);
  act.gathered = alloc(sizes.gathered);
  act.logits = alloc(sizes.logits);
  models::StepInputs& in = rank.inputs;
  if (layout.vocab_parallel) {
    act.logits_local = alloc(rows * static_cast<size_t>(layout.vocab) * 4);
    act.logits_ranks = alloc(sizes.logits);
    in.logits_permutation = alloc(rows * n * 4);
  }
  // Step inputs and sampling buffers: small, accounted as sizes.step_inputs/.sampling.
  in.ids = alloc(t * 4);
  in.positions = alloc(t * 4);
  in.slots = alloc(t * 8);
  in.query_start_loc = alloc((seqs + 1) * 4);
  in.seq_lens = alloc(seqs * 4);
  in.block_tables = alloc(seqs * static_cast<size_t>(options_.max_blocks_per_seq) * 4);
  in.logits_indices = alloc(rows * 4);
  if (!lead) return;
  temperature_ = alloc(rows * 4);
  top_k_ = alloc(rows * 4);
  top_p_ = alloc(rows * 4);
  min_p_ = alloc(rows * 4);
  repetition_ = alloc(rows * 4);
  presence_ = alloc(rows * 4);
  frequency_ = alloc(rows * 4);
  seeds_ = alloc(rows * 8);
  history_offsets_ = alloc((rows + 1) * 4);
  history_prompt_lens_ = alloc(rows * 4);
  out_tokens_ = alloc(rows * 4);
  out_logprobs_ = alloc(rows * 4);
  top_ids_ = alloc(rows * static_cast<size_t>(options_.max_logprobs) * 4 + 4);
  top_values_ = alloc(rows * static_cast<size_t>(options_.max_logprobs) * 4 + 4);
}

// The host side of a step at its largest, once: growing block tables or a wider batch
// then never reallocate in the middle of serving.
void ModelRunner::reserve_step_vectors() {
  const auto tokens = static_cast<size_t>(options_.max_num_tokens);
  const auto seqs = static_cast<size_t>(options_.max_num_seqs);
  const auto rows = std::min(tokens, seqs);
  for (auto* v : {&batch_.input_ids, &batch_.positions}) v->reserve(tokens);
  batch_.slot_mapping.reserve(tokens);
  batch_.query_start_loc.reserve(seqs + 1);
  batch_.seq_lens.reserve(seqs);
  batch_.block_tables.reserve(seqs * static_cast<size_t>(options_.max_blocks_per_seq));
  batch_.logits_indices.reserve(rows);
  for (auto* v :
       {&sampling_.temperature, &sampling_.top_p, &sampling_.min_p, &sampling_.repetition_penalty,
        &sampling_.presence_penalty, &sampling_.frequency_penalty}) {
    v->reserve(rows);
  }
  sampling_.top_k.reserve(rows);
  sampling_.seeds.reserve(rows);
  sampling_.history_offsets.reserve(rows + 1);
  sampling_.history_prompt_lens.reserve(rows);
  sampled_rows_.reserve(rows);
  step_output_.sampled.reserve(rows);
}

void ModelRunner::set_profile_collectives(bool on) {
  for (auto& r : ranks_) {
    if (r->comm) r->comm->set_profiling(on);
  }
}

CollectiveTiming ModelRunner::collective_timing() const {
  return timing_;
}

void ModelRunner::reset_collective_timing() {
  timing_ = CollectiveTiming{};
  for (auto& r : ranks_) {
    if (r->comm) r->comm->reset_timing();
  }
}

std::vector<int32_t> ModelRunner::captured_graph_sizes() const {
  std::vector<int32_t> sizes;
  for (const auto& [size, graph] : graphs_) sizes.push_back(size);
  return sizes;
}

tsr_kv_layout ModelRunner::kv_layout() const {
  const auto& cfg = weights_.config();
  tsr_kv_layout layout{};
  layout.struct_size = sizeof(layout);
  layout.num_kv_heads = static_cast<int32_t>(weights_.layout().kv_heads);  // this rank's
  layout.head_dim = static_cast<int32_t>(cfg.head_dim);
  layout.block_size = options_.block_size;
  layout.dtype = options_.kv_dtype;
  return layout;
}

uint64_t ModelRunner::kv_block_bytes_all_layers() const {
  return block_bytes_ * static_cast<uint64_t>(weights_.config().num_layers);
}

void ModelRunner::allocate_kv_cache(int64_t num_blocks) {
  TSR_CHECK(num_blocks > 0, "the KV cache needs at least one block");
  send(RunnerCommand::Kind::kAllocateKv, num_blocks, nullptr, nullptr);
  // Captured graphs name the old cache buffers.
  graphs_.clear();
  // Written in full (zeros) at once: a host cache would otherwise be committed page by page
  // as blocks are first used, and a server's resident memory would grow over hours until
  // every block had been written once (issue 11's soak); now it is all there from the start,
  // as on a GPU.
  const uint64_t bytes = block_bytes_ * static_cast<uint64_t>(num_blocks);
  for (auto& rank : ranks_) {
    rank->kv_cache.clear();
    for (int64_t layer = 0; layer < weights_.config().num_layers; ++layer) {
      rank->kv_cache.push_back(runtime::Buffer::allocate(rank->device, bytes));
      rank->stream.fill(rank->kv_cache.back(), 0, 0, bytes);
    }
    rank->stream.synchronize();
  }
  num_blocks_ = num_blocks;
}

void ModelRunner::allocate_swap_space(int64_t num_host_blocks) {
  send(RunnerCommand::Kind::kAllocateSwap, num_host_blocks, nullptr, nullptr);
  num_swap_blocks_ = 0;
  // Written in full at once, as the KV cache is (allocate_kv_cache).
  const uint64_t bytes =
      block_bytes_ * static_cast<uint64_t>(std::max<int64_t>(num_host_blocks, 0));
  for (auto& rank : ranks_) {
    rank->swap_space.clear();
    if (num_host_blocks <= 0) continue;
    for (int64_t layer = 0; layer < weights_.config().num_layers; ++layer) {
      rank->swap_space.push_back(
          runtime::Buffer::allocate(rank->device, bytes, TSR_BUFFER_KIND_HOST_PINNED));
      rank->stream.fill(rank->swap_space.back(), 0, 0, bytes);
    }
    rank->stream.synchronize();
  }
  num_swap_blocks_ = std::max<int64_t>(num_host_blocks, 0);
}

tsr_tensor ModelRunner::tensor(const runtime::Buffer& buffer, tsr_dtype dtype,
                               std::initializer_list<int64_t> shape) const {
  tsr_tensor t{};
  t.struct_size = sizeof(t);
  t.buffer = buffer.handle();
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t d : shape) t.shape[i++] = d;
  return t;
}

ModelRunner::RequestState& ModelRunner::state_of(sched::RequestHandle handle) {
  TSR_INVARIANT(handle >= 0, "plan entry without a request handle");
  const auto h = static_cast<size_t>(handle);
  if (h >= states_.size()) states_.resize(h + 1);  // a new largest handle: admission time
  return states_[h];
}

void ModelRunner::add_request(sched::RequestHandle handle, const SamplingParams& params,
                              uint64_t seed, const std::vector<int32_t>& prompt) {
  if (params.prompt_logprobs) {
    TSR_CHECK_INPUT(tp_size_ == 1, "prompt_logprobs",
                    "prompt_logprobs is not supported with --tensor-parallel-size > 1");
  }
  RequestState& state = state_of(handle);
  release_history_room(state);
  state.known = true;
  state.block_table.clear();
  // Room for the longest context the request can reach, so that its table never reallocates.
  const int64_t most_tokens =
      static_cast<int64_t>(prompt.size()) + std::max<int64_t>(params.max_tokens, 0);
  state.block_table.reserve(static_cast<size_t>(std::min<int64_t>(
      options_.max_blocks_per_seq, (most_tokens + options_.block_size - 1) / options_.block_size)));
  RequestSampling& r = state.sampling;
  r.params = params;
  r.seed = seed;
  r.num_prompt = static_cast<int32_t>(prompt.size());
  r.num_outputs = 0;
  r.history.clear();
  if (penalized(params)) {
    // Room for the whole history, here and in the step's concatenation of every row's.
    state.history_room = prompt.size() + static_cast<size_t>(std::max(params.max_tokens, 0));
    r.history.reserve(state.history_room);
    r.history = prompt;
    history_room_ += state.history_room;
    sampling_.history_tokens.reserve(history_room_);
  }
  r.prompt.clear();
  r.prompt_scored = 0;
  if (params.prompt_logprobs) r.prompt = prompt;
}

const StepOutput& ModelRunner::execute(const sched::SchedulerOutput& plan) {
  apply_kv_moves(plan);
  StepOutput& out = step_output_;
  out.sampled.clear();
  out.sample.tokens.clear();
  out.prompt_logprobs.clear();
  prompt_rows_.clear();
  const int32_t width = apply_plan_deltas(plan);
  if (plan.scheduled.empty()) return out;
  std::vector<RequestSampling*>& rows = sampled_rows_;
  rows.clear();
  batch_.max_blocks_per_seq = width;
  prepare_inputs(plan, rows);
  forward(batch_);
  sample_into(sampling_, out.sample);
  score_prompt_rows();
  size_t row = 0;
  for (const auto& sr : plan.scheduled) {
    if (!sr.needs_logits) continue;
    const int32_t token = out.sample.tokens[row];
    out.sampled.push_back({sr.handle, token});
    RequestSampling* r = rows[row++];
    if (r == nullptr) continue;
    ++r->num_outputs;
    if (penalized(r->params)) r->history.push_back(token);
  }
  return out;
}

void ModelRunner::release_history_room(RequestState& state) {
  history_room_ -= state.history_room;
  state.history_room = 0;
}

int32_t ModelRunner::apply_plan_deltas(const sched::SchedulerOutput& plan) {
  for (const sched::RequestHandle handle : plan.finished_handles) {
    if (handle < 0 || static_cast<size_t>(handle) >= states_.size()) continue;
    RequestState& state = states_[static_cast<size_t>(handle)];
    release_history_room(state);
    state.known = false;
    state.block_table.clear();  // keeps its room for the handle's next request
    state.sampling.history.clear();
    state.sampling.prompt.clear();
  }
  int32_t width = 1;
  for (const auto& sr : plan.scheduled) {
    std::vector<int32_t>& table = state_of(sr.handle).block_table;
    TSR_INVARIANT(
        sr.num_kept_blocks >= 0 && static_cast<size_t>(sr.num_kept_blocks) <= table.size(),
        "plan keeps {} blocks of request '{}', the runner holds {}", sr.num_kept_blocks, sr.id,
        table.size());
    table.resize(static_cast<size_t>(sr.num_kept_blocks));
    table.insert(table.end(), sr.new_block_ids.begin(), sr.new_block_ids.end());
    TSR_INVARIANT(static_cast<int64_t>(table.size()) * options_.block_size >=
                          sr.start_position + sr.num_tokens &&
                      static_cast<int32_t>(table.size()) <= options_.max_blocks_per_seq,
                  "request '{}': a block table of {} blocks for {} positions (at most {} blocks)",
                  sr.id, table.size(), sr.start_position + sr.num_tokens,
                  options_.max_blocks_per_seq);
    width = std::max(width, static_cast<int32_t>(table.size()));
  }
  return width;
}

void ModelRunner::apply_kv_moves(const sched::SchedulerOutput& plan) {
  auto pairs = [&](const std::vector<kv::BlockCopy>& copies) -> const BlockPairs& {
    pairs_.clear();
    for (const auto& c : copies) pairs_.emplace_back(c.src, c.dst);
    return pairs_;
  };
  swap_out(pairs(plan.swap_out));
  swap_in(pairs(plan.swap_in));
  copy_blocks(pairs(plan.copies));
}

void ModelRunner::prepare_inputs(const sched::SchedulerOutput& plan,
                                 std::vector<RequestSampling*>& rows) {
  const int32_t bs = options_.block_size;
  ForwardBatch& batch = batch_;
  SamplingBatch& sampling = sampling_;
  const int32_t width = batch.max_blocks_per_seq;  // apply_plan_deltas()'s
  batch.clear();
  batch.query_start_loc.push_back(0);
  batch.max_blocks_per_seq = width;
  sampling.clear();
  sampling.history_offsets.push_back(0);
  static const SamplingParams kDefaultSampling;
  for (const auto& sr : plan.scheduled) {
    RequestState& state = states_[static_cast<size_t>(sr.handle)];
    const std::vector<int32_t>& table = state.block_table;
    RequestSampling* r = state.known ? &state.sampling : nullptr;
    if (r != nullptr && r->params.prompt_logprobs) add_prompt_rows(sr, *r, batch.num_tokens());
    for (int j = 0; j < sr.num_tokens; ++j) {
      const int pos = sr.start_position + j;
      batch.input_ids.push_back(sr.token_ids[static_cast<size_t>(j)]);
      batch.positions.push_back(pos);
      batch.slot_mapping.push_back(int64_t{table[static_cast<size_t>(pos / bs)]} * bs + pos % bs);
    }
    batch.query_start_loc.push_back(batch.num_tokens());
    batch.seq_lens.push_back(sr.start_position + sr.num_tokens);
    batch.block_tables.insert(batch.block_tables.end(), table.begin(), table.end());
    batch.block_tables.resize(batch.block_tables.size() + (width - table.size()), 0);
    if (!sr.needs_logits) continue;
    batch.logits_indices.push_back(batch.num_tokens() - 1);
    rows.push_back(r);
    const SamplingParams& p = r != nullptr ? r->params : kDefaultSampling;
    sampling.temperature.push_back(p.temperature);
    sampling.top_k.push_back(p.top_k);
    sampling.top_p.push_back(p.top_p);
    sampling.min_p.push_back(p.min_p);
    sampling.repetition_penalty.push_back(p.repetition_penalty);
    sampling.presence_penalty.push_back(p.presence_penalty);
    sampling.frequency_penalty.push_back(p.frequency_penalty);
    // Keyed by the request's own seed and output position, so a seeded request samples the
    // same tokens whatever else shares its batches.
    const uint64_t base = r != nullptr ? r->seed : 0;
    const int32_t outputs = r != nullptr ? r->num_outputs : 0;
    sampling.seeds.push_back(mix64(base ^ mix64(static_cast<uint64_t>(outputs))));
    if (r != nullptr && penalized(p)) {
      sampling.history_tokens.insert(sampling.history_tokens.end(), r->history.begin(),
                                     r->history.end());
      sampling.history_prompt_lens.push_back(r->num_prompt);
    } else {
      sampling.history_prompt_lens.push_back(0);
    }
    sampling.history_offsets.push_back(static_cast<int32_t>(sampling.history_tokens.size()));
    if (p.logprobs) {
      sampling.want_logprobs = true;
      sampling.num_top_logprobs = std::max(sampling.num_top_logprobs, *p.logprobs);
    }
  }
}

void ModelRunner::add_prompt_rows(const sched::ScheduledRequest& sr, RequestSampling& r,
                                  int32_t first_row) {
  // Position p's logits score prompt[p + 1]; the last prompt position predicts the first
  // generated token (sampled, not scored), and a recomputed position (after a preemption)
  // was scored already.
  const int32_t begin = std::max(sr.start_position, r.prompt_scored);
  const int32_t end = std::min(sr.start_position + sr.num_tokens, r.num_prompt - 1);
  if (begin >= end) return;
  PromptLogprobs& out = step_output_.prompt_logprobs.emplace_back();
  out.id = sr.id;
  out.first_token = begin + 1;
  for (int32_t p = begin; p < end; ++p) {
    prompt_rows_.push_back(
        {&r, first_row + (p - sr.start_position), p, step_output_.prompt_logprobs.size() - 1});
  }
  r.prompt_scored = end;
}

namespace {

// log_softmax(logits)[token] in float64, and the top_n largest entries (ties: lower id
// first), as vLLM reports prompt logprobs: the raw model distribution, no sampling transforms.
TokenLogprob score_row(const float* logits, int64_t vocab, int32_t token, int32_t top_n,
                       std::vector<int32_t>& order) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < vocab; ++v) max = std::max(max, static_cast<double>(logits[v]));
  double sum = 0.0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - max);
  const double log_z = max + std::log(sum);
  TokenLogprob lp;
  lp.token = token;
  lp.logprob = static_cast<float>(static_cast<double>(logits[token]) - log_z);
  if (top_n <= 0) return lp;
  order.resize(static_cast<size_t>(vocab));
  for (int64_t v = 0; v < vocab; ++v) order[static_cast<size_t>(v)] = static_cast<int32_t>(v);
  const auto n = std::min<int64_t>(top_n, vocab);
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int64_t k = 0; k < n; ++k) {
    const int32_t id = order[static_cast<size_t>(k)];
    lp.top.emplace_back(id, static_cast<float>(static_cast<double>(logits[id]) - log_z));
  }
  return lp;
}

}  // namespace

void ModelRunner::score_prompt_rows() {
  if (prompt_rows_.empty()) return;
  TSR_CHECK(tp_size_ == 1, "prompt_logprobs is not supported with --tensor-parallel-size > 1");
  Rank& rank = lead();
  const int64_t vocab = weights_.config().vocab_size;
  std::vector<int32_t> order;
  for (size_t done = 0; done < prompt_rows_.size();) {
    const size_t slice =
        std::min(prompt_rows_.size() - done, static_cast<size_t>(logit_row_capacity_));
    prompt_row_indices_.resize(slice);
    for (size_t i = 0; i < slice; ++i) prompt_row_indices_[i] = prompt_rows_[done + i].row;
    upload(rank.stream, rank.inputs.logits_indices, prompt_row_indices_);
    StepShape shape;
    shape.tokens = batch_.num_tokens();
    shape.seqs = batch_.num_seqs();
    shape.logit_rows = static_cast<int64_t>(slice);
    shape.table_width = batch_.max_blocks_per_seq;
    shape.max_seq_len = *std::max_element(batch_.seq_lens.begin(), batch_.seq_lens.end());
    const models::ForwardContext ctx{
        *rank.device, rank.stream,   dtype_,      shape,       rank.inputs,
        rank.act,     rank.kv_cache, kv_layout(), num_blocks_, rank.weights->layout(),
        nullptr,      nullptr};
    TSR_CHECK(rank.weights->model().lm_head_rows(ctx),
              "this model family cannot compute prompt logprobs (prompt_logprobs)");
    prompt_logits_.resize(slice * static_cast<size_t>(vocab));
    stream_.copy_to_host(prompt_logits_.data(), act_.logits, 0, prompt_logits_.size() * 4);
    stream_.synchronize();
    for (size_t i = 0; i < slice; ++i) {
      const PromptRow& row = prompt_rows_[done + i];
      const int32_t top_n = row.request->params.prompt_logprobs.value_or(0);
      const int32_t token = row.request->prompt[static_cast<size_t>(row.position) + 1];
      step_output_.prompt_logprobs[row.output].entries.push_back(
          score_row(&prompt_logits_[i * static_cast<size_t>(vocab)], vocab, token, top_n, order));
    }
    done += slice;
  }
}

void ModelRunner::forward(const ForwardBatch& batch) {
  const int64_t t = batch.num_tokens();
  const int64_t b = batch.num_seqs();
  const int64_t rows = static_cast<int64_t>(batch.logits_indices.size());
  TSR_INVARIANT(t > 0 && t <= options_.max_num_tokens, "batch of {} tokens exceeds the runner's {}",
                t, options_.max_num_tokens);
  const int64_t row_capacity = std::min(options_.max_num_tokens, options_.max_num_seqs);
  TSR_INVARIANT(b > 0 && b <= options_.max_num_seqs && rows <= std::min(row_capacity, t),
                "batch of {} sequences ({} logit rows) exceeds the runner's {} ({} rows)", b, rows,
                options_.max_num_seqs, row_capacity);
  TSR_INVARIANT(
      batch.max_blocks_per_seq > 0 && batch.max_blocks_per_seq <= options_.max_blocks_per_seq,
      "batch block table width {} exceeds {}", batch.max_blocks_per_seq,
      options_.max_blocks_per_seq);
  TSR_INVARIANT(!lead().kv_cache.empty(), "allocate_kv_cache() before forward()");
  send(RunnerCommand::Kind::kForward, 0, nullptr, &batch);
  if (const int32_t size = graph_size_for(batch); size > 0) {
    forward_with_graph(batch, size);
    return;
  }
  StepShape shape;
  shape.tokens = t;
  shape.seqs = b;
  shape.logit_rows = rows;
  shape.table_width = batch.max_blocks_per_seq;
  shape.max_seq_len = *std::max_element(batch.seq_lens.begin(), batch.seq_lens.end());
  if (tp_size_ == 1) {
    upload_inputs(lead(), batch);
    enqueue_forward(lead(), shape);
  } else {
    forward_all_ranks(batch, shape);
  }
  num_logit_rows_ = static_cast<int32_t>(rows);
}

void ModelRunner::forward_all_ranks(const ForwardBatch& batch, const StepShape& shape) {
  const int32_t n = tp_size_;
  const auto rows = static_cast<int32_t>(shape.logit_rows);
  // Row r * n + q of the assembled logits is row q * rows + r of the rank-major gather.
  logits_permutation_.resize(static_cast<size_t>(rows * n));
  for (int32_t r = 0; r < rows; ++r) {
    for (int32_t q = 0; q < n; ++q)
      logits_permutation_[static_cast<size_t>(r * n + q)] = q * rows + r;
  }
  const double collectives_before = lead().comm->seconds();
  const auto start = std::chrono::steady_clock::now();
  const auto step = [&](int index) {
    Rank& rank = *ranks_[static_cast<size_t>(index)];
    upload_inputs(rank, batch);
    enqueue_forward(rank, shape);
    rank.stream.synchronize();
  };
  if (threads_) {
    threads_->run(step);
  } else {
    step(0);  // the other ranks are other processes
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double collectives = lead().comm->seconds() - collectives_before;
  ++timing_.forwards;
  timing_.forward_seconds += seconds;
  timing_.collective_seconds += collectives;
  if (batch.num_tokens() == batch.num_seqs()) {
    ++timing_.decode_forwards;
    timing_.decode_forward_seconds += seconds;
    timing_.decode_collective_seconds += collectives;
  }
}

void ModelRunner::upload_inputs(Rank& rank, const ForwardBatch& batch) {
  models::StepInputs& in = rank.inputs;
  const auto& layout = rank.weights->layout();
  if (layout.vocab_parallel) {
    // This rank's table holds ids [vocab_begin, vocab_begin + vocab) and then a zero row.
    rank.local_ids.resize(batch.input_ids.size());
    for (size_t i = 0; i < batch.input_ids.size(); ++i) {
      const int64_t local = batch.input_ids[i] - layout.vocab_begin;
      rank.local_ids[i] =
          static_cast<int32_t>(local >= 0 && local < layout.vocab ? local : layout.vocab);
    }
    upload(rank.stream, in.ids, rank.local_ids);
    upload(rank.stream, in.logits_permutation, logits_permutation_);
  } else {
    upload(rank.stream, in.ids, batch.input_ids);
  }
  upload(rank.stream, in.positions, batch.positions);
  upload(rank.stream, in.slots, batch.slot_mapping);
  upload(rank.stream, in.query_start_loc, batch.query_start_loc);
  upload(rank.stream, in.seq_lens, batch.seq_lens);
  upload(rank.stream, in.block_tables, batch.block_tables);
  upload(rank.stream, in.logits_indices, batch.logits_indices);
}

int32_t ModelRunner::graph_size_for(const ForwardBatch& batch) const {
  if (!graphs_enabled_) return 0;
  const int32_t b = batch.num_seqs();
  if (batch.num_tokens() != b || static_cast<int32_t>(batch.logits_indices.size()) != b) return 0;
  for (int32_t i = 0; i < b; ++i) {
    if (batch.query_start_loc[static_cast<size_t>(i) + 1] != i + 1 ||
        batch.logits_indices[static_cast<size_t>(i)] != i) {
      return 0;
    }
  }
  for (int32_t size : options_.graph_batch_sizes) {
    if (size >= b) return size;
  }
  return 0;
}

void ModelRunner::forward_with_graph(const ForwardBatch& batch, int32_t size) {
  const int32_t b = batch.num_seqs();
  const int32_t width = options_.max_blocks_per_seq;
  // Padding rows: token 0 at position 0, no KV write (slot -1), a context of one token in
  // block 0 (any valid block: the row's output is never read).
  // A member, so its vectors keep their capacity from step to step.
  ForwardBatch& padded = graph_inputs_;
  padded.input_ids = batch.input_ids;
  padded.input_ids.resize(static_cast<size_t>(size), 0);
  padded.positions = batch.positions;
  padded.positions.resize(static_cast<size_t>(size), 0);
  padded.slot_mapping = batch.slot_mapping;
  padded.slot_mapping.resize(static_cast<size_t>(size), -1);
  padded.seq_lens = batch.seq_lens;
  padded.seq_lens.resize(static_cast<size_t>(size), 1);
  padded.query_start_loc.resize(static_cast<size_t>(size) + 1);
  padded.logits_indices.resize(static_cast<size_t>(size));
  for (int32_t i = 0; i <= size; ++i) padded.query_start_loc[static_cast<size_t>(i)] = i;
  for (int32_t i = 0; i < size; ++i) padded.logits_indices[static_cast<size_t>(i)] = i;
  padded.block_tables.assign(static_cast<size_t>(size) * static_cast<size_t>(width), 0);
  for (int32_t i = 0; i < b; ++i) {
    const auto src =
        batch.block_tables.begin() + static_cast<ptrdiff_t>(i) * batch.max_blocks_per_seq;
    std::copy(src, src + batch.max_blocks_per_seq,
              padded.block_tables.begin() + static_cast<ptrdiff_t>(i) * width);
  }
  padded.max_blocks_per_seq = width;
  upload_inputs(lead(), padded);
  num_logit_rows_ = b;

  StepShape shape;
  shape.tokens = size;
  shape.seqs = size;
  shape.logit_rows = size;
  shape.table_width = width;
  shape.max_seq_len = width * options_.block_size;
  auto found = graphs_.find(size);
  if (found != graphs_.end()) {
    found->second.launch(stream_);
    return;
  }
  // First use of this size: run it eagerly (this step's result), then record the same work.
  enqueue_forward(lead(), shape);
  try {
    runtime::Graph::begin_capture(stream_);
    try {
      enqueue_forward(lead(), shape);
    } catch (...) {
      runtime::Graph::abandon_capture(stream_);
      throw;
    }
    graphs_.emplace(size, runtime::Graph::end_capture(stream_));
    TSR_LOG_DEBUG("captured the decode graph for batch size {}", size);
  } catch (const std::exception& e) {
    TSR_LOG_WARN("decode graph capture failed on {} ({}); running eagerly from now on",
                 device_->label(), e.what());
    graphs_enabled_ = false;
    graphs_.clear();
  }
}

void ModelRunner::enqueue_forward(Rank& rank, const StepShape& shape) {
  std::exception_ptr failure;
  const models::ForwardContext ctx{*rank.device,    rank.stream,
                                   dtype_,          shape,
                                   rank.inputs,     rank.act,
                                   rank.kv_cache,   kv_layout(),
                                   num_blocks_,     rank.weights->layout(),
                                   rank.comm.get(), rank.comm ? &failure : nullptr};
  rank.weights->model().forward(ctx);
  if (failure) std::rethrow_exception(failure);
}

SampleResult ModelRunner::sample(const SamplingBatch& sampling) {
  SampleResult result;
  sample_into(sampling, result);
  return result;
}

void ModelRunner::sample_into(const SamplingBatch& sampling, SampleResult& result) {
  const int64_t rows = num_logit_rows_;
  result.tokens.clear();
  result.logprobs.clear();
  result.top_ids.clear();
  result.top_logprobs.clear();
  if (rows == 0) return;
  TSR_INVARIANT(static_cast<int64_t>(sampling.temperature.size()) == rows,
                "sampling parameters for {} rows, logits for {}", sampling.temperature.size(),
                rows);
  const int32_t top_n = std::min(sampling.num_top_logprobs, options_.max_logprobs);
  const size_t history = sampling.history_tokens.size();
  if (history > history_capacity_ || !history_.valid()) {
    history_capacity_ = std::max<size_t>({history, history_room_, 4096});
    history_ = runtime::Buffer::allocate(device_, history_capacity_ * 4);
  }
  upload(temperature_, sampling.temperature);
  upload(top_k_, sampling.top_k);
  upload(top_p_, sampling.top_p);
  upload(min_p_, sampling.min_p);
  upload(repetition_, sampling.repetition_penalty);
  upload(presence_, sampling.presence_penalty);
  upload(frequency_, sampling.frequency_penalty);
  upload(seeds_, sampling.seeds);
  upload(history_, sampling.history_tokens);
  upload(history_offsets_, sampling.history_offsets);
  upload(history_prompt_lens_, sampling.history_prompt_lens);

  tsr_sample_params p{};
  p.struct_size = sizeof(p);
  p.logits = tensor(act_.logits, TSR_DTYPE_F32, {rows, weights_.config().vocab_size});
  p.temperature = tensor(temperature_, TSR_DTYPE_F32, {rows});
  p.top_k = tensor(top_k_, TSR_DTYPE_I32, {rows});
  p.top_p = tensor(top_p_, TSR_DTYPE_F32, {rows});
  p.min_p = tensor(min_p_, TSR_DTYPE_F32, {rows});
  p.repetition_penalty = tensor(repetition_, TSR_DTYPE_F32, {rows});
  p.presence_penalty = tensor(presence_, TSR_DTYPE_F32, {rows});
  p.frequency_penalty = tensor(frequency_, TSR_DTYPE_F32, {rows});
  p.seeds = tensor(seeds_, TSR_DTYPE_U64, {rows});
  p.step = 0;
  p.history_tokens = tensor(history_, TSR_DTYPE_I32, {static_cast<int64_t>(history)});
  p.history_offsets = tensor(history_offsets_, TSR_DTYPE_I32, {rows + 1});
  p.history_prompt_lens = tensor(history_prompt_lens_, TSR_DTYPE_I32, {rows});
  p.out_tokens = tensor(out_tokens_, TSR_DTYPE_I32, {rows});
  p.out_logprobs = sampling.want_logprobs ? tensor(out_logprobs_, TSR_DTYPE_F32, {rows}) : kAbsent;
  p.num_top_logprobs = top_n;
  p.top_ids = top_n > 0 ? tensor(top_ids_, TSR_DTYPE_I32, {rows, top_n}) : kAbsent;
  p.top_values = top_n > 0 ? tensor(top_values_, TSR_DTYPE_F32, {rows, top_n}) : kAbsent;
  device_->check(device_->ops().sample(stream_.handle(), &p), "sample");

  result.tokens.resize(static_cast<size_t>(rows));
  stream_.copy_to_host(result.tokens.data(), out_tokens_, 0, result.tokens.size() * 4);
  if (sampling.want_logprobs) {
    result.logprobs.resize(static_cast<size_t>(rows));
    stream_.copy_to_host(result.logprobs.data(), out_logprobs_, 0, result.logprobs.size() * 4);
  }
  if (top_n > 0) {
    result.top_ids.resize(static_cast<size_t>(rows * top_n));
    result.top_logprobs.resize(result.top_ids.size());
    stream_.copy_to_host(result.top_ids.data(), top_ids_, 0, result.top_ids.size() * 4);
    stream_.copy_to_host(result.top_logprobs.data(), top_values_, 0,
                         result.top_logprobs.size() * 4);
  }
  stream_.synchronize();
}

std::vector<float> ModelRunner::logits_to_host() {
  std::vector<float> out(static_cast<size_t>(num_logit_rows_) *
                         static_cast<size_t>(weights_.config().vocab_size));
  if (!out.empty()) stream_.copy_to_host(out.data(), act_.logits, 0, out.size() * 4);
  stream_.synchronize();
  return out;
}

void ModelRunner::copy_blocks(const BlockPairs& pairs) {
  if (pairs.empty()) return;
  send(RunnerCommand::Kind::kCopy, 0, &pairs, nullptr);
  std::vector<int64_t> src, dst;
  for (const auto& [from, to] : pairs) {
    src.push_back(from);
    dst.push_back(to);
  }
  for (auto& rank : ranks_) {
    for (const auto& cache : rank->kv_cache) {
      tsr_copy_blocks_params p{};
      p.struct_size = sizeof(p);
      p.src = cache.handle();
      p.dst = cache.handle();
      p.block_bytes = block_bytes_;
      p.src_ids = src.data();
      p.dst_ids = dst.data();
      p.num_pairs = static_cast<int64_t>(src.size());
      rank->device->check(rank->device->ops().copy_blocks(rank->stream.handle(), &p),
                          "copy_blocks");
    }
    rank->stream.synchronize();  // src/dst are host arrays read by the plugin
  }
}

namespace {
void swap(runtime::Device& device, runtime::Stream& stream, std::vector<runtime::Buffer>& caches,
          std::vector<runtime::Buffer>& host, uint64_t block_bytes, const BlockPairs& pairs,
          tsr_swap_direction direction) {
  if (pairs.empty()) return;
  TSR_CHECK(!host.empty(), "swap requested but no swap space was allocated (--swap-space)");
  std::vector<int64_t> src, dst;
  for (const auto& [from, to] : pairs) {
    src.push_back(from);
    dst.push_back(to);
  }
  for (size_t layer = 0; layer < caches.size(); ++layer) {
    tsr_swap_blocks_params p{};
    p.struct_size = sizeof(p);
    p.device_buffer = caches[layer].handle();
    p.host_buffer = host[layer].handle();
    p.direction = direction;
    p.block_bytes = block_bytes;
    p.src_ids = src.data();
    p.dst_ids = dst.data();
    p.num_pairs = static_cast<int64_t>(src.size());
    device.check(device.ops().swap_blocks(stream.handle(), &p), "swap_blocks");
  }
  stream.synchronize();
}
}  // namespace

void ModelRunner::swap_out(const BlockPairs& device_to_host) {
  if (!device_to_host.empty()) send(RunnerCommand::Kind::kSwapOut, 0, &device_to_host, nullptr);
  for (auto& r : ranks_) {
    swap(*r->device, r->stream, r->kv_cache, r->swap_space, block_bytes_, device_to_host,
         TSR_SWAP_DIRECTION_OUT);
  }
}

void ModelRunner::swap_in(const BlockPairs& host_to_device) {
  if (!host_to_device.empty()) send(RunnerCommand::Kind::kSwapIn, 0, &host_to_device, nullptr);
  for (auto& r : ranks_) {
    swap(*r->device, r->stream, r->kv_cache, r->swap_space, block_bytes_, host_to_device,
         TSR_SWAP_DIRECTION_IN);
  }
}

}  // namespace tessera::engine
