package storage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordVerifyReplayDelete(t *testing.T) {
	alice := open(t, "alice")
	bob, err := New(Config{ParticipantID: "bob", Recording: &Recording{Root: t.TempDir()}})
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

// The events a context emits as it starts (crash recovery, the autostarted recording)
// come before the Manager exists: they wait in the library's queue and are pulled first.
func TestStartupEventsReachEvents(t *testing.T) {
	root := t.TempDir()
	recording := &Recording{Root: root}
	first, err := New(Config{ParticipantID: "bob", Recording: recording})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := first.RecordingStart("crashed", nil); err != nil {
		t.Fatalf("RecordingStart: %v", err)
	}
	if _, err := first.RecordingStop("crashed"); err != nil {
		t.Fatalf("RecordingStop: %v", err)
	}
	_ = first.Close()
	// A chunk file still being written, with nothing recoverable: as after a crash.
	active := filepath.Join(root, "crashed", "chunks", ".chunk-000005.mcap.active")
	if err := os.WriteFile(active, []byte("\x89MCAP0\r\ncut short"), 0o644); err != nil {
		t.Fatal(err)
	}

	recording.Autostart = &Autostart{Name: "auto", RecordingOptions: RecordingOptions{Channels: []string{"room"}}}
	bob, err := New(Config{ParticipantID: "bob", Recording: recording})
	if err != nil {
		t.Fatalf("New with autostart: %v", err)
	}
	t.Cleanup(func() { _ = bob.Close() })
	var recovered struct{ Name, File, Action string }
	if err := json.Unmarshal(nextEvent(t, bob, RecordingRecovered).Raw, &recovered); err != nil {
		t.Fatal(err)
	}
	if recovered.Name != "crashed" || recovered.File != ".chunk-000005.mcap.active" || recovered.Action != "quarantined" {
		t.Fatalf("recording_recovered %+v", recovered)
	}
	var started struct{ Name string }
	if err := json.Unmarshal(nextEvent(t, bob, RecordingStarted).Raw, &started); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(started.Name, "auto-") {
		t.Fatalf("recording_started names %q", started.Name)
	}
	alice := open(t, "alice")
	mustUnwrap(t, bob, mustWrap(t, alice, "room", "m1", "recorded"), Delivered)
	stopped, err := bob.RecordingStop(started.Name)
	var summary struct{ Written int }
	if err != nil || json.Unmarshal(stopped, &summary) != nil || summary.Written != 1 {
		t.Fatalf("RecordingStop(%s): %s, %v", started.Name, stopped, err)
	}

	// A recordings root that does not exist refuses the Manager.
	_, err = New(Config{Recording: &Recording{Root: filepath.Join(root, "missing"), Autostart: &Autostart{Name: "lost"}}})
	wantError(t, err, StatusStartFailed, "recording.root: ")
}
