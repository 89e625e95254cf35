// The core's own spelling of tessera/log.h: core files include "common/log.h"; the logging
// facade is public since tools log through the same sink and set its level.
#pragma once

#include "tessera/log.h"
