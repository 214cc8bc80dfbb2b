// Package libsds is a client of the libsds C API (include/libsds.h) written the way
// libsds's own cgo binding (waku-org/sds-go-bindings) is written, so that its tests show
// that such clients work when linked against libstorage.so instead of nim-sds's libsds:
//
//   - each request passes a C Resp and a sync.WaitGroup; the exported result callback
//     stores the msg POINTER and its length in the Resp and calls Done;
//   - the caller copies msg[0..len] only after Wait returns, which is after the callback
//     has returned (the lifetime include/libsds.h guarantees);
//   - wrap results, comma-separated decimals, are parsed with strings.Split and
//     strconv.Atoi; unwrap results and events are decoded with encoding/json;
//   - one exported event callback serves every manager, with the context as userData;
//   - the retrieval-hint provider allocates the hint with C.CBytes and the library frees it.
//
// Unlike that binding, the WaitGroup travels to C as a cgo.Handle and the registry of
// managers is locked, so the package is clean under the race detector and cgo's pointer
// rules; neither changes what the library sees.
package libsds

/*
#cgo pkg-config: storage
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Return codes of libsds.h.
const (
	RetOK              = int(C.RET_OK)
	RetErr             = int(C.RET_ERR)
	RetMissingCallback = int(C.RET_MISSING_CALLBACK)
)

// requestTimeout bounds the wait for a callback, so that a library that never answers
// fails a test instead of hanging it.
const requestTimeout = 60 * time.Second

// MessageID is the id of an SDS message.
type MessageID string

// MissingDep is one entry of "missingDeps" in unwrap results and events.
type MissingDep struct {
	MessageID     MessageID `json:"messageId"`
	RetrievalHint []byte    `json:"retrievalHint"` // base64 in the JSON
}

// UnwrappedMessage is libsds's unwrap result.
type UnwrappedMessage struct {
	Message     []byte       `json:"message"` // an array of byte values in the JSON
	ChannelID   string       `json:"channelId"`
	MissingDeps []MissingDep `json:"missingDeps"`
}

// Event is one libsds event, decoded, with its exact text.
type Event struct {
	EventType   string       `json:"eventType"`
	MessageID   MessageID    `json:"messageId"`
	ChannelID   string       `json:"channelId"`
	MissingDeps []MissingDep `json:"missingDeps"`
	// Raw is the event's JSON as the library produced it.
	Raw string `json:"-"`
}

// CallError is a request the library answered (or refused) with a non-OK return code.
type CallError struct {
	Op      string
	Ret     int
	Message string // the callback's msg, "" if there was no callback
}

func (e *CallError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s: ret %d", e.Op, e.Ret)
	}
	return fmt.Sprintf("%s: ret %d: %s", e.Op, e.Ret, e.Message)
}

// ReliabilityManager is one libsds context.
type ReliabilityManager struct {
	ctx unsafe.Pointer
	// Events receives every event, in order; events beyond its capacity are counted in
	// DroppedEvents instead of blocking the library's thread.
	Events    chan Event
	droppedMu sync.Mutex
	dropped   int
	hintMu    sync.Mutex
	hints     func(MessageID) []byte
}

// The one event callback cannot carry a Go pointer, so managers are found by context.
var (
	registryMu sync.Mutex
	registry   = map[unsafe.Pointer]*ReliabilityManager{}
)

func lookup(ctx unsafe.Pointer) *ReliabilityManager {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registry[ctx]
}

//export SdsGoCallback
func SdsGoCallback(ret C.int, msg *C.char, len C.size_t, resp unsafe.Pointer) {
	if resp == nil {
		return
	}
	m := (*C.Resp)(resp)
	m.ret = ret
	m.msg = msg // kept as a pointer: read after Wait, once this callback has returned
	m.len = len
	m.called = 1
	cgo.Handle(m.wg).Value().(*sync.WaitGroup).Done()
}

//export sdsGlobalEventCallback
func sdsGlobalEventCallback(ret C.int, msg *C.char, len C.size_t, userData unsafe.Pointer) {
	rm := lookup(userData)
	if rm == nil || ret != C.RET_OK {
		return
	}
	raw := C.GoStringN(msg, C.int(len))
	event := Event{Raw: raw}
	if err := json.Unmarshal([]byte(raw), &event); err != nil {
		event = Event{EventType: "undecodable: " + err.Error(), Raw: raw}
	}
	select {
	case rm.Events <- event:
	default:
		rm.droppedMu.Lock()
		rm.dropped++
		rm.droppedMu.Unlock()
	}
}

//export sdsGlobalRetrievalHintProvider
func sdsGlobalRetrievalHintProvider(messageID *C.char, hint **C.char, hintLen *C.size_t, userData unsafe.Pointer) {
	rm := lookup(userData)
	if rm == nil {
		return
	}
	rm.hintMu.Lock()
	provider := rm.hints
	rm.hintMu.Unlock()
	if provider == nil {
		return
	}
	bytes := provider(MessageID(C.GoString(messageID)))
	if len(bytes) == 0 {
		return
	}
	// malloc'ed by C.CBytes; the library copies the hint and frees it.
	*hint = (*C.char)(C.CBytes(bytes))
	*hintLen = C.size_t(len(bytes))
}

// call runs one request the binding's way: Add, call, Wait, then copy msg[0..len]. A
// call that returns an error code without calling back (invalid context) is not waited
// for; an argument error calls back before the function returns.
func call(op string, invoke func(resp *C.Resp) C.int) (string, error) {
	wg := &sync.WaitGroup{}
	handle := cgo.NewHandle(wg)
	resp := C.allocResp(C.uintptr_t(handle))
	if resp == nil {
		handle.Delete()
		return "", errors.New(op + ": out of memory")
	}
	wg.Add(1)
	rc := int(invoke(resp))
	if rc != RetOK && resp.called == 0 {
		C.freeResp(resp)
		handle.Delete()
		return "", &CallError{Op: op, Ret: rc}
	}
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(requestTimeout):
		// resp and the handle are left to the callback that may still come.
		return "", fmt.Errorf("%s: no callback within %v", op, requestTimeout)
	}
	defer handle.Delete()
	defer C.freeResp(resp)
	// The callback returned long ago (Done was its last act): this is the read that needs
	// the library's buffer to outlive the callback.
	text := C.GoStringN(resp.msg, C.int(resp.len))
	if ret := int(resp.ret); ret != RetOK || rc != RetOK {
		if ret == RetOK {
			ret = rc
		}
		return "", &CallError{Op: op, Ret: ret, Message: text}
	}
	return text, nil
}

// NewReliabilityManager creates a context and waits for its callback.
func NewReliabilityManager() (*ReliabilityManager, error) {
	rm := &ReliabilityManager{Events: make(chan Event, 4096)}
	var ctx unsafe.Pointer
	_, err := call("SdsNewReliabilityManager", func(resp *C.Resp) C.int {
		ctx = C.cGoSdsNewReliabilityManager(resp)
		if ctx == nil {
			return C.RET_ERR
		}
		return C.RET_OK
	})
	if err != nil {
		return nil, err
	}
	rm.ctx = ctx
	registryMu.Lock()
	registry[ctx] = rm
	registryMu.Unlock()
	C.cGoSdsSetEventCallback(ctx)
	return rm, nil
}

// DroppedEvents is how many events did not fit in Events.
func (rm *ReliabilityManager) DroppedEvents() int {
	rm.droppedMu.Lock()
	defer rm.droppedMu.Unlock()
	return rm.dropped
}

// SetRetrievalHintProvider installs provider for later wraps (nil: no hints).
func (rm *ReliabilityManager) SetRetrievalHintProvider(provider func(MessageID) []byte) {
	rm.hintMu.Lock()
	rm.hints = provider
	rm.hintMu.Unlock()
	C.cGoSdsSetRetrievalHintProvider(rm.ctx)
}

// Cleanup frees the context (synchronously, its callback gets NULL, 0).
func (rm *ReliabilityManager) Cleanup() error {
	text, err := call("SdsCleanupReliabilityManager", func(resp *C.Resp) C.int {
		return C.cGoSdsCleanupReliabilityManager(rm.ctx, resp)
	})
	if err != nil {
		return err
	}
	if text != "" {
		return fmt.Errorf("cleanup answered %q, expected nothing", text)
	}
	registryMu.Lock()
	delete(registry, rm.ctx)
	registryMu.Unlock()
	return nil
}

// Reset forgets every channel.
func (rm *ReliabilityManager) Reset() error {
	return rm.expectEmpty(call("SdsResetReliabilityManager", func(resp *C.Resp) C.int {
		return C.cGoSdsResetReliabilityManager(rm.ctx, resp)
	}))
}

// StartPeriodicTasks starts the sweeps and the sync timer.
func (rm *ReliabilityManager) StartPeriodicTasks() error {
	return rm.expectEmpty(call("SdsStartPeriodicTasks", func(resp *C.Resp) C.int {
		return C.cGoSdsStartPeriodicTasks(rm.ctx, resp)
	}))
}

// expectEmpty turns the "" result of a request without content into nil.
func (rm *ReliabilityManager) expectEmpty(text string, err error) error {
	if err != nil {
		return err
	}
	if text != "" {
		return fmt.Errorf("answered %q, expected an empty result", text)
	}
	return nil
}

// WrapOutgoingMessage wraps message and returns the wire bytes, parsed from the decimal
// text the way the binding parses them.
func (rm *ReliabilityManager) WrapOutgoingMessage(message []byte, messageID MessageID, channelID string) ([]byte, error) {
	cID := C.CString(string(messageID))
	defer C.free(unsafe.Pointer(cID))
	cChannel := C.CString(channelID)
	defer C.free(unsafe.Pointer(cChannel))
	var cMessage unsafe.Pointer
	if len(message) > 0 {
		cMessage = C.CBytes(message)
		defer C.free(cMessage)
	}
	text, err := call("SdsWrapOutgoingMessage", func(resp *C.Resp) C.int {
		return C.cGoSdsWrapOutgoingMessage(rm.ctx, cMessage, C.size_t(len(message)), cID, cChannel, resp)
	})
	if err != nil {
		return nil, err
	}
	return ParseDecimalList(text)
}

// ParseDecimalList parses "b0,b1,..." with strings.Split and strconv.Atoi.
func ParseDecimalList(text string) ([]byte, error) {
	if text == "" {
		return nil, errors.New("empty wrap result")
	}
	parts := strings.Split(text, ",")
	bytes := make([]byte, len(parts))
	for i, part := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("wrap result, number %d of %d: %w", i, len(parts), err)
		}
		if n < 0 || n > 255 {
			return nil, fmt.Errorf("wrap result, number %d of %d: %d is not a byte", i, len(parts), n)
		}
		bytes[i] = byte(n)
	}
	return bytes, nil
}

// UnwrapReceivedMessage unwraps wire bytes; the JSON result is decoded with encoding/json.
func (rm *ReliabilityManager) UnwrapReceivedMessage(message []byte) (*UnwrappedMessage, error) {
	var cMessage unsafe.Pointer
	if len(message) > 0 {
		cMessage = C.CBytes(message)
		defer C.free(cMessage)
	}
	text, err := call("SdsUnwrapReceivedMessage", func(resp *C.Resp) C.int {
		return C.cGoSdsUnwrapReceivedMessage(rm.ctx, cMessage, C.size_t(len(message)), resp)
	})
	if err != nil {
		return nil, err
	}
	var unwrapped UnwrappedMessage
	if err := json.Unmarshal([]byte(text), &unwrapped); err != nil {
		return nil, fmt.Errorf("failed to unmarshal unwrapped message %q: %w", text, err)
	}
	return &unwrapped, nil
}

// MarkDependenciesMet declares ids present on channelID.
func (rm *ReliabilityManager) MarkDependenciesMet(ids []MessageID, channelID string) error {
	cIDs := C.allocCStrings(C.size_t(len(ids)))
	if cIDs == nil {
		return errors.New("out of memory")
	}
	for i, id := range ids {
		C.setCString(cIDs, C.size_t(i), C.CString(string(id)))
	}
	defer C.freeCStrings(cIDs, C.size_t(len(ids)))
	cChannel := C.CString(channelID)
	defer C.free(unsafe.Pointer(cChannel))
	return rm.expectEmpty(call("SdsMarkDependenciesMet", func(resp *C.Resp) C.int {
		return C.cGoSdsMarkDependenciesMet(rm.ctx, cIDs, C.size_t(len(ids)), cChannel, resp)
	}))
}
