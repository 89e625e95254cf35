// Collectives for ranks that are threads of one process (tensor parallelism on one CPU
// node): a group is found by its unique id in a process-wide registry, and each
// collective is a few barrier phases over pointers the ranks post. Every rank posts what
// it was given, even invalid arguments, and every rank checks all posts the same way, so a
// mismatch fails on every rank instead of leaving some waiting forever.
// Ranks in different processes are not supported (comm_init on another process's id
// simply forms a new group there).
#include <array>
#include <barrier>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "collectives.h"
#include "convert.h"
#include "cpu_internal.h"
#include "tensor_check.h"

namespace tsr::cpu {
namespace {

constexpr uint64_t kCommMagic = 0x7473722d63707543ull;
constexpr size_t kIdBytes = 16;
using GroupId = std::array<uint8_t, kIdBytes>;

struct Post {
  bool valid = false;
  tsr_dtype dtype = TSR_DTYPE_INVALID;
  int64_t count = 0;
  int32_t root = 0;
  const unsigned char* in = nullptr;
  const float* partial = nullptr;  // all_reduce: this rank's reduced chunk
};

struct Group {
  explicit Group(int32_t ranks)
      : num_ranks(ranks), barrier(ranks), posts(static_cast<size_t>(ranks)) {}
  const int32_t num_ranks;
  std::barrier<> barrier;
  std::vector<Post> posts;
};

std::mutex g_registry_mutex;
std::map<GroupId, std::weak_ptr<Group>> g_registry;

}  // namespace
}  // namespace tsr::cpu

struct tsr_comm_s {
  uint64_t magic = tsr::cpu::kCommMagic;
  tsr_device_s* device = nullptr;
  std::shared_ptr<tsr::cpu::Group> group;
  int32_t rank = 0;
};

namespace tsr::cpu {
namespace {

tsr_comm_s* check_comm(tsr_comm_t comm, const char* what) {
  TSR_PLUGIN_CHECK_ARG(comm != nullptr && comm->magic == kCommMagic,
                       "%s: not a valid cpu communicator", what);
  return comm;
}

// Validates a tensor without throwing, for posting.
bool try_view(const tsr_tensor* t, View* out) {
  if (t == nullptr) return false;
  tsr_error* e = tsr::sdk::guard([&] { *out = view(*t, "collective", "tensor"); });
  if (e == nullptr) return is_activation_dtype(out->dtype);
  e->destroy(e);
  return false;
}

// After the first barrier: true when every rank posted valid, matching arguments.
bool consistent(const Group& g) {
  const Post& first = g.posts[0];
  for (const Post& p : g.posts) {
    if (!p.valid || p.dtype != first.dtype || p.count != first.count || p.root != first.root) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void fail_all(const char* op) {
  throw tsr::sdk::Error(TSR_ERROR_CODE_INVALID_ARGUMENT,
                        tsr::sdk::format("%s: the ranks' tensors are invalid or differ in dtype, "
                                         "size or root",
                                         op));
}

tsr_error* unique_id(tsr_device_t device, tsr_comm_id* out) {
  return tsr::sdk::guard([&] {
    check_device(device, "unique_id");
    TSR_PLUGIN_CHECK_ARG(out != nullptr && out->struct_size >= sizeof(tsr_comm_id),
                         "unique_id: out is NULL or its struct_size is too small");
    static std::mutex mutex;
    static std::mt19937_64 rng{std::random_device{}()};
    std::lock_guard<std::mutex> lock(mutex);
    std::memset(out->bytes, 0, sizeof out->bytes);
    for (size_t i = 0; i < kIdBytes; i += 8) {
      const uint64_t v = rng();
      std::memcpy(out->bytes + i, &v, 8);
    }
  });
}

tsr_error* comm_init(tsr_device_t device, int32_t num_ranks, int32_t rank, const tsr_comm_id* id,
                     tsr_comm_t* out) {
  return tsr::sdk::guard([&] {
    tsr_device_s* d = check_device(device, "comm_init");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "comm_init: out is NULL");
    TSR_PLUGIN_CHECK_ARG(id != nullptr && id->struct_size >= sizeof(tsr_comm_id),
                         "comm_init: id is NULL or its struct_size is too small");
    TSR_PLUGIN_CHECK_ARG(num_ranks >= 1 && num_ranks <= 4096, "comm_init: num_ranks %d", num_ranks);
    TSR_PLUGIN_CHECK_ARG(rank >= 0 && rank < num_ranks, "comm_init: rank %d not in [0, %d)", rank,
                         num_ranks);
    GroupId key;
    std::memcpy(key.data(), id->bytes, kIdBytes);
    std::shared_ptr<Group> group;
    {
      std::lock_guard<std::mutex> lock(g_registry_mutex);
      group = g_registry[key].lock();
      if (!group) {
        group = std::make_shared<Group>(num_ranks);
        g_registry[key] = group;
      }
    }
    TSR_PLUGIN_CHECK_ARG(group->num_ranks == num_ranks,
                         "comm_init: num_ranks %d differs from the group's %d", num_ranks,
                         group->num_ranks);
    auto* comm = new tsr_comm_s();
    comm->device = d;
    comm->group = std::move(group);
    comm->rank = rank;
    d->live.fetch_add(1);
    *out = comm;
  });
}

tsr_error* comm_destroy(tsr_comm_t comm) {
  return tsr::sdk::guard([&] {
    tsr_comm_s* c = check_comm(comm, "comm_destroy");
    c->device->live.fetch_sub(1);
    c->magic = kDeadMagic;
    delete c;
  });
}

tsr_error* all_reduce(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                      const tsr_tensor* out, tsr_reduce_op op) {
  return tsr::sdk::guard([&] {
    tsr_comm_s* c = check_comm(comm, "all_reduce");
    check_stream(stream, "all_reduce: stream");
    Group& g = *c->group;
    View vin;
    View vout;
    const bool ok = try_view(in, &vin) && try_view(out, &vout) && vin.dtype == vout.dtype &&
                    vin.numel == vout.numel && (op == TSR_REDUCE_OP_SUM || op == TSR_REDUCE_OP_MAX);
    const int64_t n = ok ? vin.numel : -1;
    const int64_t begin = n * c->rank / g.num_ranks;
    const int64_t end = n * (c->rank + 1) / g.num_ranks;
    thread_local std::vector<float> partial;
    thread_local std::vector<float> row;
    Post& mine = g.posts[static_cast<size_t>(c->rank)];
    mine = Post{ok, vin.dtype, n, static_cast<int32_t>(op), vin.data, nullptr};
    g.barrier.arrive_and_wait();  // inputs posted
    const bool all = consistent(g);
    if (all && end > begin) {
      partial.assign(static_cast<size_t>(end - begin), 0.0f);
      row.resize(partial.size());
      for (int32_t q = 0; q < g.num_ranks; ++q) {
        const Post& p = g.posts[static_cast<size_t>(q)];
        load_f32(p.in + static_cast<size_t>(begin) * vin.elem, p.dtype, row.data(), end - begin);
        for (size_t i = 0; i < row.size(); ++i) {
          partial[i] = q == 0                    ? row[i]
                       : op == TSR_REDUCE_OP_SUM ? partial[i] + row[i]
                                                 : (row[i] > partial[i] ? row[i] : partial[i]);
        }
      }
    }
    mine.partial = partial.data();
    g.barrier.arrive_and_wait();  // chunks reduced; inputs no longer read
    if (all) {
      for (int32_t q = 0; q < g.num_ranks; ++q) {
        const int64_t qb = n * q / g.num_ranks;
        const int64_t qe = n * (q + 1) / g.num_ranks;
        if (qe > qb) {
          store_f32(g.posts[static_cast<size_t>(q)].partial, vout.dtype,
                    vout.data + static_cast<size_t>(qb) * vout.elem, qe - qb);
        }
      }
    }
    g.barrier.arrive_and_wait();  // chunks copied; partial buffers free again
    if (!all) fail_all("all_reduce");
  });
}

tsr_error* all_gather(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                      const tsr_tensor* out) {
  return tsr::sdk::guard([&] {
    tsr_comm_s* c = check_comm(comm, "all_gather");
    check_stream(stream, "all_gather: stream");
    Group& g = *c->group;
    View vin;
    View vout;
    const bool ok = try_view(in, &vin) && try_view(out, &vout) && vin.dtype == vout.dtype &&
                    vout.numel == vin.numel * g.num_ranks;
    g.posts[static_cast<size_t>(c->rank)] =
        Post{ok, vin.dtype, ok ? vin.numel : -1, 0, vin.data, nullptr};
    g.barrier.arrive_and_wait();
    const bool all = consistent(g);
    if (all) {
      const size_t bytes = static_cast<size_t>(vin.numel) * vin.elem;
      for (int32_t q = 0; q < g.num_ranks; ++q) {
        std::memmove(vout.data + static_cast<size_t>(q) * bytes, g.posts[static_cast<size_t>(q)].in,
                     bytes);
      }
    }
    g.barrier.arrive_and_wait();
    if (!all) fail_all("all_gather");
  });
}

tsr_error* broadcast(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* tensor, int32_t root) {
  return tsr::sdk::guard([&] {
    tsr_comm_s* c = check_comm(comm, "broadcast");
    check_stream(stream, "broadcast: stream");
    Group& g = *c->group;
    View v;
    const bool ok = try_view(tensor, &v) && root >= 0 && root < g.num_ranks;
    g.posts[static_cast<size_t>(c->rank)] =
        Post{ok, v.dtype, ok ? v.numel : -1, root, v.data, nullptr};
    g.barrier.arrive_and_wait();
    const bool all = consistent(g);
    if (all && c->rank != root) {
      std::memcpy(v.data, g.posts[static_cast<size_t>(root)].in,
                  static_cast<size_t>(v.numel) * v.elem);
    }
    g.barrier.arrive_and_wait();
    if (!all) fail_all("broadcast");
  });
}

const tsr_collectives_api kCollectives = {sizeof(tsr_collectives_api),
                                          &unique_id,
                                          &comm_init,
                                          &comm_destroy,
                                          &all_reduce,
                                          &all_gather,
                                          &broadcast};

}  // namespace

const tsr_collectives_api* collectives_table() {
  return &kCollectives;
}

}  // namespace tsr::cpu
