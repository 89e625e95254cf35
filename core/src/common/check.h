// The core's own spelling of tessera/check.h: core files (and work on other branches) include
// "common/check.h"; the macros are public since tools throw the same errors.
#pragma once

#include "tessera/check.h"
