// Item-building helpers; see items.h.
#include "diag/items.h"

#include <fmt/format.h>

#include "diag/advice.h"
#include "diag/parse.h"

namespace tessera::diag {

DiagItem make_item(std::string key, std::string value, std::string unit, DiagStatus status,
                   std::string source, std::string hint, bool detail) {
  DiagItem item;
  item.key = std::move(key);
  item.value = std::move(value);
  item.unit = std::move(unit);
  item.status = status;
  item.source = std::move(source);
  item.hint = std::move(hint);
  item.detail = detail;
  return item;
}

DiagItem unreadable_item(std::string key, const Field& field, std::string source, bool detail) {
  switch (field.status) {
    case ReadStatus::kNoAccess:
      return make_item(std::move(key), "permission denied", "", DiagStatus::kNeedsRoot,
                       std::move(source), advice::needs_root(field.path), detail);
    case ReadStatus::kMissing:
      return make_item(std::move(key), "not present", "", DiagStatus::kUnknown, std::move(source),
                       {}, detail);
    case ReadStatus::kError:
    case ReadStatus::kOk:
      break;
  }
  return make_item(std::move(key),
                   fmt::format("read error: {}", field.error.empty() ? "unknown" : field.error), "",
                   DiagStatus::kUnknown, std::move(source), {}, detail);
}

std::string mib_text(uint64_t bytes) {
  return std::to_string(bytes >> 20);
}

std::string khz_to_mhz_text(const Field& field) {
  if (!field.ok()) return {};
  const auto khz = parse_u64(field.text);
  return khz ? std::to_string(*khz / 1000) : std::string();
}

std::string source_of(const std::string& logical_path) {
  if (logical_path.rfind("/proc/", 0) == 0) return "procfs";
  if (logical_path.rfind("/sys/", 0) == 0) return "sysfs";
  return "file";
}

}  // namespace tessera::diag
