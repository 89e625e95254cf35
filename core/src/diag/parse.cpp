// Parsers for sysfs/procfs text; see parse.h.
#include "diag/parse.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tessera::diag {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::optional<uint64_t> parse_hex_digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string trim_copy(std::string_view text) {
  size_t b = 0;
  size_t e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  return std::string(text.substr(b, e - b));
}

std::vector<std::string> split(std::string_view text, std::string_view separators) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t next = text.find_first_of(separators, pos);
    const size_t end = next == std::string_view::npos ? text.size() : next;
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  const std::string t = trim_copy(text);
  if (t.empty()) return std::nullopt;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    return parse_hex_digits(std::string_view(t).substr(2));
  }
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, 10);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view text) {
  const std::string t = trim_copy(text);
  if (t.empty()) return std::nullopt;
  double v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<KernelVersion> parse_kernel_version(std::string_view release) {
  KernelVersion v;
  int* parts[3] = {&v.major, &v.minor, &v.patch};
  const char* p = release.data();
  const char* end = release.data() + release.size();
  for (int i = 0; i < 3; ++i) {
    const auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc()) {
      if (i < 2) return std::nullopt;
      break;
    }
    p = next;
    if (i < 2 && (p == end || *p != '.')) {
      if (i == 1) break;
      return std::nullopt;
    }
    if (p != end && *p == '.') ++p;
  }
  return v;
}

std::optional<std::string> normalize_pci_address(std::string_view text) {
  const std::string t = trim_copy(text);
  const auto parts = split(t, ":");
  if (parts.size() != 2 && parts.size() != 3) return std::nullopt;
  const std::string domain_text = parts.size() == 3 ? parts[0] : "0";
  const std::string& bus_text = parts[parts.size() - 2];
  const std::string& devfn = parts.back();
  const auto dot = devfn.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const auto domain = parse_hex_digits(domain_text);
  const auto bus = parse_hex_digits(bus_text);
  const auto dev = parse_hex_digits(std::string_view(devfn).substr(0, dot));
  const auto fn = parse_hex_digits(std::string_view(devfn).substr(dot + 1));
  if (!domain || !bus || !dev || !fn || *domain > 0xffff || *bus > 0xff || *dev > 0x1f || *fn > 7) {
    return std::nullopt;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%x", static_cast<unsigned>(*domain),
                static_cast<unsigned>(*bus), static_cast<unsigned>(*dev),
                static_cast<unsigned>(*fn));
  return std::string(buf);
}

std::optional<double> parse_link_speed(std::string_view text) {
  const std::string t = trim_copy(text);
  const auto space = t.find(' ');
  return parse_double(std::string_view(t).substr(0, space));
}

std::optional<int> link_speed_to_gen(double gts) {
  struct Rate {
    double gts;
    int gen;
  };
  static constexpr Rate kRates[] = {{2.5, 1}, {5.0, 2}, {8.0, 3}, {16.0, 4}, {32.0, 5}, {64.0, 6}};
  for (const auto& r : kRates) {
    if (std::abs(gts - r.gts) < 0.05) return r.gen;
  }
  return std::nullopt;
}

std::string bracketed_choice(std::string_view text) {
  const auto open = text.find('[');
  const auto close = text.find(']', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return trim_copy(text);
  return trim_copy(text.substr(open + 1, close - open - 1));
}

std::optional<std::string> colon_value(std::string_view text, std::string_view key) {
  for (const auto& line : split(text, "\n")) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim_copy(std::string_view(line).substr(0, colon)) == key) {
      return trim_copy(std::string_view(line).substr(colon + 1));
    }
  }
  return std::nullopt;
}

std::optional<std::string> os_release_value(std::string_view text, std::string_view key) {
  for (const auto& line : split(text, "\n")) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || trim_copy(std::string_view(line).substr(0, eq)) != key) {
      continue;
    }
    std::string v = trim_copy(std::string_view(line).substr(eq + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    return v;
  }
  return std::nullopt;
}

std::optional<uint64_t> meminfo_bytes(std::string_view text, std::string_view key) {
  for (const auto& line : split(text, "\n")) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto words = split(std::string_view(line).substr(0, colon), " \t");
    if (words.empty() || words.back() != key) continue;
    const auto value = split(std::string_view(line).substr(colon + 1), " \t");
    if (value.empty()) return std::nullopt;
    const auto n = parse_u64(value[0]);
    if (!n) return std::nullopt;
    const bool kb = value.size() > 1 && (value[1] == "kB" || value[1] == "KB");
    return kb ? *n * 1024 : *n;
  }
  return std::nullopt;
}

int count_cpuinfo_processors(std::string_view text) {
  int n = 0;
  for (const auto& line : split(text, "\n")) {
    const auto colon = line.find(':');
    if (colon != std::string::npos &&
        trim_copy(std::string_view(line).substr(0, colon)) == "processor") {
      ++n;
    }
  }
  return n;
}

std::optional<int> count_cpu_list(std::string_view text) {
  int n = 0;
  for (const auto& range : split(trim_copy(text), ",")) {
    const auto dash = range.find('-');
    const auto first = parse_u64(std::string_view(range).substr(0, dash));
    if (!first) return std::nullopt;
    if (dash == std::string::npos) {
      ++n;
      continue;
    }
    const auto last = parse_u64(std::string_view(range).substr(dash + 1));
    if (!last || *last < *first) return std::nullopt;
    n += static_cast<int>(*last - *first + 1);
  }
  return n;
}

std::optional<std::vector<PciResource>> parse_resource_table(std::string_view text) {
  std::vector<PciResource> out;
  int index = 0;
  for (const auto& line : split(text, "\n")) {
    const auto words = split(line, " \t");
    if (words.empty()) continue;
    if (words.size() != 3) return std::nullopt;
    const auto start = parse_u64(words[0]);
    const auto end = parse_u64(words[1]);
    const auto flags = parse_u64(words[2]);
    if (!start || !end || !flags) return std::nullopt;
    out.push_back(PciResource{index++, *start, *end, *flags});
  }
  return out;
}

uint64_t rebar_max_bytes(uint64_t mask) {
  if (mask == 0) return 0;
  int top = 63;
  while (((mask >> top) & 1u) == 0) --top;
  // Sizes beyond 2^63 bytes cannot be expressed; the PCIe spec stops at 2^63 anyway.
  if (top > 43) return uint64_t{1} << 63;
  return (uint64_t{1} << 20) << top;
}

}  // namespace tessera::diag
