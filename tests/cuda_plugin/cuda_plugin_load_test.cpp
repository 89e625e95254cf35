// Loads the built libtessera-cuda.so with dlopen and a test host, as the core would, and
// checks its behaviour on this machine. Without a CUDA driver or GPU (CI): initialize
// succeeds with 0 devices and one log line, device_open fails with NOT_FOUND, the score is
// 0 and diagnose reports one UNKNOWN item. With a GPU, the device tests run the real
// buffers, copies, block copy kernel, swap and graph capture; without one they skip.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "test_host.h"

namespace {

using tsr::test::take;

struct Plugin {
  void* handle = nullptr;
  tsr_plugin_get_api_fn get_api = nullptr;
  tsr_plugin_score_fn score = nullptr;
};

const Plugin& plugin() {
  static const Plugin p = [] {
    Plugin out;
    out.handle = tsr::test::load_plugin(TESSERA_CUDA_PLUGIN_FILE);
    if (out.handle != nullptr) {
      out.get_api =
          reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(out.handle, TSR_PLUGIN_GET_API_SYMBOL));
      out.score = reinterpret_cast<tsr_plugin_score_fn>(dlsym(out.handle, TSR_PLUGIN_SCORE_SYMBOL));
    }
    return out;
  }();
  return p;
}

tsr::test::TestHost& host() {
  static tsr::test::TestHost h;
  return h;
}

const tsr_plugin_api* api() {
  static const tsr_plugin_api* a =
      plugin().get_api != nullptr
          ? plugin().get_api(&host().api, TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR)
          : nullptr;
  return a;
}

bool driver_present() {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) return false;
  using Fn = int (*)(int*);
  auto fn = reinterpret_cast<Fn>(dlsym(driver, "cuDriverGetVersion"));
  int version = 0;
  const bool real = fn != nullptr && fn(&version) == 0 && version > 0;
  dlclose(driver);
  return real;
}

int32_t initialized_device_count() {
  EXPECT_EQ(take(api()->initialize()).code, TSR_ERROR_CODE_OK);
  int32_t count = -1;
  EXPECT_EQ(take(api()->device_count(&count)).code, TSR_ERROR_CODE_OK);
  return count;
}

TEST(CudaPlugin, ExportsBothSymbols) {
  ASSERT_NE(plugin().handle, nullptr);
  EXPECT_NE(plugin().get_api, nullptr);
  EXPECT_NE(plugin().score, nullptr);
}

TEST(CudaPlugin, RefusesAnotherAbiMajorWithALogLine) {
  ASSERT_NE(plugin().get_api, nullptr);
  tsr::test::TestHost other;
  EXPECT_EQ(plugin().get_api(&other.api, TSR_ABI_VERSION_MAJOR + 1, 0), nullptr);
  const auto lines = other.logs_containing("ABI");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("refusing"), std::string::npos) << lines[0];
}

// The ops' host-side validation runs without a device: params with no tensors, or a
// struct_size too small, are declined (op_supported 0) with no crash and no device access.
TEST(CudaPlugin, OpValidationDeclinesIncompleteParamsWithoutADevice) {
  ASSERT_NE(api(), nullptr);
#define TSR_OP(UPPER, lower, params)                                                      \
  {                                                                                       \
    params p{};                                                                           \
    p.struct_size = sizeof p;                                                             \
    EXPECT_EQ(api()->op_supported(nullptr, TSR_OP_##UPPER, &p), 0) << #lower << " empty"; \
    p.struct_size = 8;                                                                    \
    EXPECT_EQ(api()->op_supported(nullptr, TSR_OP_##UPPER, &p), 0) << #lower << " small"; \
  }
#include "tessera/ops.def"
#undef TSR_OP
}

TEST(CudaPlugin, TableDescribesACudaPlugin) {
  ASSERT_NE(api(), nullptr);
  EXPECT_EQ(api()->struct_size, sizeof(tsr_plugin_api));
  EXPECT_EQ(api()->abi_major, static_cast<uint32_t>(TSR_ABI_VERSION_MAJOR));
  EXPECT_STREQ(api()->name, "cuda");
  EXPECT_EQ(api()->device_type, TSR_DEVICE_TYPE_CUDA);
  ASSERT_NE(api()->ops, nullptr);
  EXPECT_GE(api()->ops->struct_size, sizeof(tsr_ops_api));
  // Every op of ops.def is implemented, and answers op_supported in general.
#define TSR_OP(UPPER, lower, params)               \
  EXPECT_NE(api()->ops->lower, nullptr) << #lower; \
  EXPECT_EQ(api()->op_supported(nullptr, TSR_OP_##UPPER, nullptr), 1) << #lower;
#include "tessera/ops.def"
#undef TSR_OP
  EXPECT_NE(api()->graph_begin_capture, nullptr);
  EXPECT_NE(api()->diagnose, nullptr);
}

TEST(CudaPlugin, ScoreFollowsTheDriverLibrary) {
  ASSERT_NE(plugin().score, nullptr);
  EXPECT_EQ(plugin().score(), driver_present() ? 100 : 0);
}

TEST(CudaPlugin, InitializeWithoutDeviceSucceedsWithOneLogLine) {
  ASSERT_NE(api(), nullptr);
  if (driver_present()) GTEST_SKIP() << "a CUDA driver is present";
  EXPECT_EQ(initialized_device_count(), 0);
  EXPECT_EQ(take(api()->initialize()).code, TSR_ERROR_CODE_OK);  // idempotent, no second line
  const auto lines = host().logs_containing("no CUDA device: ");
  EXPECT_EQ(lines.size(), 1u);
}

TEST(CudaPlugin, OpeningAMissingDeviceIsNotFoundWithAMessage) {
  ASSERT_NE(api(), nullptr);
  const int32_t count = initialized_device_count();
  tsr_device_t device = nullptr;
  const auto error = take(api()->device_open(count, &device));
  EXPECT_EQ(error.code, TSR_ERROR_CODE_NOT_FOUND);
  EXPECT_NE(error.message.find("not found"), std::string::npos) << error.message;
  EXPECT_EQ(device, nullptr);
  tsr_device_properties props{};
  props.struct_size = sizeof props;
  EXPECT_EQ(take(api()->device_get_properties(-1, &props)).code, TSR_ERROR_CODE_NOT_FOUND);
}

TEST(CudaPlugin, NullArgumentsAreInvalid) {
  ASSERT_NE(api(), nullptr);
  EXPECT_EQ(take(api()->device_count(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(take(api()->device_open(0, nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(take(api()->buffer_free(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(take(api()->stream_synchronize(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(take(api()->ops->copy_blocks(nullptr, nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(take(api()->diagnose(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  uint64_t bytes = 0;
  EXPECT_EQ(take(api()->kv_block_bytes(nullptr, nullptr, &bytes)).code,
            TSR_ERROR_CODE_INVALID_ARGUMENT);
}

TEST(CudaPlugin, DiagnoseWithoutDriverIsOneUnknownItem) {
  ASSERT_NE(api(), nullptr);
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (nvml != nullptr) {
    dlclose(nvml);
    GTEST_SKIP() << "an NVIDIA driver is present";
  }
  tsr::test::DiagCollector collector;
  EXPECT_EQ(take(api()->diagnose(&collector.sink)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(collector.copies.size(), 1u);
  EXPECT_EQ(collector.copies[0].status, TSR_DIAG_STATUS_UNKNOWN);
  EXPECT_EQ(collector.copies[0].key, "driver.version");
  EXPECT_EQ(collector.copies[0].value, "NVIDIA driver not found (libnvidia-ml.so.1)");
}

// ---- Tests that need a GPU; they skip without one. ----

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(api(), nullptr);
    if (initialized_device_count() == 0) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(take(api()->device_open(0, &device_)).code, TSR_ERROR_CODE_OK);
    ASSERT_EQ(take(api()->stream_create(device_, &stream_)).code, TSR_ERROR_CODE_OK);
  }
  void TearDown() override {
    for (tsr_buffer_t b : buffers_) EXPECT_EQ(take(api()->buffer_free(b)).code, TSR_ERROR_CODE_OK);
    if (stream_ != nullptr) {
      EXPECT_EQ(take(api()->stream_destroy(stream_)).code, TSR_ERROR_CODE_OK);
    }
    if (device_ != nullptr) {
      EXPECT_EQ(take(api()->device_close(device_)).code, TSR_ERROR_CODE_OK);
    }
  }
  tsr_buffer_t alloc(size_t bytes, tsr_buffer_kind kind) {
    tsr_buffer_t b = nullptr;
    EXPECT_EQ(take(api()->buffer_alloc(device_, bytes, kind, &b)).code, TSR_ERROR_CODE_OK);
    buffers_.push_back(b);
    return b;
  }
  std::vector<uint8_t> download(tsr_buffer_t b, size_t bytes) {
    std::vector<uint8_t> out(bytes);
    EXPECT_EQ(take(api()->memcpy_d2h(stream_, out.data(), b, 0, bytes)).code, TSR_ERROR_CODE_OK);
    EXPECT_EQ(take(api()->stream_synchronize(stream_)).code, TSR_ERROR_CODE_OK);
    return out;
  }
  tsr_device_t device_ = nullptr;
  tsr_stream_t stream_ = nullptr;
  std::vector<tsr_buffer_t> buffers_;
};

TEST_F(CudaDevice, PropertiesAndMemoryInfo) {
  tsr_device_properties props{};
  props.struct_size = sizeof props;
  ASSERT_EQ(take(api()->device_get_properties(0, &props)).code, TSR_ERROR_CODE_OK);
  EXPECT_GT(std::strlen(props.name), 0u);
  EXPECT_GT(props.total_memory, 0u);
  EXPECT_GT(props.compute_units, 0u);
  EXPECT_NE(props.caps & TSR_DEVICE_CAP_GRAPHS, 0u);
  uint64_t free_bytes = 0;
  uint64_t total = 0;
  ASSERT_EQ(take(api()->device_memory_info(device_, &free_bytes, &total)).code, TSR_ERROR_CODE_OK);
  EXPECT_LE(free_bytes, total);
}

TEST_F(CudaDevice, RoundTripMemsetAndRangeChecks) {
  std::vector<uint8_t> data(4096);
  std::iota(data.begin(), data.end(), 0);
  tsr_buffer_t a = alloc(data.size(), TSR_BUFFER_KIND_DEVICE);
  tsr_buffer_t b = alloc(data.size(), TSR_BUFFER_KIND_DEVICE);
  ASSERT_EQ(take(api()->memcpy_h2d(stream_, a, 0, data.data(), data.size())).code,
            TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->memcpy_d2d(stream_, b, 0, a, 0, data.size())).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->memset_d(stream_, b, 16, 0xab, 16)).code, TSR_ERROR_CODE_OK);
  auto expected = data;
  std::fill(expected.begin() + 16, expected.begin() + 32, 0xab);
  EXPECT_EQ(download(b, data.size()), expected);
  EXPECT_EQ(take(api()->memcpy_h2d(stream_, a, 1, data.data(), data.size())).code,
            TSR_ERROR_CODE_INVALID_ARGUMENT);
  tsr_buffer_t empty = alloc(0, TSR_BUFFER_KIND_DEVICE);
  EXPECT_NE(empty, nullptr);
}

TEST_F(CudaDevice, CopyBlocksThroughMemcpyAndKernelPaths) {
  constexpr size_t kBlock = 4096 + 16;  // keeps the 16-byte vector path
  constexpr int64_t kBlocks = 64;
  std::vector<uint8_t> data(kBlock * kBlocks);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + i / kBlock);
  for (int64_t pairs : {int64_t{3}, int64_t{30}}) {  // few runs: memcpy; many scattered: kernel
    tsr_buffer_t kv = alloc(data.size(), TSR_BUFFER_KIND_DEVICE);
    ASSERT_EQ(take(api()->memcpy_h2d(stream_, kv, 0, data.data(), data.size())).code,
              TSR_ERROR_CODE_OK);
    std::vector<int64_t> src, dst;
    for (int64_t i = 0; i < pairs; ++i) {
      src.push_back(2 * i);
      dst.push_back(kBlocks - 1 - 2 * i);
    }
    tsr_copy_blocks_params p{sizeof p, kv, kv, kBlock, src.data(), dst.data(), pairs};
    ASSERT_EQ(take(api()->ops->copy_blocks(stream_, &p)).code, TSR_ERROR_CODE_OK);
    auto expected = data;
    for (int64_t i = 0; i < pairs; ++i) {
      std::memcpy(&expected[dst[i] * kBlock], &data[src[i] * kBlock], kBlock);
    }
    EXPECT_EQ(download(kv, data.size()), expected) << pairs << " pairs";
  }
}

TEST_F(CudaDevice, SwapOutAndBackIn) {
  constexpr size_t kBlock = 1024;
  std::vector<uint8_t> data(kBlock * 8);
  std::iota(data.begin(), data.end(), 7);
  tsr_buffer_t kv = alloc(data.size(), TSR_BUFFER_KIND_DEVICE);
  tsr_buffer_t swap = alloc(data.size(), TSR_BUFFER_KIND_HOST_PINNED);
  ASSERT_EQ(take(api()->memcpy_h2d(stream_, kv, 0, data.data(), data.size())).code,
            TSR_ERROR_CODE_OK);
  const int64_t dev_ids[] = {1, 2, 5};
  const int64_t host_ids[] = {0, 1, 7};
  tsr_swap_blocks_params out{sizeof out, kv,      swap,     TSR_SWAP_DIRECTION_OUT,
                             kBlock,     dev_ids, host_ids, 3};
  ASSERT_EQ(take(api()->ops->swap_blocks(stream_, &out)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->stream_synchronize(stream_)).code, TSR_ERROR_CODE_OK);
  void* host_ptr = nullptr;
  ASSERT_EQ(take(api()->buffer_host_ptr(swap, &host_ptr)).code, TSR_ERROR_CODE_OK);
  const auto* h = static_cast<const uint8_t*>(host_ptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(std::memcmp(h + host_ids[i] * kBlock, &data[dev_ids[i] * kBlock], kBlock), 0) << i;
  }
  ASSERT_EQ(take(api()->memset_d(stream_, kv, 0, 0, data.size())).code, TSR_ERROR_CODE_OK);
  tsr_swap_blocks_params in{sizeof in, kv,       swap,    TSR_SWAP_DIRECTION_IN,
                            kBlock,    host_ids, dev_ids, 3};
  ASSERT_EQ(take(api()->ops->swap_blocks(stream_, &in)).code, TSR_ERROR_CODE_OK);
  const auto back = download(kv, data.size());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(std::memcmp(&back[dev_ids[i] * kBlock], &data[dev_ids[i] * kBlock], kBlock), 0) << i;
  }
}

TEST_F(CudaDevice, GraphCaptureReplaysCopies) {
  tsr_buffer_t a = alloc(256, TSR_BUFFER_KIND_DEVICE);
  tsr_buffer_t b = alloc(256, TSR_BUFFER_KIND_DEVICE);
  ASSERT_EQ(take(api()->memset_d(stream_, a, 0, 5, 256)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->stream_synchronize(stream_)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->graph_begin_capture(stream_)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->memcpy_d2d(stream_, b, 0, a, 0, 256)).code, TSR_ERROR_CODE_OK);
  tsr_graph_t graph = nullptr;
  ASSERT_EQ(take(api()->graph_end_capture(stream_, &graph)).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(download(b, 256), std::vector<uint8_t>(256, 0));  // capture does not execute
  ASSERT_EQ(take(api()->graph_launch(graph, stream_)).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(download(b, 256), std::vector<uint8_t>(256, 5));
  EXPECT_EQ(take(api()->graph_destroy(graph)).code, TSR_ERROR_CODE_OK);
}

TEST_F(CudaDevice, EventsMeasureElapsedTime) {
  tsr_event_t start = nullptr;
  tsr_event_t end = nullptr;
  ASSERT_EQ(take(api()->event_create(device_, &start)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->event_create(device_, &end)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->event_record(start, stream_)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->event_record(end, stream_)).code, TSR_ERROR_CODE_OK);
  ASSERT_EQ(take(api()->event_synchronize(end)).code, TSR_ERROR_CODE_OK);
  float ms = -1;
  EXPECT_EQ(take(api()->event_elapsed_ms(start, end, &ms)).code, TSR_ERROR_CODE_OK);
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(take(api()->event_destroy(start)).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(take(api()->event_destroy(end)).code, TSR_ERROR_CODE_OK);
}

// Last: it loads the toolkit's stub libcuda.so (soname libcuda.so.1) into the process,
// which a naive dlopen("libcuda.so.1") would take for the driver.
TEST(CudaPluginStub, ScoreIsNotFooledByTheToolkitStub) {
  if (driver_present()) GTEST_SKIP() << "a real CUDA driver is present";
  if (std::strlen(TESSERA_CUDA_STUB_LIBCUDA) == 0)
    GTEST_SKIP() << "no stub libcuda.so in the toolkit";
  void* stub = dlopen(TESSERA_CUDA_STUB_LIBCUDA, RTLD_NOW | RTLD_GLOBAL);
  if (stub == nullptr) GTEST_SKIP() << "no stub libcuda.so in the toolkit";
  ASSERT_NE(plugin().score, nullptr);
  EXPECT_EQ(plugin().score(), 0);
}

}  // namespace
