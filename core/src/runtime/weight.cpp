// Weight (see weight.h).
#include "runtime/weight.h"

#include <fmt/format.h>

#include <utility>

#include "common/check.h"

namespace tessera::runtime {

Weight Weight::prepack(std::shared_ptr<Device> device, const tsr_weight_desc& desc) {
  TSR_CHECK(device != nullptr, "Weight::prepack without a device");
  Weight weight;
  device->check(device->api().weight_prepack(device->handle(), &desc, &weight.handle_),
                fmt::format("weight_prepack([{} x {}])", desc.rows, desc.cols));
  TSR_CHECK_KIND(weight.handle_ != nullptr, ErrorKind::kInternal,
                 "{}: weight_prepack succeeded but returned no handle", device->plugin().name());
  weight.device_ = std::move(device);
  return weight;
}

Weight::Weight(Weight&& other) noexcept
    : device_(std::move(other.device_)), handle_(std::exchange(other.handle_, nullptr)) {}

Weight& Weight::operator=(Weight&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void Weight::reset() noexcept {
  if (handle_ != nullptr) {
    log_release_error(device_->api().weight_destroy(handle_), device_->plugin().name(),
                      "weight_destroy");
  }
  handle_ = nullptr;
  device_.reset();
}

uint64_t Weight::bytes() const {
  TSR_CHECK(valid(), "weight_bytes of an empty weight");
  uint64_t bytes = 0;
  device_->check(device_->api().weight_bytes(handle_, &bytes), "weight_bytes");
  return bytes;
}

}  // namespace tessera::runtime
