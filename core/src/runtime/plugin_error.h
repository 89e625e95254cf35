// Turning the plugin boundary's tsr_error* into the core's conventions. A tsr_error is owned
// by whoever receives it; these helpers read it and destroy it exactly once.
#pragma once

#include <string>
#include <string_view>

#include "common/check.h"
#include "tessera/plugin.h"

namespace tessera::runtime {

// "<code name>: <message>" (or "<code name>" when there is no message), then destroys the
// error. Tolerates a malformed error (NULL message, missing destroy). `error` may be NULL:
// returns "".
std::string take_error_message(tsr_error* error);

// The ErrorKind a plugin error code maps to (CLI exit codes, HTTP statuses).
ErrorKind error_kind_for(tsr_error_code code);

// Throws tessera::Error("<plugin>: <call>: <code>: <message>") when `error` is non-NULL,
// after destroying it. The only way wrapper code should consume a tsr_error*.
void throw_if_error(tsr_error* error, std::string_view plugin, std::string_view call);

}  // namespace tessera::runtime
