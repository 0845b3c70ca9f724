package main

// crashguard minidump FILE: a summary of a minidump written with
// CRASHGUARD_OUTPUT=minidump:PATTERN (docs/minidump.md) — the exception, the system, every
// thread with its registers and stack, every module with its build-id and the debug
// identifier symbol servers file its symbols under — so that a user can check one without
// other tools.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf16"
)

const (
	mdSignature        = 0x504d444d
	mdThreadList       = 3
	mdModuleList       = 4
	mdMemoryList       = 5
	mdException        = 6
	mdSystemInfo       = 7
	mdThreadNames      = 24
	mdLinuxProcStatus  = 0x47670004
	mdLinuxCmdLine     = 0x47670006
	mdLinuxAuxv        = 0x47670008
	mdLinuxMaps        = 0x47670009
	mdContextSize      = 1232
	mdCVInfoELF        = 0x4270454c
	mdThreadSize       = 48
	mdModuleSize       = 108
	mdThreadNameSize   = 12
	mdMemoryDescriptor = 16
)

type minidump struct {
	data    []byte
	streams map[uint32][]byte
}

func (d *minidump) u16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func (d *minidump) u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func (d *minidump) u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// at returns size bytes at rva, or an error naming what lies outside the file.
func (d *minidump) at(rva, size uint64, what string) ([]byte, error) {
	if rva+size > uint64(len(d.data)) || rva+size < rva {
		return nil, fmt.Errorf("%s: bytes %#x+%d lie outside the file (%d bytes)", what, rva, size, len(d.data))
	}
	return d.data[rva : rva+size], nil
}

func (d *minidump) str(rva uint32) (string, error) {
	head, err := d.at(uint64(rva), 4, "string")
	if err != nil {
		return "", err
	}
	n := d.u32(head, 0)
	b, err := d.at(uint64(rva)+4, uint64(n), "string")
	if err != nil {
		return "", err
	}
	units := make([]uint16, n/2)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(units)), nil
}

func parseMinidump(data []byte) (*minidump, error) {
	d := &minidump{data: data, streams: map[uint32][]byte{}}
	if len(data) < 32 || d.u32(data, 0) != mdSignature {
		return nil, errors.New("not a minidump (no MDMP signature)")
	}
	count, dirRVA := d.u32(data, 8), d.u32(data, 12)
	dir, err := d.at(uint64(dirRVA), uint64(count)*12, "stream directory")
	if err != nil {
		return nil, err
	}
	for i := 0; i < int(count); i++ {
		typ, size, rva := d.u32(dir, 12*i), d.u32(dir, 12*i+4), d.u32(dir, 12*i+8)
		if typ == 0 {
			continue
		}
		b, err := d.at(uint64(rva), uint64(size), fmt.Sprintf("stream %#x", typ))
		if err != nil {
			return nil, err
		}
		if _, dup := d.streams[typ]; dup {
			return nil, fmt.Errorf("stream %#x appears twice", typ)
		}
		d.streams[typ] = b
	}
	return d, nil
}

// list checks a stream that is a 32-bit count followed by count entries of size bytes.
func (d *minidump) list(typ uint32, size int, what string) ([]byte, int, error) {
	s, ok := d.streams[typ]
	if !ok {
		return nil, 0, nil
	}
	if len(s) < 4 {
		return nil, 0, fmt.Errorf("%s: too short", what)
	}
	n := int(d.u32(s, 0))
	if 4+n*size > len(s) {
		return nil, 0, fmt.Errorf("%s: %d entries do not fit in %d bytes", what, n, len(s))
	}
	return s[4:], n, nil
}

var signalNames = map[uint32]string{4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV", 31: "SIGSYS"}

// debugID is the identifier Breakpad's dump_syms and the symbol servers give a module with
// this build-id: its first 16 bytes as a GUID (the first three fields byte-swapped, as
// Windows prints them), then the age, 0.
func debugID(buildID []byte) string {
	g := make([]byte, 16)
	copy(g, buildID)
	return fmt.Sprintf("%08X%04X%04X%X0", binary.LittleEndian.Uint32(g), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:])
}

const minidumpHelp = `Summarizes a minidump written with CRASHGUARD_OUTPUT=minidump:PATTERN: the exception,
the threads, the modules with their build-ids and debug identifiers (docs/minidump.md).
Exit status 1 if the file is not a minidump crashguard can read.
`

func minidumpCmd(args []string) error {
	operands, err := parse(newFlags("minidump"), args, false)
	if err != nil {
		return err
	}
	path, err := one(operands, "one minidump file")
	if err != nil {
		return err
	}
	args = []string{path}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	d, err := parseMinidump(data)
	if err != nil {
		return fmt.Errorf("%s: %v", args[0], err)
	}
	out := &strings.Builder{}
	fmt.Fprintf(out, "minidump %s: %d bytes, %d streams\n", args[0], len(data), len(d.streams))

	crashTID := uint32(0)
	if e, ok := d.streams[mdException]; ok && len(e) >= 168 {
		crashTID = d.u32(e, 0)
		sig, code, addr := d.u32(e, 8), int32(d.u32(e, 12)), d.u64(e, 24)
		name := signalNames[sig]
		if name == "" {
			name = fmt.Sprintf("signal %d", sig)
		}
		fmt.Fprintf(out, "exception: %s, si_code %d, address %#x, thread %d\n", name, code, addr, crashTID)
	} else {
		fmt.Fprintln(out, "exception: none")
	}
	if s, ok := d.streams[mdSystemInfo]; ok && len(s) >= 56 {
		osName, _ := d.str(d.u32(s, 24))
		vendor := string(s[32:44])
		fmt.Fprintf(out, "system: %s; %d CPUs, %s family %d\n", osName, s[6], vendor, d.u16(s, 2))
	}

	names := map[uint32]string{}
	if b, n, err := d.list(mdThreadNames, mdThreadNameSize, "thread names"); err != nil {
		return err
	} else {
		for i := 0; i < n; i++ {
			e := b[i*mdThreadNameSize:]
			name, err := d.str(uint32(d.u64(e, 4)))
			if err != nil {
				return err
			}
			names[d.u32(e, 0)] = name
		}
	}
	b, n, err := d.list(mdThreadList, mdThreadSize, "thread list")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "threads (%d):\n", n)
	for i := 0; i < n; i++ {
		t := b[i*mdThreadSize:]
		tid, stackStart, stackSize := d.u32(t, 0), d.u64(t, 24), d.u32(t, 32)
		ctx, err := d.at(uint64(d.u32(t, 44)), uint64(d.u32(t, 40)), "thread context")
		if err != nil {
			return err
		}
		if len(ctx) < mdContextSize {
			return fmt.Errorf("thread %d: context of %d bytes, want %d", tid, len(ctx), mdContextSize)
		}
		if _, err := d.at(uint64(d.u32(t, 36)), uint64(stackSize), "thread stack"); err != nil {
			return err
		}
		mark := ""
		if tid == crashTID {
			mark = " (crashed)"
		}
		fmt.Fprintf(out, "  tid %d %q%s rip %#x rsp %#x stack %#x-%#x (%d bytes)\n", tid, names[tid], mark,
			d.u64(ctx, 248), d.u64(ctx, 152), stackStart, stackStart+uint64(stackSize), stackSize)
	}
	b, n, err = d.list(mdModuleList, mdModuleSize, "module list")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "modules (%d):\n", n)
	for i := 0; i < n; i++ {
		m := b[i*mdModuleSize:]
		path, err := d.str(d.u32(m, 20))
		if err != nil {
			return err
		}
		id, dbg := "none", "none"
		if size := d.u32(m, 76); size >= 4 {
			cv, err := d.at(uint64(d.u32(m, 80)), uint64(size), "CodeView record")
			if err != nil {
				return err
			}
			if d.u32(cv, 0) == mdCVInfoELF {
				id, dbg = fmt.Sprintf("%x", cv[4:]), debugID(cv[4:])
			}
		}
		fmt.Fprintf(out, "  %#x %#x build-id %s debug-id %s %s\n", d.u64(m, 0), d.u32(m, 8), id, dbg, path)
	}
	b, n, err = d.list(mdMemoryList, mdMemoryDescriptor, "memory list")
	if err != nil {
		return err
	}
	total := uint64(0)
	for i := 0; i < n; i++ {
		r := b[i*mdMemoryDescriptor:]
		if _, err := d.at(uint64(d.u32(r, 12)), uint64(d.u32(r, 8)), "memory range"); err != nil {
			return err
		}
		total += uint64(d.u32(r, 8))
	}
	fmt.Fprintf(out, "memory: %d ranges, %d bytes\n", n, total)
	for _, s := range []struct {
		typ  uint32
		name string
	}{{mdLinuxMaps, "maps"}, {mdLinuxProcStatus, "status"}, {mdLinuxAuxv, "auxv"}, {mdLinuxCmdLine, "cmdline"}} {
		if v, ok := d.streams[s.typ]; ok {
			extra := ""
			if s.typ == mdLinuxCmdLine {
				extra = fmt.Sprintf(" %q", strings.TrimRight(strings.ReplaceAll(string(v), "\x00", " "), " "))
			}
			fmt.Fprintf(out, "linux %s: %d bytes%s\n", s.name, len(v), extra)
		}
	}
	fmt.Print(out.String())
	return nil
}
