package storage

// #include "shim.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// Supersession says what retires a recording: one chunk only (Chunk non-nil) or the
// whole recording, the recording that replaces it ("" for none), who ("" for the
// participant id) and why.
type Supersession struct {
	Chunk       *uint64
	Replacement string
	Actor       string
	Reason      string
}

// AuditQuery selects audit records: each non-empty field must match (times are Unix ns,
// inclusive). Anchor, a head of the audit log kept elsewhere, is checked against the log.
type AuditQuery struct {
	Recording string  `json:"recording,omitempty"`
	Actor     string  `json:"actor,omitempty"`
	SinceNs   *uint64 `json:"since_ns,omitempty"`
	UntilNs   *uint64 `json:"until_ns,omitempty"`
	Anchor    string  `json:"anchor,omitempty"`
}

// cStrings copies each of values for C ("" as NULL where optional[i]); release frees them.
func cStrings(op string, names []string, values []string, optional []bool) (out []*C.char, release func(), err error) {
	release = func() {
		for _, s := range out {
			freeCString(s)
		}
	}
	for i, value := range values {
		if value == "" && optional[i] {
			out = append(out, nil)
			continue
		}
		s, err := cString(op, names[i], value)
		if err != nil {
			release()
			return nil, func() {}, err
		}
		out = append(out, s)
	}
	return out, release, nil
}

// RecordingSupersede retires recording name (or one chunk of it) without touching its
// files: the audit log under the recordings root gains a supersession record, which is
// the answer (JSON, keys as in audit.log). Recordings then lists it under "superseded".
func (m *Manager) RecordingSupersede(name string, s Supersession) (json.RawMessage, error) {
	const op = "RecordingSupersede"
	strs, release, err := cStrings(op, []string{"name", "replacement", "actor", "reason"},
		[]string{name, s.Replacement, s.Actor, s.Reason}, []bool{false, true, true, false})
	if err != nil {
		return nil, err
	}
	defer release()
	chunk := C.int64_t(-1)
	if s.Chunk != nil {
		chunk = C.int64_t(*s.Chunk)
	}
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_supersede(ctx, strs[0], chunk, strs[1], strs[2], strs[3], cb, ud)
	})
}

// RecordingErase deletes the files of superseded recording name, after an erasure record
// (by actor, "" for the participant id, because of reason) is appended to the audit log;
// the answer is that record.
func (m *Manager) RecordingErase(name, actor, reason string) (json.RawMessage, error) {
	const op = "RecordingErase"
	strs, release, err := cStrings(op, []string{"name", "actor", "reason"},
		[]string{name, actor, reason}, []bool{false, true, false})
	if err != nil {
		return nil, err
	}
	defer release()
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_erase(ctx, strs[0], strs[1], strs[2], cb, ud)
	})
}

// Audit reads the audit log: {"records": [...], "verdict": {"status", ...}} with the
// records query selects and the verdict on the whole log's chain.
func (m *Manager) Audit(query AuditQuery) (json.RawMessage, error) {
	const op = "Audit"
	document, err := json.Marshal(query)
	if err != nil {
		return nil, &Error{Op: op, Status: StatusRecordingInvalid, Message: err.Error()}
	}
	cQuery, err := cString(op, "query", string(document))
	if err != nil {
		return nil, err
	}
	defer freeCString(cQuery)
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_audit_query(ctx, cQuery, cb, ud)
	})
}

// RecordingVerifyAnchored is RecordingVerify, also checking the hash chain against head,
// a head anchored elsewhere (from a chunk_sealed event or a stop result): the answer's
// chain.anchor is "head", "prefix" (the recording grew since) or "mismatch" (history was
// rewritten; ok is false). head must be 64 hex digits.
func (m *Manager) RecordingVerifyAnchored(name, head string) (json.RawMessage, error) {
	const op = "RecordingVerifyAnchored"
	strs, release, err := cStrings(op, []string{"name", "head"}, []string{name, head}, []bool{false, false})
	if err != nil {
		return nil, err
	}
	defer release()
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_recording_verify_anchored(ctx, strs[0], strs[1], cb, ud)
	})
}
