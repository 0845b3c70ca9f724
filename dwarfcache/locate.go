package dwarfcache

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"strings"

	"crashguard/debuginfod"

	"golang.org/x/sys/unix"
)

// Debuginfod, when set, is asked for the debug information of a module that has none on
// this machine (Locate). The helper sets it when the host's environment had
// DEBUGINFOD_URLS; `crashguard warm` and `symbolize` from DEBUGINFOD_URLS or
// --debuginfod. Nil: nothing is ever requested.
var Debuginfod *debuginfod.Client

// errNoDebugInfo is the note of a module without debug information anywhere looked.
const errNoDebugInfo = "no debug information (not in the module, no build-id or debuglink file)"

// Locate finds the DWARF of the module at path (of build-id buildID): on this machine
// (FindDebugInfo), else from the Debuginfod servers, which saves it to their client cache.
// The error is the one-line note a report gives for the module's missing file:line.
func Locate(path string, buildID []byte) (DebugInfo, error) {
	data, err := MapFile(path)
	if err != nil {
		return DebugInfo{}, err
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return DebugInfo{}, err
	}
	if info, ok := FindDebugInfo(path, f, buildID); ok {
		return info, nil
	}
	return fetch(buildID)
}

// fetch asks debuginfod for buildID's debug file.
func fetch(buildID []byte) (DebugInfo, error) {
	if Debuginfod == nil || len(buildID) == 0 {
		return DebugInfo{}, errors.New(errNoDebugInfo)
	}
	res, err := Debuginfod.DebugInfo(context.Background(), buildID)
	if err != nil {
		return DebugInfo{}, errors.New(errNoDebugInfo + "; debuginfod " + err.Error())
	}
	if !debugFileMatches(res.Path, buildID) {
		return DebugInfo{}, errors.New(errNoDebugInfo + "; debuginfod cache: " + res.Path + " is not its debug file")
	}
	return DebugInfo{Path: res.Path, Method: "debuginfod", Server: res.Server}, nil
}

// LocateByBuildID is Locate for a module whose file is not here (a report from another
// machine): the debug directories, the debuginfod caches, then the servers.
func LocateByBuildID(buildID []byte) (DebugInfo, error) {
	if len(buildID) > 1 {
		if info, ok := findByBuildID(buildID); ok {
			return info, nil
		}
	}
	return fetch(buildID)
}

// Source says where a module's debug information came from, as a report's note words it
// after "file:line ".
func (i DebugInfo) Source() string {
	switch {
	case i.Method == "embedded":
		return "from the module itself"
	case i.Method == "build-id":
		return "from " + i.Path + " (debug directory " + i.Dir + ")"
	case i.Method == "debuglink":
		return "from " + i.Path + " (.gnu_debuglink)"
	case i.Method == "debuginfod" && i.Server != "":
		return "from debuginfod server " + i.Server + " (saved as " + i.Path + ")"
	case i.Method == "debuginfod":
		return "from " + i.Path + " (debuginfod client cache)"
	}
	return "from " + i.Path
}

// HasLocalDebugInfo says whether the module's debug information is on this machine (no
// request needed).
func HasLocalDebugInfo(path string, buildID []byte) bool {
	if !strings.HasPrefix(path, "/") {
		return true // the vDSO: nothing to fetch
	}
	data, err := MapFile(path)
	if err != nil {
		return true // unreadable: nothing to fetch either
	}
	defer unix.Munmap(data)
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return true
	}
	_, ok := FindDebugInfo(path, f, buildID)
	return ok
}
