package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const checkHelp = `Runs PROGRAM (default /bin/true) with the library preloaded and CRASHGUARD_DEBUG=1, so its
load-time decisions (and its helper's work) are printed, then exits as the program did: with
its exit status, or, if it died of a signal, of the same signal (without a core dump of its
own), so that a shell sees 128+N.

  --library LIB   libcrashguard.so (default: LD_PRELOAD's, next to crashguard, or the
                  standard places: crashguard(1))
`

func check(args []string) error {
	fs := newFlags("check")
	library := fs.String("library", "", "")
	prog, err := parse(fs, args, true)
	if err != nil {
		return err
	}
	lib, err := findLibrary(*library)
	if err != nil {
		return err
	}
	if len(prog) == 0 {
		prog = []string{"/bin/true"}
	}
	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib, "CRASHGUARD_DEBUG=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return exitStatus{127, err.Error()}
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		dieOf(ws.Signal())
	}
	if code := ws.ExitStatus(); code != 0 {
		return exitStatus{code, ""}
	}
	return nil
}

// dieOf ends this process by sig, as the program it ran ended: the disposition set to the
// default past the Go runtime (whose handlers would turn a SIGSEGV or SIGABRT into a Go
// crash dump), the signal unblocked on this thread and sent to it. No core dump of ours: the
// program's own, if any, is the one that matters.
func dieOf(sig syscall.Signal) {
	runtime.LockOSThread()
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	var dfl [4]uint64 // struct kernel_sigaction: handler SIG_DFL, flags, restorer, mask
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	// Still here (a signal whose default is to be ignored): the shell's convention.
	fmt.Fprintf(os.Stderr, "crashguard check: the program died of signal %d\n", sig)
	os.Exit(128 + int(sig))
}
