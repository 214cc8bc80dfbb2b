module github.com/libstorage/libstorage/examples/go

go 1.22

require github.com/libstorage/libstorage/bindings/go v0.0.0

replace github.com/libstorage/libstorage/bindings/go => ../../bindings/go
