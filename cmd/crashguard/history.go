package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const listHelp = `Lists the crashes recorded in the journal (entries with SYSLOG_IDENTIFIER=crashguard, read
with journalctl -o json) and in report directories, oldest first, one line each: time, pid,
uid, signal, executable, signature, unit, and the ID that crashguard info takes.

  --since T       only crashes since T: a duration ago (90m, 2h, 3d), a date (2006-01-02),
                  a time (2006-01-02 15:04[:05], RFC 3339) or @UNIXSECONDS
  --json          one JSON object per crash and line, with the same fields and the source
  --dir DIR       a directory of report files (CRASHGUARD_OUTPUT=file:...); repeatable.
                  Default: the directory of CRASHGUARD_OUTPUT's file pattern, when it is set
  --no-journal    do not read the journal

A journal that cannot be read (no journalctl, no journal here) is said in one line on
stderr and left out. Report files are recognized by their content (text or JSON reports);
their time is the file's modification time, their uid its owner.
`

const infoHelp = `Prints one recorded crash's report, symbolized as crashguard symbolize prints it. The crash
is named by the ID crashguard list shows, a pid, a signature (0x followed by 16 hex digits),
or a report file; for a pid or a signature shared by several crashes, the latest.

  --dir DIR       a directory of report files; repeatable (default as for list)
  --no-journal    do not read the journal
  --search DIR    as for crashguard symbolize; repeatable

Exit status 1 if no recorded crash matches.
`

// crash is one recorded crash.
type crash struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	PID        int       `json:"pid"`
	UID        int       `json:"uid"`
	Signal     string    `json:"signal"`
	Executable string    `json:"executable"`
	Signature  string    `json:"signature"`
	Unit       string    `json:"unit,omitempty"`
	Source     string    `json:"source"` // "journal" or the report file's path
	// Repeat: a crash over CRASHGUARD_STORM_LIMIT, its number in the window; it has no report.
	Repeat int `json:"repeat,omitempty"`
	report []byte
}

func list(args []string) error {
	fs := newFlags("list")
	var dirs multiFlag
	fs.Var(&dirs, "dir", "")
	noJournal := fs.Bool("no-journal", false, "")
	asJSON := fs.Bool("json", false, "")
	sinceText := fs.String("since", "", "")
	operands, err := parse(fs, args, false)
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		return usagef("no operands expected, got %q", operands[0])
	}
	var since time.Time
	if *sinceText != "" {
		if since, err = parseSince(*sinceText, time.Now()); err != nil {
			return usagef("--since %q: %v", *sinceText, err)
		}
	}
	crashes, err := gather(dirs, *noJournal, since)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, c := range crashes {
			if err := enc.Encode(c); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPID\tUID\tSIGNAL\tEXECUTABLE\tSIGNATURE\tUNIT\tID")
	for _, c := range crashes {
		unit := c.Unit
		if unit == "" {
			unit = "-"
		}
		signal := c.Signal
		if c.Repeat > 0 {
			signal += fmt.Sprintf(" (repeat %d, no report)", c.Repeat)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Time.Local().Format("2006-01-02 15:04:05 MST"),
			c.PID, c.UID, signal, c.Executable, c.Signature, unit, c.ID)
	}
	tw.Flush()
	if len(crashes) == 0 {
		fmt.Fprintln(os.Stderr, "crashguard list: no crashes recorded")
	}
	return nil
}

func info(args []string) error {
	fs := newFlags("info")
	var dirs, search multiFlag
	fs.Var(&dirs, "dir", "")
	fs.Var(&search, "search", "")
	noJournal := fs.Bool("no-journal", false, "")
	operands, err := parse(fs, args, false)
	if err != nil {
		return err
	}
	key, err := one(operands, "one crash: an ID, a pid, a signature or a report file")
	if err != nil {
		return err
	}
	for _, d := range search {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return usagef("--search %s: no such directory", d)
		}
	}
	var match *crash
	if st, err := os.Stat(key); err == nil && st.Mode().IsRegular() {
		c, ok := readReportFile(key, st)
		if !ok {
			return fmt.Errorf("%s: no crashguard report in it", key)
		}
		match = &c
	} else {
		crashes, err := gather(dirs, *noJournal, time.Time{})
		if err != nil {
			return err
		}
		for i := range crashes { // oldest first: the last match is the latest
			if crashes[i].matches(key) {
				match = &crashes[i]
			}
		}
	}
	if match == nil {
		return fmt.Errorf("no recorded crash matches %q (crashguard list shows them)", key)
	}
	fmt.Printf("# %s, from %s\n", match.Time.Local().Format("2006-01-02 15:04:05 MST"), match.Source)
	if match.Repeat > 0 && len(match.report) == 0 {
		fmt.Printf("%s in %s (pid %d, signature %s): crash %d with this signature in its storm window, "+
			"counted but not reported in full (CRASHGUARD_STORM_LIMIT); the window's first crashes have reports\n",
			match.Signal, match.Executable, match.PID, match.Signature, match.Repeat)
		return nil
	}
	return newSymbolizer(search).report(match.report, os.Stdout)
}

func (c *crash) matches(key string) bool {
	if strings.HasPrefix(key, "0x") {
		return strings.EqualFold(c.Signature, key)
	}
	if pid, err := strconv.Atoi(key); err == nil {
		return c.PID == pid
	}
	return c.ID == key
}

// gather reads every source, oldest crash first.
func gather(dirs []string, noJournal bool, since time.Time) ([]crash, error) {
	if len(dirs) == 0 {
		if d := outputDir(os.Getenv("CRASHGUARD_OUTPUT")); d != "" {
			dirs = []string{d}
		}
	}
	var all []crash
	for _, d := range dirs {
		cs, err := readReportDir(d)
		if err != nil {
			return nil, usagef("--dir %s: %v", d, err)
		}
		all = append(all, cs...)
	}
	if !noJournal {
		cs, err := readJournal(since)
		if err != nil {
			fmt.Fprintf(os.Stderr, "crashguard: the journal was not read: %v\n", err)
		}
		all = append(all, cs...)
	}
	var kept []crash
	for _, c := range all {
		if since.IsZero() || !c.Time.Before(since) {
			kept = append(kept, c)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Time.Before(kept[j].Time) })
	return kept, nil
}

// outputDir is the directory of CRASHGUARD_OUTPUT's file pattern (its part before any %).
func outputDir(output string) string {
	for _, tok := range strings.Split(output, ",") {
		tok = strings.TrimSpace(tok)
		if !strings.HasPrefix(tok, "file:/") {
			continue
		}
		pattern := tok[len("file:"):]
		if i := strings.IndexByte(pattern, '%'); i >= 0 {
			pattern = pattern[:i]
			return filepath.Dir(pattern + "x")
		}
		return filepath.Dir(pattern)
	}
	return ""
}

func shortID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%s-%x", prefix, sum[:4])
}

// maxReportFile bounds what is read of one file (a report of every thread of a big process
// is a few hundred KiB).
const maxReportFile = 16 << 20

func readReportDir(dir string) ([]crash, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	var out []crash
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if c, ok := readReportFile(p, st); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

var (
	textHead      = regexp.MustCompile(`(?m)^\*\*\* crashguard: (SIG[A-Z0-9]+) `)
	textProcess   = regexp.MustCompile(`(?m)^process: pid (\d+)(?:, executable (.*))?$`)
	textSignature = regexp.MustCompile(`(?m)^signature: (0x[0-9a-f]+)$`)
	textTime      = regexp.MustCompile(`(?m)^time: (\S+?),? `)
	textUser      = regexp.MustCompile(`(?m)^user: uid (\d+) `)
	textUnit      = regexp.MustCompile(`(?m)^cgroup: .*?, (?:user )?unit ([^,\n]+)`)
)

func readReportFile(p string, st os.FileInfo) (crash, bool) {
	f, err := os.Open(p)
	if err != nil {
		return crash{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReportFile))
	if err != nil || !hasReport(data) {
		return crash{}, false
	}
	c, ok := parseReport(data)
	if !ok {
		return crash{}, false
	}
	c.Source, c.ID = p, shortID("f", p)
	// The report's own time and uid; the file's for a report without them (an older one).
	if c.Time.IsZero() {
		c.Time = st.ModTime()
	}
	if c.UID < 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			c.UID = int(sys.Uid)
		}
	}
	return c, true
}

// parseReport reads the facts list shows from a report, text or JSON.
func parseReport(data []byte) (crash, bool) {
	c := crash{report: data, UID: -1}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var r struct {
			Report     int    `json:"crashguard_report"`
			Signal     string `json:"signal"`
			PID        int    `json:"pid"`
			Executable string `json:"executable"`
			Signature  string `json:"signature"`
			Context    struct {
				Time     string  `json:"time"`
				UID      *int    `json:"uid"`
				Unit     *string `json:"unit"`
				UserUnit *string `json:"user_unit"`
			} `json:"context"`
		}
		line, _, _ := bytes.Cut(trimmed, []byte("\n"))
		if json.Unmarshal(line, &r) != nil || r.Report == 0 {
			return c, false
		}
		c.Signal, c.PID, c.Executable, c.Signature = r.Signal, r.PID, r.Executable, r.Signature
		if t, err := time.Parse(time.RFC3339Nano, r.Context.Time); err == nil {
			c.Time = t
		}
		if r.Context.UID != nil {
			c.UID = *r.Context.UID
		}
		if r.Context.Unit != nil {
			c.Unit = *r.Context.Unit
		} else if r.Context.UserUnit != nil {
			c.Unit = *r.Context.UserUnit
		}
		return c, true
	}
	m := textHead.FindSubmatch(data)
	if m == nil {
		return c, false
	}
	c.Signal = string(m[1])
	if m := textProcess.FindSubmatch(data); m != nil {
		c.PID, _ = strconv.Atoi(string(m[1]))
		c.Executable = string(m[2])
	}
	if m := textSignature.FindSubmatch(data); m != nil {
		c.Signature = string(m[1])
	}
	if m := textTime.FindSubmatch(data); m != nil {
		if t, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil {
			c.Time = t
		}
	}
	if m := textUser.FindSubmatch(data); m != nil {
		c.UID, _ = strconv.Atoi(string(m[1]))
	}
	if m := textUnit.FindSubmatch(data); m != nil {
		c.Unit = string(m[1])
	}
	return c, true
}

// readJournal asks journalctl for crashguard's entries (since, if given).
func readJournal(since time.Time) ([]crash, error) {
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return nil, errors.New("no journalctl")
	}
	args := []string{"-o", "json", "--all", "--no-pager", "SYSLOG_IDENTIFIER=crashguard"}
	if !since.IsZero() {
		args = append(args, "--since", "@"+strconv.FormatInt(since.Unix(), 10))
	}
	cmd := exec.Command(path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var crashes []crash
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if c, ok := journalEntry(sc.Bytes()); ok {
			crashes = append(crashes, c)
		}
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(strings.SplitN(stderr.String(), "\n", 2)[0])
		if msg == "" {
			msg = err.Error()
		}
		return crashes, fmt.Errorf("journalctl: %s", msg)
	}
	return crashes, nil
}

// journalEntry reads one line of journalctl -o json. A field is a string, or an array of
// bytes when it is not valid UTF-8 (or, repeated, an array of those).
func journalEntry(line []byte) (crash, bool) {
	var e map[string]json.RawMessage
	if json.Unmarshal(line, &e) != nil {
		return crash{}, false
	}
	field := func(name string) string {
		raw, ok := e[name]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var b []byte
		var ints []int
		if json.Unmarshal(raw, &ints) == nil {
			for _, i := range ints {
				b = append(b, byte(i))
			}
			return string(b)
		}
		return ""
	}
	if field("SYSLOG_IDENTIFIER") != "crashguard" || field("CRASHGUARD_SIGNAL") == "" {
		return crash{}, false
	}
	c := crash{
		Signal:     field("CRASHGUARD_SIGNAL"),
		Executable: field("CRASHGUARD_EXECUTABLE"),
		Signature:  field("CRASHGUARD_SIGNATURE"),
		Unit:       field("_SYSTEMD_UNIT"),
		Source:     "journal",
		report:     []byte(field("CRASHGUARD_REPORT")),
		UID:        -1,
	}
	if c.Unit == "" {
		c.Unit = field("_SYSTEMD_USER_UNIT")
	}
	if c.Unit == "" { // journald could not tell, the process being gone: the entry's own
		c.Unit = field("CRASHGUARD_UNIT")
	}
	c.Repeat, _ = strconv.Atoi(field("CRASHGUARD_REPEAT"))
	c.PID, _ = strconv.Atoi(field("_PID"))
	if uid, err := strconv.Atoi(field("_UID")); err == nil {
		c.UID = uid
	}
	if us, err := strconv.ParseInt(field("__REALTIME_TIMESTAMP"), 10, 64); err == nil {
		c.Time = time.UnixMicro(us)
	}
	if m := textProcess.FindSubmatch(c.report); m != nil && c.PID == 0 {
		c.PID, _ = strconv.Atoi(string(m[1]))
	}
	c.ID = shortID("j", field("__CURSOR")+field("__REALTIME_TIMESTAMP")+field("_PID"))
	return c, true
}

// parseSince reads --since: a duration ago, @UNIXSECONDS, a date or a time.
func parseSince(v string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(v, "@") {
		s, err := strconv.ParseInt(v[1:], 10, 64)
		if err != nil {
			return time.Time{}, errors.New("not @ and Unix seconds")
		}
		return time.Unix(s, 0), nil
	}
	if n := len(v); n > 1 && v[n-1] == 'd' {
		if days, err := strconv.Atoi(v[:n-1]); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a duration (2h, 3d), a date (2006-01-02), a time (2006-01-02 15:04:05) or @UNIXSECONDS")
}
