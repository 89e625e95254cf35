// Small parsers for the text formats of sysfs and procfs. Written by hand: no packaged
// library reads these kernel formats. All are total: bad text gives std::nullopt / empty,
// never an exception.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::diag {

// Decimal, or hexadecimal with a "0x" prefix. Surrounding whitespace is allowed.
std::optional<uint64_t> parse_u64(std::string_view text);
std::optional<double> parse_double(std::string_view text);

struct KernelVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  auto operator<=>(const KernelVersion&) const = default;
};
// "6.8.0-45-generic" -> {6, 8, 0}; "6.1" -> {6, 1, 0}.
std::optional<KernelVersion> parse_kernel_version(std::string_view release);

// "0000:03:00.0", "00000000:03:00.0" (CUDA's spelling) and "03:00.0" all give
// "0000:03:00.0" (lower-case hex); anything else gives nullopt.
std::optional<std::string> normalize_pci_address(std::string_view text);

// "16.0 GT/s PCIe" -> 16.0; "Unknown" -> nullopt.
std::optional<double> parse_link_speed(std::string_view text);
// PCIe generation of a per-lane rate: 2.5 -> 1, 5 -> 2, 8 -> 3, 16 -> 4, 32 -> 5, 64 -> 6.
std::optional<int> link_speed_to_gen(double gts);

// The bracketed choice of a sysfs selector file: "always [madvise] never" -> "madvise".
// A file without brackets gives its trimmed text.
std::string bracketed_choice(std::string_view text);

// The value of `key` in a "Key: value" text (/proc/cpuinfo, /etc/os-release uses '=').
// First match; keys compare after trimming. nullopt when absent.
std::optional<std::string> colon_value(std::string_view text, std::string_view key);
// os-release style KEY=value with optional quotes.
std::optional<std::string> os_release_value(std::string_view text, std::string_view key);
// kB amount of a meminfo field ("MemTotal", also "Node 0 MemTotal"), in bytes.
std::optional<uint64_t> meminfo_bytes(std::string_view text, std::string_view key);
// Number of "processor" entries of /proc/cpuinfo.
int count_cpuinfo_processors(std::string_view text);
// Number of CPUs in a list like "0-7,16-23".
std::optional<int> count_cpu_list(std::string_view text);

// One line of a PCI device's `resource` file. Index 0..5 are BARs, 6 the ROM, higher
// indices bridge windows.
struct PciResource {
  int index = 0;
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t flags = 0;
  bool used() const { return end > start; }
  uint64_t size() const { return used() ? end - start + 1 : 0; }
  bool is_memory() const { return (flags & 0x200u) != 0; }         // IORESOURCE_MEM
  bool is_64bit() const { return (flags & 0x100000u) != 0; }       // IORESOURCE_MEM_64
  bool is_prefetchable() const { return (flags & 0x2000u) != 0; }  // IORESOURCE_PREFETCH
};
// nullopt when a line is malformed.
std::optional<std::vector<PciResource>> parse_resource_table(std::string_view text);

// resourceN_resize holds a bitmask of supported BAR sizes, bit i meaning 1 MiB << i.
// Returns the largest supported size in bytes, 0 when the mask is empty.
uint64_t rebar_max_bytes(uint64_t mask);

// Splits on any of `separators`, dropping empty pieces.
std::vector<std::string> split(std::string_view text, std::string_view separators);
std::string trim_copy(std::string_view text);

}  // namespace tessera::diag
