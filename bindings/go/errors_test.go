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
	if e.Op != "Wrap" || !strings.HasPrefix(e.Error(), "storage: Wrap: empty channel id: ") {
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
