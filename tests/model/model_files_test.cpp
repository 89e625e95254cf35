// Loading model files written by the official safetensors and gguf Python packages, and
// rejecting broken ones with one clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/check.h"
#include "model/gguf_file.h"
#include "model/model_config.h"
#include "model/safetensors_file.h"
#include "models/registry.h"

namespace fs = std::filesystem;
using tessera::model::FileDType;

namespace {

const std::string kModels = TESSERA_TINY_MODELS_DIR;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("tessera-model-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

// A safetensors file with one f32 tensor of `shape`, given a header we may corrupt.
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(out.data(), &length, 8);
  out += header;
  out += std::string(data_bytes, '\x01');
  return out;
}

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const tessera::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelFiles, HfConfigsOfEveryFamily) {
  struct Case {
    const char* dir;
    const char* arch;
  };
  for (const Case& c : {Case{"llama3", "LlamaForCausalLM"}, Case{"llama2", "LlamaForCausalLM"},
                        Case{"mistral", "MistralForCausalLM"}, Case{"qwen2", "Qwen2ForCausalLM"},
                        Case{"qwen3", "Qwen3ForCausalLM"}}) {
    const auto config = tessera::models::load_hf_config(kModels + "/" + c.dir);
    EXPECT_EQ(config.architecture_name, c.arch) << c.dir;
    EXPECT_EQ(config.num_layers, 2);
    EXPECT_EQ(config.num_kv_heads, 2);
    EXPECT_FALSE(config.eos_token_ids.empty());
  }
  const auto llama3 = tessera::models::load_hf_config(kModels + "/llama3");
  EXPECT_EQ(llama3.rope_scaling.type, tessera::model::RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(llama3.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama3.eos_token_ids.size(), 3u);
  const auto qwen3 = tessera::models::load_hf_config(kModels + "/qwen3");
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_TRUE(qwen3.tie_word_embeddings);
  EXPECT_EQ(qwen3.head_dim, 32);
  EXPECT_TRUE(tessera::models::load_hf_config(kModels + "/qwen2").attention_bias);
}

TEST(ModelFiles, SafetensorsTensorsAreMappedViews) {
  tessera::model::SafetensorsModel model(kModels + "/qwen2");
  const auto& q = model.get("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q.dtype, FileDType::kF32);
  EXPECT_EQ(q.shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(q.bytes, 64u * 64u * 4u);
  EXPECT_NE(model.find("model.layers.1.self_attn.q_proj.bias"), nullptr);
  EXPECT_EQ(model.find("lm_head.weight"), nullptr);  // tied
}

TEST(ModelFiles, GgufMetadataAndTensors) {
  tessera::model::GgufFile gguf(kModels + "/llama3-f32.gguf");
  EXPECT_EQ(gguf.get_string("general.architecture"), "llama");
  const auto config = tessera::models::config_from_gguf(gguf);
  const auto hf = tessera::models::load_hf_config(kModels + "/llama3");
  EXPECT_EQ(config.hidden_size, hf.hidden_size);
  EXPECT_EQ(config.vocab_size, hf.vocab_size);
  EXPECT_EQ(config.num_kv_heads, hf.num_kv_heads);
  EXPECT_FALSE(config.rope_neox_style);
  EXPECT_EQ(config.rope_scaling.type, tessera::model::RopeScalingType::kLlama3);  // from rope_freqs
  const auto& embd = gguf.get("token_embd.weight");
  EXPECT_EQ(embd.shape, (std::vector<int64_t>{hf.vocab_size, hf.hidden_size}));

  tessera::model::GgufFile q4(kModels + "/llama3-q4_0.gguf");
  EXPECT_EQ(q4.get("blk.0.attn_q.weight").dtype, FileDType::kQ4_0);
  tessera::model::GgufFile q8(kModels + "/qwen3-q8_0.gguf");
  EXPECT_EQ(q8.get("blk.1.ffn_down.weight").dtype, FileDType::kQ8_0);
  EXPECT_TRUE(tessera::models::config_from_gguf(q8).qk_norm);
}

TEST(ModelFiles, MissingFilesAreClearErrors) {
  TempDir dir;
  EXPECT_NE(error_of([&] { tessera::models::load_hf_config(dir.path()); }).find("no config.json"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              tessera::model::SafetensorsModel m(dir.path());
            }).find("no model.safetensors"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { tessera::model::GgufFile g(dir.file("absent.gguf")); }).find("cannot open"),
      std::string::npos);
}

TEST(ModelFiles, TruncatedSafetensorsIsRejected) {
  TempDir dir;
  const std::string original = read_file(kModels + "/qwen3/model.safetensors");
  write_file(dir.file("model.safetensors"), original.substr(0, original.size() / 2));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsModel m(dir.path()); }).find("truncated"),
            std::string::npos);
  write_file(dir.file("model.safetensors"), original.substr(0, 5));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsModel m(dir.path()); }).find("truncated"),
            std::string::npos);
}

TEST(ModelFiles, LyingSafetensorsHeadersAreRejected) {
  TempDir dir;
  const auto path = dir.file("model.safetensors");
  write_file(path,
             safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,64]}})", 16));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("outside the file"),
            std::string::npos);
  write_file(path,
             safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("need 24"),
            std::string::npos);
  write_file(path, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                     16));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("overlap"),
            std::string::npos);
  write_file(path,
             safetensors_bytes(R"({"w":{"dtype":"F8_E5M2","shape":[4],"data_offsets":[0,4]}})", 4));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("F8_E5M2"),
            std::string::npos);
  write_file(path, safetensors_bytes("{not json", 0));
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("not valid JSON"),
            std::string::npos);
  std::string huge(8, '\xff');
  write_file(path, huge);
  EXPECT_NE(error_of([&] { tessera::model::SafetensorsFile f(path); }).find("header claims"),
            std::string::npos);
}

TEST(ModelFiles, UnknownArchitectureIsRejected) {
  const std::string config = R"({"architectures":["GPTNeoXForCausalLM"],"vocab_size":10})";
  const auto message = error_of([&] { tessera::models::parse_hf_config(config, "config.json"); });
  EXPECT_NE(message.find("GPTNeoXForCausalLM"), std::string::npos);
  EXPECT_NE(message.find("not supported"), std::string::npos);
  const std::string bad_heads =
      R"({"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":64,)"
      R"("intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4,)"
      R"("num_key_value_heads":3})";
  EXPECT_NE(
      error_of([&] { tessera::models::parse_hf_config(bad_heads, "c"); }).find("not a multiple"),
      std::string::npos);
}

TEST(ModelFiles, GgufUnknownTensorTypeAndTruncationAreRejected) {
  TempDir dir;
  std::string bytes = read_file(kModels + "/llama2-q8_0.gguf");
  tessera::model::GgufFile good(kModels + "/llama2-q8_0.gguf");
  // Rewrite the type of the first Q8_0 tensor info (type 8 after its dims) to Q4_K (12).
  const std::string name = "blk.0.attn_q.weight";
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  const size_t type_at = at + name.size() + 4 + 2 * 8;
  uint32_t type;
  std::memcpy(&type, bytes.data() + type_at, 4);
  ASSERT_EQ(type, 8u);
  type = 12;
  std::memcpy(bytes.data() + type_at, &type, 4);
  write_file(dir.file("q4k.gguf"), bytes);
  const auto message = error_of([&] { tessera::model::GgufFile g(dir.file("q4k.gguf")); });
  EXPECT_NE(message.find("Q4_K"), std::string::npos) << message;

  const std::string original = read_file(kModels + "/llama2-q8_0.gguf");
  for (size_t keep : {size_t{3}, size_t{20}, size_t{4000}, original.size() - 100}) {
    write_file(dir.file("cut.gguf"), original.substr(0, keep));
    const auto m = error_of([&] { tessera::model::GgufFile g(dir.file("cut.gguf")); });
    EXPECT_FALSE(m.empty()) << "kept " << keep;
  }
}

// Gemma 3: the HF directory and the GGUF file of the same tiny model describe the same local
// and global layers, scale and rope bases (GGUF through llama.cpp's fixed values).
TEST(ModelFiles, Gemma3ConfigsAgreeAcrossFormats) {
  const auto hf = tessera::models::load_hf_config(kModels + "/gemma3");
  const auto gguf = tessera::models::load_config(kModels + "/gemma3-f32.gguf");
  for (const auto* c : {&hf, &gguf}) {
    EXPECT_EQ(c->architecture_name, "Gemma3ForCausalLM");
    ASSERT_EQ(c->sliding_layers.size(), 6u);
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(c->sliding_layers[i], i != 5) << "layer " << i;
    EXPECT_EQ(c->sliding_window, 8);
    EXPECT_DOUBLE_EQ(c->query_pre_attn_scalar.value_or(0), 32.0);
    EXPECT_DOUBLE_EQ(c->rope_local_theta.value_or(0), 10000.0);
    EXPECT_DOUBLE_EQ(c->rope_theta, 1000000.0);
    EXPECT_EQ(c->rope_scaling.type, tessera::model::RopeScalingType::kLinear);
    EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
    EXPECT_TRUE(c->qk_norm);
    EXPECT_TRUE(c->tie_word_embeddings);
    EXPECT_EQ(c->head_dim, 32);
  }
}

// A Gemma 3 config with one key changed: the error names the key.
TEST(ModelFiles, Gemma3BadConfigKeysAreNamed) {
  const std::string base =
      R"({"architectures":["Gemma3ForCausalLM"],"vocab_size":10,"hidden_size":64,)"
      R"("intermediate_size":64,"num_hidden_layers":3,"num_attention_heads":4,)"
      R"("num_key_value_heads":2,"head_dim":16)";
  // `extra` follows a valid window unless it brings its own.
  auto error = [&](const std::string& extra) {
    const std::string window =
        extra.find("sliding_window\"") == std::string::npos ? R"(,"sliding_window":4)" : "";
    return error_of(
        [&] { tessera::models::parse_hf_config(base + window + extra + "}", "config.json"); });
  };
  EXPECT_EQ(error(""), "");
  EXPECT_EQ(error(R"(,"sliding_window_pattern":2)"), "");
  const std::pair<const char*, const char*> cases[] = {
      {R"(,"layer_types":["sliding_attention","full_attention"])", "layer_types"},
      {R"(,"layer_types":["sliding_attention","full_attention","chunked"])", "layer_types"},
      {R"(,"layer_types":"sliding_attention")", "layer_types"},
      {R"(,"sliding_window_pattern":0)", "sliding_window_pattern"},
      {R"(,"sliding_window_pattern":"6")", "sliding_window_pattern"},
      {R"(,"query_pre_attn_scalar":"256")", "query_pre_attn_scalar"},
      {R"(,"query_pre_attn_scalar":-1)", "query_pre_attn_scalar"},
      {R"(,"rope_local_base_freq":[1])", "rope_local_base_freq"},
      {R"(,"hidden_activation":"silu")", "hidden_activation"},
      {R"(,"hidden_activation":3)", "hidden_activation"},
      {R"(,"final_logit_softcapping":30.0)", "final_logit_softcapping"},
      {R"(,"sliding_window":null,"sliding_window_pattern":2)", "sliding_window"},
      {R"(,"sliding_window":0)", "sliding_window"},
  };
  for (const auto& [extra, key] : cases) {
    EXPECT_NE(error(extra).find(key), std::string::npos) << extra << ": " << error(extra);
  }
}

// Phi-3: LongRoPE from config.json (original context at the top level, attention factor
// computed) and from GGUF (factor tensors and metadata) agree.
TEST(ModelFiles, Phi3LongRopeAgreesAcrossFormats) {
  const auto hf = tessera::models::load_hf_config(kModels + "/phi3");
  const auto gguf = tessera::models::load_config(kModels + "/phi3-f32.gguf");
  // max 64 over an original 16: sqrt(1 + ln 4 / ln 16) = sqrt(1.5).
  const double factor = std::sqrt(1.5);
  for (const auto* c : {&hf, &gguf}) {
    EXPECT_EQ(c->architecture_name, "Phi3ForCausalLM");
    const auto& rs = c->rope_scaling;
    EXPECT_EQ(rs.type, tessera::model::RopeScalingType::kLongRope);
    EXPECT_EQ(rs.original_max_position, 16);
    EXPECT_NEAR(rs.attention_factor, factor, 1e-6);
    ASSERT_EQ(rs.short_factor.size(), 8u);
    ASSERT_EQ(rs.long_factor.size(), 8u);
    EXPECT_FLOAT_EQ(rs.short_factor[3], 1.15f);
    EXPECT_FLOAT_EQ(rs.long_factor[7], 11.5f);
    EXPECT_EQ(c->sliding_window, 12);
  }
}

TEST(ModelFiles, Phi3BadLongRopeKeysAreNamed) {
  const std::string base =
      R"({"architectures":["Phi3ForCausalLM"],"vocab_size":10,"hidden_size":64,)"
      R"("intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4,)"
      R"("num_key_value_heads":4,"max_position_embeddings":64)";
  const std::string good_factors =
      R"("short_factor":[1,1,1,1,1,1,1,1],"long_factor":[2,2,2,2,2,2,2,2])";
  auto error = [&](const std::string& extra) {
    return error_of([&] { tessera::models::parse_hf_config(base + extra + "}", "config.json"); });
  };
  EXPECT_EQ(error(R"(,"original_max_position_embeddings":16,"rope_scaling":{"type":"su",)" +
                  good_factors + "}"),
            "");
  const std::pair<std::string, const char*> cases[] = {
      {R"(,"rope_scaling":{"type":"longrope",)" + good_factors + "}",
       "original_max_position_embeddings"},
      {R"(,"original_max_position_embeddings":16,"rope_scaling":{"type":"longrope",)"
       R"("short_factor":[1,1],"long_factor":[2,2,2,2,2,2,2,2]})",
       "short_factor"},
      {R"(,"original_max_position_embeddings":16,"rope_scaling":{"type":"longrope",)"
       R"("short_factor":[1,1,1,1,1,1,1,1],"long_factor":[2,2,2,2,2,2,2,0]})",
       "long_factor"},
      {R"(,"original_max_position_embeddings":16,"rope_scaling":{"type":"longrope",)"
       R"("short_factor":[1,1,1,1,1,1,1,1]})",
       "long_factor"},
      {R"(,"original_max_position_embeddings":16,"partial_rotary_factor":0.75,)"
       R"("rope_scaling":{"type":"longrope",)" +
           good_factors + "}",
       "partial_rotary_factor"},
      {R"(,"original_max_position_embeddings":16,"hidden_act":"gelu","rope_scaling":)"
       R"({"type":"longrope",)" +
           good_factors + "}",
       "hidden_act"},
  };
  for (const auto& [extra, key] : cases) {
    EXPECT_NE(error(extra).find(key), std::string::npos) << extra << ": " << error(extra);
  }
}
