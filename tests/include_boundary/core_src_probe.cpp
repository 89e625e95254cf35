// A tool-like file that reaches into core/src. It must not compile: the test
// include_boundary.core_src_is_private builds it and expects the compiler to report that
// runtime/device.h does not exist on tessera_core's include path.
#include "tessera/plugins.h"  // the public header compiles
#include "runtime/device.h"   // the internal one must not be found
