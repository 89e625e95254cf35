// The sysfs half of the XPU diagnostics: i915 and xe frequency files, PCI BARs and driver
// binding, read through a SysfsSource (see xpu_snapshot.h).
//
// Paths read (under the source's root):
//   /proc/sys/kernel/osrelease
//   /sys/class/drm/cardN/device/{vendor,device,uevent,resource,resource2_resize}
//   i915: /sys/class/drm/cardN/gt_{act,cur,min,max,RP0,RPn}_freq_mhz
//   xe:   /sys/class/drm/cardN/device/tile0/gt0/freq0/{act,cur,min,max,rp0,rpn}_freq
//   /sys/bus/pci/devices/*/{vendor,device,class,uevent} for Intel GPUs without a driver
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "xpu_snapshot.h"

namespace tsr::xpu {
namespace {

class FilesystemSource : public SysfsSource {
 public:
  explicit FilesystemSource(std::string root) : root_(std::move(root)) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
  }

  FileRead read(const std::string& path) const override {
    FileRead out;
    const std::string full = root_ + path;
    const int fd = open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      out.state = err == ENOENT || err == ENOTDIR ? ReadState::kMissing
                  : err == EACCES || err == EPERM ? ReadState::kNeedsRoot
                                                  : ReadState::kError;
      out.error = full + ": " + std::strerror(err);
      return out;
    }
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
      out.content.append(buffer, static_cast<size_t>(n));
    const int err = errno;
    close(fd);
    if (n < 0) {
      out.state = err == EACCES || err == EPERM ? ReadState::kNeedsRoot : ReadState::kError;
      out.error = full + ": " + std::strerror(err);
      return out;
    }
    while (!out.content.empty() && std::isspace(static_cast<unsigned char>(out.content.back()))) {
      out.content.pop_back();
    }
    out.state = ReadState::kOk;
    return out;
  }

  std::vector<std::string> list(const std::string& dir) const override {
    std::vector<std::string> names;
    DIR* d = opendir((root_ + dir).c_str());
    if (d == nullptr) return names;
    while (const dirent* entry = readdir(d)) {
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  bool exists(const std::string& path) const override {
    struct stat st {};
    return lstat((root_ + path).c_str(), &st) == 0;
  }

 private:
  std::string root_;
};

template <class T, class Parse>
Reading<T> read_value(const SysfsSource& source, const std::string& path, Parse parse) {
  Reading<T> reading;
  const FileRead file = source.read(path);
  reading.state = file.state;
  reading.detail = file.state == ReadState::kOk ? path : file.error;
  if (file.state == ReadState::kOk) {
    try {
      reading.value = parse(file.content);
    } catch (const std::exception&) {
      reading.state = ReadState::kError;
      reading.detail = path + ": unparsable '" + file.content + "'";
    }
  }
  return reading;
}

Reading<double> read_mhz(const SysfsSource& source, const std::string& path) {
  return read_value<double>(source, path, [](const std::string& s) { return std::stod(s); });
}

uint32_t parse_hex(const std::string& s) {
  return static_cast<uint32_t>(std::stoul(s, nullptr, 16));
}

// KEY=value lines of a uevent file.
std::string uevent_field(const std::string& uevent, const std::string& key) {
  std::istringstream in(uevent);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + "=") == 0) return line.substr(key.size() + 1);
  }
  return {};
}

bool is_card_name(const std::string& name) {
  return name.size() > 4 && name.compare(0, 4, "card") == 0 &&
         std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// BAR sizes from a PCI device's "resource" file: one "start end flags" line per resource.
std::vector<uint64_t> bar_sizes(const std::string& resource) {
  std::vector<uint64_t> sizes;
  std::istringstream in(resource);
  std::string start, end, flags;
  while (in >> start >> end >> flags) {
    const uint64_t s = std::stoull(start, nullptr, 16);
    const uint64_t e = std::stoull(end, nullptr, 16);
    sizes.push_back(e > s ? e - s + 1 : 0);
  }
  return sizes;
}

void read_frequencies(const SysfsSource& source, const std::string& card_dir,
                      XpuCardReading& card) {
  const std::string xe = card_dir + "/device/tile0/gt0/freq0/";
  if (card.driver == "xe" || (card.driver.empty() && source.exists(xe + "max_freq"))) {
    card.freq_current = read_mhz(source, xe + "act_freq");
    card.freq_requested = read_mhz(source, xe + "cur_freq");
    card.freq_min = read_mhz(source, xe + "min_freq");
    card.freq_max = read_mhz(source, xe + "max_freq");
    card.freq_hw_max = read_mhz(source, xe + "rp0_freq");
    card.freq_hw_min = read_mhz(source, xe + "rpn_freq");
  } else {
    const std::string i915 = card_dir + "/gt_";
    card.freq_current = read_mhz(source, i915 + "act_freq_mhz");
    card.freq_requested = read_mhz(source, i915 + "cur_freq_mhz");
    card.freq_min = read_mhz(source, i915 + "min_freq_mhz");
    card.freq_max = read_mhz(source, i915 + "max_freq_mhz");
    card.freq_hw_max = read_mhz(source, i915 + "RP0_freq_mhz");
    card.freq_hw_min = read_mhz(source, i915 + "RPn_freq_mhz");
  }
  // Older kernels lack the "actual" file; the requested frequency is the next best.
  if (card.freq_current.state == ReadState::kMissing && card.freq_requested.ok()) {
    card.freq_current = card.freq_requested;
  }
}

void read_bars(const SysfsSource& source, const std::string& device_dir, XpuCardReading& card) {
  if (!is_discrete(gpu_family(card.pci_device_id))) return;  // integrated GPUs have no VRAM BAR
  const auto sizes = read_value<std::vector<uint64_t>>(source, device_dir + "/resource", bar_sizes);
  // Intel discrete GPUs map device memory through BAR2 (LMEMBAR).
  card.vram_bar_bytes.state = sizes.state;
  card.vram_bar_bytes.detail = sizes.detail;
  if (sizes.ok()) {
    if (sizes.value.size() > 2) {
      card.vram_bar_bytes.value = sizes.value[2];
      // Without Resizable BAR the firmware leaves LMEMBAR at its 256 MiB default.
      card.rebar_enabled.state = ReadState::kOk;
      card.rebar_enabled.value = sizes.value[2] > (256ull << 20);
      card.rebar_enabled.detail = sizes.detail;
    } else {
      card.vram_bar_bytes.state = ReadState::kMissing;
    }
  }
  // resource2_resize (root-only) exists when the kernel can resize that BAR.
  card.rebar_supported.state = ReadState::kOk;
  card.rebar_supported.value = source.exists(device_dir + "/resource2_resize");
  card.rebar_supported.detail = device_dir + "/resource2_resize";
}

void read_unbound(const SysfsSource& source, XpuSnapshot& snapshot) {
  const std::string base = "/sys/bus/pci/devices/";
  for (const std::string& name : source.list(base)) {
    const std::string dir = base + name;
    const FileRead vendor = source.read(dir + "/vendor");
    const FileRead cls = source.read(dir + "/class");
    if (vendor.state != ReadState::kOk || vendor.content != "0x8086" || cls.state != ReadState::kOk)
      continue;
    if (cls.content.compare(0, 4, "0x03") != 0) continue;  // display controllers
    const FileRead uevent = source.read(dir + "/uevent");
    if (uevent.state == ReadState::kOk && !uevent_field(uevent.content, "DRIVER").empty()) continue;
    UnboundGpu gpu;
    gpu.pci_bus_id = name;
    const FileRead device = source.read(dir + "/device");
    if (device.state == ReadState::kOk) gpu.pci_device_id = parse_hex(device.content);
    snapshot.unbound.push_back(gpu);
  }
}

}  // namespace

std::unique_ptr<SysfsSource> make_filesystem_source(std::string root) {
  return std::make_unique<FilesystemSource>(std::move(root));
}

GpuFamily gpu_family(uint32_t id) {
  if (id >= 0x4905 && id <= 0x4909) return GpuFamily::kDg1;
  if (id >= 0x5690 && id <= 0x56cf) return GpuFamily::kAlchemist;
  if (id >= 0xe200 && id <= 0xe2ff) return GpuFamily::kBattlemage;
  if (id >= 0x0bd0 && id <= 0x0bdf) return GpuFamily::kPonteVecchio;
  return GpuFamily::kOther;
}

bool is_discrete(GpuFamily family) {
  return family != GpuFamily::kOther;
}

void read_sysfs(const SysfsSource& source, XpuSnapshot& snapshot) {
  snapshot.kernel_release = read_value<std::string>(source, "/proc/sys/kernel/osrelease",
                                                    [](const std::string& s) { return s; });
  int index = 0;
  for (const std::string& name : source.list("/sys/class/drm")) {
    if (!is_card_name(name)) continue;
    const std::string card_dir = "/sys/class/drm/" + name;
    const std::string device_dir = card_dir + "/device";
    const FileRead vendor = source.read(device_dir + "/vendor");
    if (vendor.state != ReadState::kOk || vendor.content != "0x8086") continue;
    XpuCardReading card;
    card.index = index++;
    card.card = name;
    card.source = "sysfs";
    const FileRead uevent = source.read(device_dir + "/uevent");
    if (uevent.state == ReadState::kOk) {
      card.driver = uevent_field(uevent.content, "DRIVER");
      card.pci_bus_id = uevent_field(uevent.content, "PCI_SLOT_NAME");
    }
    const FileRead device = source.read(device_dir + "/device");
    if (device.state == ReadState::kOk) card.pci_device_id = parse_hex(device.content);
    read_frequencies(source, card_dir, card);
    read_bars(source, device_dir, card);
    snapshot.cards.push_back(std::move(card));
  }
  read_unbound(source, snapshot);
}

}  // namespace tsr::xpu
