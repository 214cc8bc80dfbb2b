package storage

// #include "storage.h"
// extern void storageGoLog(storage_log_level level, char *target, char *message, void *user_data);
// static storage_status storage_go_set_log(int on) {
//     return storage_set_log_callback(on ? (storage_log_callback)storageGoLog : NULL, NULL);
// }
import "C"

import (
	"context"
	"log/slog"
	"sync/atomic"
	"unsafe"
)

// logger receives the library's records; nil until ForwardLogs.
var logger atomic.Pointer[slog.Logger]

// LevelTrace is the slog level of the library's trace records (below slog.LevelDebug).
const LevelTrace = slog.LevelDebug - 4

// slogLevels maps storage_log_level 1..5 to slog levels.
var slogLevels = [...]slog.Level{slog.LevelError, slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug, LevelTrace}

// ForwardLogs hands the library's log records to l (process-wide), at level and above;
// each record carries the attribute "target" (the library module that logged). Records
// below level are not even formatted by the library. Without ForwardLogs the library
// logs nothing. ForwardLogs(nil, ...) stops forwarding.
func ForwardLogs(l *slog.Logger, level slog.Level) error {
	threshold := C.int32_t(0)
	if l != nil {
		switch {
		case level <= LevelTrace:
			threshold = 5
		case level <= slog.LevelDebug:
			threshold = 4
		case level <= slog.LevelInfo:
			threshold = 3
		case level <= slog.LevelWarn:
			threshold = 2
		default:
			threshold = 1
		}
	}
	logger.Store(l)
	if st := Status(C.storage_set_log_level(threshold)); st != StatusOK {
		return &Error{Op: "ForwardLogs", Status: st}
	}
	on := C.int(0)
	if l != nil {
		on = 1
	}
	if st := Status(C.storage_go_set_log(on)); st != StatusOK {
		return &Error{Op: "ForwardLogs", Status: st}
	}
	return nil
}

// storageGoLog is the storage_log_callback: it may run on any library thread.
//
//export storageGoLog
func storageGoLog(level C.storage_log_level, target *C.char, message *C.char, _ unsafe.Pointer) {
	l := logger.Load()
	if l == nil {
		return
	}
	lvl := slog.LevelError
	if int(level) >= 0 && int(level) < len(slogLevels) {
		lvl = slogLevels[level]
	}
	l.Log(context.Background(), lvl, C.GoString(message), slog.String("target", C.GoString(target)))
}
