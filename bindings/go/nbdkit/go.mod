module libguestfs.org/nbdkit

go 1.19
