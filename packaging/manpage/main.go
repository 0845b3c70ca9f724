// Command manpage turns docs/crashguard.md into a manual page (roff, man macros), so that
// the page and the document cannot drift apart:
//
//	go run ./packaging/manpage -name crashguard -section 1 -version V docs/crashguard.md > crashguard.1
//	go run ./packaging/manpage -name libcrashguard -section 8 -version V docs/crashguard.md > libcrashguard.8
//
// The document is one page per "## HEADING" section; -sections picks them (default: every
// section). In NAME and SYNOPSIS only the lines about the page's own name are kept: the
// document describes the library and the command together. It reads the Markdown the
// document uses: paragraphs, `code`, **bold**, indented or fenced code blocks, "- " lists and
// tables (each row becomes a tagged paragraph).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

func main() {
	name := flag.String("name", "crashguard", "the page's name")
	section := flag.String("section", "1", "manual section")
	version := flag.String("version", "", "version shown in the footer")
	sections := flag.String("sections", "", "comma-separated ## headings to keep (default: all)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: manpage -name NAME -section N [-version V] [-sections A,B] FILE.md")
		os.Exit(2)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "manpage:", err)
		os.Exit(1)
	}
	var keep []string
	if *sections != "" {
		keep = strings.Split(*sections, ",")
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	render(w, string(data), page{name: *name, section: *section, version: *version, keep: keep, date: buildDate()})
}

// buildDate honours SOURCE_DATE_EPOCH (reproducible builds).
func buildDate() string {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			t = time.Unix(sec, 0)
		}
	}
	return t.UTC().Format("2006-01-02")
}

type page struct {
	name, section, version, date string
	keep                         []string
}

func (p page) wants(heading string) bool {
	if p.keep == nil {
		return true
	}
	for _, k := range p.keep {
		if strings.EqualFold(strings.TrimSpace(k), heading) {
			return true
		}
	}
	return false
}

// mentions says whether a NAME or SYNOPSIS line is about this page's name.
func (p page) mentions(line string) bool {
	line = strings.TrimSpace(line)
	if p.name == "crashguard" {
		return strings.HasPrefix(line, "crashguard")
	}
	return strings.Contains(line, p.name)
}

func render(w io.Writer, doc string, p page) {
	fmt.Fprintf(w, ".\\\" Generated from docs/crashguard.md by packaging/manpage; edit that file.\n")
	fmt.Fprintf(w, ".TH %s %s %s \"crashguard %s\" \"crashguard\"\n", strings.ToUpper(p.name), p.section, p.date, p.version)
	heading := ""
	var block []string
	flush := func() {
		if heading != "" && p.wants(heading) {
			renderSection(w, heading, block, p)
		}
		block = nil
	}
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			flush()
			heading = strings.TrimSpace(line[3:])
			continue
		}
		if strings.HasPrefix(line, "# ") {
			continue // the document's title: .TH stands for it
		}
		block = append(block, line)
	}
	flush()
}

func renderSection(w io.Writer, heading string, lines []string, p page) {
	fmt.Fprintf(w, ".SH %s\n", escape(strings.ToUpper(heading)))
	filter := heading == "NAME" || heading == "SYNOPSIS"
	inFence := false
	var para []string
	endPara := func() {
		if len(para) > 0 {
			fmt.Fprintf(w, ".PP\n%s\n", inline(strings.Join(para, " ")))
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "```"):
			endPara()
			if inFence {
				fmt.Fprintln(w, ".fi\n.RE")
			} else {
				fmt.Fprintln(w, ".RS\n.nf")
			}
			inFence = !inFence
		case inFence:
			fmt.Fprintln(w, escapeLine(line))
		case strings.HasPrefix(line, "    "):
			endPara()
			var code []string
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == ""); i++ {
				if strings.TrimSpace(lines[i]) != "" && (!filter || p.mentions(lines[i])) {
					code = append(code, escapeLine(strings.TrimPrefix(lines[i], "    ")))
				}
			}
			i--
			if len(code) > 0 {
				fmt.Fprintf(w, ".RS\n.nf\n%s\n.fi\n.RE\n", strings.Join(code, "\n"))
			}
		case strings.HasPrefix(strings.TrimSpace(line), "|"):
			endPara()
			row := cells(line)
			if isSeparator(row) || (i+1 < len(lines) && isSeparator(cells(lines[i+1]))) {
				continue // the header row and the line under it
			}
			fmt.Fprintf(w, ".TP\n%s\n", inline(row[0]))
			if len(row) > 2 && row[1] != "" {
				fmt.Fprintf(w, "(default: %s)\n.br\n", inline(row[1]))
			}
			fmt.Fprintln(w, inline(row[len(row)-1]))
		case strings.HasPrefix(line, "- "):
			endPara()
			item := []string{line[2:]}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "  ") && !strings.HasPrefix(lines[i+1], "    ") {
				i++
				item = append(item, strings.TrimSpace(lines[i]))
			}
			fmt.Fprintf(w, ".IP \\(bu 2\n%s\n", inline(strings.Join(item, " ")))
		case strings.TrimSpace(line) == "":
			endPara()
		default:
			if filter && !p.mentions(line) {
				continue
			}
			if heading == "NAME" { // one line, as whatis(1) reads it: "name \- description"
				endPara()
				line = inline(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line), ";,.")))
				fmt.Fprintf(w, "%s\n", strings.Replace(line, ` \[u2014] `, ` \- `, 1))
				continue
			}
			para = append(para, strings.TrimSpace(line))
		}
	}
	endPara()
}

func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
	// A '|' inside `code` is not a cell boundary.
	var out []string
	var cur strings.Builder
	inCode := false
	for _, r := range line {
		switch {
		case r == '`':
			inCode = !inCode
			cur.WriteRune(r)
		case r == '|' && !inCode:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

var separator = regexp.MustCompile(`^:?-+:?$`)

func isSeparator(row []string) bool {
	for _, c := range row {
		if !separator.MatchString(c) {
			return false
		}
	}
	return len(row) > 0
}

// escape makes text safe in roff: backslashes written as \e, characters beyond ASCII as
// \[uXXXX] (the page then reads the same under any locale and any formatter).
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func escapeLine(s string) string {
	s = strings.ReplaceAll(escape(s), "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	bold     = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// inline converts `code` to bold (with real minus signs) and **bold** to bold.
func inline(s string) string {
	s = escape(s)
	s = codeSpan.ReplaceAllStringFunc(s, func(m string) string {
		return `\fB` + strings.ReplaceAll(m[1:len(m)-1], "-", `\-`) + `\fR`
	})
	s = bold.ReplaceAllString(s, `\fB$1\fR`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
