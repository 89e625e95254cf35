#include "model/model_config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/check.h"
#include "model/canonical_weight.h"
#include "model/gguf_file.h"

namespace tessera::model {

namespace {

using nlohmann::json;

int64_t get_int(const json& j, const char* key, const std::string& source, int64_t fallback = -1) {
  if (!j.contains(key) || j[key].is_null()) {
    TSR_CHECK(fallback >= 0, "{}: '{}' is missing", source, key);
    return fallback;
  }
  TSR_CHECK(j[key].is_number_integer(), "{}: '{}' must be an integer", source, key);
  return j[key].get<int64_t>();
}

double get_number(const json& j, const char* key, double fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  TSR_CHECK(j[key].is_number(), "{}: '{}' must be a number", source, key);
  return j[key].get<double>();
}

std::optional<double> get_optional_number(const json& j, const char* key,
                                          const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  TSR_CHECK(j[key].is_number(), "{}: '{}' must be a number or null", source, key);
  return j[key].get<double>();
}

// The keys of Gemma-style configs (local/global layers, softcapping, the activation).
void parse_layer_pattern_keys(const json& j, ModelConfig& c, const std::string& source) {
  c.query_pre_attn_scalar = get_optional_number(j, "query_pre_attn_scalar", source);
  c.rope_local_theta = get_optional_number(j, "rope_local_base_freq", source);
  c.final_logit_softcapping = get_optional_number(j, "final_logit_softcapping", source).value_or(0);
  c.attn_logit_softcapping = get_optional_number(j, "attn_logit_softcapping", source).value_or(0);
  c.partial_rotary_factor = get_optional_number(j, "partial_rotary_factor", source).value_or(1.0);
  if (j.contains("sliding_window_pattern") && !j["sliding_window_pattern"].is_null()) {
    c.sliding_window_pattern = get_int(j, "sliding_window_pattern", source);
  }
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const auto& types = j["layer_types"];
    TSR_CHECK(types.is_array(), "{}: 'layer_types' must be a list of strings", source);
    for (const auto& t : types) {
      TSR_CHECK(t.is_string(), "{}: 'layer_types' must be a list of strings", source);
      c.layer_types.push_back(t.get<std::string>());
    }
  }
  for (const char* key : {"hidden_activation", "hidden_act"}) {
    if (!c.hidden_activation.empty() || !j.contains(key) || j[key].is_null()) continue;
    TSR_CHECK(j[key].is_string(), "{}: '{}' must be a string", source, key);
    c.hidden_activation = j[key].get<std::string>();
  }
}

// LongRoPE's attention factor as HF computes it when the config gives none:
// sqrt(1 + ln(s) / ln(original)) with s = max_position / original, 1 when s <= 1.
double longrope_attention_factor(int64_t max_position, int64_t original) {
  const double s = static_cast<double>(max_position) / static_cast<double>(original);
  if (s <= 1.0) return 1.0;
  return std::sqrt(1.0 + std::log(s) / std::log(static_cast<double>(original)));
}

std::vector<float> get_factors(const json& rs, const char* key, int64_t count,
                               const std::string& source) {
  TSR_CHECK(rs.contains(key) && rs[key].is_array(),
            "{}: rope_scaling '{}' must be a list of numbers (longrope)", source, key);
  TSR_CHECK(static_cast<int64_t>(rs[key].size()) == count,
            "{}: rope_scaling '{}' has {} entries, expected head_dim/2 = {}", source, key,
            rs[key].size(), count);
  std::vector<float> out;
  for (const auto& v : rs[key]) {
    TSR_CHECK(v.is_number() && v.get<double>() > 0,
              "{}: rope_scaling '{}' must hold positive numbers", source, key);
    out.push_back(v.get<float>());
  }
  return out;
}

// Phi-3's LongRoPE ("longrope", older "su"); the original context may sit in rope_scaling
// or at the top level (Phi-3's own configs).
void parse_longrope(const json& j, const json& rs, ModelConfig& c, const std::string& source) {
  RopeScaling& r = c.rope_scaling;
  r.type = RopeScalingType::kLongRope;
  r.short_factor = get_factors(rs, "short_factor", c.head_dim / 2, source);
  r.long_factor = get_factors(rs, "long_factor", c.head_dim / 2, source);
  r.original_max_position = rs.contains("original_max_position_embeddings")
                                ? get_int(rs, "original_max_position_embeddings", source)
                                : get_int(j, "original_max_position_embeddings", source);
  TSR_CHECK(r.original_max_position > 1,
            "{}: 'original_max_position_embeddings' must be > 1 for longrope", source);
  const auto given = get_optional_number(rs, "attention_factor", source);
  r.attention_factor =
      given.value_or(longrope_attention_factor(c.max_position_embeddings, r.original_max_position));
  TSR_CHECK(r.attention_factor > 0, "{}: rope_scaling 'attention_factor' must be > 0", source);
}

bool get_bool(const json& j, const char* key, bool fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  TSR_CHECK(j[key].is_boolean(), "{}: '{}' must be true or false", source, key);
  return j[key].get<bool>();
}

void validate(const ModelConfig& c, const std::string& source) {
  TSR_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_layers > 0 &&
                c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0,
            "{}: sizes must be positive (vocab {}, hidden {}, intermediate {}, layers {}, heads "
            "{}, kv heads {}, head_dim {})",
            source, c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads,
            c.num_kv_heads, c.head_dim);
  // Far beyond any real model, and small enough that parameter and memory counts stay inside
  // int64_t (a config of 2^62-wide layers made them overflow).
  TSR_CHECK(c.vocab_size <= (1 << 24) && c.hidden_size <= (1 << 20) &&
                c.intermediate_size <= (1 << 20) && c.num_layers <= 4096 && c.num_heads <= 4096 &&
                c.num_kv_heads <= 4096 && c.max_position_embeddings <= (1 << 26),
            "{}: sizes are beyond any supported model (vocab {} <= 2^24, hidden {} and "
            "intermediate {} <= 2^20, layers {}, heads {} and kv heads {} <= 4096, "
            "max_position_embeddings {} <= 2^26)",
            source, c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads,
            c.num_kv_heads, c.max_position_embeddings);
  TSR_CHECK(c.num_heads % c.num_kv_heads == 0,
            "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source,
            c.num_heads, c.num_kv_heads);
  TSR_CHECK(c.head_dim % 2 == 0 && c.head_dim <= 512, "{}: head_dim {} must be even and <= 512",
            source, c.head_dim);
  TSR_CHECK(c.rms_norm_eps > 0 && c.rope_theta > 0, "{}: rms_norm_eps and rope_theta must be > 0",
            source);
  TSR_CHECK(c.max_position_embeddings > 0, "{}: max_position_embeddings must be > 0", source);
}

std::vector<int32_t> parse_token_ids(const json& value) {
  std::vector<int32_t> out;
  if (value.is_number_integer()) out.push_back(value.get<int32_t>());
  if (value.is_array()) {
    for (const auto& v : value) {
      if (v.is_number_integer()) out.push_back(v.get<int32_t>());
    }
  }
  return out;
}

}  // namespace

int64_t ModelConfig::parameter_count() const {
  const int64_t q = num_heads * head_dim;
  const int64_t kv = num_kv_heads * head_dim;
  int64_t per_layer = hidden_size * (q + 2 * kv) + q * hidden_size +
                      3 * hidden_size * intermediate_size + 2 * hidden_size;
  if (attention_bias) per_layer += q + 2 * kv;
  if (qk_norm) per_layer += 2 * head_dim;
  const int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_layers * per_layer + embeddings + hidden_size;
}

ModelConfig parse_hf_config(const std::string& json_text, const std::string& source,
                            const ArchitectureCheck& check) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  TSR_CHECK(j.is_object(), "{}: not a JSON object", source);
  ModelConfig c;
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    arch = j["architectures"][0].get<std::string>();
  }
  c.architecture_name = arch;
  if (check) check(arch);
  c.vocab_size = get_int(j, "vocab_size", source);
  c.hidden_size = get_int(j, "hidden_size", source);
  c.intermediate_size = get_int(j, "intermediate_size", source);
  c.num_layers = get_int(j, "num_hidden_layers", source);
  c.num_heads = get_int(j, "num_attention_heads", source);
  c.num_kv_heads = get_int(j, "num_key_value_heads", source, c.num_heads);
  c.head_dim = get_int(j, "head_dim", source, c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.rms_norm_eps = get_number(j, "rms_norm_eps", 1e-6, source);
  c.rope_theta = get_number(j, "rope_theta", 10000.0, source);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", source, 2048);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false, source);
  if (j.contains("attention_bias") && j["attention_bias"].is_boolean()) {
    c.attention_bias = j["attention_bias"].get<bool>();
  }
  if (j.contains("sliding_window") && j["sliding_window"].is_number_integer()) {
    c.sliding_window = j["sliding_window"].get<int64_t>();
  }
  parse_layer_pattern_keys(j, c, source);
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) {
    c.torch_dtype = j["torch_dtype"].get<std::string>();
  }
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    const auto& rs = j["rope_scaling"];
    const char* type_key = rs.contains("rope_type") ? "rope_type" : "type";
    TSR_CHECK(!rs.contains(type_key) || rs[type_key].is_string(),
              "{}: rope_scaling '{}' must be a string", source, type_key);
    const std::string type = rs.value(type_key, std::string("default"));
    if (type == "llama3") {
      c.rope_scaling.type = RopeScalingType::kLlama3;
      c.rope_scaling.factor = get_number(rs, "factor", 8.0, source);
      c.rope_scaling.low_freq_factor = get_number(rs, "low_freq_factor", 1.0, source);
      c.rope_scaling.high_freq_factor = get_number(rs, "high_freq_factor", 4.0, source);
      c.rope_scaling.original_max_position =
          get_int(rs, "original_max_position_embeddings", source, 8192);
      TSR_CHECK(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor,
                "{}: rope_scaling high_freq_factor must exceed low_freq_factor", source);
    } else if (type == "linear") {
      c.rope_scaling.type = RopeScalingType::kLinear;
      c.rope_scaling.factor = get_number(rs, "factor", 1.0, source);
    } else if (type == "longrope" || type == "su") {
      parse_longrope(j, rs, c, source);
    } else if (type != "default") {
      throw Error(fmt::format(
          "{}: rope_scaling type '{}' is not supported (llama3, linear, longrope)", source, type));
    }
  }
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) {
    c.bos_token_id = j["bos_token_id"].get<int32_t>();
  }
  if (j.contains("eos_token_id")) c.eos_token_ids = parse_token_ids(j["eos_token_id"]);
  validate(c, source);
  return c;
}

ModelConfig load_hf_config(const std::string& model_dir, const ArchitectureCheck& check) {
  namespace fs = std::filesystem;
  const fs::path config_path = fs::path(model_dir) / "config.json";
  std::ifstream in(config_path);
  TSR_CHECK_KIND(in.good(), ErrorKind::kNotFound, "{}: no config.json (is this a model directory?)",
                 model_dir);
  std::stringstream text;
  text << in.rdbuf();
  ModelConfig c = parse_hf_config(text.str(), config_path.string(), check);

  const fs::path gen_path = fs::path(model_dir) / "generation_config.json";
  std::ifstream gen_in(gen_path);
  if (gen_in.good()) {
    json g;
    try {
      g = json::parse(gen_in);
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", gen_path.string(), e.what()));
    }
    if (g.contains("eos_token_id")) {
      auto ids = parse_token_ids(g["eos_token_id"]);
      if (!ids.empty()) c.eos_token_ids = ids;
    }
    if (g.contains("bos_token_id") && g["bos_token_id"].is_number_integer()) {
      c.bos_token_id = g["bos_token_id"].get<int32_t>();
    }
    if (g.contains("temperature") && g["temperature"].is_number()) {
      c.generation.temperature = g["temperature"].get<double>();
    }
    if (g.contains("top_p") && g["top_p"].is_number())
      c.generation.top_p = g["top_p"].get<double>();
    if (g.contains("top_k") && g["top_k"].is_number_integer()) {
      c.generation.top_k = g["top_k"].get<int64_t>();
    }
    if (g.contains("repetition_penalty") && g["repetition_penalty"].is_number()) {
      c.generation.repetition_penalty = g["repetition_penalty"].get<double>();
    }
  }
  return c;
}

ModelConfig config_from_gguf(const GgufFile& gguf) {
  const std::string arch = gguf.get_string("general.architecture");
  ModelConfig c;
  const std::string source = gguf.path();
  auto key = [&](const char* suffix) { return arch + "." + suffix; };
  c.hidden_size = gguf.get_int(key("embedding_length"));
  c.intermediate_size = gguf.get_int(key("feed_forward_length"));
  c.num_layers = gguf.get_int(key("block_count"));
  c.num_heads = gguf.get_int(key("attention.head_count"));
  c.num_kv_heads = gguf.has(key("attention.head_count_kv"))
                       ? gguf.get_int(key("attention.head_count_kv"))
                       : c.num_heads;
  // A head count of 0 is validate()'s to refuse, after this division is skipped.
  c.head_dim = gguf.has(key("attention.key_length")) ? gguf.get_int(key("attention.key_length"))
               : c.num_heads > 0                     ? c.hidden_size / c.num_heads
                                                     : 0;
  c.rms_norm_eps = gguf.get_float(key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = gguf.has(key("rope.freq_base")) ? gguf.get_float(key("rope.freq_base")) : 10000.0;
  c.max_position_embeddings =
      gguf.has(key("context_length")) ? gguf.get_int(key("context_length")) : 2048;
  if (gguf.has("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<int64_t>(gguf.metadata()["tokenizer.ggml.tokens"].size());
  }
  if (gguf.has(key("vocab_size"))) c.vocab_size = gguf.get_int(key("vocab_size"));
  c.tie_word_embeddings = gguf.find("output.weight") == nullptr;
  if (gguf.has(key("attention.sliding_window"))) {
    c.sliding_window = gguf.get_int(key("attention.sliding_window"));
  }
  // Newer llama.cpp writes the pattern for some families; gemma3 files usually lack it.
  if (gguf.has(key("attention.sliding_window_pattern")) &&
      gguf.metadata()[key("attention.sliding_window_pattern")].is_number_integer()) {
    c.sliding_window_pattern = gguf.get_int(key("attention.sliding_window_pattern"));
  }
  if (gguf.has(key("final_logit_softcapping"))) {
    c.final_logit_softcapping = gguf.get_float(key("final_logit_softcapping"));
  }
  if (gguf.has(key("attn_logit_softcapping"))) {
    c.attn_logit_softcapping = gguf.get_float(key("attn_logit_softcapping"));
  }
  if (gguf.has(key("rope.scaling.type"))) {
    const std::string type = gguf.get_string(key("rope.scaling.type"));
    if (type == "linear") {
      c.rope_scaling.type = RopeScalingType::kLinear;
      c.rope_scaling.factor = gguf.get_float(key("rope.scaling.factor"));
    }
  }
  const TensorView* short_factors = gguf.find("rope_factors_short.weight");
  const TensorView* long_factors = gguf.find("rope_factors_long.weight");
  if (short_factors != nullptr || long_factors != nullptr) {
    // llama.cpp's LongRoPE (phi3): both factor tensors, the original context and the
    // attention factor as metadata.
    TSR_CHECK(short_factors != nullptr && long_factors != nullptr,
              "{}: rope_factors_short and rope_factors_long must come together", source);
    RopeScaling& r = c.rope_scaling;
    r.type = RopeScalingType::kLongRope;
    r.short_factor = to_f32(*short_factors);
    r.long_factor = to_f32(*long_factors);
    for (const auto* factors : {&r.short_factor, &r.long_factor}) {
      TSR_CHECK(static_cast<int64_t>(factors->size()) == c.head_dim / 2,
                "{}: rope_factors_short/long have {} entries, expected head_dim/2 = {}", source,
                factors->size(), c.head_dim / 2);
      for (float f : *factors) {
        TSR_CHECK(std::isfinite(f) && f > 0, "{}: rope_factors must be positive", source);
      }
    }
    r.original_max_position = gguf.get_int(key("rope.scaling.original_context_length"));
    TSR_CHECK(r.original_max_position > 1, "{}: {} must be > 1", source,
              key("rope.scaling.original_context_length"));
    r.attention_factor =
        gguf.has(key("rope.scaling.attn_factor"))
            ? gguf.get_float(key("rope.scaling.attn_factor"))
            : longrope_attention_factor(c.max_position_embeddings, r.original_max_position);
    TSR_CHECK(r.attention_factor > 0, "{}: {} must be > 0", source,
              key("rope.scaling.attn_factor"));
  }
  if (const TensorView* freqs = gguf.find("rope_freqs.weight")) {
    // llama.cpp stores Llama 3.1 rope scaling as per-frequency divisors rather than as
    // parameters. Recover the parameters by matching the Llama 3.1 defaults, and refuse
    // factors that do not match them rather than computing something else.
    RopeScaling llama3;
    llama3.type = RopeScalingType::kLlama3;
    llama3.factor = 8.0;
    const auto factors = to_f32(*freqs);
    const int64_t half = c.head_dim / 2;
    TSR_CHECK(static_cast<int64_t>(factors.size()) == half,
              "{}: rope_freqs has {} entries, expected head_dim/2 = {}", source, factors.size(),
              half);
    const double low_wavelen =
        static_cast<double>(llama3.original_max_position) / llama3.low_freq_factor;
    const double high_wavelen =
        static_cast<double>(llama3.original_max_position) / llama3.high_freq_factor;
    for (int64_t i = 0; i < half; ++i) {
      const double inv =
          std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
      const double wavelen = 2.0 * M_PI / inv;
      double expected = 1.0;
      if (wavelen > low_wavelen) {
        expected = llama3.factor;
      } else if (wavelen >= high_wavelen) {
        const double s =
            (static_cast<double>(llama3.original_max_position) / wavelen - llama3.low_freq_factor) /
            (llama3.high_freq_factor - llama3.low_freq_factor);
        expected = 1.0 / ((1.0 - s) / llama3.factor + s);
      }
      TSR_CHECK(std::fabs(factors[i] - expected) <= 1e-3 * expected,
                "{}: rope_freqs does not match Llama 3.1 scaling (factor 8, low 1, high 4, "
                "original context 8192); other rope_freqs are not supported",
                source);
    }
    c.rope_scaling = llama3;
  }
  if (gguf.has("tokenizer.ggml.bos_token_id")) {
    c.bos_token_id = static_cast<int32_t>(gguf.get_int("tokenizer.ggml.bos_token_id"));
  }
  if (gguf.has("tokenizer.ggml.eos_token_id")) {
    c.eos_token_ids.push_back(static_cast<int32_t>(gguf.get_int("tokenizer.ggml.eos_token_id")));
  }
  validate(c, source);
  return c;
}

}  // namespace tessera::model
