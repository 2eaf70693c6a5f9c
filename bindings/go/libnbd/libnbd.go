// SPDX-License-Identifier: BSD-3-Clause

// Package libnbd is libnbd's Go API (import path libguestfs.org/libnbd, as upstream's) over
// libnbd.so.0, which nbdkit++ builds from its client library (bindings/c). Existing programs
// build unchanged with a replace line in their go.mod:
//
//	replace libguestfs.org/libnbd => /path/to/nbdkit++/bindings/go/libnbd
//
// and CGO_CFLAGS/CGO_LDFLAGS naming bindings/c and build/lib (see README.md).
package libnbd

/*
#cgo LDFLAGS: -lnbd
#include <stdlib.h>
#include <libnbd.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// Libnbd is a handle: one connection to an NBD server.
type Libnbd struct {
	h *C.struct_nbd_handle
}

// LibnbdError is the error of every failing call: the call, libnbd's message and errno.
type LibnbdError struct {
	Op     string
	Errmsg string
	Errno  syscall.Errno
}

func (e *LibnbdError) Error() string {
	if e.Errno != 0 {
		return fmt.Sprintf("%s: %s (%s)", e.Op, e.Errmsg, e.Errno.Error())
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Errmsg)
}

// libnbd keeps the last error per OS thread, and a goroutine may move between threads from
// one cgo call to the next: every method keeps its goroutine on one thread from its call to
// reading the error.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// The error of the call that just failed on this thread.
func getError(op string) *LibnbdError {
	msg := C.nbd_get_error()
	s := ""
	if msg != nil {
		s = C.GoString(msg)
	}
	return &LibnbdError{Op: op, Errmsg: s, Errno: syscall.Errno(C.nbd_get_errno())}
}

func closedHandle(op string) *LibnbdError {
	return &LibnbdError{Op: op, Errmsg: "handle is closed", Errno: syscall.EINVAL}
}

// CmdFlag is the flags of a command (CMD_FLAG_*).
type CmdFlag uint32

const (
	CMD_FLAG_FUA       = CmdFlag(C.LIBNBD_CMD_FLAG_FUA)
	CMD_FLAG_NO_HOLE   = CmdFlag(C.LIBNBD_CMD_FLAG_NO_HOLE)
	CMD_FLAG_DF        = CmdFlag(C.LIBNBD_CMD_FLAG_DF)
	CMD_FLAG_REQ_ONE   = CmdFlag(C.LIBNBD_CMD_FLAG_REQ_ONE)
	CMD_FLAG_FAST_ZERO = CmdFlag(C.LIBNBD_CMD_FLAG_FAST_ZERO)
	CMD_FLAG_MASK      = CmdFlag(C.LIBNBD_CMD_FLAG_MASK)
)

// Tls is the TLS setting (TLS_*).
type Tls int

const (
	TLS_DISABLE = Tls(C.LIBNBD_TLS_DISABLE)
	TLS_ALLOW   = Tls(C.LIBNBD_TLS_ALLOW)
	TLS_REQUIRE = Tls(C.LIBNBD_TLS_REQUIRE)
)

const (
	CONTEXT_BASE_ALLOCATION = "base:allocation"
	STATE_HOLE              = uint32(C.LIBNBD_STATE_HOLE)
	STATE_ZERO              = uint32(C.LIBNBD_STATE_ZERO)
	AIO_DIRECTION_READ      = uint(C.LIBNBD_AIO_DIRECTION_READ)
	AIO_DIRECTION_WRITE     = uint(C.LIBNBD_AIO_DIRECTION_WRITE)
)

// Create makes a handle.
func Create() (*Libnbd, error) {
	defer lockThread()()
	h := C.nbd_create()
	if h == nil {
		return nil, getError("create")
	}
	return &Libnbd{h: h}, nil
}

// Close closes the connection and frees the handle. Calls after it fail.
func (h *Libnbd) Close() *LibnbdError {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("close")
	}
	C.nbd_close(h.h)
	h.h = nil
	return nil
}

func (h *Libnbd) status(op string, r C.int) error {
	defer lockThread()()
	if r == -1 {
		return getError(op)
	}
	return nil
}

// A call returning a number or -1 on error, on an open handle.
func (h *Libnbd) number(op string, call func(*C.struct_nbd_handle) int64) (int64, error) {
	defer lockThread()()
	if h.h == nil {
		return 0, closedHandle(op)
	}
	r := call(h.h)
	if r == -1 {
		return 0, getError(op)
	}
	return r, nil
}

func (h *Libnbd) boolean(op string, r C.int) (bool, error) {
	defer lockThread()()
	if r == -1 {
		return false, getError(op)
	}
	return r != 0, nil
}

func cstring(s string) (*C.char, func()) {
	c := C.CString(s)
	return c, func() { C.free(unsafe.Pointer(c)) }
}

// ---- settings ----

func (h *Libnbd) SetDebug(debug bool) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("set_debug")
	}
	return h.status("set_debug", C.nbd_set_debug(h.h, C.bool(debug)))
}

func (h *Libnbd) SetExportName(name string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("set_export_name")
	}
	c, free := cstring(name)
	defer free()
	return h.status("set_export_name", C.nbd_set_export_name(h.h, c))
}

func (h *Libnbd) GetExportName() (*string, error) {
	defer lockThread()()
	if h.h == nil {
		return nil, closedHandle("get_export_name")
	}
	c := C.nbd_get_export_name(h.h)
	if c == nil {
		return nil, getError("get_export_name")
	}
	defer C.free(unsafe.Pointer(c))
	s := C.GoString(c)
	return &s, nil
}

func (h *Libnbd) SetTls(tls Tls) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("set_tls")
	}
	return h.status("set_tls", C.nbd_set_tls(h.h, C.int(tls)))
}

func (h *Libnbd) AddMetaContext(name string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("add_meta_context")
	}
	c, free := cstring(name)
	defer free()
	return h.status("add_meta_context", C.nbd_add_meta_context(h.h, c))
}

func (h *Libnbd) SetUriAllowLocalFile(allow bool) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("set_uri_allow_local_file")
	}
	return h.status("set_uri_allow_local_file", C.nbd_set_uri_allow_local_file(h.h, C.bool(allow)))
}

// GetPackageName says which library runs: "nbdkit++" for ours.
func (h *Libnbd) GetPackageName() (*string, error) {
	defer lockThread()()
	if h.h == nil {
		return nil, closedHandle("get_package_name")
	}
	s := C.GoString(C.nbd_get_package_name(h.h))
	return &s, nil
}

// ---- connecting ----

func (h *Libnbd) ConnectUri(uri string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("connect_uri")
	}
	c, free := cstring(uri)
	defer free()
	return h.status("connect_uri", C.nbd_connect_uri(h.h, c))
}

func (h *Libnbd) ConnectUnix(unixsocket string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("connect_unix")
	}
	c, free := cstring(unixsocket)
	defer free()
	return h.status("connect_unix", C.nbd_connect_unix(h.h, c))
}

func (h *Libnbd) ConnectTcp(hostname string, port string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("connect_tcp")
	}
	ch, free1 := cstring(hostname)
	defer free1()
	cp, free2 := cstring(port)
	defer free2()
	return h.status("connect_tcp", C.nbd_connect_tcp(h.h, ch, cp))
}

func argv(args []string) (**C.char, func()) {
	p := C.malloc(C.size_t(len(args)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	a := unsafe.Slice((**C.char)(p), len(args)+1)
	for i, s := range args {
		a[i] = C.CString(s)
	}
	a[len(args)] = nil
	return (**C.char)(p), func() {
		for i := range args {
			C.free(unsafe.Pointer(a[i]))
		}
		C.free(p)
	}
}

func (h *Libnbd) ConnectCommand(cmd []string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("connect_command")
	}
	a, free := argv(cmd)
	defer free()
	return h.status("connect_command", C.nbd_connect_command(h.h, a))
}

func (h *Libnbd) ConnectSystemdSocketActivation(cmd []string) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("connect_systemd_socket_activation")
	}
	a, free := argv(cmd)
	defer free()
	return h.status("connect_systemd_socket_activation", C.nbd_connect_systemd_socket_activation(h.h, a))
}

// ---- the export ----

func (h *Libnbd) GetSize() (uint64, error) {
	r, err := h.number("get_size", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_get_size(c)) })
	return uint64(r), err
}

func (h *Libnbd) IsReadOnly() (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("is_read_only")
	}
	return h.boolean("is_read_only", C.nbd_is_read_only(h.h))
}

func (h *Libnbd) CanFlush() (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("can_flush")
	}
	return h.boolean("can_flush", C.nbd_can_flush(h.h))
}

func (h *Libnbd) CanTrim() (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("can_trim")
	}
	return h.boolean("can_trim", C.nbd_can_trim(h.h))
}

func (h *Libnbd) CanZero() (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("can_zero")
	}
	return h.boolean("can_zero", C.nbd_can_zero(h.h))
}

func (h *Libnbd) CanMultiConn() (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("can_multi_conn")
	}
	return h.boolean("can_multi_conn", C.nbd_can_multi_conn(h.h))
}

func (h *Libnbd) CanMetaContext(metacontext string) (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("can_meta_context")
	}
	c, free := cstring(metacontext)
	defer free()
	return h.boolean("can_meta_context", C.nbd_can_meta_context(h.h, c))
}

// ---- blocking commands: optargs as upstream's (nil for none) ----

type PreadOptargs struct {
	FlagsSet bool
	Flags    CmdFlag
}
type PwriteOptargs = PreadOptargs
type FlushOptargs = PreadOptargs
type TrimOptargs = PreadOptargs
type ZeroOptargs = PreadOptargs
type CacheOptargs = PreadOptargs
type BlockStatusOptargs = PreadOptargs

func flags(o *PreadOptargs) C.uint32_t {
	if o != nil && o.FlagsSet {
		return C.uint32_t(o.Flags)
	}
	return 0
}

func bufPtr(buf []byte) unsafe.Pointer {
	if len(buf) == 0 {
		return nil
	}
	return unsafe.Pointer(&buf[0])
}

// Pread reads len(buf) bytes at offset into buf.
func (h *Libnbd) Pread(buf []byte, offset uint64, optargs *PreadOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("pread")
	}
	return h.status("pread", C.nbd_pread(h.h, bufPtr(buf), C.size_t(len(buf)), C.uint64_t(offset), flags(optargs)))
}

// Pwrite writes buf at offset.
func (h *Libnbd) Pwrite(buf []byte, offset uint64, optargs *PwriteOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("pwrite")
	}
	return h.status("pwrite", C.nbd_pwrite(h.h, bufPtr(buf), C.size_t(len(buf)), C.uint64_t(offset), flags(optargs)))
}

func (h *Libnbd) Flush(optargs *FlushOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("flush")
	}
	return h.status("flush", C.nbd_flush(h.h, flags(optargs)))
}

func (h *Libnbd) Trim(count uint64, offset uint64, optargs *TrimOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("trim")
	}
	return h.status("trim", C.nbd_trim(h.h, C.uint64_t(count), C.uint64_t(offset), flags(optargs)))
}

func (h *Libnbd) Zero(count uint64, offset uint64, optargs *ZeroOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("zero")
	}
	return h.status("zero", C.nbd_zero(h.h, C.uint64_t(count), C.uint64_t(offset), flags(optargs)))
}

func (h *Libnbd) Cache(count uint64, offset uint64, optargs *CacheOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("cache")
	}
	return h.status("cache", C.nbd_cache(h.h, C.uint64_t(count), C.uint64_t(offset), flags(optargs)))
}

// BlockStatus calls extent for the extents of [offset, offset+count) in each meta context
// asked for with AddMetaContext before connecting.
func (h *Libnbd) BlockStatus(count uint64, offset uint64, extent ExtentCallback, optargs *BlockStatusOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("block_status")
	}
	return h.status("block_status",
		C.nbd_block_status(h.h, C.uint64_t(count), C.uint64_t(offset), extentCallback(extent), flags(optargs)))
}

func (h *Libnbd) Shutdown(optargs *PreadOptargs) error {
	defer lockThread()()
	if h.h == nil {
		return closedHandle("shutdown")
	}
	return h.status("shutdown", C.nbd_shutdown(h.h, flags(optargs)))
}

// ---- asynchronous commands ----

// AioBuffer is memory outside Go's heap for aio commands (the library writes it after the
// call returns, so it cannot be a Go slice). Free it when its commands have retired.
type AioBuffer struct {
	P    unsafe.Pointer
	Size uint
}

func MakeAioBuffer(size uint) AioBuffer {
	return AioBuffer{P: C.calloc(C.size_t(size), 1), Size: size}
}

// FromBytes copies buf into a new AioBuffer.
func FromBytes(buf []byte) AioBuffer {
	b := MakeAioBuffer(uint(len(buf)))
	copy(b.Slice(), buf)
	return b
}

func (b *AioBuffer) Free() {
	if b.P != nil {
		C.free(b.P)
		b.P = nil
	}
}

// Bytes copies the buffer into a new slice; Slice is a view of it (valid until Free).
func (b *AioBuffer) Bytes() []byte { return C.GoBytes(b.P, C.int(b.Size)) }
func (b *AioBuffer) Slice() []byte { return unsafe.Slice((*byte)(b.P), int(b.Size)) }

type AioPreadOptargs struct {
	CompletionCallbackSet bool
	CompletionCallback    CompletionCallback
	FlagsSet              bool
	Flags                 CmdFlag
}
type AioPwriteOptargs = AioPreadOptargs

func (o *AioPreadOptargs) parts() (C.nbd_completion_callback, C.uint32_t) {
	var cb C.nbd_completion_callback
	var f C.uint32_t
	if o != nil {
		if o.CompletionCallbackSet && o.CompletionCallback != nil {
			cb = completionCallback(o.CompletionCallback)
		}
		if o.FlagsSet {
			f = C.uint32_t(o.Flags)
		}
	}
	return cb, f
}

func cookie(op string, r C.int64_t) (uint64, error) {
	if r == -1 {
		return 0, getError(op)
	}
	return uint64(r), nil
}

// One aio command: the closed-handle check, the optargs' callback and flags, the cookie.
func (h *Libnbd) aio(op string, o *AioPreadOptargs,
	call func(*C.struct_nbd_handle, C.nbd_completion_callback, C.uint32_t) C.int64_t) (uint64, error) {
	defer lockThread()()
	if h.h == nil {
		return 0, closedHandle(op)
	}
	cb, f := o.parts()
	return cookie(op, call(h.h, cb, f))
}

// AioPread queues a read into buf; the cookie identifies it.
func (h *Libnbd) AioPread(buf AioBuffer, offset uint64, optargs *AioPreadOptargs) (uint64, error) {
	return h.aio("aio_pread", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_pread(c, buf.P, C.size_t(buf.Size), C.uint64_t(offset), cb, f)
	})
}

// AioPwrite queues a write of buf.
func (h *Libnbd) AioPwrite(buf AioBuffer, offset uint64, optargs *AioPwriteOptargs) (uint64, error) {
	return h.aio("aio_pwrite", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_pwrite(c, buf.P, C.size_t(buf.Size), C.uint64_t(offset), cb, f)
	})
}

func (h *Libnbd) AioCommandCompleted(cookie uint64) (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle("aio_command_completed")
	}
	return h.boolean("aio_command_completed", C.nbd_aio_command_completed(h.h, C.uint64_t(cookie)))
}

func (h *Libnbd) AioInFlight() (uint, error) {
	r, err := h.number("aio_in_flight", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_aio_in_flight(c)) })
	return uint(r), err
}

// Poll runs the state machine for up to timeout ms (-1: until something happens).
func (h *Libnbd) Poll(timeout int) (uint, error) {
	r, err := h.number("poll", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_poll(c, C.int(timeout))) })
	return uint(r), err
}

type AioFlushOptargs = AioPreadOptargs
type AioTrimOptargs = AioPreadOptargs
type AioZeroOptargs = AioPreadOptargs
type AioCacheOptargs = AioPreadOptargs

// AioFlush queues a flush.
func (h *Libnbd) AioFlush(optargs *AioFlushOptargs) (uint64, error) {
	return h.aio("aio_flush", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_flush(c, cb, f)
	})
}

// AioTrim queues a trim of [offset, offset+count).
func (h *Libnbd) AioTrim(count uint64, offset uint64, optargs *AioTrimOptargs) (uint64, error) {
	return h.aio("aio_trim", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_trim(c, C.uint64_t(count), C.uint64_t(offset), cb, f)
	})
}

// AioZero queues writing zeroes to [offset, offset+count).
func (h *Libnbd) AioZero(count uint64, offset uint64, optargs *AioZeroOptargs) (uint64, error) {
	return h.aio("aio_zero", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_zero(c, C.uint64_t(count), C.uint64_t(offset), cb, f)
	})
}

// AioCache queues a cache (prefetch) of [offset, offset+count).
func (h *Libnbd) AioCache(count uint64, offset uint64, optargs *AioCacheOptargs) (uint64, error) {
	return h.aio("aio_cache", optargs, func(c *C.struct_nbd_handle, cb C.nbd_completion_callback, f C.uint32_t) C.int64_t {
		return C.nbd_aio_cache(c, C.uint64_t(count), C.uint64_t(offset), cb, f)
	})
}

// AioPeekCommandCompleted is the cookie of a completed command not yet retired.
func (h *Libnbd) AioPeekCommandCompleted() (uint64, error) {
	r, err := h.number("aio_peek_command_completed",
		func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_aio_peek_command_completed(c)) })
	return uint64(r), err
}

// ---- running the state machine from the caller's own event loop ----

// AioGetFd is the socket to poll.
func (h *Libnbd) AioGetFd() (int, error) {
	r, err := h.number("aio_get_fd", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_aio_get_fd(c)) })
	return int(r), err
}

// AioGetDirection says what to poll the socket for: AIO_DIRECTION_READ and/or _WRITE.
func (h *Libnbd) AioGetDirection() (uint, error) {
	defer lockThread()()
	if h.h == nil {
		return 0, closedHandle("aio_get_direction")
	}
	return uint(C.nbd_aio_get_direction(h.h)), nil
}

// AioNotifyRead tells the handle its socket is readable.
func (h *Libnbd) AioNotifyRead() error {
	_, err := h.number("aio_notify_read", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_aio_notify_read(c)) })
	return err
}

// AioNotifyWrite tells the handle its socket is writable.
func (h *Libnbd) AioNotifyWrite() error {
	_, err := h.number("aio_notify_write", func(c *C.struct_nbd_handle) int64 { return int64(C.nbd_aio_notify_write(c)) })
	return err
}

// The connection's state.
func (h *Libnbd) state(op string, f func(*C.struct_nbd_handle) C.int) (bool, error) {
	defer lockThread()()
	if h.h == nil {
		return false, closedHandle(op)
	}
	return h.boolean(op, f(h.h))
}

func (h *Libnbd) AioIsCreated() (bool, error) {
	return h.state("aio_is_created", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_created(c) })
}
func (h *Libnbd) AioIsConnecting() (bool, error) {
	return h.state("aio_is_connecting", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_connecting(c) })
}
func (h *Libnbd) AioIsNegotiating() (bool, error) {
	return h.state("aio_is_negotiating", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_negotiating(c) })
}
func (h *Libnbd) AioIsReady() (bool, error) {
	return h.state("aio_is_ready", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_ready(c) })
}
func (h *Libnbd) AioIsProcessing() (bool, error) {
	return h.state("aio_is_processing", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_processing(c) })
}
func (h *Libnbd) AioIsDead() (bool, error) {
	return h.state("aio_is_dead", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_dead(c) })
}
func (h *Libnbd) AioIsClosed() (bool, error) {
	return h.state("aio_is_closed", func(c *C.struct_nbd_handle) C.int { return C.nbd_aio_is_closed(c) })
}
