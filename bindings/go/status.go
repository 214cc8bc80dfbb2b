package storage

import (
	"errors"
	"fmt"
)

// Status is a storage_status code of the C API (0 = OK). Values are never renumbered.
type Status int32

// The storage_status values of include/storage.h.
const (
	StatusOK                Status = 0  // Success.
	StatusInvalidHandle     Status = 1  // The context handle is NULL, freed, or not a context.
	StatusNullArgument      Status = 2  // A required pointer is NULL.
	StatusInvalidUTF8       Status = 3  // A string argument is not valid UTF-8.
	StatusEmptyChannelID    Status = 4  // A channel id is empty.
	StatusInvalidConfig     Status = 5  // The configuration has a bad key or value.
	StatusMisuse            Status = 6  // A context cannot be freed from its own callback.
	StatusPanic             Status = 7  // The library hit an internal error.
	StatusShuttingDown      Status = 8  // The context was freed before the request ran.
	StatusTimeout           Status = 9  // No event arrived before the timeout.
	StatusEmptyContent      Status = 10 // Message content is empty.
	StatusTooLarge          Status = 11 // Content over 1 MiB, or a received message too large.
	StatusDecodeError       Status = 12 // A received message could not be decoded.
	StatusUnknownChannel    Status = 13 // The channel is not known to this context.
	StatusLimitReached      Status = 14 // A configured limit (channels, buffers, the memory budget) is reached.
	StatusPersistenceError  Status = 15 // The persistence backend failed.
	StatusStartFailed       Status = 16 // The context could not be started.
	StatusRecordingInvalid  Status = 17 // A recording name or option is invalid, or recordings are not configured.
	StatusRecordingNotFound Status = 18 // No such recording (or active recording, or replay).
	StatusRecordingExists   Status = 19 // A recording of that name exists or is being written.
	StatusRecordingIO       Status = 20 // A recording file could not be written or read.
	statusAfterLastKnownOne Status = 21
)

var statusNames = [statusAfterLastKnownOne]string{
	"ok", "invalid handle", "null argument", "invalid utf-8", "empty channel id",
	"invalid config", "misuse", "panic", "shutting down", "timeout", "empty content",
	"too large", "decode error", "unknown channel", "limit reached", "persistence error",
	"start failed", "recording invalid", "recording not found", "recording exists",
	"recording io",
}

// String names the status, e.g. "empty channel id".
func (s Status) String() string {
	if s >= 0 && s < statusAfterLastKnownOne {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", int32(s))
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

// Error formats the failure as "storage: Op: status: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("storage: %s: %s", e.Op, e.Status)
	}
	return fmt.Sprintf("storage: %s: %s: %s", e.Op, e.Status, e.Message)
}

// Is reports whether target is ErrClosed and this error comes from a closed Manager.
func (e *Error) Is(target error) bool {
	return target == ErrClosed && e.Status == StatusShuttingDown
}
