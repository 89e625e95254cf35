// Collectives of the CUDA plugin through NCCL.
//
// NCCL is loaded with dlopen("libnccl.so.2") on first use instead of being linked: the
// plugin then loads (and serves single-GPU work) on machines without NCCL, and the
// collectives report UNAVAILABLE there with the loader's reason. Only nccl.h is needed at
// build time, for the types; without it the table is NULL.
#include "cuda_internal.h"

#if defined(TESSERA_CUDA_HAVE_NCCL)

#include <dlfcn.h>
#include <nccl.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

struct tsr_comm_s {
  tsr_device_s* device;
  ncclComm_t comm;
  int32_t num_ranks;
};

namespace tsr::cuda {
namespace {

struct Nccl {
  void* handle = nullptr;
  std::string error;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclAllGather) all_gather = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

const Nccl& nccl() {
  static Nccl lib;
  static std::once_flag once;
  std::call_once(once, [] {
    lib.handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib.handle == nullptr) {
      const char* reason = dlerror();
      lib.error = reason != nullptr ? reason : "dlopen(libnccl.so.2) failed";
      return;
    }
    auto resolve = [](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib.handle, name));
      if (fn == nullptr && lib.error.empty()) lib.error = std::string("libnccl.so.2 lacks ") + name;
    };
    resolve(lib.get_unique_id, "ncclGetUniqueId");
    resolve(lib.comm_init_rank, "ncclCommInitRank");
    resolve(lib.comm_destroy, "ncclCommDestroy");
    resolve(lib.all_reduce, "ncclAllReduce");
    resolve(lib.all_gather, "ncclAllGather");
    resolve(lib.broadcast, "ncclBroadcast");
    resolve(lib.error_string, "ncclGetErrorString");
  });
  return lib;
}

const Nccl& loaded() {
  const Nccl& lib = nccl();
  TSR_PLUGIN_CHECK(lib.error.empty(), TSR_ERROR_CODE_UNAVAILABLE, "NCCL is not available: %s",
                   lib.error.c_str());
  return lib;
}

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc == ncclSuccess) return;
  const char* message =
      nccl().error_string != nullptr ? nccl().error_string(rc) : "unknown NCCL error";
  throw sdk::Error(
      rc == ncclInvalidArgument || rc == ncclInvalidUsage ? TSR_ERROR_CODE_INVALID_ARGUMENT
                                                          : TSR_ERROR_CODE_INTERNAL,
      sdk::format("%s failed: %s (ncclResult %d)", what, message, static_cast<int>(rc)));
}

ncclDataType_t nccl_type(tsr_dtype dtype) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      return ncclFloat32;
    case TSR_DTYPE_F16:
      return ncclFloat16;
    case TSR_DTYPE_BF16:
      return ncclBfloat16;
    case TSR_DTYPE_I32:
      return ncclInt32;
    case TSR_DTYPE_I64:
      return ncclInt64;
    case TSR_DTYPE_U8:
      return ncclUint8;
    case TSR_DTYPE_I8:
      return ncclInt8;
    case TSR_DTYPE_U64:
      return ncclUint64;
    default:
      throw sdk::Error(
          TSR_ERROR_CODE_INVALID_ARGUMENT,
          sdk::format("collectives: dtype %s is not supported by NCCL", sdk::dtype_name(dtype)));
  }
}

void check_call(tsr_comm_t comm, tsr_stream_t stream, const char* what) {
  TSR_PLUGIN_CHECK_ARG(comm != nullptr && stream != nullptr, "%s: comm or stream is NULL", what);
  TSR_PLUGIN_CHECK_ARG(comm->device->index == stream->device->index,
                       "%s: the communicator is on CUDA device %d but the stream on device %d",
                       what, comm->device->index, stream->device->index);
  set_device(stream->device);
}

tsr_error* unique_id(tsr_device_t device, tsr_comm_id* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "unique_id: out is NULL");
    static_assert(sizeof(ncclUniqueId) <= TSR_COMM_ID_BYTES,
                  "ncclUniqueId does not fit tsr_comm_id");
    set_device(device);
    ncclUniqueId id{};
    check_nccl(loaded().get_unique_id(&id), "ncclGetUniqueId");
    std::memset(out->bytes, 0, sizeof out->bytes);
    std::memcpy(out->bytes, &id, sizeof id);
  });
}

tsr_error* comm_init(tsr_device_t device, int32_t num_ranks, int32_t rank, const tsr_comm_id* id,
                     tsr_comm_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(id != nullptr && out != nullptr, "comm_init: id or out is NULL");
    TSR_PLUGIN_CHECK_ARG(num_ranks > 0 && rank >= 0 && rank < num_ranks,
                         "comm_init: rank %d of %d is invalid", rank, num_ranks);
    set_device(device);
    ncclUniqueId nccl_id{};
    std::memcpy(&nccl_id, id->bytes, sizeof nccl_id);
    ncclComm_t comm = nullptr;
    check_nccl(loaded().comm_init_rank(&comm, num_ranks, nccl_id, rank), "ncclCommInitRank");
    *out = new tsr_comm_s{device, comm, num_ranks};
  });
}

tsr_error* comm_destroy(tsr_comm_t comm) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(comm != nullptr, "comm_destroy: comm is NULL");
    std::unique_ptr<tsr_comm_s> owned(comm);
    set_device(comm->device);
    check_nccl(loaded().comm_destroy(comm->comm), "ncclCommDestroy");
  });
}

tsr_error* all_reduce(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                      const tsr_tensor* out, tsr_reduce_op op) {
  return sdk::guard([&] {
    check_call(comm, stream, "all_reduce");
    TSR_PLUGIN_CHECK_ARG(in != nullptr && out != nullptr, "all_reduce: in or out is NULL");
    TSR_PLUGIN_CHECK_ARG(
        in->dtype == out->dtype && sdk::tensor_numel(*in) == sdk::tensor_numel(*out),
        "all_reduce: in and out differ in dtype or element count");
    TSR_PLUGIN_CHECK_ARG(op == TSR_REDUCE_OP_SUM || op == TSR_REDUCE_OP_MAX,
                         "all_reduce: unknown op %d", static_cast<int>(op));
    check_nccl(loaded().all_reduce(
                   tensor_address(*in, "all_reduce in"), tensor_address(*out, "all_reduce out"),
                   static_cast<size_t>(sdk::tensor_numel(*in)), nccl_type(in->dtype),
                   op == TSR_REDUCE_OP_SUM ? ncclSum : ncclMax, comm->comm, stream->stream),
               "ncclAllReduce");
  });
}

tsr_error* all_gather(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                      const tsr_tensor* out) {
  return sdk::guard([&] {
    check_call(comm, stream, "all_gather");
    TSR_PLUGIN_CHECK_ARG(in != nullptr && out != nullptr, "all_gather: in or out is NULL");
    TSR_PLUGIN_CHECK_ARG(
        in->dtype == out->dtype &&
            sdk::tensor_numel(*out) ==
                sdk::tensor_numel(*in) * static_cast<int64_t>(comm->num_ranks),
        "all_gather: out must hold num_ranks (%d) times in's elements of the same dtype",
        comm->num_ranks);
    check_nccl(loaded().all_gather(tensor_address(*in, "all_gather in"),
                                   tensor_address(*out, "all_gather out"),
                                   static_cast<size_t>(sdk::tensor_numel(*in)),
                                   nccl_type(in->dtype), comm->comm, stream->stream),
               "ncclAllGather");
  });
}

tsr_error* broadcast(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* tensor, int32_t root) {
  return sdk::guard([&] {
    check_call(comm, stream, "broadcast");
    TSR_PLUGIN_CHECK_ARG(tensor != nullptr, "broadcast: tensor is NULL");
    TSR_PLUGIN_CHECK_ARG(root >= 0 && root < comm->num_ranks, "broadcast: root %d of %d ranks",
                         root, comm->num_ranks);
    void* data = tensor_address(*tensor, "broadcast tensor");
    check_nccl(loaded().broadcast(data, data, static_cast<size_t>(sdk::tensor_numel(*tensor)),
                                  nccl_type(tensor->dtype), root, comm->comm, stream->stream),
               "ncclBroadcast");
  });
}

}  // namespace

const tsr_collectives_api* collectives_table() {
  static const tsr_collectives_api table = [] {
    tsr_collectives_api t{};
    t.struct_size = sizeof t;
    t.unique_id = &unique_id;
    t.comm_init = &comm_init;
    t.comm_destroy = &comm_destroy;
    t.all_reduce = &all_reduce;
    t.all_gather = &all_gather;
    t.broadcast = &broadcast;
    return t;
  }();
  return &table;
}

bool collectives_available() {
  return nccl().error.empty();
}

}  // namespace tsr::cuda

#else

namespace tsr::cuda {
const tsr_collectives_api* collectives_table() {
  return nullptr;
}
bool collectives_available() {
  return false;
}
}  // namespace tsr::cuda

#endif
