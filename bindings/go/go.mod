module github.com/libstorage/libstorage/bindings/go

go 1.22
