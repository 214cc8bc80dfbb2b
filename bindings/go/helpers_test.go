package storage

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// eventTimeout is how long a test waits for an event before it fails.
const eventTimeout = 10 * time.Second

// open starts a Manager for participant (or with defaults when empty), closed at the end.
func open(t *testing.T, participant string) *Manager {
	t.Helper()
	m, err := New(Config{ParticipantID: participant})
	if err != nil {
		t.Fatalf("New(%q): %v", participant, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// mustWrap wraps content and fails the test on error.
func mustWrap(t *testing.T, m *Manager, channel, id, content string) []byte {
	t.Helper()
	wire, err := m.Wrap(channel, id, []byte(content))
	if err != nil {
		t.Fatalf("Wrap(%s, %s): %v", channel, id, err)
	}
	return wire
}

// mustUnwrap unwraps wire and checks the outcome's status.
func mustUnwrap(t *testing.T, m *Manager, wire []byte, want UnwrapStatus) UnwrapResult {
	t.Helper()
	result, err := m.Unwrap(wire)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if result.Status != want {
		t.Fatalf("Unwrap status %q, want %q (%+v)", result.Status, want, result)
	}
	return result
}

// nextEvent returns m's next event of type kind, skipping others.
func nextEvent(t *testing.T, m *Manager, kind EventType) Event {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case event, ok := <-m.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", kind)
			}
			if event.Type == kind {
				return event
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", kind, eventTimeout)
		}
	}
}

// noEvent checks that m emits nothing more for a short while.
func noEvent(t *testing.T, m *Manager) {
	t.Helper()
	select {
	case event := <-m.Events():
		t.Fatalf("unexpected event %s", event.Raw)
	case <-time.After(100 * time.Millisecond):
	}
}

// wantError checks err is an *Error with status want whose message mentions needle.
func wantError(t *testing.T, err error, want Status, needle string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *storage.Error with status %s", err, err, want)
	}
	if e.Status != want {
		t.Fatalf("status %s (%q), want %s", e.Status, e.Message, want)
	}
	if !strings.Contains(e.Message, needle) {
		t.Fatalf("message %q does not mention %q", e.Message, needle)
	}
	return e
}
