// Communicator: one rank of a group of devices joined by the plugin's collectives
// (tsr_collectives_api: threads of this process on the CPU plugin, NCCL on CUDA), move-only,
// keeping its Device alive. Collectives are enqueued on a stream and must be issued in the
// same order on every rank.
//
// Timing: each call adds its wall time to seconds(). With profiling on, the stream is
// synchronized before and after the call, so that on an asynchronous device the figure is
// the collective itself and not its enqueue; on the CPU plugin (synchronous) it is exact
// either way, and includes waiting for the slowest rank to arrive.
#pragma once

#include <memory>
#include <vector>

#include "runtime/buffer.h"
#include "runtime/stream.h"

namespace tessera::runtime {

// Collectives over host memory between processes (MPI: engine/mpi_world.h), for devices
// whose buffers the host addresses directly (the CPU plugin). Blocking; every rank calls
// them in the same order.
class HostCollectives {
 public:
  virtual ~HostCollectives() = default;
  virtual void all_reduce_sum(void* data, tsr_dtype dtype, int64_t count) = 0;
  virtual void all_gather(const void* in, void* out, tsr_dtype dtype, int64_t count) = 0;
};

class Communicator {
 public:
  // This process's rank of a group whose other ranks are other processes: collectives go
  // through `host` on the buffers' host memory (the device must be UNIFIED_HOST: one
  // message otherwise). `host` outlives the communicator.
  static std::unique_ptr<Communicator> over_host(std::shared_ptr<Device> device,
                                                 HostCollectives& host, int32_t rank, int32_t size);

  // One communicator per device, all of one group, rank i on devices[i]. Every rank's
  // comm_init runs on its own thread: NCCL's blocks until every rank has joined. Throws one
  // message when a device's plugin has no collectives or they span plugins.
  static std::vector<std::unique_ptr<Communicator>> create_group(
      const std::vector<std::shared_ptr<Device>>& devices);

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int32_t rank() const { return rank_; }
  int32_t size() const { return size_; }

  // buffer[0, count) = sum over ranks, in place.
  void all_reduce_sum(Stream& stream, const Buffer& buffer, tsr_dtype dtype, int64_t count);
  // out[q * count + i] = rank q's in[i].
  void all_gather(Stream& stream, const Buffer& in, const Buffer& out, tsr_dtype dtype,
                  int64_t count);

  void set_profiling(bool on) { profiling_ = on; }
  double seconds() const { return seconds_; }
  uint64_t calls() const { return calls_; }
  void reset_timing() {
    seconds_ = 0;
    calls_ = 0;
  }

 private:
  Communicator(std::shared_ptr<Device> device, tsr_comm_t comm, int32_t rank, int32_t size);
  // The buffer's host address after the stream finished writing it.
  void* host_data(Stream& stream, const Buffer& buffer);
  template <class Call>
  void timed(Stream& stream, const char* what, Call&& call);

  std::shared_ptr<Device> device_;
  tsr_comm_t comm_ = nullptr;
  HostCollectives* host_ = nullptr;  // set: collectives between processes
  int32_t rank_ = 0;
  int32_t size_ = 1;
  bool profiling_ = false;
  double seconds_ = 0;
  uint64_t calls_ = 0;
};

}  // namespace tessera::runtime
