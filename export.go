//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command libcrashguard is built with -buildmode=c-shared into libcrashguard.so. Its only Go
// entry is the precomputation, run by the Go runtime's init thread while the host's main()
// goes on; the crash handler itself is C (sigsafe/) and never calls into Go.
//
// The //go:debug lines keep the runtime from holding cgroup files open for the process's
// lifetime.
package main

/*
#cgo CFLAGS: -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-trigraphs -Wno-unused-parameter -Werror -ftls-model=initial-exec -fno-omit-frame-pointer -fno-stack-protector
*/
import "C"

import "crashguard/preload"

func init() {
	preload.Run()
}

func main() {}
