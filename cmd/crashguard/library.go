package main

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// standardLibraryPlaces are where libcrashguard.so is looked for when neither --library nor
// LD_PRELOAD names it, after the directory of the crashguard command itself (and its
// ../lib): the Debian package's multiarch directory, then /usr/local (docs/crashguard.md).
var standardLibraryPlaces = []string{
	"/usr/lib/x86_64-linux-gnu/libcrashguard.so",
	"/usr/lib/libcrashguard.so",
	"/usr/local/lib/libcrashguard.so",
	"/usr/local/lib/x86_64-linux-gnu/libcrashguard.so",
	"/lib/x86_64-linux-gnu/libcrashguard.so",
}

// preloadedLibrary is the libcrashguard.so named in LD_PRELOAD, if any.
func preloadedLibrary() string {
	for _, p := range strings.FieldsFunc(os.Getenv("LD_PRELOAD"), func(r rune) bool { return r == ':' || r == ' ' }) {
		if strings.Contains(filepath.Base(p), "crashguard") {
			return p
		}
	}
	return ""
}

// libraryPlaces lists, in order, where findLibrary looks.
func libraryPlaces() []string {
	var places []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		places = append(places, filepath.Join(dir, "libcrashguard.so"),
			filepath.Join(dir, "..", "lib", "x86_64-linux-gnu", "libcrashguard.so"),
			filepath.Join(dir, "..", "lib", "libcrashguard.so"))
	}
	return append(places, standardLibraryPlaces...)
}

// findLibrary returns the library to use: --library if given (it must be libcrashguard.so),
// else LD_PRELOAD's, else the first found in libraryPlaces.
func findLibrary(flagValue string) (string, error) {
	if flagValue != "" {
		if err := isLibrary(flagValue); err != nil {
			return "", usagef("--library %s: %v", flagValue, err)
		}
		return flagValue, nil
	}
	if p := preloadedLibrary(); p != "" {
		if err := isLibrary(p); err != nil {
			return "", fmt.Errorf("LD_PRELOAD's %s: %v", p, err)
		}
		return p, nil
	}
	places := libraryPlaces()
	for _, p := range places {
		if isLibrary(p) == nil {
			return filepath.Clean(p), nil
		}
	}
	var shown []string
	for _, p := range places {
		shown = append(shown, filepath.Dir(filepath.Clean(p)))
	}
	return "", fmt.Errorf("libcrashguard.so not found (not in LD_PRELOAD, nor in %s): name it with --library", strings.Join(shown, ", "))
}

// isLibrary checks that p is a libcrashguard.so built by build.sh (it holds the Go part).
func isLibrary(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return err
		}
		return fmt.Errorf("not an ELF file")
	}
	defer f.Close()
	if f.Section(".crashguard_go") == nil {
		return fmt.Errorf("not libcrashguard.so (no .crashguard_go section)")
	}
	return nil
}
