package storage

// #include "storage.h"
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"
)

// answer is one callback invocation: a request's outcome (or storage_new's complaint).
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

// creationEvents is what storage_new's event callback was given: the refusal of a bad
// configuration (the only way its message reaches a caller), or events the context
// emitted before the Manager switched to pulling them. A context starts emitting at
// once (recording_recovered, recording_started), so those events must not be lost.
type creationEvents struct {
	refusal chan answer // room for the one refusal storage_new can make
	mu      sync.Mutex
	early   [][]byte
}

func newCreationEvents() *creationEvents {
	return &creationEvents{refusal: make(chan answer, 1)}
}

// take removes and returns the events received so far, oldest first.
func (c *creationEvents) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	early := c.early
	c.early = nil
	return early
}

// storageGoCreationEvent is storage_new's event callback: a refusal (status not OK, on
// the calling thread) or an early event (on the worker thread). It only copies the
// borrowed bytes and never blocks.
//
//export storageGoCreationEvent
func storageGoCreationEvent(status C.storage_status, data *C.uint8_t, length C.size_t, userData unsafe.Pointer) {
	c := cgo.Handle(uintptr(userData)).Value().(*creationEvents)
	bytes := C.GoBytes(unsafe.Pointer(data), C.int(length))
	if Status(status) != StatusOK {
		select {
		case c.refusal <- answer{status: Status(status), data: bytes}:
		default:
		}
		return
	}
	c.mu.Lock()
	c.early = append(c.early, bytes)
	c.mu.Unlock()
}
