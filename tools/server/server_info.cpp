#include "server_info.h"

namespace tessera::server {

using nlohmann::json;

namespace {

json engine_config_json(const EngineConfig& c) {
  json out = {
      {"model", c.model},
      {"tokenizer", c.tokenizer},
      {"device", c.device},
      {"dtype", c.dtype},
      {"kv_cache_dtype", c.kv_cache_dtype},
      {"quantization", c.quantization.empty() ? json() : json(c.quantization)},
      {"block_size", c.block_size},
      {"max_num_seqs", c.max_num_seqs},
      {"max_num_batched_tokens", c.max_num_batched_tokens},
      {"max_model_len", c.max_model_len},
      {"enable_prefix_caching", c.enable_prefix_caching},
      {"enable_chunked_prefill", c.enable_chunked_prefill},
      {"swap_space", c.swap_space_gib ? json(*c.swap_space_gib) : json()},
      {"preemption_mode", c.preemption_mode},
      {"scheduling_policy", c.scheduling_policy},
      {"scheduler_delay_factor", c.scheduler_delay_factor},
      {"gpu_memory_utilization", c.gpu_memory_utilization},
      {"kv_cache_memory_bytes", c.kv_cache_memory_bytes ? json(*c.kv_cache_memory_bytes) : json()},
      {"num_gpu_blocks_override",
       c.num_gpu_blocks_override ? json(*c.num_gpu_blocks_override) : json()},
      {"max_logprobs", c.max_logprobs},
      {"enforce_eager", c.enforce_eager},
      {"seed", c.seed}};
  json plugin_options = json::object();
  for (const auto& [key, value] : c.plugin_options) plugin_options[key] = value;
  out["plugin_options"] = plugin_options;
  return out;
}

}  // namespace

json server_info_body(const Engine& engine, const ServerOptions& o) {
  const auto& plan = engine.memory_plan();
  const auto& model = engine.model();
  const auto& parsing = o.chat_parsing;
  return {{"version", o.version},
          {"engine_config", engine_config_json(engine.config())},
          {"server",
           {{"host", o.host},
            {"port", o.port},
            {"served_model_name", o.served_model_names},
            {"api_key_required", !o.api_key.empty()},
            {"max_request_body", o.max_request_body},
            {"http_threads", o.http_threads},
            {"default_max_tokens", o.default_max_tokens},
            {"max_n", o.max_n},
            {"default_chat_template_kwargs", o.default_chat_template_kwargs},
            {"reasoning_parser", parsing.reasoning ? json(to_string(*parsing.reasoning)) : json()},
            {"tool_call_parser", parsing.tools ? json(to_string(*parsing.tools)) : json()}}},
          {"model",
           {{"path", model.path},
            {"architecture", model.architecture},
            {"dtype", model.dtype},
            {"quantization", model.quantization},
            {"vocab_size", model.vocab_size}}},
          {"memory_plan",
           {{"device", plan.device},
            {"budget_bytes", plan.budget_bytes},
            {"weight_bytes", plan.weight_bytes},
            {"activation_bytes", plan.activation_bytes},
            {"kv_block_bytes", plan.kv_block_bytes},
            {"num_kv_blocks", plan.num_kv_blocks},
            {"kv_tokens", plan.kv_tokens},
            {"num_swap_blocks", plan.num_swap_blocks},
            {"max_model_len", plan.max_model_len},
            {"max_concurrency", plan.max_concurrency}}}};
}

}  // namespace tessera::server
