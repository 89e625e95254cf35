// Public: the checks of the core and the tools. A violated expectation throws tessera::Error
// (tessera/error.h) with a formatted message (fmt syntax); tools catch it at the top and print
// one clear line, the server maps its kind to an HTTP status. A user's bad input must never
// abort the process.
//   TSR_CHECK_INPUT(cond, field, …)  a request field is invalid: kInvalidArgument naming it
//   TSR_INVARIANT(cond, …)           the core's own bookkeeping is wrong: kInternal (a bug)
//   TSR_CHECK_KIND(cond, kind, …)    any other kind (not found, unavailable, …)
//   TSR_CHECK(cond, …)               kInvalidArgument without a field: configuration, files
//                                    and flags checked at startup, where the message names
//                                    the flag or file
#pragma once

#include <fmt/format.h>

#include "tessera/error.h"

#define TSR_CHECK(cond, ...)                                         \
  do {                                                               \
    if (!(cond)) throw ::tessera::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

#define TSR_CHECK_KIND(cond, kind, ...)                                      \
  do {                                                                       \
    if (!(cond)) throw ::tessera::Error(::fmt::format(__VA_ARGS__), (kind)); \
  } while (0)

#define TSR_CHECK_INPUT(cond, field, ...)                                                        \
  do {                                                                                           \
    if (!(cond))                                                                                 \
      throw ::tessera::Error(::fmt::format(__VA_ARGS__), ::tessera::ErrorKind::kInvalidArgument, \
                             (field));                                                           \
  } while (0)

#define TSR_INVARIANT(cond, ...)                                                           \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw ::tessera::Error(::fmt::format(__VA_ARGS__), ::tessera::ErrorKind::kInternal); \
  } while (0)
