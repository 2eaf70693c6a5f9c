// SPDX-License-Identifier: BSD-3-Clause

// info URI: the blog's client example: size, a write, a read back, block status, eight
// reads in flight at once, and a zero and a flush run from the program's own event loop.
package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"

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

	// The program's own event loop: select(2) on the handle's socket, then notify the handle.
	if err := h.Pwrite(data, 0, nil); err != nil {
		panic(err)
	}
	zc, _ := h.AioZero(uint64(len(data)), 0, nil)
	fc, _ := h.AioFlush(nil)
	fd, _ := h.AioGetFd()
	for n, _ := h.AioInFlight(); n > 0; n, _ = h.AioInFlight() {
		dir, _ := h.AioGetDirection()
		var r, w syscall.FdSet
		bit := int64(1) << (uint(fd) % 64)
		if dir&libnbd.AIO_DIRECTION_READ != 0 {
			r.Bits[fd/64] |= bit
		}
		if dir&libnbd.AIO_DIRECTION_WRITE != 0 {
			w.Bits[fd/64] |= bit
		}
		if _, err := syscall.Select(fd+1, &r, &w, nil, nil); err != nil && err != syscall.EINTR {
			panic(err)
		}
		if r.Bits[fd/64]&bit != 0 {
			h.AioNotifyRead()
		}
		if w.Bits[fd/64]&bit != 0 {
			h.AioNotifyWrite()
		}
	}
	peeked, _ := h.AioPeekCommandCompleted()
	zok, _ := h.AioCommandCompleted(zc)
	fok, _ := h.AioCommandCompleted(fc)
	h.Pread(back, 0, nil)
	ready, _ := h.AioIsReady()
	fmt.Printf("event loop: peeked %v, retired %v %v, zeroed %v, ready %v\n",
		peeked == zc || peeked == fc, zok, fok, bytes.Equal(back, make([]byte, len(back))), ready)
	if _, err := h.AioPeekCommandCompleted(); err != nil {
		fmt.Printf("peek with nothing in flight: %s\n", err.(*libnbd.LibnbdError).Errno)
	}

	if err := h.Pread(back, size, nil); err != nil {
		e := err.(*libnbd.LibnbdError)
		fmt.Printf("read past the end: %s\n", e.Errno)
	}
}
