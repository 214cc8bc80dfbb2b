module libstorage/bindings/go/storage

go 1.22
