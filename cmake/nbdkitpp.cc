// SPDX-License-Identifier: BSD-3-Clause
// The one source of libnbdkitpp.so (src/client/CMakeLists.txt): everything in it comes from the
// client, protocol and common archives, linked whole.
