// SPDX-License-Identifier: BSD-3-Clause
// A libext2fs io_manager whose "device" is the layer below a filter: libext2fs reads and writes
// blocks of the file system image through Connection::pread/pwrite/flush.
#pragma once

#include <ext2fs/ext2fs.h>

#include <string>

#include "nbd/plugin.h"

namespace nbd::filters::ext2 {

// The io manager to pass to ext2fs_open2, with the name from device_name().
io_manager connection_io_manager();
// The name under which ext2fs_open2 reaches `below` (size bytes long) through that manager.
// `below` must outlive the file system opened on it.
std::string device_name(Connection* below, uint64_t size);
// The message of the last failed read or write on that device (empty if none), for errors
// libext2fs reports only as a code.
std::string last_device_error(Connection* below);
// Drops the name device_name made, once the file system on it is closed.
void forget_device(Connection* below);

}  // namespace nbd::filters::ext2
