package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A crash is never swallowed: whatever the crashing thread or the other threads were doing,
// the process dies as it would have without the library, after one complete report, and
// nothing the host can observe changed on the way.

func swallowBin(t testing.TB) string {
	return compile(t, "swallow.c", "-O0", "-g", "-fno-omit-frame-pointer")
}

const endMarker = "*** end of crashguard report"

// completeReports counts the text reports that were written to their end.
func completeReports(r result) int { return strings.Count(r.stderr, endMarker) }

// wantDeathAsWithout runs bin without the library and checks that r died the same way.
func wantDeathAsWithout(t *testing.T, r result, bin string, args ...string) {
	t.Helper()
	without := run(t, runOpts{}, bin, args...)
	if without.signal == 0 || r.signal != without.signal || r.exitCode != without.exitCode {
		t.Fatalf("%v: without the library signal %d exit %d; with it: %s", args, without.signal, without.exitCode, r)
	}
}

// One report, the death unchanged.
func wantOneReport(t *testing.T, r result, sig syscall.Signal, what string) {
	t.Helper()
	if r.signal != sig {
		t.Fatalf("%s: want death by signal %d, got %s", what, sig, r)
	}
	if n := completeReports(r); n != 1 {
		t.Fatalf("%s: %d complete reports, want 1:\n%s", what, n, r)
	}
}

// Threads with a deferred pthread_cancel pending crash at once (the winner reports, the
// others wait for it): no system call of the handler may act on the request, or the thread
// is cancelled inside the handler, runs its cleanup handlers and vanishes, and the process
// runs on after a SIGSEGV.
func TestCrashWithCancellationPending(t *testing.T) {
	bin := swallowBin(t)
	for _, n := range []string{"1", "4"} {
		t.Run(n+"-threads", func(t *testing.T) {
			wantDeathAsWithout(t, run(t, runOpts{preload: true, env: noHelper}, bin, "cancel", n), bin, "cancel", n)
			for i := 0; i < 10; i++ {
				r := run(t, runOpts{preload: true, env: noHelper}, bin, "cancel", n)
				wantOneReport(t, r, syscall.SIGSEGV, fmt.Sprintf("run %d", i))
				if strings.Contains(r.stdout, "cleanup handler") || strings.Contains(r.stdout, "lives on") {
					t.Fatalf("run %d: a crashed thread was cancelled inside the handler:\n%s", i, r)
				}
			}
		})
	}
}

// Cancellation points the signal path must not call (POSIX's list and glibc's extras);
// syscall() is not one of them.
var cancellationPoints = []string{
	"accept", "accept4", "aio_suspend", "clock_nanosleep", "close", "connect", "creat", "creat64",
	"fcntl", "fcntl64", "fdatasync", "fsync", "getmsg", "lockf", "msgrcv", "msgsnd", "msync",
	"nanosleep", "open", "open64", "openat", "openat64", "pause", "poll", "ppoll", "pread",
	"pread64", "preadv", "pselect", "pthread_cond_timedwait", "pthread_cond_wait", "pthread_join",
	"pthread_testcancel", "pwrite", "pwrite64", "pwritev", "read", "readv", "recv", "recvfrom",
	"recvmsg", "select", "sem_timedwait", "sem_wait", "send", "sendmsg", "sendto", "sigpause",
	"sigsuspend", "sigtimedwait", "sigwait", "sigwaitinfo", "sleep", "system", "tcdrain",
	"usleep", "wait", "waitid", "waitpid", "write", "writev", "epoll_wait", "epoll_pwait",
	"futex", "ioctl", "__open_2", "__open64_2", "__read_chk", "__poll_chk",
}

// Each signal-path object, compiled alone: none may import a cancellation point.
func TestSignalPathHasNoCancellationPoint(t *testing.T) {
	sources, _ := filepath.Glob(filepath.Join(repoDir, "sigsafe", "*.c"))
	if len(sources) == 0 {
		t.Fatal("no sigsafe sources")
	}
	dir := t.TempDir()
	banned := map[string]bool{}
	for _, name := range cancellationPoints {
		banned[name] = true
	}
	for _, src := range sources {
		obj := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+".o")
		cmd := exec.Command("gcc", "-std=gnu11", "-D_GNU_SOURCE", "-O2", "-fPIC", "-ftls-model=initial-exec",
			"-fno-omit-frame-pointer", "-fno-stack-protector", "-c", "-o", obj, src)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", src, err, out)
		}
		for _, sym := range strings.Fields(runOut(t, "nm", "-u", obj)) {
			if sym == "U" {
				continue
			}
			if banned[strings.SplitN(sym, "@", 2)[0]] {
				t.Errorf("%s imports %s, a cancellation point", filepath.Base(src), sym)
			}
		}
	}
}

// The main thread blocks in a call a signal interrupts for good (sleep, pause, poll) while
// a worker crashes. Asked for its backtrace, main must not go back to that call: it would
// return early and main() would end the process with status 0 while the report is written.
func TestMainBlockedInSleepPausePoll(t *testing.T) {
	bin := swallowBin(t)
	for _, mode := range []string{"sleep", "pause", "poll"} {
		t.Run(mode, func(t *testing.T) {
			wantDeathAsWithout(t, run(t, runOpts{preload: true, env: noHelper}, bin, mode), bin, mode)
			for i := 0; i < 10; i++ {
				r := run(t, runOpts{preload: true, env: noHelper}, bin, mode)
				wantOneReport(t, r, syscall.SIGSEGV, fmt.Sprintf("run %d", i))
				if strings.Contains(r.stdout, "returned early") {
					t.Fatalf("run %d: main returned into the program during the report:\n%s", i, r)
				}
				// main answered (and then waited): its backtrace is in the report.
				if !regexp.MustCompile(`(?m)^thread: tid \d+ "swallow-\d+" \(main thread\)\n#0 `).MatchString(r.stderr) {
					t.Fatalf("run %d: no backtrace of the main thread:\n%s", i, r.stderr)
				}
			}
		})
	}
}

// Whether a thread blocks the backtrace signal is read from the SigBlk line of its
// /proc status file, which comes after the Groups line: 3,000 supplementary groups put it
// some 20 KB into the file. The main thread must still be asked, and shown.
func TestLongGroupsLineDoesNotHideThreads(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) missing")
	}
	groups := make([]string, 3000)
	for i := range groups {
		groups[i] = strconv.Itoa(100000 + i)
	}
	r := run(t, runOpts{preload: true, env: noHelper}, "setpriv", "--groups="+strings.Join(groups, ","), swallowBin(t), "sleep")
	wantOneReport(t, r, syscall.SIGSEGV, "3000 groups")
	if strings.Contains(r.stderr, "block the signal used to ask for backtraces") ||
		!regexp.MustCompile(`(?m)^thread: tid \d+ "swallow-\d+" \(main thread\)\n#0 `).MatchString(r.stderr) {
		t.Fatalf("the main thread was taken for one that blocks the backtrace signal:\n%s", r.stderr)
	}
}

// A thread that cannot take the backtrace signal in time (it waits in vfork() for its
// child, which keeps signals pending) takes it late. Had the host's disposition (the
// default: terminate) been put back by then, the process would die of SIGRTMAX-1 instead
// of SIGSEGV, the end of the report lost. Mode late-answer 0 ends the vfork the moment
// the handler of that signal is gone from /proc/<pid>/status; the delays put the late
// delivery at different points of the report's tail (20,000 mappings make it long).
func TestLateAnswerKeepsTheDeath(t *testing.T) {
	bin := swallowBin(t)
	delays := []string{"0", "0", "0", "0", "0", "0", "0", "0", "0", "0"}
	for ms := 300; ms < 400; ms += 10 {
		delays = append(delays, strconv.Itoa(ms))
	}
	for i, ms := range delays {
		r := run(t, runOpts{preload: true, env: noHelper}, bin, "late-answer", ms)
		wantOneReport(t, r, syscall.SIGSEGV, fmt.Sprintf("run %d, child %s ms", i, ms))
	}
}

// Where the kernel refuses process_vm_readv (a seccomp filter), memory is read after a
// probe of each page: the crashing thread's stack and an asked thread's are still walked.
func TestReadsWhereProcessVMReadvIsRefused(t *testing.T) {
	r := run(t, runOpts{preload: true, env: noHelper}, swallowBin(t), "no-vm-readv")
	if !strings.Contains(r.stdout, "process_vm_readv refused") {
		t.Fatalf("the filter did not refuse process_vm_readv: %s", r)
	}
	wantOneReport(t, r, syscall.SIGSEGV, "no-vm-readv")
	crashing := r.stderr[:strings.Index(r.stderr, "other threads")]
	if !regexp.MustCompile(`(?m)^#3 0x`).MatchString(crashing) {
		t.Fatalf("the crashing thread's stack (4 frames deep at least) was not walked:\n%s", r.stderr)
	}
	if !regexp.MustCompile(`(?m)^thread: tid \d+ .*\n#0 .*\n#1 0x`).MatchString(r.stderr[len(crashing):]) {
		t.Fatalf("the worker's stack was not walked:\n%s", r.stderr)
	}
}

// The program's own alternate stack, as small as the kernel's minimum plus 2 KiB, or the
// legacy SIGSTKSZ: the handler (and a thread asked for its backtrace, on an equally small
// one) must fit, in both formats. With a guard page below: a complete report and the
// death by SIGSEGV, not by a fault on the guard. With memory below: not one byte of it
// written.
func TestReportFitsSmallAltStack(t *testing.T) {
	bin := swallowBin(t)
	for _, size := range []string{"min", "8192"} {
		for _, format := range []string{"text", "json"} {
			env := append([]string{"CRASHGUARD_FORMAT=" + format}, noHelper...)
			t.Run(size+"-"+format+"-guard", func(t *testing.T) {
				r := run(t, runOpts{preload: true, env: env}, bin, "altstack", size, "guard")
				if r.signal != syscall.SIGSEGV {
					t.Fatalf("%s", r)
				}
				if threads := wantCompleteReport(t, r, format); threads != 2 {
					t.Fatalf("%d threads' backtraces, want 2 (the crashing one and the worker on its own small alternate stack):\n%s", threads, r.stderr)
				}
			})
			t.Run(size+"-"+format+"-sentinel", func(t *testing.T) {
				r := run(t, runOpts{preload: true, env: env}, bin, "altstack", size, "sentinel")
				if r.exitCode != 0 || !strings.Contains(r.stdout, fmt.Sprintf("child died of signal %d;", syscall.SIGSEGV)) {
					t.Fatalf("%s", r)
				}
				if !strings.Contains(r.stdout, "overwritten: 0\n") {
					t.Fatalf("memory below the program's alternate stack was written:\n%s", r.stdout)
				}
				wantCompleteReport(t, r, format)
			})
		}
	}
}

// wantCompleteReport checks that the one report in r.stderr is complete and returns how
// many threads' backtraces it holds.
func wantCompleteReport(t *testing.T, r result, format string) int {
	t.Helper()
	if format == "text" {
		if n := completeReports(r); n != 1 {
			t.Fatalf("%d complete reports, want 1:\n%s", n, r)
		}
		// The crashing thread's, and each other thread's that answered (a thread line
		// followed by frames).
		return 1 + len(regexp.MustCompile(`(?m)^thread: tid \d+ .*\n#0 `).FindAllString(r.stderr, -1))
	}
	var report struct {
		Threads []struct {
			Frames []json.RawMessage `json:"frames"`
		} `json:"threads"`
		Modules []json.RawMessage `json:"modules"`
		Notes   []string          `json:"notes"`
	}
	var found int
	for _, line := range strings.Split(r.stderr, "\n") {
		if !strings.HasPrefix(line, `{"crashguard_report":1`) {
			continue
		}
		found++
		if err := json.Unmarshal([]byte(line), &report); err != nil || report.Modules == nil || report.Notes == nil {
			t.Fatalf("incomplete JSON report (%v):\n%s", err, r.stderr)
		}
	}
	if found != 1 {
		t.Fatalf("%d JSON reports, want 1:\n%s", found, r)
	}
	with := 0
	for _, th := range report.Threads {
		if len(th.Frames) > 0 {
			with++
		}
	}
	return with
}

// glibc's setuid() in a threaded process signals every thread (SIGSETXID, with a handler
// on the alternate stack) and waits for each. The report is written on a stack of its own,
// off the alternate stack: such a signal would be delivered at the alternate stack's top
// again, over the crash's own signal frame, and the report would describe the setxid
// signal (or worse). Twenty runs, another thread calling setuid() without a pause.
func TestSetuidDuringReport(t *testing.T) {
	bin := swallowBin(t)
	for i := 0; i < 20; i++ {
		r := run(t, runOpts{preload: true, env: noHelper}, bin, "setuid-in-report")
		wantOneReport(t, r, syscall.SIGSEGV, fmt.Sprintf("run %d", i))
		wantLine(t, r, `^\*\*\* crashguard: SIGSEGV \(segmentation fault\), address not mapped to object \[si_code 1\]$`)
		wantLine(t, r, `^fault address: 0x0$`)
	}
}

// A vfork() child runs on its parent's memory and its parent thread's TLS: its crash is
// reported, and must leave the parent's own report (a later crash) to the parent.
func TestVforkChildCrashLeavesParentsReport(t *testing.T) {
	bin := swallowBin(t)
	r := run(t, runOpts{preload: true, env: noHelper}, bin, "vfork")
	wantDeathAsWithout(t, r, bin, "vfork")
	if n := completeReports(r); n != 2 {
		t.Fatalf("%d complete reports, want the child's and the parent's:\n%s", n, r)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("vfork child died of signal %d", syscall.SIGSEGV)) {
		t.Fatalf("%s", r)
	}
	wantLine(t, r, `^fault address: 0x0$`)
	wantLine(t, r, `^fault address: 0x10$`)
}

// A child forked while another thread's crash is being reported starts with a copy of the
// claim on the report, a report that never finishes in its copy: its own crash is
// reported all the same.
func TestForkDuringReport(t *testing.T) {
	bin := swallowBin(t)
	r := run(t, runOpts{preload: true, env: noHelper}, bin, "fork-in-report")
	if r.signal != syscall.SIGSEGV {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("forked child died of signal %d", syscall.SIGSEGV)) {
		t.Fatalf("the forked child did not die of SIGSEGV: %s", r)
	}
	if n := completeReports(r); n != 2 {
		t.Fatalf("%d complete reports, want the parent's and the forked child's:\n%s", n, r)
	}
	wantLine(t, r, `^fault address: 0x8$`)
	wantLine(t, r, `^fault address: 0x18$`)
}

// A wrapper passes its child's death on: timeout and strace re-raise the child's signal on
// themselves (with raise()), a shell script may kill itself. One crash, one report: the
// wrapper's death is said in one line, and the wrapper dies as it would have.
func TestWrapperPassingOnDeathIsNotASecondReport(t *testing.T) {
	crasher := coreBin(t)
	wrappers := map[string][]string{
		"timeout": {"timeout", "10", crasher, "null"},
		"bash":    {"bash", "-c", crasher + " null; kill -SEGV $$"},
	}
	if path, err := exec.LookPath("strace"); err == nil && run(t, runOpts{}, path, "-f", "-o", "/dev/null", "/bin/true").exitCode == 0 {
		wrappers["strace"] = []string{path, "-f", "-o", "/dev/null", crasher, "null"}
	}
	for name, argv := range wrappers {
		t.Run(name, func(t *testing.T) {
			r := run(t, runOpts{preload: true, env: noHelper}, argv[0], argv[1:]...)
			wantDeathAsWithout(t, r, argv[0], argv[1:]...)
			if n := completeReports(r); n != 1 {
				t.Fatalf("%d complete reports, want only the crasher's:\n%s", n, r.stderr)
			}
			wantLine(t, r, `^\*\*\* crashguard: SIGSEGV \(segmentation fault\), address not mapped`)
			line := fmt.Sprintf(`(?m)^\*\*\* crashguard: SIGSEGV sent by the process to itself with \S+ after a child of it ended .*not a crash of its own code, no report \(pid \d+, \S*/%s\)$`, name)
			if n := len(regexp.MustCompile(line).FindAllString(r.stderr, -1)); n != 1 {
				t.Fatalf("%d lines about the passed-on death, want 1:\n%s", n, r.stderr)
			}
		})
	}
}

// The other side: a program that raises or aborts, or whose own fault handler re-raises the
// fault (after it ran a child, like a wrapper), crashed: a full report.
func TestAbortRaiseAndReRaisingHandlersStillReported(t *testing.T) {
	bin := swallowBin(t)
	for _, c := range []struct {
		mode string
		sig  syscall.Signal
	}{
		{"raise", syscall.SIGSEGV}, {"abort", syscall.SIGABRT}, {"child-then-raise", syscall.SIGSEGV},
		{"handler-reraise", syscall.SIGSEGV}, {"handler-kill", syscall.SIGSEGV},
	} {
		t.Run(c.mode, func(t *testing.T) {
			r := run(t, runOpts{preload: true, env: noHelper}, bin, c.mode)
			wantDeathAsWithout(t, r, bin, c.mode)
			wantOneReport(t, r, c.sig, c.mode)
			if strings.Contains(r.stderr, "not a crash of its own code") {
				t.Fatalf("taken for a passed-on death:\n%s", r.stderr)
			}
		})
	}
}
