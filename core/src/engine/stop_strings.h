// Stop-string matching over streamed text. Text that could still turn out to be the start
// of a stop string is held back, so a client never sees part of a stop string; once a stop
// string appears, the output is cut just before it (the OpenAI and vLLM behaviour).
#pragma once

#include <string>
#include <vector>

namespace tessera::engine {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);

  struct Result {
    std::string emit;      // text safe to send now
    bool stopped = false;  // a stop string matched; nothing more is to be emitted
  };
  // Adds a decoded delta; returns what may be emitted.
  Result feed(const std::string& delta);
  // The held-back text, once the request ends without a match.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  size_t longest_ = 0;
};

}  // namespace tessera::engine
