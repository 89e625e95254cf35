// The host's view of ops.def: names by id, and presence honouring the table's struct_size
// (an older plugin's shorter table has no entry for a later op, whatever lies beyond it).
#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string>

#include "runtime/op_table.h"

namespace {

using namespace tessera::runtime;

tsr_error* fake_op(tsr_stream_t, const void*) {
  return nullptr;
}

TEST(OpTable, NamesEveryOpOnce) {
  std::set<std::string> names;
  for (int id = 0; id < TSR_OP_COUNT; ++id) names.insert(op_name(static_cast<tsr_op_id>(id)));
  EXPECT_EQ(names.size(), static_cast<size_t>(TSR_OP_COUNT));
  EXPECT_STREQ(op_name(TSR_OP_EMBEDDING), "embedding");
  EXPECT_STREQ(op_name(TSR_OP_SAMPLE), "sample");
  EXPECT_STREQ(op_name(TSR_OP_COUNT), "?");
}

TEST(OpTable, PresenceNeedsAnEntryInsideStructSize) {
  tsr_ops_api ops{};
  ops.struct_size = sizeof(ops);
  EXPECT_FALSE(has_op(ops, TSR_OP_SAMPLE));
  ops.sample = reinterpret_cast<decltype(ops.sample)>(&fake_op);
  ops.embedding = reinterpret_cast<decltype(ops.embedding)>(&fake_op);
  EXPECT_TRUE(has_op(ops, TSR_OP_SAMPLE));
  const tsr_op_id needed[] = {TSR_OP_EMBEDDING, TSR_OP_SAMPLE, TSR_OP_LINEAR};
  EXPECT_EQ(first_missing_op(ops, needed), TSR_OP_LINEAR);
  // A table that ends before `sample` does not have it, even with a pointer set there.
  ops.struct_size = offsetof(tsr_ops_api, sample);
  EXPECT_FALSE(has_op(ops, TSR_OP_SAMPLE));
  EXPECT_TRUE(has_op(ops, TSR_OP_EMBEDDING));
}

}  // namespace
