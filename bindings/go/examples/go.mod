module libguestfs.org/nbdkit-go-examples

go 1.19

require (
	libguestfs.org/libnbd v0.0.0
	libguestfs.org/nbdkit v0.0.0
)

replace libguestfs.org/libnbd => ../libnbd

replace libguestfs.org/nbdkit => ../nbdkit
