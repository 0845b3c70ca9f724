// A cgo Go program — a second Go runtime in the process when the library is preloaded:
// goroutines, a collection, and a nil dereference recovered as a panic.
package main

/*
static int add(int a, int b) { return a + b; }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
)

type cell struct{ x int }

func deref(p *cell) (v int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return p.x, nil
}

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := make([]byte, 1<<20)
			mu.Lock()
			sum += int(C.add(C.int(i), C.int(len(b)>>20)))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	runtime.GC()
	_, err := deref(nil)
	fmt.Println("sum", sum, "recovered", err != nil)
}
