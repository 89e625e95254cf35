// Row-wise, rope and KV cache kernels (elementwise.cu, rope.cu, kv_cache.cu) run by the SIMT
// emulator: rms_norm (plain and fused with the residual add; warp-per-row and block-per-row;
// packed and scalar paths), silu_mul, add, embedding/gather_rows (with out-of-range ids),
// kv_cache_write/read (skipped and out-of-range slots) against references, and rope (neox
// and interleaved, partial rotary, llama3 scaling) against the CPU plugin's rope op.
#include <gtest/gtest.h>

#include <cmath>

#include "elementwise_kernels.h"
#include "emulation_util.h"
#include "plugin_harness.h"
#include "rope_frequencies.h"

namespace tsr::test {
namespace {

const tsr_dtype kActs[] = {TSR_DTYPE_F32, TSR_DTYPE_F16, TSR_DTYPE_BF16};

// Within a couple of units in the last place of the dtype (sums in a different order).
bool near(tsr_dtype t, double got, double want) {
  const double ulp = t == TSR_DTYPE_F32 ? 1.2e-7 : (t == TSR_DTYPE_F16 ? 9.8e-4 : 7.9e-3);
  return std::fabs(got - want) <= 2.0 * ulp * std::fabs(want) + 1e-6;
}

TEST(EmulatedElementwise, RmsNorm) {
  std::mt19937 rng(1);
  for (tsr_dtype t : kActs) {
    for (bool f32_weight : {false, true}) {
      if (t == TSR_DTYPE_F32 && !f32_weight) continue;
      for (int64_t hidden : {64, 37, 1000}) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE(::testing::Message() << dtype_name(t) << " f32 weight " << f32_weight
                                            << " hidden " << hidden << " residual " << residual);
          const int64_t rows = 5;
          const tsr_dtype wt = f32_weight ? TSR_DTYPE_F32 : t;
          const Buffer x = random_buffer(t, static_cast<size_t>(rows * hidden), rng);
          const Buffer w = random_buffer(wt, static_cast<size_t>(hidden), rng);
          Buffer res = random_buffer(t, static_cast<size_t>(rows * hidden), rng);
          const Buffer res_in = res;
          Buffer out(t, static_cast<size_t>(rows * hidden));
          cuda::RmsNormArgs a{t,          wt,   x.data(), w.data(), residual ? res.data() : nullptr,
                              out.data(), rows, hidden,   1e-5f};
          ASSERT_EQ(cuda::launch_rms_norm(a, nullptr), cudaSuccess);
          expect_clean_emulation();
          for (int64_t r = 0; r < rows; ++r) {
            std::vector<float> v(static_cast<size_t>(hidden));
            double ss = 0;
            for (int64_t i = 0; i < hidden; ++i) {
              const size_t k = static_cast<size_t>(r * hidden + i);
              v[static_cast<size_t>(i)] =
                  residual ? round_to(t, res_in.get(k) + x.get(k)) : x.get(k);
              if (residual) {
                ASSERT_EQ(res.get(k), v[static_cast<size_t>(i)]) << k;
              }
              ss += static_cast<double>(v[static_cast<size_t>(i)]) * v[static_cast<size_t>(i)];
            }
            const double inv = 1.0 / std::sqrt(ss / static_cast<double>(hidden) + 1e-5);
            for (int64_t i = 0; i < hidden; ++i) {
              const size_t k = static_cast<size_t>(r * hidden + i);
              const double want = v[static_cast<size_t>(i)] * inv * w.get(static_cast<size_t>(i));
              ASSERT_TRUE(near(t, out.get(k), want)) << k << ": " << out.get(k) << " vs " << want;
            }
          }
        }
      }
    }
  }
}

TEST(EmulatedElementwise, SiluMulGeluTanhMulAndAdd) {
  std::mt19937 rng(2);
  for (tsr_dtype t : kActs) {
    for (int64_t inter : {40, 13}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(t) << " inter " << inter);
      const int64_t rows = 3;
      const Buffer x = random_buffer(t, static_cast<size_t>(rows * 2 * inter), rng, 2.0f);
      Buffer out(t, static_cast<size_t>(rows * inter));
      ASSERT_EQ(cuda::launch_silu_mul(t, x.data(), out.data(), rows, inter, nullptr), cudaSuccess);
      expect_clean_emulation();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < inter; ++i) {
          const float g = x.get(static_cast<size_t>(r * 2 * inter + i));
          const float u = x.get(static_cast<size_t>(r * 2 * inter + inter + i));
          const float want = round_to(t, g / (1.0f + std::exp(-g)) * u);
          ASSERT_TRUE(near(t, out.get(static_cast<size_t>(r * inter + i)), want)) << r << "," << i;
        }
      }
    }
    // gelu_tanh_mul (ABI 1.2): the same paths; gates over [-6, 6] reach both tails of tanh.
    for (int64_t inter : {40, 13}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(t) << " gelu inter " << inter);
      const int64_t rows = 3;
      const Buffer x = random_buffer(t, static_cast<size_t>(rows * 2 * inter), rng, 6.0f);
      Buffer out(t, static_cast<size_t>(rows * inter));
      ASSERT_EQ(cuda::launch_gelu_tanh_mul(t, x.data(), out.data(), rows, inter, nullptr),
                cudaSuccess);
      expect_clean_emulation();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < inter; ++i) {
          const double g = x.get(static_cast<size_t>(r * 2 * inter + i));
          const double u = x.get(static_cast<size_t>(r * 2 * inter + inter + i));
          const double gelu =
              g / (1.0 + std::exp(-2.0 * 0.7978845608028654 * (g + 0.044715 * g * g * g)));
          // Bound: the dtype's rounding (near) plus expf's and the argument's error of a few
          // f32 ulps, kept below an absolute 2.4e-7 scaled by 0.5 |g u| (the bound of the
          // former 1 + tanh form, which the kernel's g / (1 + exp(-2a)) stays well inside).
          const double want = round_to(t, static_cast<float>(gelu * u));
          const double got = out.get(static_cast<size_t>(r * inter + i));
          const double ulp = t == TSR_DTYPE_F32 ? 1.2e-7 : (t == TSR_DTYPE_F16 ? 9.8e-4 : 7.9e-3);
          ASSERT_LE(std::fabs(got - want),
                    2.0 * ulp * std::fabs(want) + 2.4e-7 * 0.5 * std::fabs(g * u) + 1e-6)
              << r << "," << i << ": g " << g;
        }
      }
    }
    // add: packed (aligned) and element paths; out aliasing a.
    for (size_t offset : {size_t{0}, size_t{1}}) {
      const size_t n = 37;
      Buffer a = random_buffer(t, n + 1, rng);
      const Buffer b = random_buffer(t, n + 1, rng);
      const Buffer a_in = a;
      auto* pa = static_cast<unsigned char*>(a.data()) + offset * dtype_size(t);
      const auto* pb = static_cast<const unsigned char*>(b.data()) + offset * dtype_size(t);
      ASSERT_EQ(cuda::launch_add(t, pa, pb, pa, static_cast<int64_t>(n), nullptr), cudaSuccess);
      expect_clean_emulation();
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(a.get(offset + i), round_to(t, a_in.get(offset + i) + b.get(offset + i))) << i;
      }
    }
  }
}

TEST(EmulatedElementwise, GatherRows) {
  std::mt19937 rng(3);
  for (int64_t row_bytes : {int64_t{64}, int64_t{24}, int64_t{12}, int64_t{6}, int64_t{7}}) {
    SCOPED_TRACE(::testing::Message() << "row bytes " << row_bytes);
    const int64_t src_rows = 9;
    std::vector<unsigned char> src(static_cast<size_t>(src_rows * row_bytes));
    for (auto& c : src) c = static_cast<unsigned char>(rng());
    const std::vector<int32_t> ids = {3, 0, -1, 8, 9, 1 << 30, 3};
    std::vector<unsigned char> out(ids.size() * static_cast<size_t>(row_bytes), 0xab);
    ASSERT_EQ(cuda::launch_gather_rows(src.data(), src_rows, row_bytes, ids.data(),
                                       static_cast<int64_t>(ids.size()), out.data(), nullptr),
              cudaSuccess);
    expect_clean_emulation();
    for (size_t r = 0; r < ids.size(); ++r) {
      const bool valid = ids[r] >= 0 && ids[r] < src_rows;
      for (int64_t i = 0; i < row_bytes; ++i) {
        const unsigned char want = valid ? src[static_cast<size_t>(ids[r] * row_bytes + i)]
                                         : static_cast<unsigned char>(0);
        ASSERT_EQ(out[r * static_cast<size_t>(row_bytes) + static_cast<size_t>(i)], want)
            << r << "," << i;
      }
    }
  }
}

TEST(EmulatedElementwise, KvCacheWriteAndRead) {
  std::mt19937 rng(4);
  for (tsr_dtype act : kActs) {
    for (tsr_dtype cache_dtype : kActs) {
      for (int64_t dim : {int64_t{16}, int64_t{6}}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(act) << " -> " << dtype_name(cache_dtype) << " dim " << dim);
        const int64_t heads = 2, block_size = 3, num_blocks = 4, tokens = 5;
        const int64_t num_slots = num_blocks * block_size;
        const Buffer key = random_buffer(act, static_cast<size_t>(tokens * heads * dim), rng);
        const Buffer value = random_buffer(act, key.size(), rng);
        Buffer cache(cache_dtype, static_cast<size_t>(num_slots * 2 * heads * dim));
        for (size_t i = 0; i < cache.size(); ++i) cache.set(i, -99.0f);
        const std::vector<int64_t> slots = {7, -1, 0, num_slots, 11};
        cuda::KvCacheArgs a{cache.data(),
                            const_cast<void*>(key.data()),
                            const_cast<void*>(value.data()),
                            slots.data(),
                            tokens,
                            heads,
                            dim,
                            block_size,
                            num_slots};
        ASSERT_EQ(cuda::launch_kv_cache_write(act, cache_dtype, a, nullptr), cudaSuccess);
        expect_clean_emulation();
        auto at = [&](int64_t slot, int64_t h, int64_t d, bool is_value) {
          const int64_t block = slot / block_size, off = slot % block_size;
          return static_cast<size_t>(block * 2 * heads * block_size * dim +
                                     (is_value ? heads * block_size * dim : 0) +
                                     (h * block_size + off) * dim + d);
        };
        std::vector<bool> written(cache.size(), false);
        for (int64_t t = 0; t < tokens; ++t) {
          if (slots[static_cast<size_t>(t)] < 0 || slots[static_cast<size_t>(t)] >= num_slots) {
            continue;
          }
          for (int64_t h = 0; h < heads; ++h) {
            for (int64_t d = 0; d < dim; ++d) {
              const size_t src = static_cast<size_t>((t * heads + h) * dim + d);
              for (bool v : {false, true}) {
                const size_t dst = at(slots[static_cast<size_t>(t)], h, d, v);
                written[dst] = true;
                ASSERT_EQ(cache.get(dst), round_to(cache_dtype, (v ? value : key).get(src)));
              }
            }
          }
        }
        for (size_t i = 0; i < cache.size(); ++i) {
          if (!written[i]) {
            ASSERT_EQ(cache.get(i), -99.0f) << "stray write at " << i;
          }
        }
        // Read back: a valid slot gives the cache value, an invalid one zeros.
        Buffer k2(act, key.size()), v2(act, key.size());
        for (size_t i = 0; i < k2.size(); ++i) k2.set(i, 5.0f), v2.set(i, 5.0f);
        cuda::KvCacheArgs r = a;
        r.key = k2.data();
        r.value = v2.data();
        ASSERT_EQ(cuda::launch_kv_cache_read(act, cache_dtype, r, nullptr), cudaSuccess);
        expect_clean_emulation();
        for (int64_t t = 0; t < tokens; ++t) {
          const int64_t slot = slots[static_cast<size_t>(t)];
          const bool valid = slot >= 0 && slot < num_slots;
          for (int64_t h = 0; h < heads; ++h) {
            for (int64_t d = 0; d < dim; ++d) {
              const size_t i = static_cast<size_t>((t * heads + h) * dim + d);
              ASSERT_EQ(k2.get(i), valid ? round_to(act, cache.get(at(slot, h, d, false))) : 0.0f);
              ASSERT_EQ(v2.get(i), valid ? round_to(act, cache.get(at(slot, h, d, true))) : 0.0f);
            }
          }
        }
      }
    }
  }
}

TEST(EmulatedElementwise, RopeMatchesCpuPluginBitForBit) {
  Plugin cpu;
  std::mt19937 rng(5);
  for (tsr_dtype t : kActs) {
    for (int neox : {1, 0}) {
      for (tsr_rope_scaling scaling :
           {TSR_ROPE_SCALING_NONE, TSR_ROPE_SCALING_LLAMA3, TSR_ROPE_SCALING_LONGROPE}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(t) << " neox " << neox << " scaling " << scaling);
        const int64_t tokens = 3, hq = 4, hk = 2, dim = 64;
        const int32_t rotary = neox ? 48 : 64;  // partial rotary for neox
        const Buffer q = random_buffer(t, static_cast<size_t>(tokens * hq * dim), rng);
        const Buffer k = random_buffer(t, static_cast<size_t>(tokens * hk * dim), rng);
        const std::vector<int32_t> pos = {0, 17, 9000};
        tsr_rope_params p{};
        p.struct_size = sizeof p;
        p.query = cpu.upload(q.data(), q.size() * dtype_size(t), t, {tokens, hq, dim});
        p.key = cpu.upload(k.data(), k.size() * dtype_size(t), t, {tokens, hk, dim});
        p.positions = cpu.upload(pos, TSR_DTYPE_I32, {tokens});
        p.rotary_dim = rotary;
        p.neox_style = neox;
        p.theta = 500000.0f;
        p.scaling = scaling;
        p.factor = 8.0f;
        p.low_freq_factor = 1.0f;
        p.high_freq_factor = 4.0f;
        p.original_max_position = 8192;
        // LongRoPE (ABI 1.2): positions 0 and 17 take the short table, 9000 the long one.
        std::vector<float> short_factors, long_factors;
        for (int32_t i = 0; i < rotary / 2; ++i) {
          short_factors.push_back(1.0f + 0.03f * static_cast<float>(i));
          long_factors.push_back(1.0f + 0.9f * static_cast<float>(i));
        }
        p.short_factors = short_factors.data();
        p.long_factors = long_factors.data();
        p.attention_factor = 1.19f;
        const Status st = take(cpu.ops().rope(cpu.stream(), &p));
        ASSERT_TRUE(st.ok()) << st.message;
        const auto cq = cpu.download<uint16_t>(p.query, q.size() * dtype_size(t) / 2);
        const auto ck = cpu.download<uint16_t>(p.key, k.size() * dtype_size(t) / 2);

        Buffer gq = q, gk = k;
        cuda::RopeArgs a{};
        a.query = gq.data();
        a.key = gk.data();
        a.positions = pos.data();
        a.tokens = tokens;
        a.query_heads = hq;
        a.key_heads = hk;
        a.head_dim = dim;
        a.rotary_dim = rotary;
        a.neox = neox;
        a.long_from = tsr::plugin::rope_long_from_position(p);
        a.attention_factor = tsr::plugin::rope_attention_factor(p);
        tsr::plugin::rope_inverse_frequencies(p, a.inv_freq);
        ASSERT_EQ(cuda::launch_rope(t, a, nullptr), cudaSuccess);
        expect_clean_emulation();
        EXPECT_EQ(std::memcmp(cq.data(), gq.data(), q.size() * dtype_size(t)), 0);
        EXPECT_EQ(std::memcmp(ck.data(), gk.data(), k.size() * dtype_size(t)), 0);
        // And the rotation did something.
        EXPECT_NE(std::memcmp(q.data(), gq.data(), q.size() * dtype_size(t)), 0);
      }
    }
  }
}

}  // namespace
}  // namespace tsr::test
