package storage

// #include "storage.h"
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// answer is one callback invocation: a request's outcome.
type answer struct {
	status Status
	data   []byte
}

// storageGoAnswer is the storage_callback of every request. It runs on the library's
// worker thread (or, for a refused argument, on the calling goroutine's thread), so it
// only copies the borrowed bytes and hands them over without blocking: user_data is a
// cgo.Handle of a channel with room for the one answer a request gets.
//
//export storageGoAnswer
func storageGoAnswer(status C.storage_status, data *C.uint8_t, length C.size_t, userData unsafe.Pointer) {
	answers := cgo.Handle(uintptr(userData)).Value().(chan answer)
	a := answer{status: Status(status), data: C.GoBytes(unsafe.Pointer(data), C.int(length))}
	select {
	case answers <- a:
	default: // never block the worker thread; a request has exactly one answer anyway
	}
}
