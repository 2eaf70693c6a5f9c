// SPDX-License-Identifier: BSD-3-Clause

// The ceiling of bench/run's Go plugin row: a Go plugin whose reads do nothing (the buffer is
// left as nbdkit passed it), so what it serves is the cost of nbdkit calling into Go.
package main

import (
	"C"
	"unsafe"

	"libguestfs.org/nbdkit"
)

type nullPlugin struct{ nbdkit.Plugin }
type nullConnection struct{ nbdkit.Connection }

func (p *nullPlugin) Config(key string, value string) error { return nil }
func (p *nullPlugin) Open(readonly bool) (nbdkit.ConnectionInterface, error) {
	return &nullConnection{}, nil
}
func (c *nullConnection) GetSize() (uint64, error)                            { return 1 << 30, nil }
func (c *nullConnection) CanMultiConn() (bool, error)                         { return true, nil }
func (c *nullConnection) PRead(buf []byte, offset uint64, flags uint32) error { return nil }

//export plugin_init
func plugin_init() unsafe.Pointer { return nbdkit.PluginInitialize("go-null", &nullPlugin{}) }

func main() {}
