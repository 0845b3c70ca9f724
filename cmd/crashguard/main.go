// Command crashguard works with libcrashguard.so from outside the programs it protects:
//
//	crashguard warm [--dir DIR | --system] [--library LIB] [--refresh | --force] [--dpkg] PATH...
//	crashguard inspect MODULE
//	crashguard check [--library LIB] [PROGRAM [ARG...]]
//	crashguard symbolize [--search DIR]... [--debuginfod URL] [REPORT]
//	crashguard list [--since T] [--json] [--dir DIR]...
//	crashguard info [--dir DIR]... ID|PID|SIGNATURE|FILE
//	crashguard minidump FILE
//
// docs/crashguard.md describes each command. Exit status: 0 done, 1 some of the work failed
// (said on stderr), 2 a usage error (one line on stderr).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Set by build.sh (-ldflags -X), the same values as in the library it builds beside.
var (
	version = "unknown"
	build   = "unknown (not built by build.sh)"
)

func versionLine() string { return fmt.Sprintf("crashguard %s (build %s)", version, build) }

// command is one subcommand: its synopsis, its help, and what it does.
type command struct {
	name     string
	synopsis string
	help     string
	run      func(args []string) error
}

var commands []*command

func init() {
	commands = []*command{
		{"warm", "warm [--dir DIR | --system] [--library LIB] [--refresh | --force] [--dpkg] [--max-time D] [--quiet] PATH...", warmHelp, warm},
		{"inspect", "inspect MODULE", inspectHelp, inspect},
		{"check", "check [--library LIB] [PROGRAM [ARG...]]", checkHelp, check},
		{"symbolize", "symbolize [--search DIR]... [--debuginfod URL] [REPORT]", symbolizeHelp, symbolize},
		{"list", "list [--since T] [--json] [--dir DIR]... [--no-journal]", listHelp, list},
		{"info", "info [--dir DIR]... [--no-journal] ID|PID|SIGNATURE|FILE", infoHelp, info},
		{"minidump", "minidump FILE", minidumpHelp, minidumpCmd},
	}
}

func usageText() string {
	var b strings.Builder
	b.WriteString(versionLine() + "\n\nusage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  crashguard %s\n      %s\n", c.synopsis, strings.SplitN(c.help, "\n", 2)[0])
	}
	b.WriteString(`  crashguard --version
  crashguard help [COMMAND]     (or crashguard COMMAND --help)

Exit status: 0 done; 1 some of the work failed (said on stderr); 2 usage error.
Every command and variable: crashguard(1), libcrashguard(8) (docs/crashguard.md).
`)
	return b.String()
}

// usageError is a mistake on the command line: one line, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitStatus is an error that carries its own exit status (check passes the program's on).
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "crashguard: no command given (crashguard --help lists them)")
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Print(usageText())
		return 0
	case "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				printHelp(c)
				return 0
			}
			fmt.Fprintf(os.Stderr, "crashguard help: no command %q (crashguard --help lists them)\n", args[1])
			return 2
		}
		fmt.Print(usageText())
		return 0
	case "-version", "--version", "version":
		fmt.Println(versionLine())
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "crashguard: unknown command %q (crashguard --help lists them)\n", args[0])
		return 2
	}
	err := c.run(args[1:])
	var ue usageError
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		printHelp(c)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "crashguard %s: %s (crashguard %s --help)\n", c.name, ue.msg, c.name)
		return 2
	case errors.As(err, &es):
		if es.msg != "" {
			fmt.Fprintf(os.Stderr, "crashguard %s: %s\n", c.name, es.msg)
		}
		return es.code
	default:
		fmt.Fprintf(os.Stderr, "crashguard %s: %v\n", c.name, err)
		return 1
	}
}

func printHelp(c *command) {
	fmt.Printf("usage: crashguard %s\n\n%s", c.synopsis, c.help)
}

// newFlags is a flag set that reports nothing itself: errors come back to runMain as one line.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags anywhere among the operands (`warm /usr/bin --system`), up to a "--";
// with stopAtOperand, the first operand ends the flags (check PROGRAM ARGS...).
func parse(fs *flag.FlagSet, args []string, stopAtOperand bool) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return operands, nil
		}
		// The flag package stops at the first operand, or just after a "--".
		consumed := len(args) - len(rest)
		if stopAtOperand || (consumed > 0 && args[consumed-1] == "--") {
			return append(operands, rest...), nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// one returns the single operand a command takes.
func one(operands []string, what string) (string, error) {
	switch len(operands) {
	case 0:
		return "", usagef("name %s", what)
	case 1:
		return operands[0], nil
	default:
		return "", usagef("%s only, got %d operands", what, len(operands))
	}
}
