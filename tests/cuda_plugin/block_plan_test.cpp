// Planning of KV block copies (validation and merging into contiguous runs), the host half of
// the CUDA plugin's copy_blocks and swap_blocks.
#include "block_plan.h"

#include <gtest/gtest.h>

#include <functional>

#include "tessera/plugin.hpp"

namespace tsr::gpu {
namespace {

tsr_error_code code_of(const std::function<void()>& body) {
  tsr_error* error = sdk::guard(body);
  if (error == nullptr) return TSR_ERROR_CODE_OK;
  const tsr_error_code code = error->code;
  error->destroy(error);
  return code;
}

TEST(BlockPlan, MergesConsecutivePairsIntoRunsSortedBySource) {
  const int64_t src[] = {7, 3, 4, 5, 8, 0};
  const int64_t dst[] = {11, 20, 21, 22, 12, 30};
  const auto runs = plan_block_runs(src, dst, 6, 16, 32, false);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].src, 0);
  EXPECT_EQ(runs[0].dst, 30);
  EXPECT_EQ(runs[0].count, 1);
  EXPECT_EQ(runs[1].src, 3);
  EXPECT_EQ(runs[1].dst, 20);
  EXPECT_EQ(runs[1].count, 3);
  EXPECT_EQ(runs[2].src, 7);
  EXPECT_EQ(runs[2].dst, 11);
  EXPECT_EQ(runs[2].count, 2);
}

TEST(BlockPlan, ScatteredPairsStaySeparate) {
  const int64_t src[] = {0, 1, 2};
  const int64_t dst[] = {5, 3, 9};
  EXPECT_EQ(plan_block_runs(src, dst, 3, 10, 10, false).size(), 3u);
}

TEST(BlockPlan, EmptyIsNoWork) {
  EXPECT_TRUE(plan_block_runs(nullptr, nullptr, 0, 1, 1, false).empty());
}

TEST(BlockPlan, RejectsBadInput) {
  const int64_t src[] = {0, 1};
  const int64_t dst[] = {2, 2};
  const int64_t ok_dst[] = {2, 3};
  const int64_t out_of_range[] = {2, 10};
  const int64_t negative[] = {-1, 1};
  EXPECT_EQ(code_of([&] { plan_block_runs(src, dst, 2, 10, 10, false); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(src, out_of_range, 2, 10, 10, false); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(negative, ok_dst, 2, 10, 10, false); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(src, ok_dst, -1, 10, 10, false); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(nullptr, ok_dst, 2, 10, 10, false); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(src, ok_dst, 2, 10, 10, false); }), TSR_ERROR_CODE_OK);
}

TEST(BlockPlan, RejectsReadingABlockWrittenInTheSameBuffer) {
  const int64_t src[] = {0, 2};
  const int64_t dst[] = {2, 3};
  EXPECT_EQ(code_of([&] { plan_block_runs(src, dst, 2, 10, 10, true); }),
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(code_of([&] { plan_block_runs(src, dst, 2, 10, 10, false); }), TSR_ERROR_CODE_OK);
}

}  // namespace
}  // namespace tsr::gpu
