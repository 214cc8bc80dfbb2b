module libstorage/tests/go-libsds

go 1.22
