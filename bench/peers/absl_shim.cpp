// absl_shim.cpp — Abseil's failure signal handler as a preload library, for comparison
// (Debian: libabsl-dev).  Built by bench/run.sh, never shipped.
#include <absl/debugging/failure_signal_handler.h>
#include <absl/debugging/symbolize.h>

namespace {
struct Install {
    Install() {
        absl::InitializeSymbolizer("/proc/self/exe");
        absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
    }
} install;
} // namespace
