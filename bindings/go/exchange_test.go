package storage

import (
	"bytes"
	"fmt"
	"testing"
)

func TestTwoManagersExchangeAndAcknowledge(t *testing.T) {
	alice, bob := open(t, "alice"), open(t, "bob")

	m1 := mustWrap(t, alice, "room", "m1", "hello bob")
	if m1[0] == '{' {
		t.Fatal("wire bytes look like JSON, want protobuf")
	}
	got := mustUnwrap(t, bob, m1, Delivered)
	if got.MessageID != "m1" || got.SenderID != "alice" || got.ChannelID != "room" ||
		string(got.Content) != "hello bob" || len(got.MissingDeps) != 0 {
		t.Fatalf("unwrap result %+v", got)
	}
	ready := nextEvent(t, bob, MessageReady)
	if ready.MessageID != "m1" || ready.SenderID != "alice" || string(ready.Content) != "hello bob" {
		t.Fatalf("message_ready %+v", ready)
	}

	// Bob's reply carries m1 in its causal history: Alice learns m1 was received.
	r1 := mustWrap(t, bob, "room", "r1", "hi alice")
	mustUnwrap(t, alice, r1, Delivered)
	if sent := nextEvent(t, alice, MessageSent); sent.MessageID != "m1" || sent.ChannelID != "room" {
		t.Fatalf("message_sent %+v", sent)
	}

	// The same bytes again are a duplicate and raise no event.
	mustUnwrap(t, bob, m1, Duplicate)
	noEvent(t, bob)

	for _, m := range []*Manager{alice, bob} {
		stats, err := m.ChannelStats("room")
		if err != nil {
			t.Fatalf("ChannelStats: %v", err)
		}
		if stats.ChannelID != "room" || stats.HistoryLen != 2 || stats.Counters.Delivered != 1 {
			t.Fatalf("stats %+v", stats)
		}
	}
}

func TestEventsArriveInOrderThroughThePullAPI(t *testing.T) {
	alice, carol := open(t, "alice"), open(t, "carol")
	noEvent(t, carol)
	for i := 1; i <= 3; i++ {
		mustUnwrap(t, carol, mustWrap(t, alice, "room", fmt.Sprintf("m%d", i), "x"), Delivered)
	}
	for i := 1; i <= 3; i++ {
		if event := nextEvent(t, carol, MessageReady); event.MessageID != fmt.Sprintf("m%d", i) {
			t.Fatalf("event %d is %s", i, event.Raw)
		}
	}
	noEvent(t, carol)
}

func TestSlowReaderSeesOverflowNotABlockedLibrary(t *testing.T) {
	alice := open(t, "alice")
	bob, err := New(Config{ParticipantID: "bob", EventQueueCapacity: Ptr[uint64](2)})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	const sent = eventBuffer + 40
	for i := 0; i < sent; i++ {
		mustUnwrap(t, bob, mustWrap(t, alice, "room", fmt.Sprintf("m%d", i), "x"), Delivered)
	}
	// Every event is either received or counted as dropped.
	var ready, dropped uint64
	for ready+dropped < sent {
		event := <-bob.Events()
		switch event.Type {
		case MessageReady:
			ready++
		case EventQueueOverflow:
			dropped += event.Dropped
		}
	}
	if dropped == 0 || ready+dropped != sent {
		t.Fatalf("ready %d + dropped %d, want %d with some dropped", ready, dropped, sent)
	}
}

func TestEphemeralAndSyncMessagesChangeNothing(t *testing.T) {
	alice, bob := open(t, "alice"), open(t, "bob")
	e1, err := alice.WrapEphemeral("room", "e1", []byte("typing"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustUnwrap(t, bob, e1, Ephemeral); string(got.Content) != "typing" {
		t.Fatalf("ephemeral content %q", got.Content)
	}
	mustWrap(t, alice, "room", "m1", "real")
	stats, err := alice.ChannelStats("room")
	if err != nil || stats.HistoryLen != 1 {
		t.Fatalf("stats %+v, %v: want only m1 in history", stats, err)
	}
	sync, err := alice.BuildSyncMessage("room")
	if err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, bob, sync, Sync)
	noEvent(t, bob)
}

func TestChannelsCanBeEnsuredRemovedAndReset(t *testing.T) {
	m := open(t, "alice")
	if err := m.EnsureChannel("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ChannelStats("a"); err != nil {
		t.Fatalf("stats of an ensured channel: %v", err)
	}
	if err := m.RemoveChannel("a"); err != nil {
		t.Fatal(err)
	}
	_, err := m.ChannelStats("a")
	wantError(t, err, StatusUnknownChannel, "a")
	mustWrap(t, m, "b", "m1", "x")
	if err := m.Reset(); err != nil {
		t.Fatal(err)
	}
	_, err = m.ChannelStats("b")
	wantError(t, err, StatusUnknownChannel, "b")
}

func TestPeriodicTasksSyncAtOnce(t *testing.T) {
	m := open(t, "alice")
	if err := m.EnsureChannel("room"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // starting twice is harmless
		if err := m.StartPeriodicTasks(); err != nil {
			t.Fatal(err)
		}
	}
	if event := nextEvent(t, m, PeriodicSync); event.ChannelID != "room" {
		t.Fatalf("periodic_sync %s", event.Raw)
	}
}

func TestWireBytesAreCopiedOut(t *testing.T) {
	m := open(t, "alice")
	a, b := mustWrap(t, m, "room", "m1", "x"), mustWrap(t, m, "room", "m2", "x")
	if bytes.Equal(a, b) {
		t.Fatal("two different messages gave the same bytes")
	}
}
