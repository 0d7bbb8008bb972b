// Many goroutines open files whose paths sysemu rewrites (tests/test_scratch.py runs it
// under --bind DIR=HOST): each at a different stack depth, so that some make the call with
// their stack pointer near the end of their small stack. Prints how many reads failed or
// read another file's content ("wrong: 0" expected).
//
//	scratch_opens DIR
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// readAt reads path after depth nested calls, each with a frame of its own.
func readAt(depth int, path string) ([]byte, error) {
	var frame [48]byte
	if depth > 0 {
		frame[depth%len(frame)] = byte(depth)
		data, err := readAt(depth-1, path)
		if len(data) > 0 && frame[depth%len(frame)] != byte(depth) {
			return nil, fmt.Errorf("frame changed under the call")
		}
		return data, err
	}
	return os.ReadFile(path)
}

func main() {
	dir := os.Args[1]
	var wrong atomic.Int64
	var group sync.WaitGroup
	for g := 0; g < 200; g++ {
		group.Add(1)
		go func(g int) {
			defer group.Done()
			for i := 0; i < 10; i++ {
				n := (g + i) % 8
				data, err := readAt((g*7+i*3)%60, fmt.Sprintf("%s/f%d", dir, n))
				if err != nil || string(data) != fmt.Sprintf("file %d\n", n) {
					if wrong.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "wrong:", n, err, string(data))
					}
				}
			}
		}(g)
	}
	group.Wait()
	fmt.Println("wrong:", wrong.Load())
}
