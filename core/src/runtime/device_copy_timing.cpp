// time_device_copy (tessera/plugins.h): the device half of `tessera bench latency`'s memory
// bandwidth, here because it needs the device, buffer and stream wrappers, which stay inside
// the core.
#include <algorithm>
#include <chrono>
#include <limits>

#include "common/check.h"
#include "runtime/buffer.h"
#include "runtime/device.h"
#include "runtime/stream.h"
#include "tessera/plugins.h"

namespace tessera::runtime {

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

}  // namespace

DeviceCopyTiming time_device_copy(const DeviceChoice& choice, uint64_t array_bytes,
                                  int repetitions) {
  TSR_CHECK(choice.plugin != nullptr, "time_device_copy: no device chosen");
  TSR_CHECK(repetitions >= 1, "bandwidth repetitions must be positive");
  const auto device = Device::open(*choice.plugin, choice.index);
  if (array_bytes == 0) {
    const uint64_t free = device->memory_info().free_bytes;
    array_bytes = std::clamp<uint64_t>(free / 10, 16 * kMiB, 1024 * kMiB);
  }
  auto src = Buffer::allocate(device, array_bytes);
  auto dst = Buffer::allocate(device, array_bytes);
  auto stream = Stream::create(device);
  stream.fill(src, 0, 1, array_bytes);
  stream.fill(dst, 0, 2, array_bytes);
  stream.copy(dst, 0, src, 0, array_bytes);  // warm-up: first-use costs stay out of the timing
  stream.synchronize();
  double best = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    stream.copy(dst, 0, src, 0, array_bytes);
    stream.synchronize();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  DeviceCopyTiming timing;
  timing.device = device->label();
  timing.array_bytes = array_bytes;
  timing.repetitions = repetitions;
  timing.best_seconds = best;
  return timing;
}

}  // namespace tessera::runtime
