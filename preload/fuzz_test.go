package preload

import (
	"os"
	"testing"
)

// Files a host can present to the precomputation are untrusted: nothing may panic or loop.

func seedFiles(f *testing.F) {
	for _, p := range []string{"/bin/true", "/lib/x86_64-linux-gnu/libc.so.6"} {
		if data, err := os.ReadFile(p); err == nil {
			if len(data) > 1<<16 {
				f.Add(data[:1<<16]) // a truncated file
			}
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte{})
}

func FuzzELFSymbols(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := parseELF(data)
		if err != nil {
			return
		}
		ef.buildID()
		if syms, err := collectSymbols(ef); err == nil {
			for i := 1; i < len(syms); i++ {
				if syms[i-1].Start >= syms[i].Start {
					t.Fatalf("symbols not strictly sorted at %d", i)
				}
			}
		}
		if s, ok := ef.section(".eh_frame"); ok {
			if d, err := ef.sectionData(s); err == nil {
				UnwindRows(d, s.addr, 1<<16)
			}
		}
	})
}

func FuzzEhFrame(f *testing.F) {
	if data, err := os.ReadFile("/bin/true"); err == nil {
		if ef, err := parseELF(data); err == nil {
			if s, ok := ef.section(".eh_frame"); ok {
				if d, err := ef.sectionData(s); err == nil {
					f.Add(d, s.addr)
				}
			}
		}
	}
	f.Add([]byte{0x14, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78, 0x10, 1, 0x1b, 0x0c, 7, 8, 0x90, 1}, uint64(0x1000))
	f.Fuzz(func(t *testing.T, data []byte, vaddr uint64) {
		rows, _, err := UnwindRows(data, vaddr, 1<<16)
		if err != nil {
			return
		}
		for i := 1; i < len(rows); i++ {
			if rows[i-1].Start >= rows[i].Start {
				t.Fatalf("rows not strictly sorted at %d", i)
			}
		}
	})
}
