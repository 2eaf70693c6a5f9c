// SPDX-License-Identifier: BSD-3-Clause

// The RAM disk plugin of upstream's blog post on Go plugins: nbdkit ./disk.so size=N.
package main

import (
	"C"
	"sync"
	"unsafe"

	"libguestfs.org/nbdkit"
)

var pluginName = "disk"

type DiskPlugin struct {
	nbdkit.Plugin
}

type DiskConnection struct {
	nbdkit.Connection
}

var size uint64
var sizeSet = false
var disk []byte
var lock sync.RWMutex

func (p *DiskPlugin) Config(key string, value string) error {
	if key == "size" {
		var err error
		size, err = nbdkit.ParseSize(value)
		if err != nil {
			return err
		}
		sizeSet = true
		return nil
	}
	return nbdkit.PluginError{Errmsg: "unknown parameter: " + key}
}

func (p *DiskPlugin) ConfigComplete() error {
	if !sizeSet {
		return nbdkit.PluginError{Errmsg: "size parameter is required"}
	}
	return nil
}

func (p *DiskPlugin) GetReady() error {
	disk = make([]byte, size)
	nbdkit.Debug("disk allocated")
	return nil
}

func (p *DiskPlugin) Open(readonly bool) (nbdkit.ConnectionInterface, error) {
	return &DiskConnection{}, nil
}

func (c *DiskConnection) GetSize() (uint64, error)    { return size, nil }
func (c *DiskConnection) CanMultiConn() (bool, error) { return true, nil }
func (c *DiskConnection) CanWrite() (bool, error)     { return true, nil }

// A RAM disk has nothing to flush: FUA and flush are done as soon as the write is.
func (c *DiskConnection) CanFlush() (bool, error)  { return true, nil }
func (c *DiskConnection) CanFUA() (uint32, error)  { return nbdkit.FUANative, nil }
func (c *DiskConnection) Flush(flags uint32) error { return nil }

func (c *DiskConnection) PRead(buf []byte, offset uint64, flags uint32) error {
	lock.RLock()
	defer lock.RUnlock()
	copy(buf, disk[offset:int(offset)+len(buf)])
	return nil
}

func (c *DiskConnection) PWrite(buf []byte, offset uint64, flags uint32) error {
	lock.Lock()
	defer lock.Unlock()
	copy(disk[offset:int(offset)+len(buf)], buf)
	return nil
}

//export plugin_init
func plugin_init() unsafe.Pointer {
	return nbdkit.PluginInitialize(pluginName, &DiskPlugin{})
}

func main() {}
