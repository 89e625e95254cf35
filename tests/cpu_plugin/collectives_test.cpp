// In-process collectives: ranks are threads of this process sharing one plugin instance;
// all_reduce (sum, max, in place, bf16), all_gather and broadcast give the exact expected
// values, and a size mismatch fails on every rank instead of hanging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

constexpr int kRanks = 3;

struct Rank {
  tsr_device_t device = nullptr;
  tsr_stream_t stream = nullptr;
  tsr_comm_t comm = nullptr;
  std::vector<tsr_buffer_t> buffers;
};

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(p.api().collectives, nullptr);
    c = p.api().collectives;
    tsr_comm_id id{};
    id.struct_size = sizeof id;
    ASSERT_TRUE(take(c->unique_id(p.device(), &id)).ok());
    for (int r = 0; r < kRanks; ++r) {
      ASSERT_TRUE(take(p.api().device_open(0, &ranks[r].device)).ok());
      ASSERT_TRUE(take(p.api().stream_create(ranks[r].device, &ranks[r].stream)).ok());
      ASSERT_TRUE(take(c->comm_init(ranks[r].device, kRanks, r, &id, &ranks[r].comm)).ok());
    }
  }
  void TearDown() override {
    for (Rank& r : ranks) {
      for (tsr_buffer_t b : r.buffers) take(p.api().buffer_free(b));
      take(c->comm_destroy(r.comm));
      take(p.api().stream_destroy(r.stream));
      take(p.api().device_close(r.device));
    }
  }
  tsr_tensor tensor(int r, const std::vector<float>& values, tsr_dtype dtype) {
    const size_t elem = dtype == TSR_DTYPE_F32 ? 4 : 2;
    tsr_buffer_t b = nullptr;
    EXPECT_TRUE(take(p.api().buffer_alloc(ranks[r].device, values.size() * elem,
                                          TSR_BUFFER_KIND_DEVICE, &b))
                    .ok());
    ranks[r].buffers.push_back(b);
    void* ptr = p.host_ptr(b);
    if (dtype == TSR_DTYPE_F32) {
      std::memcpy(ptr, values.data(), values.size() * 4);
    } else {
      const auto h = to_bf16(values);
      std::memcpy(ptr, h.data(), h.size() * 2);
    }
    return make_tensor(b, dtype, {static_cast<int64_t>(values.size())});
  }
  std::vector<float> values(const tsr_tensor& t) {
    const size_t n = static_cast<size_t>(t.shape[0]);
    if (t.dtype == TSR_DTYPE_F32) return p.download<float>(t, n);
    return from_bf16(p.download<uint16_t>(t, n));
  }
  // Runs body(rank) on one thread per rank and returns each rank's status.
  template <class Body>
  std::vector<Status> on_all_ranks(Body body) {
    std::vector<Status> status(kRanks);
    std::vector<std::thread> threads;
    for (int r = 0; r < kRanks; ++r) threads.emplace_back([&, r] { status[r] = take(body(r)); });
    for (auto& t : threads) t.join();
    return status;
  }

  Plugin p;
  const tsr_collectives_api* c = nullptr;
  Rank ranks[kRanks];
};

TEST_F(Collectives, AllReduceSumMaxInPlaceAndBf16) {
  for (tsr_dtype dtype : {TSR_DTYPE_F32, TSR_DTYPE_BF16}) {
    for (tsr_reduce_op op : {TSR_REDUCE_OP_SUM, TSR_REDUCE_OP_MAX}) {
      std::vector<tsr_tensor> t;
      for (int r = 0; r < kRanks; ++r) {
        std::vector<float> v(7);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((r + 1) * (i % 3) - r);
        t.push_back(tensor(r, v, dtype));
      }
      const auto status = on_all_ranks(
          [&](int r) { return c->all_reduce(ranks[r].comm, ranks[r].stream, &t[r], &t[r], op); });
      for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.message;
      for (int r = 0; r < kRanks; ++r) {
        const auto got = values(t[static_cast<size_t>(r)]);
        for (size_t i = 0; i < got.size(); ++i) {
          float expect = op == TSR_REDUCE_OP_SUM ? 0.0f : -1e30f;
          for (int q = 0; q < kRanks; ++q) {
            const float v = static_cast<float>((q + 1) * (i % 3) - q);
            expect = op == TSR_REDUCE_OP_SUM ? expect + v : std::max(expect, v);
          }
          EXPECT_EQ(got[i], expect) << "rank " << r << " i " << i;
        }
      }
    }
  }
}

TEST_F(Collectives, AllGatherAndBroadcast) {
  std::vector<tsr_tensor> in;
  std::vector<tsr_tensor> out;
  for (int r = 0; r < kRanks; ++r) {
    in.push_back(tensor(r, {static_cast<float>(r), static_cast<float>(10 * r)}, TSR_DTYPE_F32));
    out.push_back(tensor(r, std::vector<float>(2 * kRanks, -1.0f), TSR_DTYPE_F32));
  }
  auto status = on_all_ranks(
      [&](int r) { return c->all_gather(ranks[r].comm, ranks[r].stream, &in[r], &out[r]); });
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.message;
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(values(out[static_cast<size_t>(r)]), (std::vector<float>{0, 0, 1, 10, 2, 20}));
  }
  status =
      on_all_ranks([&](int r) { return c->broadcast(ranks[r].comm, ranks[r].stream, &in[r], 2); });
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.message;
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(values(in[static_cast<size_t>(r)]), (std::vector<float>{2, 20}));
  }
}

TEST_F(Collectives, MismatchFailsOnEveryRank) {
  std::vector<tsr_tensor> t;
  for (int r = 0; r < kRanks; ++r)
    t.push_back(tensor(r, std::vector<float>(r == 1 ? 5 : 4, 1.0f), TSR_DTYPE_F32));
  const auto status = on_all_ranks([&](int r) {
    return c->all_reduce(ranks[r].comm, ranks[r].stream, &t[r], &t[r], TSR_REDUCE_OP_SUM);
  });
  for (const Status& s : status) EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT) << s.message;
  // The group is still usable afterwards. Each rank broadcasts into a tensor of its own: ranks
  // writing one shared tensor would race (ThreadSanitizer reported it).
  std::vector<tsr_tensor> same;
  for (int r = 0; r < kRanks; ++r) {
    same.push_back(tensor(r, std::vector<float>(4, static_cast<float>(r)), TSR_DTYPE_F32));
  }
  const auto again = on_all_ranks(
      [&](int r) { return c->broadcast(ranks[r].comm, ranks[r].stream, &same[r], 0); });
  for (const Status& s : again) EXPECT_TRUE(s.ok()) << s.message;
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(values(same[static_cast<size_t>(r)]), std::vector<float>(4, 0.0f));
  }
}

}  // namespace
}  // namespace tsr::test
