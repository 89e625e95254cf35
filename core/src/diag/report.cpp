// Table and JSON formatters; see report.h.
#include "tessera/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace tessera::diag {

namespace {

std::string_view status_label(DiagStatus s) {
  switch (s) {
    case DiagStatus::kOk:
      return "OK";
    case DiagStatus::kWarn:
      return "WARN";
    case DiagStatus::kFail:
      return "FAIL";
    case DiagStatus::kUnknown:
      return "UNKNOWN";
    case DiagStatus::kNeedsRoot:
      return "NEEDS_ROOT";
  }
  return "UNKNOWN";
}

std::string_view status_color(DiagStatus s) {
  switch (s) {
    case DiagStatus::kOk:
      return "\033[32m";
    case DiagStatus::kWarn:
      return "\033[33m";
    case DiagStatus::kFail:
      return "\033[31m";
    case DiagStatus::kUnknown:
    case DiagStatus::kNeedsRoot:
      return "\033[36m";
  }
  return "";
}

// Plugins may send any bytes; the table must stay one line per item.
std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

}  // namespace

std::string format_table(const std::vector<DiagSection>& sections, const TableOptions& options) {
  size_t key_width = 0;
  for (const auto& section : sections) {
    for (const auto& item : section.items) {
      if (item.detail && !options.verbose) continue;
      key_width = std::max(key_width, item.key.size());
    }
  }
  key_width = std::min<size_t>(key_width, 48);

  std::array<int, 5> counts{};
  std::string out;
  for (const auto& section : sections) {
    out += fmt::format("== {} ==\n", section.name);
    bool any = false;
    for (const auto& item : section.items) {
      ++counts[static_cast<size_t>(item.status)];
      if (item.detail && !options.verbose) continue;
      any = true;
      const std::string_view label = status_label(item.status);
      std::string status_col = fmt::format("{:<10}", label);
      if (options.color) {
        status_col = fmt::format("{}{}\033[0m{}", status_color(item.status), label,
                                 std::string(10 - label.size(), ' '));
      }
      std::string value = one_line(item.value);
      if (!item.unit.empty()) value += " " + item.unit;
      out += fmt::format("  {} {:<{}}  {}", status_col, item.key, key_width, value);
      if (!item.source.empty()) out += fmt::format("  [{}]", one_line(item.source));
      out += "\n";
      if (!item.hint.empty() && item.status != DiagStatus::kOk) {
        out += fmt::format("             -> {}\n", one_line(item.hint));
      }
    }
    if (!any) out += "  (nothing to report)\n";
  }
  out += fmt::format("{} ok, {} warn, {} fail, {} unknown, {} needs root\n",
                     counts[static_cast<size_t>(DiagStatus::kOk)],
                     counts[static_cast<size_t>(DiagStatus::kWarn)],
                     counts[static_cast<size_t>(DiagStatus::kFail)],
                     counts[static_cast<size_t>(DiagStatus::kUnknown)],
                     counts[static_cast<size_t>(DiagStatus::kNeedsRoot)]);
  return out;
}

std::string format_json(const std::vector<DiagSection>& sections) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& section : sections) {
    for (const auto& item : section.items) {
      array.push_back({{"section", section.name},
                       {"key", item.key},
                       {"value", item.value},
                       {"unit", item.unit},
                       {"status", std::string(status_name(item.status))},
                       {"source", item.source},
                       {"hint", item.hint}});
    }
  }
  // Invalid UTF-8 from a plugin is replaced rather than aborting the whole report.
  return array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int exit_code_for(const std::vector<DiagSection>& sections) {
  return has_failure(sections) ? 1 : 0;
}

}  // namespace tessera::diag
