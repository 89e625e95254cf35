// Resolves a --device value (tessera/device_spec.h) against the loaded plugins.
//   auto      -> the plugin with the highest score (> 0) that has at least one device and,
//                when the caller says what the model needs (ModelNeeds), whose device 0
//                can run it: every op answered by op_supported, the weight formats and an
//                activation dtype in its properties; ties go to the plugin found first in
//                the search order; its device 0.
//   name[:N]  -> the plugin called `name`, device N (default 0).
//   name:N,M  -> devices N and M of it (tensor parallelism: select_devices).
// Every failure throws tessera::Error with one line that says what to do: an unknown name
// lists the usable devices, an index out of range says how many there are, a refused
// plugin says why it was refused, a plugin without devices repeats its status note.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/device_spec.h"
#include "tessera/plugins.h"

namespace tessera::runtime {

// DeviceChoice, select_device(registry, spec) and list_usable_devices are public
// (tessera/plugins.h); this header adds what only the engine asks for: the model's needs.

// What running a model asks of a device. A plugin that scores highest but lacks any of it
// (a GPU plugin whose kernels have not landed, a format it cannot prepack) is passed over by
// --device auto instead of being chosen and failing at load.
struct ModelNeeds {
  std::vector<tsr_op_id> ops;      // each must have op_supported(NULL params) == 1
  uint32_t weight_formats = 0;     // TSR_WEIGHT_FORMAT_BIT set: every one is required
  uint64_t activation_dtypes = 0;  // TSR_DTYPE_BIT set: at least one is required (0: any)
};

// The needs of serving a model: every op of a forward pass and of sampling, the weight
// format of `quantization` ("" or "none": plain float weights), and `dtype` ("auto": any).
ModelNeeds serving_needs(const std::string& quantization, const std::string& dtype);

// "" when device `index` of `plugin` can run what `needs` asks, else a short reason.
std::string why_cannot_run(const LoadedPlugin& plugin, int32_t index, const ModelNeeds& needs);

// select_device (tessera/plugins.h) that passes over devices lacking `needs` (nullptr: none).
DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec,
                           const ModelNeeds* needs);

// Tensor parallelism: `count` devices of one plugin, one per rank. `--device cuda` with
// count 2 takes cuda:0 and cuda:1, `--device cuda:2` takes cuda:2 and cuda:3, `--device
// cuda:2,3` names them (the list's length must be `count`); auto picks the best plugin with
// at least `count` devices. Too few devices is one message naming the plugin's devices.
std::vector<DeviceChoice> select_devices(const PluginRegistry& registry, const DeviceSpec& spec,
                                         int32_t count, const ModelNeeds* needs = nullptr);

// select_device's resolution of the first device, for a run of `count` devices.
DeviceChoice select_first_device(const PluginRegistry& registry, const DeviceSpec& spec,
                                 const ModelNeeds* needs, int32_t count);

}  // namespace tessera::runtime
