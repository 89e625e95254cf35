// Compiles plugins/cuda/linear_quant.cu as C++ for the SIMT emulator (see simt_emulator.h).
#include "simt_emulator.h"
// The emulator header must come first.
#include "../../plugins/cuda/linear_quant.cu"
