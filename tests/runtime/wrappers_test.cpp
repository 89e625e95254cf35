// Device/Buffer/Stream/Event/Weight over the fake "good" plugin: real copies through the
// ABI, errors turned into tessera::Error with plugin and call, every error destroyed, and
// the device closed only after everything made on it (the fake counts violations).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "common/check.h"
#include "runtime/buffer.h"
#include "runtime/device.h"
#include "runtime/host_services.h"
#include "runtime/stream.h"
#include "runtime/weight.h"
#include "test_util.h"

namespace tessera::runtime {
namespace {

using testing::FakeHooks;
using testing::kBrokenDir;
using testing::only_dirs;

class WrappersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HostServices::instance().clear_options();
    registry_ = PluginRegistry::discover(only_dirs({kBrokenDir}));
    good_ = registry_->find("good");
    ASSERT_NE(good_, nullptr);
    hooks_ = std::make_unique<FakeHooks>(good_->file());
    ASSERT_TRUE(hooks_->loaded());
    objects_before_ = hooks_->live_objects();
  }
  void TearDown() override {
    EXPECT_EQ(hooks_->live_objects(), objects_before_);
    EXPECT_EQ(hooks_->live_errors(), 0);
    EXPECT_EQ(hooks_->violations(), 0);
    hooks_.reset();
  }

  std::unique_ptr<PluginRegistry> registry_;
  const LoadedPlugin* good_ = nullptr;
  std::unique_ptr<FakeHooks> hooks_;
  int objects_before_ = 0;
};

TEST_F(WrappersTest, CopiesRoundTripThroughTheAbi) {
  auto device = Device::open(*good_, 1);
  EXPECT_EQ(device->label(), "good:1");
  EXPECT_STREQ(device->info().properties.name, "Fake good device 1");
  Stream stream = Stream::create(device);
  Buffer a = Buffer::allocate(device, 64);
  Buffer b = Buffer::allocate(device, 64);
  EXPECT_EQ(device->memory_info().total_bytes, 8ull << 30);
  EXPECT_EQ(device->memory_info().free_bytes, (8ull << 30) - 128);

  std::vector<unsigned char> input(64);
  std::iota(input.begin(), input.end(), 0);
  stream.copy_to_device(a, 0, input.data(), input.size());
  stream.fill(b, 0, 0xab, 64);
  stream.copy(b, 8, a, 0, 16);
  std::vector<unsigned char> output(64);
  stream.copy_to_host(output.data(), b, 0, output.size());
  stream.synchronize();
  for (size_t i = 0; i < 64; ++i) {
    const unsigned char expected = (i >= 8 && i < 24) ? static_cast<unsigned char>(i - 8) : 0xab;
    ASSERT_EQ(output[i], expected) << "byte " << i;
  }
  EXPECT_EQ(static_cast<unsigned char*>(a.host_ptr())[5], 5);
}

TEST_F(WrappersTest, PluginErrorsBecomeTesseraErrorsNamingPluginAndCall) {
  auto device = Device::open(*good_, 0);
  try {
    Buffer::allocate(device, 1ull << 40);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted);
    EXPECT_EQ(std::string(e.what()),
              "good: buffer_alloc(1099511627776 bytes): resource exhausted: cannot allocate "
              "1099511627776 bytes");
  }
  EXPECT_EQ(hooks_->live_errors(), 0);  // destroyed after reading

  tsr_weight_desc desc{};
  desc.struct_size = sizeof desc;
  desc.format = TSR_WEIGHT_FORMAT_INT8_GROUP;
  desc.rows = 1;
  desc.cols = 1;
  EXPECT_THROW(Weight::prepack(device, desc), Error);
  EXPECT_EQ(hooks_->live_errors(), 0);
}

TEST_F(WrappersTest, RangesAreCheckedBeforeThePluginSeesThem) {
  auto device = Device::open(*good_, 0);
  Stream stream = Stream::create(device);
  Buffer buffer = Buffer::allocate(device, 16);
  std::vector<unsigned char> host(32);
  EXPECT_THROW(stream.copy_to_device(buffer, 8, host.data(), 16), Error);
  EXPECT_THROW(stream.copy_to_host(host.data(), buffer, 17, 0), Error);
  EXPECT_THROW(stream.fill(buffer, SIZE_MAX, 0, 2), Error);
  Buffer empty;
  EXPECT_THROW(stream.fill(empty, 0, 0, 0), Error);
}

TEST_F(WrappersTest, ObjectsOfAnotherDeviceAreRejected) {
  auto first = Device::open(*good_, 0);
  auto second = Device::open(*good_, 1);
  Stream stream = Stream::create(first);
  Buffer other = Buffer::allocate(second, 8);
  std::vector<unsigned char> host(8);
  EXPECT_THROW(stream.copy_to_device(other, 0, host.data(), 8), Error);
}

TEST_F(WrappersTest, TheDeviceOutlivesWhatItMade) {
  auto device = Device::open(*good_, 0);
  Buffer buffer = Buffer::allocate(device, 32);
  Event event = Event::create(device);
  Weight weight;
  {
    std::vector<float> w(6, 1.0f);
    tsr_weight_desc desc{};
    desc.struct_size = sizeof desc;
    desc.format = TSR_WEIGHT_FORMAT_F32;
    desc.rows = 2;
    desc.cols = 3;
    desc.data = w.data();
    weight = Weight::prepack(device, desc);
  }
  EXPECT_EQ(weight.bytes(), 24u);
  device.reset();  // the buffer, event and weight keep it open
  EXPECT_TRUE(buffer.valid());
  EXPECT_EQ(buffer.device().label(), "good:0");
  Buffer moved = std::move(buffer);
  EXPECT_FALSE(buffer.valid());
  moved.reset();
  event.reset();
  weight.reset();  // the last owner: the device closes now, after its objects
  EXPECT_EQ(hooks_->violations(), 0);
}

TEST_F(WrappersTest, EventsMeasureElapsedTime) {
  auto device = Device::open(*good_, 0);
  Stream stream = Stream::create(device);
  Event start = Event::create(device);
  Event end = Event::create(device);
  EXPECT_THROW(Event::elapsed_ms(start, end), Error);  // not recorded yet
  start.record(stream);
  end.record(stream);
  stream.wait(end);
  end.synchronize();
  EXPECT_GE(Event::elapsed_ms(start, end), 0.0f);
}

TEST_F(WrappersTest, DeviceQueries) {
  auto device = Device::open(*good_, 0);
  tsr_kv_layout layout{sizeof(tsr_kv_layout), 2, 8, 16, TSR_DTYPE_F32};
  EXPECT_EQ(device->kv_block_bytes(layout), 2u * 2 * 8 * 16 * 4);
  layout.dtype = TSR_DTYPE_BF16;
  EXPECT_THROW(device->kv_block_bytes(layout), Error);
  EXPECT_FALSE(device->op_supported(static_cast<tsr_op_id>(0)));  // the fake has no ops
  EXPECT_THROW(Device::open(*good_, 2), Error);
  EXPECT_THROW(Device::open(*good_, -1), Error);
}

}  // namespace
}  // namespace tessera::runtime
