// The XPU plugin's sample op draws the CPU plugin's tokens: both plugins are loaded with
// dlopen (the XPU one on PoCL, xpu.runtime=opencl) and run the same rows — penalties,
// greedy, temperature, top-k, top-p, min-p, per-row seeds — and must agree token for token,
// with logprobs and top logprobs within f32 rounding. This is the contract that makes a
// seeded request give the same text whichever device serves it. The XPU kernel sums in f64
// on PoCL as the CPU does, so any difference would be a bug, not rounding (on a device
// without f64 the kernel sums in f32 and may differ where a cumulative sum lands within
// rounding of the draw's target). Inputs come from a printed seed (TSR_TEST_SEED replays).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "test_host.h"

namespace {

using tsr::test::take;

struct Loaded {
  tsr::test::TestHost host;
  const tsr_plugin_api* api = nullptr;
  tsr_device_t device = nullptr;
  tsr_stream_t stream = nullptr;
  std::string skip;
};

Loaded* load(const char* path, const char* runtime_option) {
  auto* p = new Loaded;  // kept for the process: plugins are never unloaded
  if (runtime_option != nullptr) p->host.options["xpu.runtime"] = runtime_option;
  void* handle = tsr::test::load_plugin(path);
  if (handle == nullptr) return p;
  auto get = reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(handle, TSR_PLUGIN_GET_API_SYMBOL));
  p->api = get(&p->host.api, TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
  if (p->api == nullptr || take(p->api->initialize()).code != TSR_ERROR_CODE_OK) {
    p->skip = std::string(path) + " did not initialize";
    return p;
  }
  int32_t count = 0;
  take(p->api->device_count(&count));
  if (count == 0) {
    p->skip = std::string(path) + " has no device here (no OpenCL ICD such as PoCL?)";
    return p;
  }
  EXPECT_EQ(take(p->api->device_open(0, &p->device)).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(take(p->api->stream_create(p->device, &p->stream)).code, TSR_ERROR_CODE_OK);
  return p;
}

// A device tensor of one plugin, filled from host values and read back.
class DeviceTensor {
 public:
  DeviceTensor(Loaded& p, tsr_dtype dtype, std::vector<int64_t> shape, const void* data,
               size_t elem)
      : p_(p) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    bytes_ = static_cast<size_t>(n) * elem;
    EXPECT_EQ(take(p.api->buffer_alloc(p.device, bytes_, TSR_BUFFER_KIND_DEVICE, &buffer_)).code,
              TSR_ERROR_CODE_OK);
    if (data != nullptr && bytes_ > 0) {
      EXPECT_EQ(take(p.api->memcpy_h2d(p.stream, buffer_, 0, data, bytes_)).code,
                TSR_ERROR_CODE_OK);
    }
    view_.struct_size = sizeof view_;
    view_.buffer = buffer_;
    view_.dtype = dtype;
    view_.ndim = static_cast<int32_t>(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) view_.shape[i] = shape[i];
  }
  ~DeviceTensor() { take(p_.api->buffer_free(buffer_)); }
  DeviceTensor(const DeviceTensor&) = delete;
  DeviceTensor& operator=(const DeviceTensor&) = delete;
  const tsr_tensor& view() const { return view_; }
  template <class T>
  std::vector<T> read() const {
    std::vector<T> out(bytes_ / sizeof(T));
    EXPECT_EQ(take(p_.api->memcpy_d2h(p_.stream, out.data(), buffer_, 0, bytes_)).code,
              TSR_ERROR_CODE_OK);
    EXPECT_EQ(take(p_.api->stream_synchronize(p_.stream)).code, TSR_ERROR_CODE_OK);
    return out;
  }

 private:
  Loaded& p_;
  tsr_buffer_t buffer_ = nullptr;
  size_t bytes_ = 0;
  tsr_tensor view_{};
};

struct Rows {
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<float> logits, temperature, top_p, min_p, repetition, presence, frequency;
  std::vector<int32_t> top_k, history, offsets, prompt_lens;
  std::vector<uint64_t> seeds;
};

Rows make_rows(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Rows r;
  r.rows = 48;
  r.vocab = 777;
  std::normal_distribution<float> normal(0.0f, 3.0f);
  r.logits.resize(static_cast<size_t>(r.rows * r.vocab));
  for (float& v : r.logits) v = normal(rng);
  // Ties and extremes the orderings must agree on.
  r.logits[5] = r.logits[6] = 9.0f;
  r.logits[static_cast<size_t>(r.vocab) + 3] = NAN;
  const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.6f};
  const int32_t ks[] = {0, 1, 5, 40, 0};
  const float ps[] = {1.0f, 0.9f, 0.5f, 1.0f, 0.2f};
  const float mins[] = {0.0f, 0.0f, 0.05f, 0.2f};
  r.offsets.push_back(0);
  for (int64_t b = 0; b < r.rows; ++b) {
    r.temperature.push_back(temps[rng() % 5]);
    r.top_k.push_back(ks[rng() % 5]);
    r.top_p.push_back(ps[rng() % 5]);
    r.min_p.push_back(mins[rng() % 4]);
    r.repetition.push_back(b % 3 == 0 ? 1.3f : 1.0f);
    r.presence.push_back(b % 4 == 1 ? 0.5f : 0.0f);
    r.frequency.push_back(b % 5 == 2 ? 0.25f : 0.0f);
    r.seeds.push_back(rng());
    const int len = static_cast<int>(rng() % 12);
    for (int i = 0; i < len; ++i) r.history.push_back(static_cast<int32_t>(rng() % 20));
    r.offsets.push_back(static_cast<int32_t>(r.history.size()));
    r.prompt_lens.push_back(len / 2);
  }
  return r;
}

struct Outputs {
  std::vector<int32_t> tokens, top_ids;
  std::vector<float> logprobs, top_values;
};

Outputs run_sample(Loaded& p, const Rows& r, uint64_t step, int32_t top_n) {
  const int64_t b = r.rows;
  DeviceTensor logits(p, TSR_DTYPE_F32, {b, r.vocab}, r.logits.data(), 4);
  DeviceTensor temperature(p, TSR_DTYPE_F32, {b}, r.temperature.data(), 4);
  DeviceTensor top_k(p, TSR_DTYPE_I32, {b}, r.top_k.data(), 4);
  DeviceTensor top_p(p, TSR_DTYPE_F32, {b}, r.top_p.data(), 4);
  DeviceTensor min_p(p, TSR_DTYPE_F32, {b}, r.min_p.data(), 4);
  DeviceTensor repetition(p, TSR_DTYPE_F32, {b}, r.repetition.data(), 4);
  DeviceTensor presence(p, TSR_DTYPE_F32, {b}, r.presence.data(), 4);
  DeviceTensor frequency(p, TSR_DTYPE_F32, {b}, r.frequency.data(), 4);
  DeviceTensor seeds(p, TSR_DTYPE_U64, {b}, r.seeds.data(), 8);
  DeviceTensor history(p, TSR_DTYPE_I32, {static_cast<int64_t>(r.history.size())}, r.history.data(),
                       4);
  DeviceTensor offsets(p, TSR_DTYPE_I32, {b + 1}, r.offsets.data(), 4);
  DeviceTensor prompt_lens(p, TSR_DTYPE_I32, {b}, r.prompt_lens.data(), 4);
  DeviceTensor tokens(p, TSR_DTYPE_I32, {b}, nullptr, 4);
  DeviceTensor logprobs(p, TSR_DTYPE_F32, {b}, nullptr, 4);
  DeviceTensor top_ids(p, TSR_DTYPE_I32, {b, top_n}, nullptr, 4);
  DeviceTensor top_values(p, TSR_DTYPE_F32, {b, top_n}, nullptr, 4);
  tsr_sample_params s{};
  s.struct_size = sizeof s;
  s.logits = logits.view();
  s.temperature = temperature.view();
  s.top_k = top_k.view();
  s.top_p = top_p.view();
  s.min_p = min_p.view();
  s.repetition_penalty = repetition.view();
  s.presence_penalty = presence.view();
  s.frequency_penalty = frequency.view();
  s.seeds = seeds.view();
  s.step = step;
  s.history_tokens = history.view();
  s.history_offsets = offsets.view();
  s.history_prompt_lens = prompt_lens.view();
  s.out_tokens = tokens.view();
  s.out_logprobs = logprobs.view();
  s.num_top_logprobs = top_n;
  s.top_ids = top_ids.view();
  s.top_values = top_values.view();
  const auto error = take(p.api->ops->sample(p.stream, &s));
  EXPECT_EQ(error.code, TSR_ERROR_CODE_OK) << error.message;
  Outputs out;
  out.tokens = tokens.read<int32_t>();
  out.logprobs = logprobs.read<float>();
  out.top_ids = top_ids.read<int32_t>();
  out.top_values = top_values.read<float>();
  return out;
}

TEST(XpuSample, DrawsTheCpuPluginsTokens) {
  static Loaded* cpu = load(TESSERA_CPU_PLUGIN_FILE, nullptr);
  static Loaded* xpu = load(TESSERA_XPU_PLUGIN_FILE, "opencl");
  if (!cpu->skip.empty()) GTEST_SKIP() << cpu->skip;
  if (!xpu->skip.empty()) GTEST_SKIP() << xpu->skip;
  const char* env = std::getenv("TSR_TEST_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 20261206u;
  std::printf("XpuSample seed %llu (replay with TSR_TEST_SEED)\n",
              static_cast<unsigned long long>(seed));
  const Rows rows = make_rows(seed);
  constexpr int32_t kTop = 4;
  int sampled = 0;
  for (uint64_t step : {0ull, 1ull, 77ull}) {
    const Outputs want = run_sample(*cpu, rows, step, kTop);
    const Outputs got = run_sample(*xpu, rows, step, kTop);
    ASSERT_EQ(got.tokens.size(), want.tokens.size());
    for (size_t b = 0; b < want.tokens.size(); ++b) {
      EXPECT_EQ(got.tokens[b], want.tokens[b])
          << "step " << step << " row " << b << " (temperature " << rows.temperature[b]
          << ", top_k " << rows.top_k[b] << ", top_p " << rows.top_p[b] << ", min_p "
          << rows.min_p[b] << ")";
      EXPECT_NEAR(got.logprobs[b], want.logprobs[b], 1e-5f) << "row " << b;
      sampled += rows.temperature[b] > 0.0f;
    }
    EXPECT_EQ(got.top_ids, want.top_ids) << "step " << step;
    for (size_t i = 0; i < want.top_values.size(); ++i) {
      EXPECT_NEAR(got.top_values[i], want.top_values[i], 1e-5f) << "entry " << i;
    }
  }
  EXPECT_GT(sampled, 60) << "most rows must take the random draw, not argmax";
}

}  // namespace
