// Every op of ops.def must have a conformance test: iterating ops.def here means a new op
// line without a TSR_CONFORMANCE_COVERS(...) in some test file fails the suite.
#include <algorithm>
#include <string>

#include "harness.h"

namespace tsr::conformance {
namespace {

TEST(Coverage, EveryOpOfOpsDefHasATest) {
  const std::vector<std::string>& covered = covered_ops();
  const char* const all_ops[] = {
#define TSR_OP(UPPER, lower, params) #lower,
#include "tessera/ops.def"
#undef TSR_OP
  };
  static_assert(sizeof(all_ops) / sizeof(all_ops[0]) == TSR_OP_COUNT);
  for (const char* op : all_ops) {
    EXPECT_NE(std::find(covered.begin(), covered.end(), op), covered.end())
        << "op " << op << " of ops.def has no conformance test";
  }
}

TEST(Coverage, PluginTableHasEveryOpField) {
  if (!plugin().skip_reason.empty()) GTEST_SKIP() << plugin().skip_reason;
  const tsr_ops_api* ops = api().ops;
  ASSERT_NE(ops, nullptr) << "tsr_plugin_api.ops is NULL (an empty table is allowed, NULL is not)";
  EXPECT_GE(ops->struct_size, offsetof(tsr_ops_api, kv_cache_write))
      << "tsr_ops_api.struct_size looks uninitialized";
  std::string unsupported;
  for (int op = 0; op < TSR_OP_COUNT; ++op) {
    if (!op_available(static_cast<tsr_op_id>(op))) {
      unsupported +=
          std::string(unsupported.empty() ? "" : ", ") + op_name(static_cast<tsr_op_id>(op));
    }
  }
  if (!unsupported.empty()) {
    std::printf("note: plugin %s does not support: %s (their tests skip)\n", plugin().name.c_str(),
                unsupported.c_str());
  }
}

}  // namespace
}  // namespace tsr::conformance
