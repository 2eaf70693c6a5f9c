module libguestfs.org/libnbd-examples

go 1.19

require libguestfs.org/libnbd v0.0.0

replace libguestfs.org/libnbd => ../libnbd
