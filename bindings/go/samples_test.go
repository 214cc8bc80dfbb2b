package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samplesDir holds one sample of every document the library writes, kept current by the
// Rust tests (src/ffi/json_samples.rs); docs/json.md describes them.
var samplesDir = filepath.Join("..", "..", "tests", "json-samples")

// decodeStrict decodes document into target, refusing keys target does not declare: a
// key the binding does not know fails the test.
func decodeStrict(document []byte, target any) error {
	decoder := json.NewDecoder(bytes.NewReader(document))
	decoder.DisallowUnknownFields()
	return decoder.Decode(target)
}

// samples returns every sample under folder (relative to samplesDir), by file name.
func samples(t *testing.T, folder string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(samplesDir, folder))
	if err != nil {
		t.Fatalf("samples: %v", err)
	}
	found := map[string][]byte{}
	for _, entry := range entries {
		document, err := os.ReadFile(filepath.Join(samplesDir, folder, entry.Name()))
		if err != nil {
			t.Fatalf("sample %s: %v", entry.Name(), err)
		}
		found[entry.Name()] = document
	}
	if len(found) == 0 {
		t.Fatalf("no samples in %s", folder)
	}
	return found
}

// Every event the library can emit is parsed, every key is one the binding reads, and
// its type is one of the binding's constants.
func TestEverySampleEventIsUnderstood(t *testing.T) {
	known := map[EventType]bool{}
	for _, kind := range []EventType{MessageReady, MessageSent, PossiblyAcknowledged, Resend,
		MessageExpired, MissingDependencies, MessageLost, RepairReady, PeriodicSync,
		LimitReached, EventQueueOverflow, PersistenceWarning, RecordingDropped,
		RecordingFailed, RecordingRecovered, RecordingStarted, ReplayMessage, ReplayFinished,
		WorkerRestarted, ChunkSealed, UploadProgress, ChunkUploaded, ChunkDeadLettered,
		UploadPaused, UploadResumed} {
		known[kind] = true
	}
	for name, document := range samples(t, "native/event") {
		var strict eventDocument
		if err := decodeStrict(document, &strict); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		event, err := ParseEvent(document)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !known[event.Type] || string(event.Type)+".json" != name {
			t.Errorf("%s: unknown event type %q", name, event.Type)
		}
	}
}

// Fields whose key is shared by several events land where their event says.
func TestSampleEventsFillTheirFields(t *testing.T) {
	events := samples(t, "native/event")
	parse := func(name string) Event {
		event, err := ParseEvent(events[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return event
	}
	if e := parse("resend.json"); len(e.Wire) == 0 || e.Warning != "" {
		t.Errorf("resend: %+v", e)
	}
	if e := parse("recording_failed.json"); e.Warning == "" || e.Name == "" || e.Wire != nil {
		t.Errorf("recording_failed: %+v", e)
	}
	if e := parse("recording_recovered.json"); e.File == "" || e.Action != "recovered" || e.Messages == 0 {
		t.Errorf("recording_recovered: %+v", e)
	}
	if e := parse("replay_message.json"); e.ReplayID == 0 || e.LogTimeNs == 0 || len(e.Content) == 0 {
		t.Errorf("replay_message: %+v", e)
	}
	if e := parse("chunk_sealed.json"); len(e.Head) != 64 || len(e.SHA256) != 64 || e.Name == "" {
		t.Errorf("chunk_sealed: %+v", e)
	}
	if e := parse("replay_finished.json"); e.Messages == 0 || e.Error != "" {
		t.Errorf("replay_finished: %+v", e)
	}
}

// The results the binding decodes are decoded strictly; those it hands over as JSON are
// at least JSON objects.
func TestEverySampleResultIsUnderstood(t *testing.T) {
	typed := map[string]func() any{
		"unwrap.json":        func() any { return &UnwrapResult{} },
		"channel_stats.json": func() any { return &ChannelStats{} },
		"replay_start.json":  func() any { return &replayStarted{} },
	}
	// Handed to the caller as json.RawMessage (RecordingStop, RecordingSeal,
	// Recordings, RecordingVerify).
	raw := map[string]bool{"recording_stop.json": true, "recording_seal.json": true,
		"recordings_list.json": true, "recording_verify.json": true,
		"recording_supersede.json": true, "recording_erase.json": true, "audit_query.json": true,
		"upload_recording.json": true, "upload_status.json": true, "upload_reconcile.json": true}
	for name, document := range samples(t, "native/result") {
		switch {
		case typed[name] != nil:
			if err := decodeStrict(document, typed[name]()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case raw[name]:
			var object map[string]any
			if err := json.Unmarshal(document, &object); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		default:
			t.Errorf("%s: a result this binding does not know", name)
		}
	}
}

// Config declares every key of the configuration document.
func TestConfigDeclaresEveryKey(t *testing.T) {
	document := samples(t, "config")["defaults.json"]
	var config Config
	if err := decodeStrict(document, &config); err != nil {
		t.Fatalf("config/defaults.json: %v", err)
	}
	if config.Recording == nil || config.Recording.Autostart == nil || config.Recording.Autostart.Name == "" ||
		config.MaxIDBytes == nil || config.Recording.Autostart.RecordSent == nil ||
		config.Upload == nil || config.Upload.DeadLetterAfterMs == nil || config.Upload.SessionTokenEnv == "" {
		t.Fatalf("config/defaults.json read as %+v", config)
	}
}

// Every kind of refused configuration comes back from NewFromJSON as an *Error with the
// library's status and message.
func TestEverySampleConfigErrorIsReported(t *testing.T) {
	for name, document := range samples(t, "config-error") {
		var sample struct {
			Config  string `json:"config"`
			Status  Status `json:"status"`
			Message string `json:"message"`
		}
		if err := decodeStrict(document, &sample); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, err := NewFromJSON(sample.Config)
		if err == nil {
			_ = m.Close()
			t.Errorf("%s: accepted %s", name, sample.Config)
			continue
		}
		var refusal *Error
		if !errors.As(err, &refusal) || refusal.Status != sample.Status ||
			!strings.Contains(refusal.Message, sample.Message) {
			t.Errorf("%s: got %v, want status %d and %q", name, err, sample.Status, sample.Message)
		}
	}
}
