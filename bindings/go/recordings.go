package storage

// #include "shim.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// RecordingStart starts recording delivered messages as recording name, under the
// configured recording root. options (nil: defaults) is marshalled to the options JSON of
// storage_recording_start: "channels", "record_sent", "mode", "window_secs", ...
func (m *Manager) RecordingStart(name string, options map[string]any) error {
	_, err := m.recordingRequest("RecordingStart", name, options, func(ctx *C.storage_ctx, n, opts *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_start(ctx, n, opts, cb, ud)
	})
	return err
}

// RecordingStop stops recording name, sealing what it wrote; the answer is the JSON
// document {"name","written","dropped","manifest"}.
func (m *Manager) RecordingStop(name string) (json.RawMessage, error) {
	return m.recordingRequest("RecordingStop", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_stop(ctx, n, cb, ud)
	})
}

// RecordingVerify checks every chunk of recording name against its hash and the
// manifest; the answer is {"name","ok","chunks":[{"file","status","reason"}]}.
func (m *Manager) RecordingVerify(name string) (json.RawMessage, error) {
	return m.recordingRequest("RecordingVerify", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_verify(ctx, n, cb, ud)
	})
}

// UploadRecording uploads recording name now to the configured bucket (the upload
// section), retrying chunks the background uploader gave up on; the answer is
// {"recording","chunks":[{"index","key","action","bytesSent","reason"}],"manifestKey",
// "manifest","bytesSent"}.
func (m *Manager) UploadRecording(name string) (json.RawMessage, error) {
	return m.recordingRequest("UploadRecording", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_upload_recording(ctx, n, cb, ud)
	})
}

// UploadStatus reports recording name's upload state (see docs/json.md).
func (m *Manager) UploadStatus(name string) (json.RawMessage, error) {
	return m.recordingRequest("UploadStatus", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_upload_status(ctx, n, cb, ud)
	})
}

// UploadReconcile reconciles recording name with the bucket, per chunk, deleting nothing.
func (m *Manager) UploadReconcile(name string) (json.RawMessage, error) {
	return m.recordingRequest("UploadReconcile", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_upload_reconcile(ctx, n, cb, ud)
	})
}

// UploadRestore rebuilds recording name, which this machine lacks, from the bucket.
func (m *Manager) UploadRestore(name string) (json.RawMessage, error) {
	return m.recordingRequest("UploadRestore", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_upload_restore(ctx, n, cb, ud)
	})
}

// RecordingDelete deletes recording name and its files.
func (m *Manager) RecordingDelete(name string) error {
	_, err := m.recordingRequest("RecordingDelete", name, nil, func(ctx *C.storage_ctx, n, _ *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_delete(ctx, n, cb, ud)
	})
	return err
}

// Recordings lists the recordings under the root: {"recordings":[{"name","active",
// "manifest" | "error"}]}.
func (m *Manager) Recordings() (json.RawMessage, error) {
	return m.request("Recordings", func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recordings_list(ctx, cb, ud)
	})
}

// ReplayStart replays recording name as replay_message events, then one
// replay_finished, and returns the replay's id. options (nil: defaults) may set
// "include", "exclude", "start_time_ns", "end_time_ns", "rate" (0: as fast as possible),
// "loop" and "remap".
func (m *Manager) ReplayStart(name string, options map[string]any) (uint64, error) {
	document, err := m.recordingRequest("ReplayStart", name, options, func(ctx *C.storage_ctx, n, opts *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_replay_start(ctx, n, opts, cb, ud)
	})
	if err != nil {
		return 0, err
	}
	var answer replayStarted
	return answer.ReplayID, decodeResult("ReplayStart", document, &answer)
}

// replayStarted is the answer of storage_replay_start.
type replayStarted struct {
	ReplayID uint64 `json:"replayId"`
}

// ReplayStop cancels replay id; its replay_finished event follows.
func (m *Manager) ReplayStop(id uint64) error {
	_, err := m.request("ReplayStop", func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_replay_stop(ctx, C.uint64_t(id), cb, ud)
	})
	return err
}

// recordingSubmitFunc makes one C request naming a recording, with optional options JSON.
type recordingSubmitFunc func(ctx *C.storage_ctx, name, options *C.char, callback C.storage_callback, userData unsafe.Pointer) C.storage_status

// recordingRequest runs a request naming recording name, with options marshalled to
// JSON (nil: NULL), and returns its answer.
func (m *Manager) recordingRequest(op, name string, options map[string]any, submit recordingSubmitFunc) ([]byte, error) {
	cName, err := cString(op, "name", name)
	if err != nil {
		return nil, err
	}
	defer freeCString(cName)
	var cOptions *C.char
	if options != nil {
		document, err := json.Marshal(options)
		if err != nil {
			return nil, &Error{Op: op, Status: StatusRecordingInvalid, Message: err.Error()}
		}
		if cOptions, err = cString(op, "options", string(document)); err != nil {
			return nil, err
		}
		defer freeCString(cOptions)
	}
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return submit(ctx, cName, cOptions, cb, ud)
	})
}
