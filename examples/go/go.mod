module libstorage/examples/go

go 1.22

require libstorage/bindings/go/storage v0.0.0

replace libstorage/bindings/go/storage => ../../bindings/go
