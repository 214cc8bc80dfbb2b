package storage

// The header and library are found through pkg-config (`storage.pc`, installed by `make
// install`; set PKG_CONFIG_PATH for a non-system prefix). In the tree, `make go-test`
// points PKG_CONFIG_PATH at a storage.pc it generates for the tree's build.

/*
#cgo pkg-config: storage
#include "shim.h"
*/
import "C"

import (
	"strings"
	"unsafe"
)

// asError turns a failed answer into an *Error (nil on success).
func (a answer) asError(op string) error {
	if a.status == StatusOK {
		return nil
	}
	return &Error{Op: op, Status: a.status, Message: string(a.data)}
}

// cString copies s for C; the caller frees it with freeCString. C strings end at the
// first NUL, so a string holding one is refused rather than silently cut short.
func cString(op, name, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Op: op, Status: StatusInvalidUTF8, Message: name + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// freeCString releases a string made by cString (nil is fine).
func freeCString(s *C.char) { C.free(unsafe.Pointer(s)) }

// cBytes passes b to C for the duration of one call (the library copies what it keeps).
func cBytes(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// Version is the library's version string.
func Version() string { return C.GoString(C.storage_version()) }
