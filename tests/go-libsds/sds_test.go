package libsds

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

const channel = "ch"

// eventTimeout only turns a missing event into a failure instead of a hang.
const eventTimeout = 30 * time.Second

func newManager(t *testing.T) *ReliabilityManager {
	t.Helper()
	rm, err := NewReliabilityManager()
	if err != nil {
		t.Fatalf("NewReliabilityManager: %v", err)
	}
	t.Cleanup(func() {
		if lookup(rm.ctx) != nil {
			if err := rm.Cleanup(); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		}
	})
	return rm
}

func wrap(t *testing.T, rm *ReliabilityManager, content string, id MessageID) []byte {
	t.Helper()
	wire, err := rm.WrapOutgoingMessage([]byte(content), id, channel)
	if err != nil {
		t.Fatalf("wrap %s: %v", id, err)
	}
	return wire
}

func unwrap(t *testing.T, rm *ReliabilityManager, wire []byte) *UnwrappedMessage {
	t.Helper()
	u, err := rm.UnwrapReceivedMessage(wire)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	return u
}

// expectEvents reads len(want) events and checks their exact texts, in any order.
func expectEvents(t *testing.T, rm *ReliabilityManager, want ...string) []Event {
	t.Helper()
	var got []Event
	for range want {
		select {
		case e := <-rm.Events:
			got = append(got, e)
		case <-time.After(eventTimeout):
			t.Fatalf("got events %v, still waiting for more of %q", raws(got), want)
		}
	}
	gotRaw, wantSorted := raws(got), append([]string(nil), want...)
	sort.Strings(gotRaw)
	sort.Strings(wantSorted)
	for i := range wantSorted {
		if gotRaw[i] != wantSorted[i] {
			t.Fatalf("events:\n got %q\nwant %q", gotRaw, wantSorted)
		}
	}
	return got
}

// expectNoEvent checks that nothing is queued. The library delivers a request's events
// before it answers the request, so after an answered request this is conclusive.
func expectNoEvent(t *testing.T, rm *ReliabilityManager) {
	t.Helper()
	select {
	case e := <-rm.Events:
		t.Fatalf("unexpected event %s", e.Raw)
	default:
	}
}

func raws(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Raw
	}
	return out
}

func ready(id string) string {
	return `{"messageId":"` + id + `","channelId":"ch","eventType":"message_ready"}`
}

func sent(id string) string {
	return `{"messageId":"` + id + `","channelId":"ch","eventType":"message_sent"}`
}

func expectCallError(t *testing.T, err error, ret int, message string) {
	t.Helper()
	var callErr *CallError
	if !errors.As(err, &callErr) {
		t.Fatalf("got %v, want a CallError with ret %d and message %q", err, ret, message)
	}
	if callErr.Ret != ret || callErr.Message != message {
		t.Fatalf("got ret %d message %q, want ret %d message %q", callErr.Ret, callErr.Message, ret, message)
	}
}

func TestLifecycle(t *testing.T) {
	rm := newManager(t)
	wrap(t, rm, "x", "m1")
	if err := rm.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	// The context is gone: every call returns RET_ERR without calling back.
	_, err := rm.WrapOutgoingMessage([]byte("x"), "m2", channel)
	expectCallError(t, err, RetErr, "")
	_, err = rm.UnwrapReceivedMessage([]byte("x"))
	expectCallError(t, err, RetErr, "")
	expectCallError(t, rm.MarkDependenciesMet([]MessageID{"m1"}, channel), RetErr, "")
	expectCallError(t, rm.StartPeriodicTasks(), RetErr, "")
	expectCallError(t, rm.Reset(), RetErr, "")
	expectCallError(t, rm.Cleanup(), RetErr, "")
}

func TestWrapUnwrapAndAcknowledgement(t *testing.T) {
	a, b := newManager(t), newManager(t)
	m1 := wrap(t, a, "hello", "m1")
	u := unwrap(t, b, m1)
	if string(u.Message) != "hello" || u.ChannelID != channel || u.MissingDeps == nil || len(u.MissingDeps) != 0 {
		t.Fatalf("unwrapped %+v", u)
	}
	expectEvents(t, b, ready("m1"))

	// B's reply acknowledges m1 to A.
	r1 := wrap(t, b, "re", "r1")
	if u := unwrap(t, a, r1); string(u.Message) != "re" {
		t.Fatalf("unwrapped %+v", u)
	}
	expectEvents(t, a, sent("m1"), ready("r1"))

	// An echo of one's own message unwraps as a duplicate, content included, no event.
	if u := unwrap(t, a, m1); string(u.Message) != "hello" {
		t.Fatalf("echo unwrapped %+v", u)
	}
	expectNoEvent(t, a)
}

func TestDependenciesAndRetrievalHints(t *testing.T) {
	a, b := newManager(t), newManager(t)
	a.SetRetrievalHintProvider(func(id MessageID) []byte { return []byte("hint-" + string(id)) })
	m1 := wrap(t, a, "one", "m1")
	m2 := wrap(t, a, "two", "m2")
	m3 := wrap(t, a, "three", "m3")
	unwrap(t, b, m1)
	expectEvents(t, b, ready("m1"))

	// m3 without m2: buffered, content reported, m2 missing with the hint A's provider
	// allocated with C.CBytes (and the library freed).
	u := unwrap(t, b, m3)
	if string(u.Message) != "three" || len(u.MissingDeps) != 1 ||
		u.MissingDeps[0].MessageID != "m2" || string(u.MissingDeps[0].RetrievalHint) != "hint-m2" {
		t.Fatalf("unwrapped %+v", u)
	}
	events := expectEvents(t, b, `{"eventType":"missing_dependencies","messageId":"m3","channelId":"ch",`+
		`"missingDeps":[{"messageId":"m2","retrievalHint":"aGludC1tMg=="}]}`)
	if deps := events[0].MissingDeps; len(deps) != 1 || string(deps[0].RetrievalHint) != "hint-m2" {
		t.Fatalf("decoded event %+v", events[0])
	}

	// The host fetched m2 elsewhere: marking it met releases m3.
	if err := b.MarkDependenciesMet([]MessageID{"m2"}, channel); err != nil {
		t.Fatalf("MarkDependenciesMet: %v", err)
	}
	expectEvents(t, b, ready("m3"))
	// m2 itself still arrives, once.
	unwrap(t, b, m2)

	// Without a provider the hint is "".
	c := newManager(t)
	n1 := wrap(t, c, "one", "n1")
	wrap(t, c, "two", "n2")
	n3 := wrap(t, c, "three", "n3")
	unwrap(t, b, n1)
	u = unwrap(t, b, n3)
	if len(u.MissingDeps) != 1 || u.MissingDeps[0].MessageID != "n2" || len(u.MissingDeps[0].RetrievalHint) != 0 {
		t.Fatalf("unwrapped %+v", u)
	}
}

func TestPeriodicSync(t *testing.T) {
	rm := newManager(t)
	wrap(t, rm, "x", "m1")
	if err := rm.StartPeriodicTasks(); err != nil {
		t.Fatalf("StartPeriodicTasks: %v", err)
	}
	// The tasks run once at start: one channel-less periodic_sync.
	expectEvents(t, rm, `{"eventType":"periodic_sync"}`)
}

func TestReset(t *testing.T) {
	rm := newManager(t)
	wrap(t, rm, "x", "m1")
	if err := rm.MarkDependenciesMet([]MessageID{"m1"}, channel); err != nil {
		t.Fatalf("MarkDependenciesMet before reset: %v", err)
	}
	if err := rm.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	err := rm.MarkDependenciesMet([]MessageID{"m1"}, channel)
	expectCallError(t, err, RetErr, "error processing MARK_DEPENDENCIES_MET request: reInvalidArgument")
	// The manager works on after a reset.
	wrap(t, rm, "y", "m2")
}

func TestErrorMessages(t *testing.T) {
	rm := newManager(t)
	_, err := rm.WrapOutgoingMessage([]byte("x"), "m1", "")
	expectCallError(t, err, RetErr, "libsds error: channel ID is empty string")
	_, err = rm.UnwrapReceivedMessage([]byte("\xff\xff garbage"))
	expectCallError(t, err, RetErr, "error processing UNWRAP_MESSAGE request: reDeserializationError")
	_, err = rm.WrapOutgoingMessage(nil, "m1", channel)
	expectCallError(t, err, RetErr, "error processing WRAP_MESSAGE request: reInvalidArgument")
}

// Pairs of managers exchanging from several goroutines at once: every result is read
// after its callback returned while other contexts keep producing results, which is what
// made a client of a library that frees the buffer at once read garbage. Few enough
// rounds that all results together stay under libsds.h's 16 MiB, so scheduling cannot age
// a kept buffer out: a failure is a real bug.
func TestConcurrentClients(t *testing.T) {
	const pairs, clientsPerPair, rounds = 3, 3, 20
	type pair struct{ sender, receiver *ReliabilityManager }
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i] = pair{newManager(t), newManager(t)}
	}
	errs := make(chan error, pairs*clientsPerPair)
	var wg sync.WaitGroup
	for p := range ps {
		for c := 0; c < clientsPerPair; c++ {
			wg.Add(1)
			go func(p pair, name string) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					content := []byte(fmt.Sprintf("%s round %d", name, r))
					id := MessageID(fmt.Sprintf("%s-%d", name, r))
					wire, err := p.sender.WrapOutgoingMessage(content, id, channel)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", id, err)
						return
					}
					u, err := p.receiver.UnwrapReceivedMessage(wire)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", id, err)
						return
					}
					if !bytes.Equal(u.Message, content) || u.ChannelID != channel {
						errs <- fmt.Errorf("%s: unwrapped %q on %q", id, u.Message, u.ChannelID)
						return
					}
				}
			}(ps[p], fmt.Sprintf("p%d-c%d", p, c))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range ps {
		if n := p.receiver.DroppedEvents(); n != 0 {
			t.Errorf("%d events dropped", n)
		}
	}
}

// Requests racing the cleanup of their context: each is answered once, with a result or
// an error, or refused without a callback, and what it got is read after cleanup is over.
func TestCallsRacingCleanup(t *testing.T) {
	for attempt := 0; attempt < 5; attempt++ {
		rm := newManager(t)
		wrap(t, rm, "x", "m0")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for r := 0; r < 5; r++ {
					id := MessageID(fmt.Sprintf("g%d-%d", g, r))
					_, err := rm.WrapOutgoingMessage([]byte("racing"), id, channel)
					var callErr *CallError
					switch {
					case err == nil:
					case errors.As(err, &callErr) && callErr.Ret == RetErr &&
						(callErr.Message == "" ||
							callErr.Message == "error processing WRAP_MESSAGE request: reInternalError"):
					default:
						errs <- fmt.Errorf("%s: %w", id, err)
						return
					}
				}
			}(g)
		}
		if err := rm.Cleanup(); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
