// SPDX-License-Identifier: BSD-3-Clause

// Package nbdkit writes nbdkit plugins in Go (import path libguestfs.org/nbdkit, with
// upstream's names). A plugin is a type embedding Plugin, whose Open returns a type embedding
// Connection; both override the methods they need. It is built as a shared object and
// served like any C plugin:
//
//	//export plugin_init
//	func plugin_init() unsafe.Pointer { return nbdkit.PluginInitialize("disk", &DiskPlugin{}) }
//	func main() {}
//
//	go build -buildmode=c-shared -o nbdkit-disk-plugin.so
//	nbdkit ./nbdkit-disk-plugin.so size=1M
//
// The plugin runs in the parallel thread model: Connection methods may be called from several
// goroutines at once.
package nbdkit

/*
#include <stdint.h>
#include <stdlib.h>
struct nbdkit_plugin;
struct nbdkit_plugin *go_nbdkit_plugin(char *name);
void go_nbdkit_error(const char *msg, int err);
void go_nbdkit_debug(const char *msg);
int64_t nbdkit_parse_size(const char *str);
void go_nbdkit_run_thread(uintptr_t fn, uintptr_t arg);
*/
import "C"

import (
	"errors"
	"runtime"
	"runtime/cgo"
	"sync"
	"syscall"
	"unsafe"
)

// Constants with upstream's names: request flags, CanFUA/CanCache values, thread models and
// extent types, as nbdkit's C values.
const (
	ThreadModelSerializeConnections = uint32(0)
	ThreadModelSerializeAllRequests = uint32(1)
	ThreadModelSerializeRequests    = uint32(2)
	ThreadModelParallel             = uint32(3)

	FlagMayTrim  = uint32(1 << 0)
	FlagFUA      = uint32(1 << 1)
	FlagReqOne   = uint32(1 << 2)
	FlagFastZero = uint32(1 << 3)

	FUANone    = uint32(0)
	FUAEmulate = uint32(1)
	FUANative  = uint32(2)

	CacheNone    = uint32(0)
	CacheEmulate = uint32(1)
	CacheNative  = uint32(2)

	ExtentHole = uint32(1 << 0)
	ExtentZero = uint32(1 << 1)

	// APIVersion is the C plugin API version the package speaks (NBDKIT_API_VERSION).
	APIVersion = uint32(2)
)

// PluginError is an error with the errno the client gets (EIO if 0).
type PluginError struct {
	Errmsg   string
	Errno    syscall.Errno
	reported bool // nbdkit has logged it already (ParseSize)
}

func (e PluginError) Error() string  { return e.Errmsg }
func (e PluginError) String() string { return e.Errmsg }

// PluginInterface is what a plugin type implements; embed Plugin for the defaults.
type PluginInterface interface {
	Load()
	Unload()
	DumpPlugin()
	Config(key string, value string) error
	ConfigComplete() error
	GetReady() error
	PreConnect(readonly bool) error
	Open(readonly bool) (ConnectionInterface, error)
}

// ConnectionInterface is what a connection type implements; embed Connection for the
// defaults (a read-only export without flush, trim, zero, cache or multi-conn).
type ConnectionInterface interface {
	GetSize() (uint64, error)
	CanWrite() (bool, error)
	CanFlush() (bool, error)
	IsRotational() (bool, error)
	CanTrim() (bool, error)
	CanZero() (bool, error)
	CanMultiConn() (bool, error)
	CanFUA() (uint32, error)
	CanCache() (uint32, error)
	CanFastZero() (bool, error)
	PRead(buf []byte, offset uint64, flags uint32) error
	PWrite(buf []byte, offset uint64, flags uint32) error
	Flush(flags uint32) error
	Trim(count uint32, offset uint64, flags uint32) error
	Zero(count uint32, offset uint64, flags uint32) error
	Cache(count uint32, offset uint64, flags uint32) error
	Close()
}

// Plugin has the default plugin methods.
type Plugin struct{}

func (p *Plugin) Load()       {}
func (p *Plugin) Unload()     {}
func (p *Plugin) DumpPlugin() {}
func (p *Plugin) Config(key string, value string) error {
	return PluginError{Errmsg: "unknown parameter: " + key}
}
func (p *Plugin) ConfigComplete() error          { return nil }
func (p *Plugin) GetReady() error                { return nil }
func (p *Plugin) PreConnect(readonly bool) error { return nil }
func (p *Plugin) Open(readonly bool) (ConnectionInterface, error) {
	return nil, PluginError{Errmsg: "the plugin has no Open method"}
}

// Connection has the default connection methods.
type Connection struct{}

var errNotSupported = PluginError{Errmsg: "not supported by this plugin", Errno: syscall.EOPNOTSUPP}

func (c *Connection) GetSize() (uint64, error) {
	return 0, PluginError{Errmsg: "the plugin has no GetSize method"}
}
func (c *Connection) CanWrite() (bool, error)     { return false, nil }
func (c *Connection) CanFlush() (bool, error)     { return false, nil }
func (c *Connection) IsRotational() (bool, error) { return false, nil }
func (c *Connection) CanTrim() (bool, error)      { return false, nil }
func (c *Connection) CanZero() (bool, error)      { return false, nil }
func (c *Connection) CanMultiConn() (bool, error) { return false, nil }
func (c *Connection) CanFUA() (uint32, error)     { return FUANone, nil }
func (c *Connection) CanCache() (uint32, error)   { return CacheNone, nil }
func (c *Connection) CanFastZero() (bool, error)  { return false, nil }
func (c *Connection) PRead(buf []byte, offset uint64, flags uint32) error {
	return PluginError{Errmsg: "the plugin has no PRead method"}
}
func (c *Connection) PWrite(buf []byte, offset uint64, flags uint32) error  { return errNotSupported }
func (c *Connection) Flush(flags uint32) error                              { return errNotSupported }
func (c *Connection) Trim(count uint32, offset uint64, flags uint32) error  { return errNotSupported }
func (c *Connection) Zero(count uint32, offset uint64, flags uint32) error  { return errNotSupported }
func (c *Connection) Cache(count uint32, offset uint64, flags uint32) error { return errNotSupported }
func (c *Connection) Close()                                                {}

var plugin PluginInterface

// PluginInitialize registers the plugin; plugin_init returns its result to nbdkit.
func PluginInitialize(name string, impl PluginInterface) unsafe.Pointer {
	plugin = impl
	return unsafe.Pointer(C.go_nbdkit_plugin(C.CString(name))) // the name lives as long as nbdkit
}

// Error reports an error message (nbdkit_error); a method that fails returns an error instead,
// which the package reports.
func Error(msg string) {
	c := C.CString(msg)
	defer C.free(unsafe.Pointer(c))
	C.go_nbdkit_error(c, 0)
}

// SetError sets the errno the client gets for the failing call (nbdkit_set_error).
func SetError(err syscall.Errno) { C.go_nbdkit_error(nil, C.int(err)) }

// Debug prints a debug message (nbdkit -v).
func Debug(msg string) {
	c := C.CString(msg)
	defer C.free(unsafe.Pointer(c))
	C.go_nbdkit_debug(c)
}

// ParseSize parses a size as nbdkit does ("1M", "512", "2G", ...).
func ParseSize(str string) (uint64, error) {
	c := C.CString(str)
	defer C.free(unsafe.Pointer(c))
	r := C.nbdkit_parse_size(c)
	if r == -1 {
		return 0, PluginError{Errmsg: "could not parse size: " + str, Errno: syscall.EINVAL, reported: true}
	}
	return uint64(r), nil
}

// fail reports err to nbdkit (nbdkit_error, and nbdkit_set_error with its errno) and gives -1.
func fail(err error) C.int {
	var errno syscall.Errno
	var pe PluginError
	if errors.As(err, &pe) {
		errno = pe.Errno
	} else {
		errors.As(err, &errno)
	}
	if pe.reported {
		C.go_nbdkit_error(nil, C.int(errno))
		return -1
	}
	c := C.CString(err.Error())
	defer C.free(unsafe.Pointer(c))
	C.go_nbdkit_error(c, C.int(errno))
	return -1
}

func status(err error) C.int {
	if err != nil {
		return fail(err)
	}
	return 0
}

func conn(h C.uintptr_t) ConnectionInterface { return cgo.Handle(h).Value().(ConnectionInterface) }

// bytes is a view of the C buffer nbdkit passes (valid for the call only).
func bytes(buf unsafe.Pointer, count C.uint32_t) []byte {
	if count == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(buf), int(count))
}

// Server threads started through goSpawnThread, and the Ps (GOMAXPROCS) added for them.
var (
	threadsMu  sync.Mutex
	threads    int
	extraProcs int
	baseProcs  int
)

const minExtraProcs = 16

// addThreads keeps a P for each server thread: a thread blocked in nbdkit (waiting for a
// request) holds the P of its last call into Go, and a call from a thread that finds no idle P
// waits for the runtime's monitor to take one back (tens of µs to ms). GOMAXPROCS is the
// cores (or $GOMAXPROCS) plus room for the server threads: 16 to start with (a few
// connections' reader threads), then grown by doubling and shrunk when under a quarter is
// used. Each change stops the world, and a call into Go that meets the stop waits for it.
func addThreads(delta int) {
	threadsMu.Lock()
	defer threadsMu.Unlock()
	if baseProcs == 0 {
		baseProcs = runtime.GOMAXPROCS(0)
	}
	threads += delta
	if threads > extraProcs || (threads*4 < extraProcs && extraProcs > minExtraProcs) {
		extraProcs = 2 * threads
		if extraProcs < minExtraProcs {
			extraProcs = minExtraProcs
		}
		if baseProcs+extraProcs > 1024 {
			extraProcs = 1024 - baseProcs
		}
		runtime.GOMAXPROCS(baseProcs + extraProcs)
	}
}

// goSpawnThread starts a server thread (nbdkitpp_spawn_thread in plugin.c) on a goroutine
// locked to its own OS thread for good: the thread ends with the goroutine when fn returns.
//
//export goSpawnThread
func goSpawnThread(fn C.uintptr_t, arg C.uintptr_t) C.int {
	addThreads(1)
	go func() {
		defer addThreads(-1)
		runtime.LockOSThread()
		C.go_nbdkit_run_thread(fn, arg)
	}()
	return 0
}

//export goLoad
func goLoad() { plugin.Load() }

//export goUnload
func goUnload() { plugin.Unload() }

//export goDumpPlugin
func goDumpPlugin() { plugin.DumpPlugin() }

//export goConfig
func goConfig(key *C.char, value *C.char) C.int {
	return status(plugin.Config(C.GoString(key), C.GoString(value)))
}

//export goConfigComplete
func goConfigComplete() C.int { return status(plugin.ConfigComplete()) }

//export goGetReady
func goGetReady() C.int { return status(plugin.GetReady()) }

//export goPreConnect
func goPreConnect(readonly C.int) C.int { return status(plugin.PreConnect(readonly != 0)) }

//export goOpen
func goOpen(readonly C.int) C.uintptr_t {
	c, err := plugin.Open(readonly != 0)
	if err != nil {
		fail(err)
		return 0
	}
	if c == nil {
		fail(PluginError{Errmsg: "Open returned no connection"})
		return 0
	}
	return C.uintptr_t(cgo.NewHandle(c))
}

//export goClose
func goClose(h C.uintptr_t) {
	conn(h).Close()
	cgo.Handle(h).Delete()
}

//export goGetSize
func goGetSize(h C.uintptr_t) C.int64_t {
	size, err := conn(h).GetSize()
	if err != nil {
		return C.int64_t(fail(err))
	}
	return C.int64_t(size)
}

//export goCan
func goCan(h C.uintptr_t, which C.int) C.int {
	c := conn(h)
	var b bool
	var v uint32
	var err error
	switch which {
	case 0:
		b, err = c.CanWrite()
	case 1:
		b, err = c.CanFlush()
	case 2:
		b, err = c.IsRotational()
	case 3:
		b, err = c.CanTrim()
	case 4:
		b, err = c.CanZero()
	case 5:
		b, err = c.CanMultiConn()
	case 6:
		v, err = c.CanFUA()
	case 7:
		v, err = c.CanCache()
	case 8:
		b, err = c.CanFastZero()
	}
	if err != nil {
		return fail(err)
	}
	if which == 6 || which == 7 {
		return C.int(v)
	}
	if b {
		return 1
	}
	return 0
}

//export goPRead
func goPRead(h C.uintptr_t, buf unsafe.Pointer, count C.uint32_t, offset C.uint64_t, flags C.uint32_t) C.int {
	return status(conn(h).PRead(bytes(buf, count), uint64(offset), uint32(flags)))
}

//export goPWrite
func goPWrite(h C.uintptr_t, buf unsafe.Pointer, count C.uint32_t, offset C.uint64_t, flags C.uint32_t) C.int {
	return status(conn(h).PWrite(bytes(buf, count), uint64(offset), uint32(flags)))
}

//export goFlush
func goFlush(h C.uintptr_t, flags C.uint32_t) C.int { return status(conn(h).Flush(uint32(flags))) }

//export goTrim
func goTrim(h C.uintptr_t, count C.uint32_t, offset C.uint64_t, flags C.uint32_t) C.int {
	return status(conn(h).Trim(uint32(count), uint64(offset), uint32(flags)))
}

//export goZero
func goZero(h C.uintptr_t, count C.uint32_t, offset C.uint64_t, flags C.uint32_t) C.int {
	return status(conn(h).Zero(uint32(count), uint64(offset), uint32(flags)))
}

//export goCache
func goCache(h C.uintptr_t, count C.uint32_t, offset C.uint64_t, flags C.uint32_t) C.int {
	return status(conn(h).Cache(uint32(count), uint64(offset), uint32(flags)))
}
