// Memory bandwidth measured the way STREAM does it (McCalpin's copy and triad kernels, best
// of several repetitions, bytes read + written counted, no write-allocate traffic), so that
// `tessera bench latency` can put a decode roofline beside every decode figure:
//   decode tok/s at batch 1 <= bandwidth / weight bytes read per token.
// Host memory is measured with one std::thread per hardware thread over arrays much larger
// than the last-level cache; a GPU/XPU device through the plugin's device-to-device copy
// (runtime::time_device_copy, tessera/plugins.h), which reads and writes each byte once.
// Written by hand: STREAM itself is a C/Fortran program, not a library to link.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tessera/engine_config.h"
#include "tessera/plugins.h"

namespace tessera::bench {

struct BandwidthResult {
  std::string method;        // "host-stream" or "device-copy"
  std::string device;        // "host (2 threads)", "cuda:0"
  uint64_t array_bytes = 0;  // bytes of one array
  int threads = 0;           // host threads (0 for a device)
  int repetitions = 0;
  double copy_gbps = 0;   // a[i] = b[i]: 1 read + 1 write per element
  double triad_gbps = 0;  // a[i] = b[i] + s * c[i]: 2 reads + 1 write (host only)
  double read_gbps = 0;   // sum of b[i]: reads only (host only)
  // The figure the roofline uses: triad on the host (the STREAM headline), copy on a device.
  double roofline_gbps() const { return triad_gbps > 0 ? triad_gbps : copy_gbps; }
};

// The last-level cache size of CPU 0 in bytes (sysfs), or 0 when unknown.
uint64_t last_level_cache_bytes();

// Default array size: 4x the last-level cache, at least 64 MiB and at most 512 MiB.
uint64_t default_array_bytes();

// STREAM-like copy, triad and read kernels over three host arrays of `array_bytes` each,
// split over `threads` threads (0: hardware_concurrency). Best of `repetitions`.
// Throws tessera::Error when the arrays cannot be allocated.
BandwidthResult measure_host_bandwidth(uint64_t array_bytes, int threads = 0, int repetitions = 5);

// Device-to-device copies between two buffers of `array_bytes` (0: min(1 GiB, 10% of free))
// on device `choice`, one stream; the time of each repetition is taken on the host around a
// stream synchronize (runtime::time_device_copy).
BandwidthResult measure_device_bandwidth(const runtime::DeviceChoice& choice, uint64_t array_bytes,
                                         int repetitions = 5);

// Measures the device the engine `config` would run on: host memory for a CPU device, the
// plugin's d2d copy otherwise. Loads the plugins in its own registry and releases it before
// returning, so call it before Engine::create (no device memory is held twice).
// array_bytes 0: default_array_bytes() on the host, min(1 GiB, 10% of free) on a device.
BandwidthResult measure_bandwidth_for(const EngineConfig& config, uint64_t array_bytes = 0,
                                      int repetitions = 5);

nlohmann::json to_json(const BandwidthResult& result);

}  // namespace tessera::bench
