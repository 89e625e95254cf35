// Bad parameters give INVALID_ARGUMENT naming the field (and op_supported answers 0),
// never a crash or an out-of-bounds access; plus the device, buffer, event and ABI
// contracts specific to this plugin.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

void expect_invalid(Plugin& p, tsr_op_id op, const void* params, tsr_error* error,
                    const std::string& field) {
  const Status s = take(error);
  EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT) << s.message;
  EXPECT_NE(s.message.find(field), std::string::npos) << s.message;
  EXPECT_EQ(p.api().op_supported(p.device(), op, params), 0);
}

TEST(Params, EmbeddingIdOutOfRange) {
  Plugin p;
  tsr_embedding_params e{};
  e.struct_size = sizeof e;
  e.ids = p.upload(std::vector<int32_t>{0, 4}, TSR_DTYPE_I32, {2});
  e.table = p.upload(random_floats(4 * 8, 1), TSR_DTYPE_F32, {4, 8});
  e.out = p.empty(TSR_DTYPE_F32, {2, 8});
  expect_invalid(p, TSR_OP_EMBEDDING, &e, p.ops().embedding(p.stream(), &e), "ids[1]");
  const auto untouched = p.download<float>(e.out, 16);
  for (float v : untouched) EXPECT_EQ(v, 0.0f);
  e.ids = p.upload(std::vector<int32_t>{3, 0}, TSR_DTYPE_I32, {2});
  EXPECT_EQ(p.api().op_supported(p.device(), TSR_OP_EMBEDDING, &e), 1);
  EXPECT_TRUE(take(p.ops().embedding(p.stream(), &e)).ok());
}

TEST(Params, StructSizeTooSmall) {
  Plugin p;
  tsr_add_params a{};
  a.struct_size = sizeof a - 8;
  expect_invalid(p, TSR_OP_ADD, &a, p.ops().add(p.stream(), &a), "struct_size");
  EXPECT_EQ(take(p.ops().add(p.stream(), nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
}

TEST(Params, GatherIndexAndShapes) {
  Plugin p;
  tsr_gather_rows_params g{};
  g.struct_size = sizeof g;
  g.x = p.upload(random_floats(3 * 4, 1), TSR_DTYPE_F32, {3, 4});
  g.indices = p.upload(std::vector<int32_t>{2, -1}, TSR_DTYPE_I32, {2});
  g.out = p.empty(TSR_DTYPE_F32, {2, 4});
  expect_invalid(p, TSR_OP_GATHER_ROWS, &g, p.ops().gather_rows(p.stream(), &g), "indices[1]");
  g.indices = p.upload(std::vector<int32_t>{2, 0}, TSR_DTYPE_I32, {2});
  g.out = p.empty(TSR_DTYPE_F32, {2, 5});
  expect_invalid(p, TSR_OP_GATHER_ROWS, &g, p.ops().gather_rows(p.stream(), &g), "out");
}

TEST(Params, TensorBeyondBuffer) {
  Plugin p;
  tsr_add_params a{};
  a.struct_size = sizeof a;
  a.a = p.upload(random_floats(8, 1), TSR_DTYPE_F32, {8});
  a.b = p.upload(random_floats(8, 2), TSR_DTYPE_F32, {8});
  a.out = a.a;
  a.out.offset = 4;  // 8 floats from byte 4 overrun the 32-byte buffer
  expect_invalid(p, TSR_OP_ADD, &a, p.ops().add(p.stream(), &a), "out");
}

TEST(Params, KvSlotsAndBlockIds) {
  Plugin p;
  tsr_kv_layout layout{sizeof(tsr_kv_layout), 1, 8, 4, TSR_DTYPE_F32};
  uint64_t block_bytes = 0;
  ASSERT_TRUE(take(p.api().kv_block_bytes(p.device(), &layout, &block_bytes)).ok());
  tsr_buffer_t cache = p.alloc(static_cast<size_t>(block_bytes * 2));
  tsr_kv_cache_write_params w{};
  w.struct_size = sizeof w;
  w.key = p.upload(random_floats(8, 1), TSR_DTYPE_F32, {1, 1, 8});
  w.value = p.upload(random_floats(8, 2), TSR_DTYPE_F32, {1, 1, 8});
  w.slot_mapping = p.upload(std::vector<int64_t>{8}, TSR_DTYPE_I64, {1});
  w.cache = cache;
  w.layout = layout;
  w.num_blocks = 2;
  expect_invalid(p, TSR_OP_KV_CACHE_WRITE, &w, p.ops().kv_cache_write(p.stream(), &w),
                 "slot_mapping[0]");
  w.num_blocks = 3;  // more blocks than the buffer holds
  expect_invalid(p, TSR_OP_KV_CACHE_WRITE, &w, p.ops().kv_cache_write(p.stream(), &w), "cache");

  tsr_paged_attention_params a{};
  a.struct_size = sizeof a;
  a.query = p.upload(random_floats(8, 3), TSR_DTYPE_F32, {1, 1, 8});
  a.out = p.empty(TSR_DTYPE_F32, {1, 1, 8});
  a.cache = cache;
  a.layout = layout;
  a.num_blocks = 2;
  a.query_start_loc = p.upload(std::vector<int32_t>{0, 1}, TSR_DTYPE_I32, {2});
  a.seq_lens = p.upload(std::vector<int32_t>{6}, TSR_DTYPE_I32, {1});
  a.block_tables = p.upload(std::vector<int32_t>{1, 2}, TSR_DTYPE_I32, {1, 2});
  a.num_query_heads = 1;
  a.scale = 1.0f;
  a.max_seq_len = 0;  // plugin.h: the upper bound of seq_lens, which device kernels tile by
  expect_invalid(p, TSR_OP_PAGED_ATTENTION, &a, p.ops().paged_attention(p.stream(), &a),
                 "max_seq_len 0 must be positive");
  a.max_seq_len = 5;
  expect_invalid(p, TSR_OP_PAGED_ATTENTION, &a, p.ops().paged_attention(p.stream(), &a),
                 "seq_lens[0] = 6 exceeds max_seq_len 5");
  a.max_seq_len = 16;
  expect_invalid(p, TSR_OP_PAGED_ATTENTION, &a, p.ops().paged_attention(p.stream(), &a),
                 "block_tables[0, 1]");
  a.seq_lens = p.upload(std::vector<int32_t>{9}, TSR_DTYPE_I32, {1});
  expect_invalid(p, TSR_OP_PAGED_ATTENTION, &a, p.ops().paged_attention(p.stream(), &a),
                 "seq_lens[0]");
  a.seq_lens = p.upload(std::vector<int32_t>{6}, TSR_DTYPE_I32, {1});
  a.block_tables = p.upload(std::vector<int32_t>{1, 0}, TSR_DTYPE_I32, {1, 2});
  a.num_query_heads = 2;
  expect_invalid(p, TSR_OP_PAGED_ATTENTION, &a, p.ops().paged_attention(p.stream(), &a),
                 "num_query_heads");

  std::vector<int64_t> src = {0, 1};
  std::vector<int64_t> dst = {1, 2};
  tsr_copy_blocks_params c{};
  c.struct_size = sizeof c;
  c.src = cache;
  c.dst = cache;
  c.block_bytes = block_bytes;
  c.src_ids = src.data();
  c.dst_ids = dst.data();
  c.num_pairs = 2;
  expect_invalid(p, TSR_OP_COPY_BLOCKS, &c, p.ops().copy_blocks(p.stream(), &c), "dst_ids[1]");
  dst = {1, 1};
  expect_invalid(p, TSR_OP_COPY_BLOCKS, &c, p.ops().copy_blocks(p.stream(), &c), "twice");

  tsr_swap_blocks_params s{};
  s.struct_size = sizeof s;
  s.device_buffer = cache;
  s.host_buffer = p.alloc(static_cast<size_t>(block_bytes));  // DEVICE, not HOST_PINNED
  s.block_bytes = block_bytes;
  s.src_ids = src.data();
  s.dst_ids = dst.data();
  s.num_pairs = 1;
  expect_invalid(p, TSR_OP_SWAP_BLOCKS, &s, p.ops().swap_blocks(p.stream(), &s), "host_buffer");
}

TEST(Params, LinearRopeSampleAndWeights) {
  Plugin p;
  std::vector<float> wdata = random_floats(4 * 6, 1);
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = TSR_WEIGHT_FORMAT_INT4_GROUP;
  d.rows = 4;
  d.cols = 6;
  d.group_size = 4;  // does not divide 6
  d.data = wdata.data();
  d.scales = wdata.data();
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t w = nullptr;
  Status st = take(p.api().weight_prepack(p.device(), &d, &w));
  EXPECT_EQ(st.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(st.message.find("group_size"), std::string::npos) << st.message;
  d.format = TSR_WEIGHT_FORMAT_F32;
  ASSERT_TRUE(take(p.api().weight_prepack(p.device(), &d, &w)).ok());

  tsr_linear_params l{};
  l.struct_size = sizeof l;
  l.x = p.upload(random_floats(2 * 5, 2), TSR_DTYPE_F32, {2, 5});
  l.weight = w;
  l.out = p.empty(TSR_DTYPE_F32, {2, 4});
  expect_invalid(p, TSR_OP_LINEAR, &l, p.ops().linear(p.stream(), &l), "x");
  l.x = p.upload(random_floats(2 * 6, 2), TSR_DTYPE_F32, {2, 6});
  l.out = p.empty(TSR_DTYPE_BF16, {2, 4});
  expect_invalid(p, TSR_OP_LINEAR, &l, p.ops().linear(p.stream(), &l), "out");
  l.out = p.empty(TSR_DTYPE_F32, {2, 4});
  EXPECT_EQ(p.api().op_supported(p.device(), TSR_OP_LINEAR, &l), 1);
  EXPECT_TRUE(take(p.api().weight_destroy(w)).ok());

  tsr_rope_params r{};
  r.struct_size = sizeof r;
  r.query = p.upload(random_floats(2 * 2 * 8, 3), TSR_DTYPE_F32, {2, 2, 8});
  r.positions = p.upload(std::vector<int32_t>{0, 1}, TSR_DTYPE_I32, {2});
  r.rotary_dim = 7;
  r.theta = 10000.0f;
  expect_invalid(p, TSR_OP_ROPE, &r, p.ops().rope(p.stream(), &r), "rotary_dim");

  tsr_sample_params s{};
  s.struct_size = sizeof s;
  s.logits = p.upload(random_floats(2 * 5, 4), TSR_DTYPE_F32, {2, 5});
  s.top_p = p.upload(std::vector<float>{1.0f, 0.0f}, TSR_DTYPE_F32, {2});
  s.out_tokens = p.empty(TSR_DTYPE_I32, {2});
  expect_invalid(p, TSR_OP_SAMPLE, &s, p.ops().sample(p.stream(), &s), "top_p[1]");
  s.top_p = {};
  s.num_top_logprobs = 6;
  expect_invalid(p, TSR_OP_SAMPLE, &s, p.ops().sample(p.stream(), &s), "num_top_logprobs");
}

TEST(Device, PropertiesBuffersEventsAndLifetime) {
  Plugin p;
  int32_t count = 0;
  ASSERT_TRUE(take(p.api().device_count(&count)).ok());
  EXPECT_EQ(count, 1);
  tsr_device_properties props{};
  props.struct_size = sizeof props;
  ASSERT_TRUE(take(p.api().device_get_properties(0, &props)).ok());
  EXPECT_EQ(props.type, TSR_DEVICE_TYPE_CPU);
  EXPECT_GT(props.total_memory, 0u);
  EXPECT_NE(props.caps & TSR_DEVICE_CAP_UNIFIED_HOST, 0u);
  EXPECT_EQ(props.caps & TSR_DEVICE_CAP_PINNED_HOST, 0u);
  EXPECT_EQ(props.weight_formats, 0x1ffu);  // F32 .. INT8_GROUP_ASYM (formats 0-8)
  EXPECT_NE(std::string(props.name).find(p.active_isa()), std::string::npos);
  EXPECT_EQ(take(p.api().device_get_properties(1, &props)).code, TSR_ERROR_CODE_NOT_FOUND);
  uint64_t free_bytes = 0;
  uint64_t total = 0;
  ASSERT_TRUE(take(p.api().device_memory_info(p.device(), &free_bytes, &total)).ok());
  EXPECT_LE(free_bytes, total);

  tsr_buffer_t zero = p.alloc(0);
  void* ptr = nullptr;
  ASSERT_TRUE(take(p.api().buffer_host_ptr(zero, &ptr)).ok());
  EXPECT_NE(ptr, nullptr);
  tsr_buffer_t b = p.alloc(100, TSR_BUFFER_KIND_HOST_PINNED);
  ASSERT_TRUE(take(p.api().buffer_host_ptr(b, &ptr)).ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % 64, 0u);
  char data[8] = {};
  EXPECT_EQ(take(p.api().memcpy_d2h(p.stream(), data, b, 96, 8)).code,
            TSR_ERROR_CODE_INVALID_ARGUMENT);

  // A device with live objects cannot be closed.
  EXPECT_EQ(take(p.api().device_close(p.device())).code, TSR_ERROR_CODE_FAILED_PRECONDITION);

  tsr_event_t e1 = nullptr;
  tsr_event_t e2 = nullptr;
  ASSERT_TRUE(take(p.api().event_create(p.device(), &e1)).ok());
  ASSERT_TRUE(take(p.api().event_create(p.device(), &e2)).ok());
  float ms = -1.0f;
  EXPECT_EQ(take(p.api().event_elapsed_ms(e1, e2, &ms)).code, TSR_ERROR_CODE_FAILED_PRECONDITION);
  ASSERT_TRUE(take(p.api().event_record(e1, p.stream())).ok());
  ASSERT_TRUE(take(p.api().event_record(e2, p.stream())).ok());
  ASSERT_TRUE(take(p.api().event_elapsed_ms(e1, e2, &ms)).ok());
  EXPECT_GE(ms, 0.0f);
  EXPECT_TRUE(take(p.api().event_destroy(e1)).ok());
  EXPECT_TRUE(take(p.api().event_destroy(e2)).ok());
  // Graph calls exist; the device claims them only with cpu.graphs=1 (not set here).
  EXPECT_NE(p.api().graph_begin_capture, nullptr);
  tsr_device_properties caps_props{};
  caps_props.struct_size = sizeof caps_props;
  ASSERT_TRUE(take(p.api().device_get_properties(0, &caps_props)).ok());
  EXPECT_EQ(caps_props.caps & TSR_DEVICE_CAP_GRAPHS, 0u);
}

TEST(Abi, RefusesOtherMajorAndScores) {
  void* h = dlopen(cpu_plugin_file().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  auto get_api = reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(h, TSR_PLUGIN_GET_API_SYMBOL));
  auto score = reinterpret_cast<tsr_plugin_score_fn>(dlsym(h, TSR_PLUGIN_SCORE_SYMBOL));
  ASSERT_NE(get_api, nullptr);
  ASSERT_NE(score, nullptr);
  EXPECT_GT(score(), 0);
  TestHost host;
  EXPECT_EQ(get_api(host.api(), TSR_ABI_VERSION_MAJOR + 1, 0), nullptr);
  EXPECT_TRUE(host.logged(TSR_LOG_LEVEL_ERROR, "major"));
  const tsr_plugin_api* api = get_api(host.api(), TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR);
  ASSERT_NE(api, nullptr);
  EXPECT_STREQ(api->name, "cpu");
  // diagnose works without initialize.
  int items = 0;
  tsr_diag_sink sink{sizeof(tsr_diag_sink), &items,
                     [](void* ctx, const tsr_diag_item*) { ++*static_cast<int*>(ctx); }};
  EXPECT_TRUE(take(api->diagnose(&sink)).ok());
  EXPECT_GE(items, 5);
}

}  // namespace
}  // namespace tsr::test
