#include "engine/stop_strings.h"

#include <algorithm>

namespace tessera::engine {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stops_) longest_ = std::max(longest_, s.size());
}

StopStrings::Result StopStrings::feed(const std::string& delta) {
  Result result;
  if (stops_.empty()) {
    result.emit = delta;
    return result;
  }
  held_ += delta;
  size_t cut = std::string::npos;
  for (const auto& stop : stops_) cut = std::min(cut, held_.find(stop));
  if (cut != std::string::npos) {
    result.emit = held_.substr(0, cut);
    result.stopped = true;
    held_.clear();
    return result;
  }
  // Keep the longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n) {
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  // Never split a UTF-8 character: move the cut back to a character boundary.
  size_t emit_len = held_.size() - keep;
  while (emit_len > 0 && emit_len < held_.size() &&
         (static_cast<unsigned char>(held_[emit_len]) & 0xC0) == 0x80) {
    --emit_len;
  }
  result.emit = held_.substr(0, emit_len);
  held_.erase(0, emit_len);
  return result;
}

std::string StopStrings::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace tessera::engine
