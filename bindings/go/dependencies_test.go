package storage

import "testing"

func ids(deps []Dependency) map[string]bool {
	set := map[string]bool{}
	for _, dep := range deps {
		set[dep.MessageID] = true
	}
	return set
}

func TestLateMessagesReleaseTheChainInCausalOrder(t *testing.T) {
	alice, bob := open(t, "alice"), open(t, "bob")
	m1 := mustWrap(t, alice, "room", "m1", "first")
	m2 := mustWrap(t, alice, "room", "m2", "second")
	m3 := mustWrap(t, alice, "room", "m3", "third")

	got := mustUnwrap(t, bob, m3, Buffered)
	if missing := ids(got.MissingDeps); !missing["m1"] || !missing["m2"] || got.MissingDeps[0].SenderID != "alice" {
		t.Fatalf("missing deps %+v", got.MissingDeps)
	}
	event := nextEvent(t, bob, MissingDependencies)
	if missing := ids(event.MissingDeps); event.MessageID != "m3" || !missing["m1"] || !missing["m2"] {
		t.Fatalf("missing_dependencies %s", event.Raw)
	}
	got = mustUnwrap(t, bob, m2, Buffered)
	if !ids(got.MissingDeps)["m1"] {
		t.Fatalf("m2 missing %+v", got.MissingDeps)
	}
	mustUnwrap(t, bob, m1, Delivered)
	for _, want := range []string{"m1", "m2", "m3"} {
		if event := nextEvent(t, bob, MessageReady); event.MessageID != want {
			t.Fatalf("message_ready for %s, want %s", event.MessageID, want)
		}
	}
	stats, err := bob.ChannelStats("room")
	if err != nil || stats.HistoryLen != 3 || stats.IncomingLen != 0 {
		t.Fatalf("stats %+v, %v", stats, err)
	}
}

func TestMarkDependenciesMetReleasesABufferedMessage(t *testing.T) {
	alice, bob := open(t, "alice"), open(t, "bob")
	mustWrap(t, alice, "room", "m4", "never arrives")
	m5 := mustWrap(t, alice, "room", "m5", "depends on m4")
	mustUnwrap(t, bob, m5, Buffered)
	nextEvent(t, bob, MissingDependencies)

	if err := bob.MarkDependenciesMet("room", "m4"); err != nil {
		t.Fatal(err)
	}
	// m5 is released; m4 itself is not delivered: the host has it already.
	if event := nextEvent(t, bob, MessageReady); event.MessageID != "m5" || string(event.Content) != "depends on m4" {
		t.Fatalf("message_ready %s", event.Raw)
	}
	noEvent(t, bob)
	if err := bob.MarkDependenciesMet("room"); err != nil {
		t.Fatalf("empty list: %v", err)
	}
}

func TestMarkDependenciesMetOnUnknownChannel(t *testing.T) {
	err := open(t, "").MarkDependenciesMet("never-used", "x", "y")
	wantError(t, err, StatusUnknownChannel, "never-used")
}

// A full incoming buffer refuses the message with LIMIT_REACHED, counts it in the
// channel's statistics and reports it with a limit_reached event.
func TestAFullBufferRefusesCountsAndReports(t *testing.T) {
	alice := open(t, "alice")
	bob, err := New(Config{ParticipantID: "bob", MaxIncomingBuffer: Ptr[uint64](1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bob.Close() })
	mustWrap(t, alice, "room", "lost", "never arrives")
	mustUnwrap(t, bob, mustWrap(t, alice, "room", "w1", "waits"), Buffered)
	_, err = bob.Unwrap(mustWrap(t, alice, "room", "w2", "no room"))
	wantError(t, err, StatusLimitReached, "incoming buffer")
	report := nextEvent(t, bob, LimitReached)
	if report.ChannelID != "room" || report.Refused != 1 || report.Reason == "" {
		t.Fatalf("limit_reached %s", report.Raw)
	}
	stats, err := bob.ChannelStats("room")
	if err != nil {
		t.Fatal(err)
	}
	if stats.Counters.Refusals.BufferFull != 1 || stats.Memory.Channel.Buffered == 0 ||
		stats.Memory.Budget != 256<<20 {
		t.Fatalf("stats %+v", stats)
	}
}
