package dwarfcache

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func buildC(t *testing.T, src string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc missing")
	}
	bin := filepath.Join(t.TempDir(), "bin")
	args := append([]string{"-o", bin, src}, flags...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

func TestInlineChainMatchesLLVMSymbolizer(t *testing.T) {
	if _, err := exec.LookPath("llvm-symbolizer"); err != nil {
		t.Skip("llvm-symbolizer (Debian package llvm) not installed")
	}
	src, _ := filepath.Abs("../tests/crashers/inline.c")
	for _, flags := range [][]string{{"-O2", "-g"}, {"-O2", "-gdwarf-4"}, {"-O2", "-g", "-gz"}} {
		bin := buildC(t, src, flags...)
		data, _ := os.ReadFile(bin)
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		tab, err := Extract(f)
		if err != nil {
			t.Fatal(err)
		}
		syms, _ := f.Symbols()
		var fn elf.Symbol
		for _, s := range syms {
			if s.Name == "table_total" {
				fn = s
			}
		}
		checked := 0
		for addr := fn.Value; addr < fn.Value+fn.Size; addr++ {
			got := tab.Symbolize(addr, "table_total")
			out, err := exec.Command("llvm-symbolizer", "--inlining", "--no-demangle", "--obj="+bin, "0x"+strconv.FormatUint(addr, 16)).Output()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var want []string
			for i := 0; i+1 < len(lines); i += 2 {
				fl := lines[i+1]
				if c := strings.LastIndexByte(fl, ':'); c > 0 && strings.Count(fl, ":") >= 2 {
					fl = fl[:c] // drop the column
				}
				want = append(want, lines[i]+" "+fl)
			}
			if strings.Join(got, " | ") != strings.Join(want, " | ") {
				t.Errorf("%v at 0x%x: got %q, llvm-symbolizer %q", flags, addr, got, want)
				if checked > 5 {
					return
				}
			}
			checked++
		}
		t.Logf("%v: %d addresses agree with llvm-symbolizer", flags, checked)
	}
}
