package storage

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestRecordVerifyReplayDelete(t *testing.T) {
	alice := open(t, "alice")
	bob, err := New(Config{ParticipantID: "bob", Extra: map[string]any{
		"recording": map[string]any{"root": t.TempDir()},
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = bob.Close() })

	if err := bob.RecordingStart("bob-log", map[string]any{"channels": "all"}); err != nil {
		t.Fatalf("RecordingStart: %v", err)
	}
	var sent []string
	for i := 0; i < 5; i++ {
		content := fmt.Sprintf("m%d", i)
		mustUnwrap(t, bob, mustWrap(t, alice, "room", content, content), Delivered)
		sent = append(sent, content)
	}
	stopped, err := bob.RecordingStop("bob-log")
	if err != nil {
		t.Fatalf("RecordingStop: %v", err)
	}
	var summary struct{ Written int }
	if err := json.Unmarshal(stopped, &summary); err != nil || summary.Written != len(sent) {
		t.Fatalf("stop answer %s: written %d, want %d (%v)", stopped, summary.Written, len(sent), err)
	}
	verified, err := bob.RecordingVerify("bob-log")
	var check struct{ OK bool }
	if err != nil || json.Unmarshal(verified, &check) != nil || !check.OK {
		t.Fatalf("RecordingVerify: %s, %v", verified, err)
	}

	if _, err := bob.ReplayStart("bob-log", map[string]any{"rate": 0}); err != nil {
		t.Fatalf("ReplayStart: %v", err)
	}
	for _, want := range sent {
		if got := nextEvent(t, bob, ReplayMessage); string(got.Content) != want {
			t.Fatalf("replayed %q, want %q", got.Content, want)
		}
	}
	nextEvent(t, bob, ReplayFinished)

	if err := bob.RecordingDelete("bob-log"); err != nil {
		t.Fatalf("RecordingDelete: %v", err)
	}
	wantError(t, bob.RecordingDelete("bob-log"), StatusRecordingNotFound, "bob-log")
	wantError(t, bob.RecordingStart("../escape", nil), StatusRecordingInvalid, "name")
}
