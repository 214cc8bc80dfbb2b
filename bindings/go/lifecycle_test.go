package storage

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestVersionIsNotEmpty(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty version")
	}
}

func TestDefaultConfigurationsWork(t *testing.T) {
	for _, document := range []string{"", "{}"} {
		m, err := NewFromJSON(document)
		if err != nil {
			t.Fatalf("NewFromJSON(%q): %v", document, err)
		}
		mustWrap(t, m, "room", "m1", "hello")
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	mustWrap(t, open(t, ""), "room", "m1", "hello")
}

func TestBadConfigurationNamesTheKey(t *testing.T) {
	cases := []struct {
		document, needle string
	}{
		{`{"participant_id":"a","bloom_capasity":10}`, "bloom_capasity"},
		{`{"resend_interval_ms": -5}`, "resend_interval_ms"},
		{`{"participant_id": 5}`, "participant_id"},
		{`[1, 2]`, "expected a JSON object"},
		{`{"participant_id": `, "configuration"},
	}
	for _, c := range cases {
		m, err := NewFromJSON(c.document)
		if m != nil {
			t.Fatalf("NewFromJSON(%s) made a Manager", c.document)
		}
		wantError(t, err, StatusInvalidConfig, c.needle)
	}
	_, err := New(Config{ParticipantID: "a", Extra: map[string]any{"max_channels": 0}})
	wantError(t, err, StatusInvalidConfig, "max_channels")
	_, err = New(Config{LamportUnit: "fortnights"})
	wantError(t, err, StatusInvalidConfig, "lamport_unit")
}

func TestConfigOmitsUnsetFieldsAndMergesExtra(t *testing.T) {
	document, err := Config{ParticipantID: "alice", ResendIntervalMs: 1000}.JSON()
	if err != nil || string(document) != `{"participant_id":"alice","resend_interval_ms":1000}` {
		t.Fatalf("JSON() = %s, %v", document, err)
	}
	document, err = Config{
		ParticipantID: "alice",
		Persistence:   &Persistence{Kind: "memory"},
		Extra:         map[string]any{"participant_id": "bob", "max_causal_history": 0},
	}.JSON()
	want := `{"max_causal_history":0,"participant_id":"bob","persistence":{"kind":"memory"}}`
	if err != nil || string(document) != want {
		t.Fatalf("JSON() = %s, %v; want %s", document, err, want)
	}
	// The library accepts what Config writes.
	m, err := New(Config{ParticipantID: "alice", Persistence: &Persistence{Kind: "memory"}, EventQueueCapacity: 8})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.Close()
}

func TestCloseIsIdempotentAndClosesEvents(t *testing.T) {
	m := open(t, "alice")
	for i := 0; i < 3; i++ {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, ok := <-m.Events(); ok {
		t.Fatal("Events still open after Close")
	}
}

func TestEveryCallAfterCloseFailsWithErrClosed(t *testing.T) {
	m := open(t, "alice")
	wire := mustWrap(t, m, "room", "m1", "x")
	m.Close()
	_, wrapErr := m.Wrap("room", "m2", []byte("x"))
	_, ephemeralErr := m.WrapEphemeral("room", "e", []byte("x"))
	_, unwrapErr := m.Unwrap(wire)
	_, syncErr := m.BuildSyncMessage("room")
	_, statsErr := m.ChannelStats("room")
	errs := map[string]error{
		"Wrap": wrapErr, "WrapEphemeral": ephemeralErr, "Unwrap": unwrapErr,
		"BuildSyncMessage": syncErr, "ChannelStats": statsErr,
		"MarkDependenciesMet": m.MarkDependenciesMet("room", "m0"),
		"EnsureChannel":       m.EnsureChannel("room"),
		"RemoveChannel":       m.RemoveChannel("room"),
		"Reset":               m.Reset(),
		"StartPeriodicTasks":  m.StartPeriodicTasks(),
	}
	for op, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
		if e := wantError(t, err, StatusShuttingDown, "closed"); e.Op != op {
			t.Errorf("error names op %q, want %q", e.Op, op)
		}
	}
}

func TestCreateAndCloseManyTimesWithRequestsInFlight(t *testing.T) {
	for i := 0; i < 200; i++ {
		m, err := New(Config{ParticipantID: "p"})
		if err != nil {
			t.Fatalf("New #%d: %v", i, err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Either it ran before the Close or Close cut it short: nothing else.
			if _, err := m.Wrap("room", "m", []byte("payload")); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Wrap racing Close: %v", err)
			}
		}()
		m.Close()
		wg.Wait()
	}
}

func TestStringsWithNULAreRefused(t *testing.T) {
	m := open(t, "alice")
	_, err := m.Wrap("ro\x00om", "m1", []byte("x"))
	wantError(t, err, StatusInvalidUTF8, "channel_id")
	err = m.MarkDependenciesMet("room", "ok", "b\x00d")
	wantError(t, err, StatusInvalidUTF8, "message_ids")
	_, err = NewFromJSON("{}\x00")
	wantError(t, err, StatusInvalidUTF8, "configuration")
	if !strings.Contains(err.Error(), "New") {
		t.Fatalf("error %q does not name the operation", err)
	}
}
