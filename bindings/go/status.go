package storage

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"
)

// Status is a storage_status code of the C API (0 = OK). Values are never renumbered.
// Its name and description come from the library (storage_status_name and
// storage_status_description), so a status newer than this binding still prints.
type Status int32

// The storage_status values of include/storage.h (a test checks that they are all of
// the library's statuses, under its names).
const (
	StatusOK                Status = 0
	StatusInvalidHandle     Status = 1
	StatusNullArgument      Status = 2
	StatusInvalidUTF8       Status = 3
	StatusEmptyChannelID    Status = 4
	StatusInvalidConfig     Status = 5
	StatusMisuse            Status = 6
	StatusPanic             Status = 7
	StatusShuttingDown      Status = 8
	StatusTimeout           Status = 9
	StatusEmptyContent      Status = 10
	StatusTooLarge          Status = 11
	StatusDecodeError       Status = 12
	StatusUnknownChannel    Status = 13
	StatusLimitReached      Status = 14
	StatusPersistenceError  Status = 15
	StatusStartFailed       Status = 16
	StatusRecordingInvalid  Status = 17
	StatusRecordingNotFound Status = 18
	StatusRecordingExists   Status = 19
	StatusRecordingIO       Status = 20
	StatusUploadFailed      Status = 21
)

// unknownStatusName is what the library names a value that is no status.
const unknownStatusName = "STORAGE_UNKNOWN_STATUS"

// Name is the library's name of the status, e.g. "STORAGE_LIMIT_REACHED", or
// "STORAGE_UNKNOWN_STATUS" for a value that is none.
func (s Status) Name() string { return C.GoString(C.storage_status_name(C.int32_t(s))) }

// Description is the library's one-line description of the status.
func (s Status) Description() string {
	return C.GoString(C.storage_status_description(C.int32_t(s)))
}

// String names the status in words, e.g. "empty channel id" for STORAGE_EMPTY_CHANNEL_ID,
// or "status 99" for a value that is no status.
func (s Status) String() string {
	name := s.Name()
	if name == unknownStatusName {
		return fmt.Sprintf("status %d", int32(s))
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "STORAGE_"), "_", " "))
}

// ErrClosed matches (with errors.Is) every error caused by the Manager being closed:
// calls made after Close and requests that Close cut short.
var ErrClosed = errors.New("storage: manager is closed")

// Error is a failure reported by the library: the operation, its status and the
// library's own message (which names the bad argument or configuration key).
type Error struct {
	Op      string // the Manager method, e.g. "Wrap"
	Status  Status
	Message string
}

// Error formats the failure as "storage.Op: message" (the library's message already
// says what went wrong; Status has the code), or "storage.Op: status" without one, so
// the package and the operation are each named once.
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("storage.%s: %s", e.Op, e.Status)
	}
	return fmt.Sprintf("storage.%s: %s", e.Op, e.Message)
}

// Is reports whether target is ErrClosed and this error comes from a closed Manager.
func (e *Error) Is(target error) bool {
	return target == ErrClosed && e.Status == StatusShuttingDown
}
