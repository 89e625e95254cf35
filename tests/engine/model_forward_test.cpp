// The forward pass of every tiny model on a device (the CPU plugin; TESSERA_TEST_DEVICE=cuda
// runs the same cases on a GPU, see scripts/gpu-check.sh) against the independent float64
// numpy reference (scripts/reference_forward.py): logits within a stated tolerance for f32
// and bf16, for HF and GGUF files of the same weights, bounded error for quantized formats,
// and greedy continuations token for token. Runs paged: a prefill of the whole prompt in
// one chunk, then one-token decode steps reading the KV cache.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "engine/model_runner.h"
#include "runtime/device_selector.h"
#include "runtime/host_services.h"

namespace {

using namespace tessera;

// The tiny models are written at build time; TESSERA_TINY_MODELS_DIR moves them (a build
// copied to another machine).
const std::string kModels = [] {
  const char* dir = std::getenv("TESSERA_TINY_MODELS_DIR");
  return std::string(dir != nullptr && *dir != 0 ? dir : TESSERA_TINY_MODELS_DIR);
}();

// The device under test: "cpu" unless TESSERA_TEST_DEVICE names another.
std::string test_device() {
  const char* spec = std::getenv("TESSERA_TEST_DEVICE");
  return spec != nullptr && *spec != 0 ? spec : "cpu";
}

struct Reference {
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;
  int64_t vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  const float* row(size_t i) const { return logits.data() + i * static_cast<size_t>(vocab); }
};

Reference load_reference(const std::string& name) {
  Reference ref;
  std::ifstream meta(kModels + "/" + name + ".reference.json");
  const auto j = nlohmann::json::parse(meta);
  ref.prompt = j["prompt_ids"].get<std::vector<int32_t>>();
  ref.greedy = j["greedy_ids"].get<std::vector<int32_t>>();
  ref.vocab = j["vocab_size"].get<int64_t>();
  const auto rows = j["rows"].get<size_t>();
  ref.logits.resize(rows * static_cast<size_t>(ref.vocab));
  std::ifstream bin(kModels + "/" + name + ".reference.bin", std::ios::binary);
  bin.read(reinterpret_cast<char*>(ref.logits.data()),
           static_cast<std::streamsize>(ref.logits.size() * 4));
  EXPECT_TRUE(bin.good()) << "reference logits of " << name;
  return ref;
}

double relative_error(const float* out, const float* ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

class OnDevice : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    runtime::LoaderOptions loader;
    loader.plugin_options["cpu.graphs"] = "1";  // the CPU claims graphs only on request
    registry_ = runtime::PluginRegistry::discover(loader).release();
  }
  void SetUp() override {
    const DeviceSpec spec = parse_device_spec(test_device());
    bool found = false;
    for (const auto& plugin : registry_->plugins()) {
      found |= plugin->name() == spec.plugin && !plugin->devices().empty();
    }
    if (!found) GTEST_SKIP() << "no " << test_device() << " device (TESSERA_PLUGIN_PATH)";
    const auto choice = runtime::select_device(*registry_, spec);
    device_ = runtime::Device::open(*choice.plugin, choice.index);
  }

  // Runs the prompt as one prefill, then greedy decode steps; returns the logits rows
  // (one per prompt position, then one per generated token) and the generated ids.
  std::pair<std::vector<std::vector<float>>, std::vector<int32_t>> run(
      const engine::ModelWeights& weights, const std::vector<int32_t>& prompt, int steps,
      int32_t chunk, tsr_dtype kv_dtype = TSR_DTYPE_INVALID) {
    engine::RunnerOptions options;
    options.max_num_tokens = 64;
    options.max_num_seqs = 64;  // also the logit-row capacity: every prompt row is compared
    options.block_size = 16;
    options.max_blocks_per_seq = 8;
    options.kv_dtype = kv_dtype != TSR_DTYPE_INVALID ? kv_dtype : weights.activation_dtype();
    engine::ModelRunner runner(device_, weights, options);
    runner.allocate_kv_cache(16);
    // Blocks deliberately out of order, to exercise the block table.
    const std::vector<int32_t> blocks = {5, 2, 9, 0, 7, 11, 3, 14};
    std::vector<std::vector<float>> rows;
    std::vector<int32_t> tokens = prompt;
    std::vector<int32_t> generated;
    const auto vocab = weights.config().vocab_size;
    size_t computed = 0;
    while (generated.size() < static_cast<size_t>(steps)) {
      engine::ForwardBatch batch;
      const size_t end = computed < prompt.size()
                             ? std::min(prompt.size(), computed + static_cast<size_t>(chunk))
                             : tokens.size();
      for (size_t pos = computed; pos < end; ++pos) {
        batch.input_ids.push_back(tokens[pos]);
        batch.positions.push_back(static_cast<int32_t>(pos));
        batch.slot_mapping.push_back(int64_t{blocks[pos / 16]} * 16 +
                                     static_cast<int64_t>(pos % 16));
        batch.logits_indices.push_back(static_cast<int32_t>(pos - computed));
      }
      batch.query_start_loc = {0, static_cast<int32_t>(end - computed)};
      batch.seq_lens = {static_cast<int32_t>(end)};
      batch.block_tables = blocks;
      batch.max_blocks_per_seq = 8;
      // Only whole-prompt-or-decode logits are compared; chunked prefill keeps every row.
      runner.forward(batch);
      const auto logits = runner.logits_to_host();
      for (size_t r = 0; r < batch.logits_indices.size(); ++r) {
        rows.emplace_back(logits.begin() + static_cast<std::ptrdiff_t>(r * vocab),
                          logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * vocab));
      }
      computed = end;
      if (computed < prompt.size()) continue;
      // Greedy via the plugin's sample op on the last row only: re-run with one logit row.
      const auto& last = rows.back();
      const auto best =
          static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
      engine::SamplingBatch sampling;
      batch.logits_indices = {static_cast<int32_t>(batch.input_ids.size() - 1)};
      runner.forward(batch);  // recomputes the same KV entries: writes are idempotent
      sampling.temperature = {0.0f};
      sampling.top_k = {0};
      sampling.top_p = {1.0f};
      sampling.min_p = {0.0f};
      sampling.repetition_penalty = {1.0f};
      sampling.presence_penalty = {0.0f};
      sampling.frequency_penalty = {0.0f};
      sampling.seeds = {1};
      sampling.history_tokens = tokens;
      sampling.history_offsets = {0, static_cast<int32_t>(tokens.size())};
      sampling.history_prompt_lens = {static_cast<int32_t>(prompt.size())};
      const auto sampled = runner.sample(sampling);
      EXPECT_EQ(sampled.tokens.at(0), best) << "sample op greedy != argmax of the logits";
      generated.push_back(sampled.tokens.at(0));
      tokens.push_back(sampled.tokens.at(0));
    }
    return {rows, generated};
  }

  static runtime::PluginRegistry* registry_;
  std::shared_ptr<runtime::Device> device_;
};

runtime::PluginRegistry* OnDevice::registry_ = nullptr;

struct Case {
  std::string reference;  // family name
  std::string path;       // relative to the tiny models dir
  tsr_dtype dtype;
  model::Quantization quantization;
  double tolerance;  // relative logits error, per row
  bool exact_greedy;
  // cpu.q8_activations=0 for this case: the CPU's quantized GEMVs keep f32 activations.
  bool f32_activations = false;
  int needs_format = -1;  // a tsr_weight_format the device must declare, or the case skips
  // --kv-cache-dtype: INVALID is auto, the activation dtype.
  tsr_dtype kv_dtype = TSR_DTYPE_INVALID;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.path << "/" << c.tolerance;
}

class ModelForward : public OnDevice, public ::testing::WithParamInterface<Case> {};

// Sets a process-wide plugin option for one scope. CTest runs every case in its own process
// (gtest_discover_tests), so the option is in place before the case's first linear call; the
// CPU plugin's asymmetric kernels, the only quantized ones in the Q5 files, also read it at
// every call, so the cases hold in a single process too.
class ScopedPluginOption {
 public:
  ScopedPluginOption(std::string key, const std::string& value) : key_(std::move(key)) {
    const char* old = runtime::HostServices::instance().get_option(key_);
    old_ = old != nullptr ? old : "";
    runtime::HostServices::instance().set_option(key_, value);
  }
  ~ScopedPluginOption() { runtime::HostServices::instance().set_option(key_, old_); }

 private:
  std::string key_, old_;
};

TEST_P(ModelForward, MatchesTheFloat64Reference) {
  const Case& c = GetParam();
  if (c.needs_format >= 0 &&
      !(device_->info().properties.weight_formats & TSR_WEIGHT_FORMAT_BIT(c.needs_format))) {
    GTEST_SKIP() << test_device() << " does not take weight format " << c.needs_format;
  }
  std::optional<ScopedPluginOption> f32_activations;
  if (c.f32_activations) f32_activations.emplace("cpu.q8_activations", "0");
  const Reference ref = load_reference(c.reference);
  engine::LoadOptions load;
  load.activation_dtype = c.dtype;
  load.quantization = c.quantization;
  const auto weights = engine::ModelWeights::load(kModels + "/" + c.path, device_, load);
  ASSERT_EQ(weights->config().vocab_size, ref.vocab);
  const int steps = static_cast<int>(ref.greedy.size());
  if (c.kv_dtype != TSR_DTYPE_INVALID &&
      !(device_->info().properties.kv_cache_dtypes & TSR_DTYPE_BIT(c.kv_dtype))) {
    GTEST_SKIP() << test_device() << " does not hold KV dtype " << c.kv_dtype;
  }
  const auto [rows, generated] = run(*weights, ref.prompt, steps, 64, c.kv_dtype);
  // Compare prompt rows; decode rows are compared where the continuation agrees.
  double worst = 0;
  for (size_t i = 0; i < ref.prompt.size(); ++i) {
    worst = std::max(worst, relative_error(rows[i].data(), ref.row(i), ref.vocab));
  }
  EXPECT_LT(worst, c.tolerance) << c.path;
  std::printf("  %s: worst prompt-row relative error %.3g (tolerance %.3g)\n", c.path.c_str(),
              worst, c.tolerance);
  if (c.exact_greedy) {
    EXPECT_EQ(generated, ref.greedy) << c.path;
    for (size_t i = ref.prompt.size(); i < rows.size() && i < ref.prompt.size() + ref.greedy.size();
         ++i) {
      EXPECT_LT(relative_error(rows[i].data(), ref.row(i), ref.vocab), c.tolerance)
          << "decode row " << i;
    }
  } else if (c.tolerance < 0.1) {
    // Close enough that the first greedy token must agree; 4-bit weights may flip it.
    EXPECT_EQ(generated.front(), ref.greedy.front()) << c.path;
  }
}

const auto kNone = model::Quantization::kNone;
constexpr int kQ5 = TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;  // GGUF Q5_1 and Q5_K load as it

INSTANTIATE_TEST_SUITE_P(
    TinyModels, ModelForward,
    ::testing::Values(
        // f32: float32 arithmetic against float64.
        Case{"llama3", "llama3", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"llama2", "llama2", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"mistral", "mistral", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"qwen2", "qwen2", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"qwen3", "qwen3", TSR_DTYPE_F32, kNone, 1e-4, true},
        // The same weights through GGUF (llama: permuted q/k, interleaved rope; rope_freqs).
        Case{"llama3", "llama3-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"llama2", "llama2-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"qwen2", "qwen2-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"qwen3", "qwen3-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        // bf16 activations and KV cache: about three significant digits per op.
        Case{"llama3", "llama3", TSR_DTYPE_BF16, kNone, 5e-2, false},
        Case{"qwen3", "qwen3", TSR_DTYPE_BF16, kNone, 5e-2, false},
        // Quantized weights: error bounded by the format, not by arithmetic (4-bit random
        // weights lose about a quarter of the logits' norm).
        Case{"llama2", "llama2-q8_0.gguf", TSR_DTYPE_F32, kNone, 3e-2, false},
        Case{"llama2", "llama2-q4_0.gguf", TSR_DTYPE_F32, kNone, 3.5e-1, false},
        // GGUF Q5_1, Q5_K and a mixed Q5_K_M file (INT8_GROUP_ASYM weights, Q5_1 and Q5_K
        // tensors in the mixed one) against the float64 reference of the file's own
        // dequantized weights, so the weights are exact. With f32 activations only f32
        // arithmetic remains: the f32 cases' tolerance and the greedy text token for token.
        Case{"llama2-q5_1", "llama2-q5_1.gguf", TSR_DTYPE_F32, kNone, 1e-4, true, true, kQ5},
        Case{"llama2-k-q5_k", "llama2-k-q5_k.gguf", TSR_DTYPE_F32, kNone, 1e-4, true, true, kQ5},
        Case{"llama2-k-q5_k_m", "llama2-k-q5_k_m.gguf", TSR_DTYPE_F32, kNone, 1e-4, true, true,
             kQ5},
        // With the default int8 activations (blocks of 32, bound in linear_asym8.h) the
        // rounding acts on u * scale, which for these asymmetric codes reaches about twice
        // |w| (the min offsets it): twice the Q8_0 case's 3e-2 (measured about 4e-2).
        Case{"llama2-q5_1", "llama2-q5_1.gguf", TSR_DTYPE_F32, kNone, 6e-2, false, false, kQ5},
        Case{"llama2-k-q5_k", "llama2-k-q5_k.gguf", TSR_DTYPE_F32, kNone, 6e-2, false, false, kQ5},
        Case{"llama2-k-q5_k_m", "llama2-k-q5_k_m.gguf", TSR_DTYPE_F32, kNone, 6e-2, false, false,
             kQ5},
        // The same files against the unquantized weights: 5-bit weights, between the Q8_0
        // and Q4_0 cases.
        Case{"llama2", "llama2-q5_1.gguf", TSR_DTYPE_F32, kNone, 2e-1, false, false, kQ5},
        Case{"llama2-k", "llama2-k-q5_k.gguf", TSR_DTYPE_F32, kNone, 2e-1, false, false, kQ5},
        Case{"llama2", "llama2", TSR_DTYPE_F32, model::Quantization::kInt8, 3e-2, false},
        Case{"llama2", "llama2", TSR_DTYPE_F32, model::Quantization::kInt4, 3.5e-1, false},
        Case{"qwen3", "qwen3", TSR_DTYPE_F32, model::Quantization::kFp8, 1e-1, false},
        Case{"llama3", "llama3", TSR_DTYPE_BF16, model::Quantization::kFp8, 1e-1, false},
        // Gemma 3 (appended: model_forward.xpu selects cases by index). HF norms get their
        // 1 added at load, GGUF ones have it already; the same reference for both.
        Case{"gemma3", "gemma3", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"gemma3", "gemma3-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"gemma3", "gemma3", TSR_DTYPE_BF16, kNone, 5e-2, false},
        // Q8_0 costs about 0.8% RMS per GEMM; Gemma's six layers chain 25 quantized GEMMs
        // (the tied LM head included): 4% if the errors add in quadrature, 20% linearly.
        // Measured: 5.1%.
        Case{"gemma3", "gemma3-q8_0.gguf", TSR_DTYPE_F32, kNone, 8e-2, false},
        // Phi-3: fused q/k/v and gate/up, LongRoPE (the greedy tokens rotate with the long
        // factors, the prompt with the short ones), a window shorter than the prompt.
        Case{"phi3", "phi3", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"phi3", "phi3-f32.gguf", TSR_DTYPE_F32, kNone, 1e-4, true},
        Case{"phi3", "phi3", TSR_DTYPE_BF16, kNone, 5e-2, false},
        Case{"phi3", "phi3-q8_0.gguf", TSR_DTYPE_F32, kNone, 3e-2, false},

        // Asymmetric 4-bit (Q4_1 -> INT4_GROUP_ASYM): the same format-bounded error as Q4_0.
        Case{"llama2", "llama2-q4_1.gguf", TSR_DTYPE_F32, kNone, 3.5e-1, false},
        // A mixed Q4_K_M file (Q4_K matrices -> INT4_GROUP_ASYM; output, attn_v and ffn_down
        // in Q6_K -> INT8_GROUP), against its own dequantized weights: exact with f32
        // activations; with int8 activations the Q5 cases' bound.
        Case{"llama2-k-q4_k_m", "llama2-k-q4_k_m.gguf", TSR_DTYPE_F32, kNone, 1e-4, true, true,
             TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM},
        Case{"llama2-k-q4_k_m", "llama2-k-q4_k_m.gguf", TSR_DTYPE_F32, kNone, 6e-2, false, false,
             TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM},
        // --kv-cache-dtype bfloat16 / float16 with f32 activations: of the bf16 cases'
        // roundings (weights, activations, every op's output, K and V) only K and V's
        // remain, so their tolerance bounds these too.
        Case{"llama3", "llama3", TSR_DTYPE_F32, kNone, 5e-2, false, false, -1, TSR_DTYPE_BF16},
        Case{"qwen3", "qwen3", TSR_DTYPE_F32, kNone, 5e-2, false, false, -1, TSR_DTYPE_F16},
        Case{"mistral", "mistral", TSR_DTYPE_F32, kNone, 5e-2, false, false, -1, TSR_DTYPE_BF16}));

TEST_F(OnDevice, ChunkedPrefillGivesTheSameLogits) {
  const Reference ref = load_reference("qwen3");
  engine::LoadOptions load;
  const auto weights = engine::ModelWeights::load(kModels + "/qwen3", device_, load);
  for (int32_t chunk : {1, 5}) {
    const auto [rows, generated] = run(*weights, ref.prompt, 2, chunk);
    for (size_t i = 0; i < ref.prompt.size(); ++i) {
      EXPECT_LT(relative_error(rows[i].data(), ref.row(i), ref.vocab), 1e-4)
          << "chunk " << chunk << " row " << i;
    }
    EXPECT_EQ(generated[0], ref.greedy[0]);
  }
}

// Decode steps through captured graphs (padded batch sizes, replays after the inputs
// changed) give the logits of eager steps; the graph of a size is captured once.
TEST_F(OnDevice, DecodeGraphsMatchEagerSteps) {
  engine::LoadOptions load;
  const auto weights = engine::ModelWeights::load(kModels + "/qwen3", device_, load);
  const int64_t vocab = weights->config().vocab_size;
  auto make_runner = [&](bool graphs) {
    engine::RunnerOptions options;
    options.max_num_tokens = 64;
    options.max_num_seqs = 8;
    options.block_size = 4;
    options.max_blocks_per_seq = 8;
    options.kv_dtype = weights->activation_dtype();
    options.use_graphs = graphs;
    options.graph_batch_sizes = {1, 4, 8};
    auto runner = std::make_unique<engine::ModelRunner>(device_, *weights, options);
    runner->allocate_kv_cache(32);
    return runner;
  };
  auto graphed = make_runner(true);
  auto eager = make_runner(false);
  ASSERT_TRUE(graphed->graphs_enabled()) << "the CPU plugin offers graphs";
  ASSERT_FALSE(eager->graphs_enabled());

  // Three sequences with contexts of 5, 9 and 2 tokens, each in its own blocks.
  const std::vector<int32_t> lens = {5, 9, 2};
  auto blocks_of = [](size_t seq) {
    return std::vector<int32_t>{int32_t(seq * 8), int32_t(seq * 8 + 3), int32_t(seq * 8 + 5),
                                int32_t(seq * 8 + 6)};
  };
  engine::ForwardBatch prefill;
  prefill.query_start_loc = {0};
  prefill.max_blocks_per_seq = 4;
  for (size_t q = 0; q < lens.size(); ++q) {
    const auto blocks = blocks_of(q);
    for (int32_t pos = 0; pos < lens[q]; ++pos) {
      prefill.input_ids.push_back(static_cast<int32_t>((q * 37 + pos * 11) % vocab));
      prefill.positions.push_back(pos);
      prefill.slot_mapping.push_back(int64_t{blocks[pos / 4]} * 4 + pos % 4);
    }
    prefill.query_start_loc.push_back(static_cast<int32_t>(prefill.input_ids.size()));
    prefill.seq_lens.push_back(lens[q]);
    prefill.logits_indices.push_back(prefill.query_start_loc.back() - 1);
    prefill.block_tables.insert(prefill.block_tables.end(), blocks.begin(), blocks.end());
  }
  graphed->forward(prefill);
  eager->forward(prefill);

  std::vector<int32_t> context = lens;
  for (int step = 0; step < 4; ++step) {
    // Every other step drops the last sequence: batch sizes 3 and 2 both pad to 4.
    const size_t seqs = step % 2 == 0 ? 3 : 2;
    engine::ForwardBatch decode;
    decode.max_blocks_per_seq = 4;
    decode.query_start_loc = {0};
    for (size_t q = 0; q < seqs; ++q) {
      const auto blocks = blocks_of(q);
      const int32_t pos = context[q]++;
      decode.input_ids.push_back(static_cast<int32_t>((q * 13 + step * 7 + 1) % vocab));
      decode.positions.push_back(pos);
      decode.slot_mapping.push_back(int64_t{blocks[pos / 4]} * 4 + pos % 4);
      decode.query_start_loc.push_back(static_cast<int32_t>(q + 1));
      decode.seq_lens.push_back(pos + 1);
      decode.logits_indices.push_back(static_cast<int32_t>(q));
      decode.block_tables.insert(decode.block_tables.end(), blocks.begin(), blocks.end());
    }
    graphed->forward(decode);
    eager->forward(decode);
    const auto a = graphed->logits_to_host();
    const auto b = eager->logits_to_host();
    ASSERT_EQ(a.size(), seqs * static_cast<size_t>(vocab)) << "step " << step;
    ASSERT_EQ(b.size(), a.size());
    for (size_t r = 0; r < seqs; ++r) {
      EXPECT_LT(relative_error(a.data() + r * vocab, b.data() + r * vocab, vocab), 1e-5)
          << "step " << step << " row " << r;
    }
  }
  EXPECT_EQ(graphed->captured_graph_sizes(), std::vector<int32_t>{4});
  EXPECT_TRUE(eager->captured_graph_sizes().empty());
}

}  // namespace
