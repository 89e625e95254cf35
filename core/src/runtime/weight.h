// Weight: a weight prepacked by the plugin into its own layout (weight_prepack), immutable
// and usable from any stream of its device; move-only, keeps its Device alive.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/device.h"

namespace tessera::runtime {

class Weight {
 public:
  // The host memory `desc` points to is read during the call only.
  static Weight prepack(std::shared_ptr<Device> device, const tsr_weight_desc& desc);

  Weight() = default;
  ~Weight() { reset(); }
  Weight(Weight&& other) noexcept;
  Weight& operator=(Weight&& other) noexcept;
  Weight(const Weight&) = delete;
  Weight& operator=(const Weight&) = delete;

  void reset() noexcept;
  bool valid() const { return handle_ != nullptr; }
  tsr_weight_t handle() const { return handle_; }
  Device& device() const { return *device_; }
  uint64_t bytes() const;  // device bytes held (weight_bytes)

 private:
  std::shared_ptr<Device> device_;
  tsr_weight_t handle_ = nullptr;
};

}  // namespace tessera::runtime
