// Command libcrashguard is built with -buildmode=c-shared into the Go part that build.sh
// embeds in libcrashguard.so. It is loaded only into the helper process a host starts for
// the tables it lacks (helper_main.c, go_part.c) — never into a host — and its one entry is
// its initialization: it reads the helper's arguments, builds and caches the tables, and
// exits the process. It exports nothing.
package main

/*
#cgo CFLAGS: -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-trigraphs -Wno-unused-parameter -Werror -fno-omit-frame-pointer -fno-stack-protector
*/
import "C"

import (
	"os"

	"crashguard/preload"
)

func init() {
	os.Exit(preload.Helper(os.Args[1:]))
}

func main() {}
