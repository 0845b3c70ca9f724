// backward_shim.cpp — backward-cpp's signal handler as a preload library, for comparison
// (Debian: libbackward-cpp-dev, libdw-dev).  Built by bench/run.sh, never shipped.
#define BACKWARD_HAS_DW 1
#include <backward.hpp>

namespace {
backward::SignalHandling handling;
}
