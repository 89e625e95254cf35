#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <string>

namespace tessera::log {

namespace {
void ensure_stderr_logger() {
  static const bool installed = [] {
    auto logger = spdlog::stderr_color_mt("tessera");
    logger->set_pattern("%^[%Y-%m-%d %H:%M:%S.%e] [%l]%$ %v");
    spdlog::set_default_logger(logger);
    return true;
  }();
  (void)installed;
}
}  // namespace

bool set_level(std::string_view name) {
  ensure_stderr_logger();
  const auto level = spdlog::level::from_str(std::string(name));
  // from_str maps unknown names to "off"; only accept "off" when asked for it.
  if (level == spdlog::level::off && name != "off") return false;
  spdlog::set_level(level);
  return true;
}

void init_from_env() {
  ensure_stderr_logger();
  spdlog::set_level(spdlog::level::info);
  if (const char* env = std::getenv("TESSERA_LOG_LEVEL")) set_level(env);
}

}  // namespace tessera::log
