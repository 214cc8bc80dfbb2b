module github.com/libstorage/libstorage/tests/go-libsds

go 1.22
