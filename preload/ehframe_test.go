package preload

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"testing"
)

func loadEhFrame(t *testing.T, path string) []Row {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	f, err := parseELF(data)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := f.section(".eh_frame")
	if !ok {
		t.Fatalf("%s: no .eh_frame", path)
	}
	d, err := f.sectionData(s)
	if err != nil {
		t.Fatal(err)
	}
	rows, skipped, err := UnwindRows(d, s.addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 0 {
		t.Errorf("%s: %d FDEs skipped", path, skipped)
	}
	return rows
}

func ruleAt(rows []Row, pc uint64) Rule {
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Start > pc })
	if i == 0 {
		return Rule{}
	}
	return rows[i-1].Rule
}

// Every row readelf interprets as "CFA = rsp/rbp + N, ra at c-8" must map to the same rule.
func TestUnwindRowsMatchReadelf(t *testing.T) {
	for _, lib := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"} {
		rows := loadEhFrame(t, lib)
		// readelf exits 1 on some notes it cannot decode; its frame dump is still complete.
		out, err := exec.Command("readelf", "--debug-dump=frames-interp", lib).Output()
		if len(out) == 0 {
			t.Fatal("readelf (binutils) printed nothing:", err)
		}
		header := regexp.MustCompile(`^\s+LOC\s+CFA\s+(.*)$`)
		row := regexp.MustCompile(`^([0-9a-f]{16}) (\S+)\s+(.*)$`)
		cfaRe := regexp.MustCompile(`^(rsp|rbp)\+(\d+)$`)
		var cols []string
		checked, mismatched := 0, 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := header.FindStringSubmatch(line); m != nil {
				cols = regexp.MustCompile(`\s+`).Split(m[1], -1)
				continue
			}
			m := row.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			c := cfaRe.FindStringSubmatch(m[2])
			vals := regexp.MustCompile(`\s+`).Split(m[3], -1)
			if c == nil || len(vals) != len(cols) {
				continue
			}
			rbp, ra := "u", ""
			for i, col := range cols {
				switch col {
				case "rbp":
					rbp = vals[i]
				case "ra":
					ra = vals[i]
				}
			}
			if ra != "c-8" {
				continue
			}
			pc, _ := strconv.ParseUint(m[1], 16, 64)
			if pc == 0 {
				continue // an FDE of discarded code: the table skips it
			}
			off, _ := strconv.Atoi(c[2])
			want := Rule{Kind: RuleCFA, CFAReg: dwRegRSP, CFAOff: int32(off), RAOff: -8}
			if c[1] == "rbp" {
				want.CFAReg = dwRegRBP
			}
			switch {
			case rbp == "u":
				want.FPRule = FPSame
			case regexp.MustCompile(`^c-\d+$`).MatchString(rbp):
				n, _ := strconv.Atoi(rbp[2:])
				want.FPRule, want.FPOff = FPAtCFA, int16(-n)
			default:
				continue
			}
			checked++
			if got := ruleAt(rows, pc); got != want {
				mismatched++
				if mismatched < 5 {
					t.Errorf("%s at 0x%x: got %+v, readelf says %+v (%s)", lib, pc, got, want, line)
				}
			}
		}
		if checked < 1000 {
			t.Errorf("%s: only %d readelf rows compared", lib, checked)
		}
		t.Logf("%s: %d rows, %d readelf rows compared, %d mismatched", lib, len(rows), checked, mismatched)
	}
}

func TestSignalTrampolineRule(t *testing.T) {
	rows := loadEhFrame(t, "/lib/x86_64-linux-gnu/libc.so.6")
	n := 0
	for _, r := range rows {
		if r.Rule.Kind == RuleSignal {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no signal-frame rule in libc (__restore_rt)")
	}
}
