// Public: the one logging header of the core and the tools: spdlog behind a small facade so
// that the level comes from --log-level / TESSERA_LOG_LEVEL in one place and plugins'
// messages join the same sink.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace tessera::log {

// Sets the global level from a name (trace, debug, info, warn, error, off); returns false
// for an unknown name. Logs go to stderr so that stdout stays for results.
bool set_level(std::string_view name);
// Applies TESSERA_LOG_LEVEL when set; call once at startup, before parsing flags.
void init_from_env();

}  // namespace tessera::log

#define TSR_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define TSR_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define TSR_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define TSR_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define TSR_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
