// Host family: operating system and kernel version. Reading (read_host) and rules
// (check_host) are separate so tests can feed readings directly.
#include <fmt/format.h>

#include "diag/items.h"
#include "diag/parse.h"
#include "diag/readings.h"

namespace tessera::diag {

HostReadings read_host(const SysfsReader& reader) {
  HostReadings r;
  r.os_release = reader.read_raw("/etc/os-release");
  if (r.os_release.status == ReadStatus::kMissing) {
    r.os_release = reader.read_raw("/usr/lib/os-release");
  }
  r.kernel_release = reader.read("/proc/sys/kernel/osrelease");
  r.machine = reader.read("/proc/sys/kernel/arch");
  return r;
}

std::vector<DiagItem> check_host(const HostReadings& r) {
  std::vector<DiagItem> items;
  if (r.os_release.ok()) {
    auto name = os_release_value(r.os_release.text, "PRETTY_NAME");
    if (!name) name = os_release_value(r.os_release.text, "NAME");
    items.push_back(make_item("host.os", name.value_or("unnamed"), "", DiagStatus::kOk, "file"));
  } else {
    items.push_back(unreadable_item("host.os", r.os_release, "file"));
  }

  if (r.kernel_release.ok()) {
    const auto version = parse_kernel_version(r.kernel_release.text);
    if (version) {
      items.push_back(
          make_item("host.kernel", r.kernel_release.text, "", DiagStatus::kOk, "procfs"));
    } else {
      items.push_back(make_item("host.kernel", r.kernel_release.text, "", DiagStatus::kUnknown,
                                "procfs", "the kernel release string has no version number"));
    }
  } else {
    items.push_back(unreadable_item("host.kernel", r.kernel_release, "procfs"));
  }

  if (r.machine.ok()) {
    items.push_back(make_item("host.arch", r.machine.text, "", DiagStatus::kOk, "procfs"));
  }
  return items;
}

}  // namespace tessera::diag
