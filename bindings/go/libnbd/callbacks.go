// SPDX-License-Identifier: BSD-3-Clause

package libnbd

// The C side of the callbacks: libnbd's callback structures whose function pointers are the
// Go functions exported below, and whose user_data is a cgo.Handle of the Go closure (freed
// by libnbd's free function, called exactly once).

/*
#include <stdlib.h>
#include <libnbd.h>

extern int goCompletion(void *user_data, int *error);
extern int goExtent(void *user_data, char *metacontext, uint64_t offset, uint32_t *entries, size_t n, int *error);
extern void goFree(void *user_data);

static int completion_trampoline(void *ud, int *error) { return goCompletion(ud, error); }
static int extent_trampoline(void *ud, const char *ctx, uint64_t off, uint32_t *e, size_t n, int *error) {
  return goExtent(ud, (char *)ctx, off, e, n, error);
}
static void free_trampoline(void *ud) { goFree(ud); }

static nbd_completion_callback make_completion(uintptr_t h) {
  nbd_completion_callback cb = {completion_trampoline, (void *)h, free_trampoline};
  return cb;
}
static nbd_extent_callback make_extent(uintptr_t h) {
  nbd_extent_callback cb = {extent_trampoline, (void *)h, free_trampoline};
  return cb;
}
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// CompletionCallback is called once when an aio command completes; *error is 0 or an errno
// it may change. Return 1 to retire the command, 0 to leave it for AioCommandCompleted.
type CompletionCallback func(error *int) int

// ExtentCallback is called for each meta context's extents: entries are (length, flags)
// pairs. Return 0 to go on, -1 to fail the command with *error.
type ExtentCallback func(metacontext string, offset uint64, entries []uint32, error *int) int

//export goCompletion
func goCompletion(ud unsafe.Pointer, cerr *C.int) C.int {
	f := cgo.Handle(ud).Value().(CompletionCallback)
	e := int(*cerr)
	r := f(&e)
	*cerr = C.int(e)
	return C.int(r)
}

//export goExtent
func goExtent(ud unsafe.Pointer, ctx *C.char, off C.uint64_t, entries *C.uint32_t, n C.size_t, cerr *C.int) C.int {
	f := cgo.Handle(ud).Value().(ExtentCallback)
	s := unsafe.Slice((*uint32)(unsafe.Pointer(entries)), int(n))
	e := int(*cerr)
	r := f(C.GoString(ctx), uint64(off), append([]uint32(nil), s...), &e)
	*cerr = C.int(e)
	return C.int(r)
}

//export goFree
func goFree(ud unsafe.Pointer) { cgo.Handle(ud).Delete() }

func completionCallback(f CompletionCallback) C.nbd_completion_callback {
	return C.make_completion(C.uintptr_t(cgo.NewHandle(f)))
}

func extentCallback(f ExtentCallback) C.nbd_extent_callback {
	return C.make_extent(C.uintptr_t(cgo.NewHandle(f)))
}
