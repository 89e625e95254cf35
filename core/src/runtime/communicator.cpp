#include "runtime/communicator.h"

#include <chrono>
#include <exception>
#include <thread>

#include "common/check.h"

namespace tessera::runtime {

namespace {

const tsr_collectives_api& collectives_of(const Device& device) {
  const tsr_collectives_api* api = device.api().collectives;
  const bool capable = (device.info().properties.caps & TSR_DEVICE_CAP_COLLECTIVES) != 0;
  TSR_CHECK_KIND(api != nullptr && capable && api->struct_size >= sizeof(tsr_collectives_api),
                 ErrorKind::kUnavailable,
                 "device {} (plugin {}) has no collectives, so it cannot run tensor parallelism; "
                 "use --tensor-parallel-size 1 or another --device",
                 device.label(), device.plugin().name());
  return *api;
}

tsr_tensor flat(const Buffer& buffer, tsr_dtype dtype, int64_t count) {
  tsr_tensor t{};
  t.struct_size = sizeof(t);
  t.buffer = buffer.handle();
  t.dtype = dtype;
  t.ndim = 1;
  t.shape[0] = count;
  return t;
}

}  // namespace

Communicator::Communicator(std::shared_ptr<Device> device, tsr_comm_t comm, int32_t rank,
                           int32_t size)
    : device_(std::move(device)), comm_(comm), rank_(rank), size_(size) {}

std::unique_ptr<Communicator> Communicator::over_host(std::shared_ptr<Device> device,
                                                      HostCollectives& host, int32_t rank,
                                                      int32_t size) {
  TSR_CHECK_KIND((device->info().properties.caps & TSR_DEVICE_CAP_UNIFIED_HOST) != 0,
                 ErrorKind::kUnavailable,
                 "tensor parallelism across processes (MPI) moves tensors through host memory, "
                 "which device {} does not share; run it with --device cpu, or in one process",
                 device->label());
  std::unique_ptr<Communicator> comm(new Communicator(std::move(device), nullptr, rank, size));
  comm->host_ = &host;
  return comm;
}

void* Communicator::host_data(Stream& stream, const Buffer& buffer) {
  stream.synchronize();
  return buffer.host_ptr();
}

Communicator::~Communicator() {
  if (comm_ != nullptr && host_ == nullptr) {
    log_release_error(collectives_of(*device_).comm_destroy(comm_), device_->plugin().name(),
                      "comm_destroy");
  }
}

std::vector<std::unique_ptr<Communicator>> Communicator::create_group(
    const std::vector<std::shared_ptr<Device>>& devices) {
  TSR_CHECK(!devices.empty(), "a communicator group needs at least one device");
  for (const auto& d : devices) {
    TSR_CHECK(&d->plugin() == &devices[0]->plugin(),
              "tensor-parallel ranks must share one plugin: {} and {} differ", d->label(),
              devices[0]->label());
    collectives_of(*d);
  }
  const auto& api = collectives_of(*devices[0]);
  tsr_comm_id id{};
  id.struct_size = sizeof(id);
  devices[0]->check(api.unique_id(devices[0]->handle(), &id), "unique_id");
  const auto n = static_cast<int32_t>(devices.size());
  std::vector<tsr_comm_t> comms(devices.size(), nullptr);
  std::vector<std::exception_ptr> errors(devices.size());
  std::vector<std::thread> threads;
  for (int32_t rank = 0; rank < n; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        const auto& d = *devices[static_cast<size_t>(rank)];
        d.check(api.comm_init(d.handle(), n, rank, &id, &comms[static_cast<size_t>(rank)]),
                "comm_init");
      } catch (...) {
        errors[static_cast<size_t>(rank)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::unique_ptr<Communicator>> group;
  for (int32_t rank = 0; rank < n; ++rank) {
    group.emplace_back(new Communicator(devices[static_cast<size_t>(rank)],
                                        comms[static_cast<size_t>(rank)], rank, n));
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);  // `group` destroys the communicators that were made
  }
  return group;
}

template <class Call>
void Communicator::timed(Stream& stream, const char* what, Call&& call) {
  if (profiling_) stream.synchronize();
  const auto start = std::chrono::steady_clock::now();
  if (host_ != nullptr) {
    call(nullptr);  // host collectives: the call does the work and throws on failure
  } else {
    device_->check(call(&collectives_of(*device_)), what);
  }
  if (profiling_) stream.synchronize();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++calls_;
}

void Communicator::all_reduce_sum(Stream& stream, const Buffer& buffer, tsr_dtype dtype,
                                  int64_t count) {
  const tsr_tensor t = flat(buffer, dtype, count);
  timed(stream, "all_reduce", [&](const tsr_collectives_api* api) -> tsr_error* {
    if (api == nullptr) {
      host_->all_reduce_sum(host_data(stream, buffer), dtype, count);
      return nullptr;
    }
    return api->all_reduce(comm_, stream.handle(), &t, &t, TSR_REDUCE_OP_SUM);
  });
}

void Communicator::all_gather(Stream& stream, const Buffer& in, const Buffer& out, tsr_dtype dtype,
                              int64_t count) {
  const tsr_tensor tin = flat(in, dtype, count);
  const tsr_tensor tout = flat(out, dtype, count * size_);
  timed(stream, "all_gather", [&](const tsr_collectives_api* api) -> tsr_error* {
    if (api == nullptr) {
      host_->all_gather(host_data(stream, in), host_data(stream, out), dtype, count);
      return nullptr;
    }
    return api->all_gather(comm_, stream.handle(), &tin, &tout);
  });
}

}  // namespace tessera::runtime
