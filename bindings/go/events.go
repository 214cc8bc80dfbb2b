package storage

// #include "shim.h"
import "C"

import (
	"unsafe"
)

// pullTimeoutMs bounds each storage_next_event call, and so how long Close waits for
// the pump to let go of the context.
const pullTimeoutMs = 50

// eventBuffer is how many parsed events wait in the Go channel for a slow reader; past
// it the library's own queue fills and reports an event_queue_overflow event.
const eventBuffer = 64

// eventPump is the goroutine that pulls a Manager's events off the library and sends
// them on a Go channel, so no application code runs on the library's worker thread.
type eventPump struct {
	events   chan Event
	stopping chan struct{}
	done     chan struct{}
}

// Events returns the Manager's events, in the order the library emitted them, starting
// with those of the context's start (recording_recovered, recording_started). The
// channel is closed by Close. Read it, or events pile up and the oldest are dropped.
func (m *Manager) Events() <-chan Event { return m.pump.events }

func (p *eventPump) start(m *Manager) {
	p.events = make(chan Event, eventBuffer)
	p.stopping = make(chan struct{})
	p.done = make(chan struct{})
	go p.run(m)
}

// stop asks the pump to finish; wait waits until it has and Events is closed.
func (p *eventPump) stop() { close(p.stopping) }
func (p *eventPump) wait() { <-p.done }

func (p *eventPump) run(m *Manager) {
	defer close(p.done)
	defer close(p.events)
	for {
		select {
		case <-p.stopping:
			return
		default:
		}
		raw, status := pullOne(m)
		switch status {
		case StatusOK:
		case StatusTimeout:
			continue
		default: // closed
			return
		}
		if !p.send(raw) {
			return
		}
	}
}

// send parses raw and sends it on the events channel; false once the pump must stop.
func (p *eventPump) send(raw []byte) bool {
	event, err := ParseEvent(raw)
	if err != nil {
		event = Event{Raw: raw} // never drop an event, even one this binding cannot read
	}
	select {
	case p.events <- event:
		return true
	case <-p.stopping:
		return false
	}
}

// pullOne waits up to pullTimeoutMs for the next event and copies it out.
func pullOne(m *Manager) ([]byte, Status) {
	var raw []byte
	status := StatusShuttingDown
	m.withContext(func(ctx *C.storage_ctx) {
		var data *C.uint8_t
		var n C.size_t
		status = Status(C.storage_next_event(ctx, pullTimeoutMs, &data, &n))
		if status == StatusOK {
			raw = C.GoBytes(unsafe.Pointer(data), C.int(n))
			C.storage_bytes_free(data, n)
		}
	})
	return raw, status
}
