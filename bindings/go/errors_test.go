package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBadArgumentsAreErrorsWithTheLibraryMessage(t *testing.T) {
	m := open(t, "alice")
	_, err := m.Wrap("", "m1", []byte("x"))
	e := wantError(t, err, StatusEmptyChannelID, "channel")
	if e.Op != "Wrap" || e.Error() != "storage.Wrap: "+e.Message {
		t.Fatalf("error %q", e)
	}
	_, err = m.Wrap("room", "m1", nil)
	wantError(t, err, StatusEmptyContent, "content")
	_, err = m.Wrap("room", "m1", make([]byte, 1<<20+1))
	wantError(t, err, StatusTooLarge, "content")
	_, err = m.BuildSyncMessage("")
	wantError(t, err, StatusEmptyChannelID, "channel")
	_, err = m.ChannelStats("nowhere")
	wantError(t, err, StatusUnknownChannel, "nowhere")
	_, err = m.Unwrap([]byte("not a message"))
	wantError(t, err, StatusDecodeError, "")
	_, err = m.Unwrap(nil)
	if err == nil {
		t.Fatal("Unwrap(nil) succeeded")
	}
	if errors.Is(err, ErrClosed) {
		t.Fatalf("a bad argument looks like a closed manager: %v", err)
	}
	// The Manager still works after all of that.
	mustWrap(t, m, "room", "m1", "x")
}

// Each error names the package and the operation once: no "storage: storage_new: ..." or
// "invalid config: invalid configuration ...".
func TestErrorStringsReadOnce(t *testing.T) {
	_, badConfig := NewFromJSON(`{"bloom_capasity": 1}`)
	_, badRoot := New(Config{ParticipantID: "a", Recording: &Recording{Root: "/nonexistent/rec"}})
	m := open(t, "alice")
	_, badArgument := m.Wrap("", "m1", []byte("x"))
	closedOne := open(t, "bob")
	closedOne.Close()
	_, closed := closedOne.Wrap("room", "m1", []byte("x"))
	_, badEvent := ParseEvent([]byte("{"))
	cases := []struct {
		err    error
		prefix string
	}{
		{badConfig, "storage.New: invalid configuration"},
		{badRoot, "storage.New: recording.root: "},
		{badArgument, "storage.Wrap: channel_id is empty"},
		{closed, "storage.Wrap: the manager is closed"},
		{badEvent, "storage.ParseEvent: bad event"},
		{&Error{Op: "Close", Status: StatusShuttingDown}, "storage.Close: shutting down"},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Fatalf("no error where %q was expected", c.prefix)
		}
		text := c.err.Error()
		if !strings.HasPrefix(text, c.prefix) || strings.Count(text, "storage") != 1 ||
			strings.Contains(text, "invalid config: invalid") {
			t.Errorf("error %q: want one mention of storage, starting %q", text, c.prefix)
		}
	}
}

func TestCloseWhileBusyGivesErrorsNotCrashes(t *testing.T) {
	for round := 0; round < 5; round++ {
		alice, err := New(Config{ParticipantID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var succeeded, closed atomic.Int64
		started := make(chan struct{}, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					_, err := alice.Wrap("room", fmt.Sprintf("g%d-m%d", g, i), []byte("busy"))
					if i == 0 {
						started <- struct{}{}
					}
					switch {
					case err == nil:
						succeeded.Add(1)
					case errors.Is(err, ErrClosed):
						closed.Add(1)
						return
					default:
						t.Errorf("Wrap while closing: %v", err)
						return
					}
				}
			}(g)
		}
		go func() { // a reader of events, which Close must end too
			for range alice.Events() {
			}
		}()
		for g := 0; g < 8; g++ {
			<-started
		}
		if err := alice.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
		if succeeded.Load() == 0 || closed.Load() != 8 {
			t.Fatalf("succeeded %d, ended by Close %d of 8", succeeded.Load(), closed.Load())
		}
	}
}
