// Graph capture (TSR_DEVICE_CAP_GRAPHS): a captured sequence of ops runs only at launch,
// reads its input buffers' contents at launch time (not at capture time), can be launched
// again after the inputs changed, and gives the same bytes as running the ops directly.
// Skipped when the device does not claim the capability.
#include <cmath>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

class Graph : public ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    if ((plugin().props.caps & TSR_DEVICE_CAP_GRAPHS) == 0) {
      GTEST_SKIP() << "device does not claim TSR_DEVICE_CAP_GRAPHS";
    }
    ASSERT_NE(api().graph_begin_capture, nullptr) << "CAP_GRAPHS claimed, graph calls missing";
    ASSERT_NE(api().graph_end_capture, nullptr);
    ASSERT_NE(api().graph_launch, nullptr);
    ASSERT_NE(api().graph_destroy, nullptr);
    TSR_REQUIRE_OP(TSR_OP_ADD);
    TSR_REQUIRE_OP(TSR_OP_SILU_MUL);
  }
};

std::vector<double> silu_mul_ref(const std::vector<double>& x, int64_t rows, int64_t inter) {
  std::vector<double> out(static_cast<size_t>(rows * inter));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < inter; ++i) {
      const double g = x[static_cast<size_t>(r * 2 * inter + i)];
      const double u = x[static_cast<size_t>(r * 2 * inter + inter + i)];
      out[static_cast<size_t>(r * inter + i)] = g / (1.0 + std::exp(-g)) * u;
    }
  }
  return out;
}

TEST_F(Graph, LaunchReadsInputsAtLaunchTimeAndReplays) {
  const tsr_dtype dt = TSR_DTYPE_F32;
  const int64_t rows = 3, inter = 40;
  Stream s;
  Tensor x(s, dt, {rows, 2 * inter}, "x");
  Tensor act(s, dt, {rows, inter}, "act");
  Tensor bias(s, dt, {rows, inter}, "bias");
  Tensor out(s, dt, {rows, inter}, "out");
  x.upload(random_normal(static_cast<size_t>(rows * 2 * inter)));
  const std::vector<double> b = random_normal(static_cast<size_t>(rows * inter));
  bias.upload(b);
  out.upload(std::vector<double>(static_cast<size_t>(rows * inter), 7.0));
  s.sync();

  TSR_ASSERT_OK(api().graph_begin_capture(s.get()));
  tsr_silu_mul_params sp{sizeof(tsr_silu_mul_params), x.view(), act.view()};
  tsr_add_params ap{sizeof(tsr_add_params), act.view(), bias.view(), out.view()};
  const Status silu = take(api().ops->silu_mul(s.get(), &sp));
  const Status add = take(api().ops->add(s.get(), &ap));
  tsr_graph_t graph = nullptr;
  const Status end = take(api().graph_end_capture(s.get(), &graph));
  ASSERT_TRUE(silu.ok) << "silu_mul during capture: " << silu.message;
  ASSERT_TRUE(add.ok) << "add during capture: " << add.message;
  ASSERT_TRUE(end.ok) << "graph_end_capture: " << end.message;
  ASSERT_NE(graph, nullptr);
  s.sync();
  // Nothing ran at capture time.
  for (double v : out.values()) ASSERT_EQ(v, 7.0) << "a captured op ran before launch";

  for (int launch = 0; launch < 3; ++launch) {
    const std::vector<double> xv =
        rounded(dt, random_normal(static_cast<size_t>(rows * 2 * inter)));
    x.upload(xv);
    s.sync();
    TSR_ASSERT_OK(api().graph_launch(graph, s.get()));
    s.sync();
    std::vector<double> ref = silu_mul_ref(xv, rows, inter);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = round_to(dt, round_to(dt, ref[i]) + b[i]);
    EXPECT_TRUE(close(out.values(), ref, tolerance(dt))) << "launch " << launch;
  }
  out.check_guards();
  act.check_guards();
  TSR_EXPECT_OK(api().graph_destroy(graph));
}

TEST_F(Graph, EndWithoutBeginFails) {
  Stream s;
  tsr_graph_t graph = nullptr;
  const Status st = take(api().graph_end_capture(s.get(), &graph));
  EXPECT_TRUE(failed_with(st, {TSR_ERROR_CODE_FAILED_PRECONDITION, TSR_ERROR_CODE_INTERNAL,
                               TSR_ERROR_CODE_INVALID_ARGUMENT}));
}

}  // namespace
}  // namespace tsr::conformance
