package storage

// #include "shim.h"
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Manager is one libstorage context: its channels, protocol state and worker thread.
// Every method is safe for concurrent use. Close it to stop the worker and free it.
type Manager struct {
	// mu is held shared by every C call that uses ctx and exclusively by Close, because
	// the C API forbids freeing a context another thread is still calling into. C calls
	// only enqueue (the pull waits at most pullTimeoutMs), so Close never waits long.
	mu  sync.RWMutex
	ctx *C.storage_ctx // nil once closed

	closeOnce sync.Once
	pump      eventPump
}

// New starts a Manager configured by config.
func New(config Config) (*Manager, error) {
	document, err := config.JSON()
	if err != nil {
		return nil, &Error{Op: "New", Status: StatusInvalidConfig, Message: err.Error()}
	}
	return NewFromJSON(string(document))
}

// NewFromJSON starts a Manager from a raw configuration document ("" for the defaults):
// the escape hatch for documents Config cannot express.
func NewFromJSON(document string) (*Manager, error) {
	text, err := cString("New", "configuration", document)
	if err != nil {
		return nil, err
	}
	defer freeCString(text)
	var ctx *C.storage_ctx
	var message *C.char
	// No event callback: the events a context emits as it starts (recording_recovered,
	// recording_started) wait in its queue, and the pump pulls them first.
	status := Status(C.storage_new_ex(text, nil, nil, &ctx, &message))
	if status != StatusOK {
		defer C.storage_string_free(message)
		return nil, &Error{Op: "New", Status: status, Message: C.GoString(message)}
	}
	m := &Manager{ctx: ctx}
	m.pump.start(m)
	return m, nil
}

// Close frees the context: requests still queued fail with an error matching ErrClosed,
// events not yet received are discarded, and Events is closed. It is idempotent and safe
// to call while other goroutines are using the Manager.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.pump.stop()
		m.mu.Lock()
		ctx := m.ctx
		m.ctx = nil
		m.mu.Unlock()
		// Outside the lock: freeing answers queued requests, whose goroutines are waiting.
		if status := Status(C.storage_free(ctx)); status != StatusOK {
			err = &Error{Op: "Close", Status: status}
		}
		m.pump.wait()
	})
	return err
}

// withContext runs call with the live context, holding it open; false if closed.
func (m *Manager) withContext(call func(ctx *C.storage_ctx)) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ctx == nil {
		return false
	}
	call(m.ctx)
	return true
}

// submitFunc makes one C request on ctx with the answer callback and its user_data.
type submitFunc func(ctx *C.storage_ctx, callback C.storage_callback, userData unsafe.Pointer) C.storage_status

// request submits one request and waits for its answer: the result bytes, or an *Error
// with the library's status and message.
func (m *Manager) request(op string, submit submitFunc) ([]byte, error) {
	answers := make(chan answer, 1)
	handle := cgo.NewHandle(answers)
	// Deleted only once no callback can come: after the answer, or after a refusal.
	defer handle.Delete()
	status := StatusOK
	open := m.withContext(func(ctx *C.storage_ctx) {
		status = Status(submit(ctx, C.storage_go_answer(), C.storage_go_user_data(C.uintptr_t(handle))))
	})
	if !open {
		return nil, &Error{Op: op, Status: StatusShuttingDown, Message: "the manager is closed"}
	}
	a := answer{status: status}
	if status == StatusOK {
		a = <-answers
	} else {
		// Refused at once: the callback, if it ran, ran before the call returned.
		select {
		case a = <-answers:
		default:
		}
	}
	return a.data, a.asError(op)
}
