// SPDX-License-Identifier: BSD-3-Clause

// info URI: the blog's client example: size, a write, a read back, block status, and eight
// reads in flight at once.
package main

import (
	"bytes"
	"fmt"
	"os"

	"libguestfs.org/libnbd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: info URI")
		os.Exit(1)
	}
	h, err := libnbd.Create()
	if err != nil {
		panic(err)
	}
	defer h.Close()
	h.AddMetaContext(libnbd.CONTEXT_BASE_ALLOCATION)
	if err := h.ConnectUri(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	name, _ := h.GetPackageName()
	size, _ := h.GetSize()
	fmt.Printf("library %s, size %d\n", *name, size)

	data := []byte("hello from Go")
	if err := h.Pwrite(data, 4096, &libnbd.PwriteOptargs{FlagsSet: true, Flags: libnbd.CMD_FLAG_FUA}); err != nil {
		panic(err)
	}
	back := make([]byte, len(data))
	if err := h.Pread(back, 4096, nil); err != nil {
		panic(err)
	}
	fmt.Printf("read back: %q\n", back)

	h.BlockStatus(size, 0, func(ctx string, off uint64, e []uint32, error *int) int {
		fmt.Printf("%s at %d: %v\n", ctx, off, e)
		return 0
	}, nil)

	done := 0
	var bufs []libnbd.AioBuffer
	for i := 0; i < 8; i++ {
		b := libnbd.MakeAioBuffer(uint(len(data)))
		bufs = append(bufs, b)
		_, err := h.AioPread(b, 4096, &libnbd.AioPreadOptargs{CompletionCallbackSet: true,
			CompletionCallback: func(error *int) int { done++; return 1 }})
		if err != nil {
			panic(err)
		}
	}
	for n, _ := h.AioInFlight(); n > 0; n, _ = h.AioInFlight() {
		h.Poll(-1)
	}
	same := true
	for i := range bufs {
		same = same && bytes.Equal(bufs[i].Bytes(), data)
		bufs[i].Free()
	}
	fmt.Printf("aio: %d completed, data same: %v\n", done, same)

	if err := h.Pread(back, size, nil); err != nil {
		e := err.(*libnbd.LibnbdError)
		fmt.Printf("read past the end: %s\n", e.Errno)
	}
}
