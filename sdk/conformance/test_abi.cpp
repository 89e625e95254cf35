// The non-op ABI: device properties (struct_size honoured), buffers, copies with offsets,
// streams, events, weight prepacking for every declared format, KV block sizes, error
// objects, diagnostics.
#include <cmath>
#include <cstring>
#include <numeric>

#include "harness.h"

namespace tsr::conformance {
namespace {

class Abi : public ConformanceTest {};

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(random_int(0, 255));
  return out;
}

TEST_F(Abi, DevicePropertiesAreFilled) {
  const tsr_device_properties& props = plugin().props;
  EXPECT_EQ(props.struct_size, sizeof(tsr_device_properties))
      << "struct_size must be left unchanged";
  EXPECT_GT(std::strlen(props.name), 0u) << "device name is empty";
  EXPECT_LT(strnlen(props.name, sizeof props.name), sizeof props.name) << "name not NUL-terminated";
  EXPECT_LT(strnlen(props.vendor, sizeof props.vendor), sizeof props.vendor);
  EXPECT_LT(strnlen(props.pci_bus_id, sizeof props.pci_bus_id), sizeof props.pci_bus_id);
  EXPECT_EQ(props.type, api().device_type) << "device type differs from the plugin's";
  EXPECT_GT(props.total_memory, 0u);
  EXPECT_FALSE(activation_dtypes().empty()) << "activation_dtypes has none of f32, bf16, f16";
  EXPECT_NE(props.kv_cache_dtypes, 0u) << "kv_cache_dtypes is empty";
}

TEST_F(Abi, DevicePropertiesHonourSmallerStructSize) {
  // A host built against an older header knows only the first fields: the plugin must not
  // write past the struct_size it is given.
  for (size_t known : {offsetof(tsr_device_properties, type), offsetof(tsr_device_properties, caps),
                       offsetof(tsr_device_properties, weight_formats)}) {
    SCOPED_TRACE("struct_size " + std::to_string(known));
    std::vector<uint8_t> raw(sizeof(tsr_device_properties) + 64, 0xCD);
    auto* props = reinterpret_cast<tsr_device_properties*>(raw.data());
    props->struct_size = known;
    TSR_ASSERT_OK(api().device_get_properties(options().device_index, props));
    EXPECT_EQ(props->struct_size, known) << "struct_size must be left unchanged";
    size_t written = 0;
    for (size_t i = known; i < raw.size(); ++i) written += raw[i] != 0xCD;
    EXPECT_EQ(written, 0u) << "the plugin wrote " << written << " byte(s) beyond struct_size";
    EXPECT_EQ(std::strncmp(props->name, plugin().props.name, sizeof props->name), 0);
  }
}

TEST_F(Abi, BadDeviceIndexIsAnError) {
  int32_t count = 0;
  TSR_ASSERT_OK(api().device_count(&count));
  tsr_device_properties props{};
  props.struct_size = sizeof props;
  EXPECT_TRUE(failed_with(take(api().device_get_properties(count, &props)),
                          {TSR_ERROR_CODE_NOT_FOUND, TSR_ERROR_CODE_INVALID_ARGUMENT}));
  tsr_device_t dev = nullptr;
  EXPECT_TRUE(failed_with(take(api().device_open(count + 3, &dev)),
                          {TSR_ERROR_CODE_NOT_FOUND, TSR_ERROR_CODE_INVALID_ARGUMENT}));
  EXPECT_TRUE(failed_with(take(api().device_open(-1, &dev)),
                          {TSR_ERROR_CODE_NOT_FOUND, TSR_ERROR_CODE_INVALID_ARGUMENT}));
}

TEST_F(Abi, MemoryInfo) {
  if (api().device_memory_info == nullptr) GTEST_SKIP() << "device_memory_info is NULL";
  uint64_t free_bytes = 0, total_bytes = 0;
  TSR_ASSERT_OK(api().device_memory_info(device(), &free_bytes, &total_bytes));
  EXPECT_GT(total_bytes, 0u);
  EXPECT_LE(free_bytes, total_bytes);
}

TEST_F(Abi, ZeroByteBuffers) {
  for (tsr_buffer_kind kind : {TSR_BUFFER_KIND_DEVICE, TSR_BUFFER_KIND_HOST_PINNED}) {
    tsr_buffer_t buffer = nullptr;
    TSR_ASSERT_OK(api().buffer_alloc(device(), 0, kind, &buffer));
    EXPECT_NE(buffer, nullptr) << "a zero-byte allocation must give a valid handle";
    TSR_EXPECT_OK(api().buffer_free(buffer));
  }
}

TEST_F(Abi, HostPointers) {
  Stream s;
  Buffer pinned(4096, TSR_BUFFER_KIND_HOST_PINNED);
  ASSERT_TRUE(pinned.ok());
  void* host = nullptr;
  TSR_ASSERT_OK(api().buffer_host_ptr(pinned.get(), &host));
  ASSERT_NE(host, nullptr);
  const std::vector<uint8_t> data = random_bytes(4096);
  pinned.write(s, 0, data);
  EXPECT_EQ(std::memcmp(host, data.data(), data.size()), 0) << "pinned host view differs from h2d";
  std::memset(host, 0x3c, 100);
  EXPECT_EQ(pinned.read(s, 0, 100), std::vector<uint8_t>(100, 0x3c)) << "d2h misses host writes";

  Buffer dev(256);
  void* dev_host = nullptr;
  const Status st = take(api().buffer_host_ptr(dev.get(), &dev_host));
  if (plugin().props.caps & TSR_DEVICE_CAP_UNIFIED_HOST) {
    EXPECT_TRUE(st.ok) << "UNIFIED_HOST is claimed but buffer_host_ptr failed: " << st.message;
    EXPECT_NE(dev_host, nullptr);
  } else {
    EXPECT_TRUE(failed_with(st, {TSR_ERROR_CODE_UNIMPLEMENTED}));
  }
}

TEST_F(Abi, CopyRoundTripsWithOffsets) {
  Stream s;
  const size_t n = 4099;
  Buffer a(n), b(n + 64);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<uint8_t> expect_a = random_bytes(n);
  a.write(s, 0, expect_a);
  EXPECT_EQ(a.read(s, 0, n), expect_a) << "h2d/d2h round trip";

  const std::vector<uint8_t> patch = random_bytes(37);
  a.write(s, 123, patch);
  std::copy(patch.begin(), patch.end(), expect_a.begin() + 123);
  EXPECT_EQ(a.read(s, 0, n), expect_a) << "h2d at offset 123 changed other bytes";
  EXPECT_EQ(a.read(s, 123, 37), patch) << "d2h at offset 123";

  std::vector<uint8_t> expect_b = random_bytes(n + 64);
  b.write(s, 0, expect_b);
  TSR_ASSERT_OK(api().memcpy_d2d(s.get(), b.get(), 501, a.get(), 77, 1000));
  std::copy_n(expect_a.begin() + 77, 1000, expect_b.begin() + 501);
  EXPECT_EQ(b.read(s, 0, n + 64), expect_b) << "d2d from offset 77 to offset 501";

  if (api().memset_d != nullptr) {
    TSR_ASSERT_OK(api().memset_d(s.get(), a.get(), 7, 0x5c, 50));
    std::fill_n(expect_a.begin() + 7, 50, 0x5c);
    EXPECT_EQ(a.read(s, 0, n), expect_a) << "memset at offset 7";
  }
}

TEST_F(Abi, OutOfRangeCopiesAreRejected) {
  Stream s;
  Buffer a(128);
  ASSERT_TRUE(a.ok());
  std::vector<uint8_t> host(256);
  const auto bad = {TSR_ERROR_CODE_INVALID_ARGUMENT};
  EXPECT_TRUE(failed_with(take(api().memcpy_h2d(s.get(), a.get(), 100, host.data(), 29)), bad))
      << "h2d past the end";
  EXPECT_TRUE(failed_with(take(api().memcpy_d2h(s.get(), host.data(), a.get(), 0, 129)), bad))
      << "d2h past the end";
  EXPECT_TRUE(failed_with(take(api().memcpy_d2d(s.get(), a.get(), 64, a.get(), 0, 65)), bad))
      << "d2d past the end";
  EXPECT_TRUE(
      failed_with(take(api().memcpy_h2d(s.get(), a.get(), SIZE_MAX - 4, host.data(), 8)), bad))
      << "offset + bytes overflowing size_t";
  s.sync();
}

TEST_F(Abi, StreamsAndEvents) {
  Stream s1, s2;
  if (api().event_create == nullptr) GTEST_SKIP() << "events not offered";
  tsr_event_t start = nullptr, end = nullptr;
  TSR_ASSERT_OK(api().event_create(device(), &start));
  TSR_ASSERT_OK(api().event_create(device(), &end));
  const size_t n = 1 << 20;
  Buffer a(n), b(n);
  const std::vector<uint8_t> data = random_bytes(n);
  TSR_EXPECT_OK(api().event_record(start, s1.get()));
  TSR_EXPECT_OK(api().memcpy_h2d(s1.get(), a.get(), 0, data.data(), n));
  TSR_EXPECT_OK(api().event_record(end, s1.get()));
  // s2 waits for s1's copy before reading a.
  TSR_EXPECT_OK(api().stream_wait_event(s2.get(), end));
  TSR_EXPECT_OK(api().memcpy_d2d(s2.get(), b.get(), 0, a.get(), 0, n));
  TSR_EXPECT_OK(api().event_synchronize(end));
  float ms = -1;
  TSR_EXPECT_OK(api().event_elapsed_ms(start, end, &ms));
  EXPECT_GE(ms, 0.0f);
  EXPECT_TRUE(std::isfinite(ms));
  s2.sync();
  EXPECT_EQ(b.read(s2, 0, n), data) << "stream_wait_event did not order s2 after s1";
  TSR_EXPECT_OK(api().event_destroy(start));
  TSR_EXPECT_OK(api().event_destroy(end));
}

std::vector<uint8_t> weight_data(tsr_weight_format f, int64_t n, int64_t k) {
  switch (f) {
    case TSR_WEIGHT_FORMAT_F32:
      return encode(TSR_DTYPE_F32, random_normal(n * k));
    case TSR_WEIGHT_FORMAT_F16:
      return encode(TSR_DTYPE_F16, random_normal(n * k));
    case TSR_WEIGHT_FORMAT_BF16:
      return encode(TSR_DTYPE_BF16, random_normal(n * k));
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return random_bytes(n * k / 2);
    default:
      return random_bytes(n * k);
  }
}

bool quantized(tsr_weight_format f) {
  return f != TSR_WEIGHT_FORMAT_F32 && f != TSR_WEIGHT_FORMAT_F16 && f != TSR_WEIGHT_FORMAT_BF16;
}

TEST_F(Abi, WeightPrepackEveryDeclaredFormat) {
  const uint32_t formats = plugin().props.weight_formats;
  if (formats == 0) GTEST_SKIP() << "the device declares no weight format";
  ASSERT_NE(api().weight_prepack, nullptr)
      << "weight_formats is non-empty but weight_prepack is NULL";
  const int64_t n = 48, k = 128, group = 32;
  for (int fi = 0; fi <= TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM; ++fi) {
    const auto f = static_cast<tsr_weight_format>(fi);
    if (!(formats & TSR_WEIGHT_FORMAT_BIT(f))) continue;
    for (tsr_dtype compute : activation_dtypes()) {
      SCOPED_TRACE("format " + std::to_string(fi) + ", compute " + dtype_label(compute));
      const std::vector<uint8_t> data = weight_data(f, n, k);
      const bool asym =
          f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM || f == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
      const bool grouped =
          f == TSR_WEIGHT_FORMAT_INT8_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP || asym;
      std::vector<float> scales(grouped ? n * k / group : n, 0.01f);
      tsr_weight_desc desc{};
      desc.struct_size = sizeof desc;
      desc.format = f;
      desc.rows = n;
      desc.cols = k;
      desc.group_size = grouped ? group : 0;
      desc.data = data.data();
      desc.scales = quantized(f) ? scales.data() : nullptr;
      desc.compute_dtype = compute;
      desc.mins = asym ? scales.data() : nullptr;
      tsr_weight_t w = nullptr;
      const Status st = take(api().weight_prepack(device(), &desc, &w));
      if (!st.ok && st.code == TSR_ERROR_CODE_UNIMPLEMENTED) {
        std::printf("note: format %d declared but prepack with compute %s is UNIMPLEMENTED\n", fi,
                    dtype_label(compute));
        continue;
      }
      ASSERT_TRUE(st.ok) << "weight_prepack failed: " << code_name(st.code) << ": " << st.message;
      ASSERT_NE(w, nullptr);
      if (api().weight_bytes != nullptr) {
        uint64_t bytes = 0;
        TSR_EXPECT_OK(api().weight_bytes(w, &bytes));
        EXPECT_GT(bytes, 0u);
      }
      TSR_EXPECT_OK(api().weight_destroy(w));

      // Bad descriptors are rejected with INVALID_ARGUMENT, never a crash.
      const auto expect_rejected = [&](tsr_weight_desc bad, const char* what) {
        tsr_weight_t out = nullptr;
        EXPECT_TRUE(failed_with(take(api().weight_prepack(device(), &bad, &out)),
                                {TSR_ERROR_CODE_INVALID_ARGUMENT}))
            << what;
      };
      tsr_weight_desc bad = desc;
      bad.data = nullptr;
      expect_rejected(bad, "data NULL");
      bad = desc;
      bad.rows = -4;
      expect_rejected(bad, "negative rows");
      bad = desc;
      bad.struct_size = 8;
      expect_rejected(bad, "struct_size too small");
      if (quantized(f)) {
        bad = desc;
        bad.scales = nullptr;
        expect_rejected(bad, "scales NULL for a quantized format");
      }
      if (grouped) {
        bad = desc;
        bad.group_size = 48;  // does not divide 128
        expect_rejected(bad, "group_size not dividing cols");
        bad = desc;
        bad.group_size = 0;
        expect_rejected(bad, "group_size 0");
      }
    }
  }
}

TEST_F(Abi, WeightPrepackUnknownFormatIsRejected) {
  if (api().weight_prepack == nullptr) GTEST_SKIP() << "weight_prepack is NULL";
  std::vector<float> data(64, 1.0f);
  tsr_weight_desc desc{};
  desc.struct_size = sizeof desc;
  desc.format = static_cast<tsr_weight_format>(99);
  desc.rows = 8;
  desc.cols = 8;
  desc.data = data.data();
  desc.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t w = nullptr;
  EXPECT_TRUE(failed_with(take(api().weight_prepack(device(), &desc, &w)),
                          {TSR_ERROR_CODE_INVALID_ARGUMENT, TSR_ERROR_CODE_UNIMPLEMENTED}));
}

TEST_F(Abi, KvBlockBytes) {
  ASSERT_NE(api().kv_block_bytes, nullptr);
  for (int d = TSR_DTYPE_F32; d <= TSR_DTYPE_U64; ++d) {
    const auto dtype = static_cast<tsr_dtype>(d);
    if (!(plugin().props.kv_cache_dtypes & TSR_DTYPE_BIT(dtype))) continue;
    for (auto [heads, dim, block] : {std::tuple{1, 64, 16}, std::tuple{8, 128, 16},
                                     std::tuple{3, 64, 7}, std::tuple{2, 128, 32}}) {
      tsr_kv_layout layout{sizeof(tsr_kv_layout), heads, dim, block, dtype};
      uint64_t bytes = 0;
      const Status st = take(api().kv_block_bytes(device(), &layout, &bytes));
      if (!st.ok && st.code == TSR_ERROR_CODE_UNIMPLEMENTED) continue;  // e.g. odd block size
      ASSERT_TRUE(st.ok) << dtype_label(dtype) << " " << heads << "x" << dim << "x" << block << ": "
                         << st.message;
      EXPECT_GE(bytes, 2ull * heads * dim * block * dtype_bytes(dtype))
          << "a block must at least hold keys and values";
    }
  }
  tsr_kv_layout bad{sizeof(tsr_kv_layout), 4, 0, 16, TSR_DTYPE_F32};
  uint64_t bytes = 0;
  EXPECT_TRUE(failed_with(take(api().kv_block_bytes(device(), &bad, &bytes)),
                          {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "head_dim 0";
}

TEST_F(Abi, Diagnose) {
  if (api().diagnose == nullptr) GTEST_SKIP() << "diagnose is NULL";
  struct Sink {
    int items = 0;
    int bad = 0;
  } collected;
  tsr_diag_sink sink{sizeof(tsr_diag_sink), &collected, [](void* ctx, const tsr_diag_item* item) {
                       auto* c = static_cast<Sink*>(ctx);
                       ++c->items;
                       if (item == nullptr || item->key == nullptr || item->key[0] == '\0' ||
                           item->status > TSR_DIAG_STATUS_NEEDS_ROOT) {
                         ++c->bad;
                       }
                     }};
  TSR_ASSERT_OK(api().diagnose(&sink));
  EXPECT_EQ(collected.bad, 0) << "diagnostic items without key or with an unknown status";
}

}  // namespace
}  // namespace tsr::conformance
