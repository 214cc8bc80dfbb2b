package storage

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
	_, err := New(Config{ParticipantID: "a", MaxChannels: Ptr[uint64](0)})
	wantError(t, err, StatusInvalidConfig, "max_channels")
	_, err = New(Config{LamportUnit: "fortnights"})
	wantError(t, err, StatusInvalidConfig, "lamport_unit")
}

func TestConfigOmitsUnsetFieldsAndMergesExtra(t *testing.T) {
	document, err := Config{ParticipantID: "alice", ResendIntervalMs: Ptr[uint64](1000)}.JSON()
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
	m, err := New(Config{ParticipantID: "alice", Persistence: &Persistence{Kind: "memory"}, EventQueueCapacity: Ptr[uint64](8)})
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

// An empty Config is the empty document: every key is left to the library.
func TestAnEmptyConfigIsTheEmptyDocument(t *testing.T) {
	document, err := Config{}.JSON()
	if err != nil || string(document) != `{}` {
		t.Fatalf("Config{}.JSON() = %s, %v", document, err)
	}
}

// A Config setting every field (an explicit 0 where the library takes one) marshals
// every key of the configuration sample, with no field left unset, and the library
// accepts it.
func TestAConfigSettingEveryKeyIsAccepted(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("example-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := Config{
		ParticipantID: "alice", BloomCapacity: Ptr[uint64](5000), BloomErrorRate: Ptr(0.01),
		MaxMessageHistory: Ptr[uint64](500), MaxHistoryBytes: Ptr[uint64](1 << 20),
		MaxCausalHistory: Ptr[uint64](0), ResendIntervalMs: Ptr[uint64](1000),
		MaxResendAttempts: Ptr[uint32](0), BloomAcksToConfirm: Ptr[uint32](1),
		MaxDependencyWaitMs: Ptr[uint64](1000), LamportUnit: "milliseconds",
		RepairTMinMs: Ptr[uint64](100), RepairTMaxMs: Ptr[uint64](1000),
		NumResponseGroups: Ptr[uint32](1), MaxRepairRequests: Ptr[uint64](0),
		MaxChannels: Ptr[uint64](8), MaxIncomingBuffer: Ptr[uint64](10),
		MaxIncomingBufferBytes: Ptr[uint64](1 << 20), MaxOutgoingBuffer: Ptr[uint64](10),
		MaxRepairBuffer: Ptr[uint64](10), MaxWireMessageSize: Ptr[uint64](1 << 20),
		MemoryBudgetBytes: Ptr[uint64](1 << 26), MaxReceivedCausalHistory: Ptr[uint64](64),
		MaxReceivedRepairRequests: Ptr[uint64](16), MaxIDBytes: Ptr[uint64](256),
		MaxLamportLeadMs: Ptr[uint64](60000), WireFormat: "nim",
		ChannelWireFormats: map[string]string{"web": "spec"},
		SyncIntervalMs:     Ptr[uint64](1000), OutgoingSweepIntervalMs: Ptr[uint64](1000),
		IncomingSweepIntervalMs: Ptr[uint64](1000), RepairSweepIntervalMs: Ptr[uint64](1000),
		RequestQueueCapacity: Ptr[uint64](16), EventQueueCapacity: Ptr[uint64](16),
		RequestQueueMaxBytes: Ptr[uint64](1 << 20), EventQueueMaxBytes: Ptr[uint64](1 << 20),
		Persistence: &Persistence{Kind: "sqlite", Path: filepath.Join(t.TempDir(), "s.db"), Durability: "normal"},
		Recording: &Recording{
			Root: t.TempDir(), QueueCapacity: Ptr[uint64](64), WhenFull: "drop",
			ChunkMaxBytes: Ptr[uint64](1 << 20), ChunkMaxAgeMs: Ptr[uint64](1000),
			FlushIntervalMs: Ptr[uint64](100),
			Autostart: &Autostart{Name: "auto", RecordingOptions: RecordingOptions{
				Channels: []string{"room"}, RecordSent: Ptr(false), Mode: "ring",
				WindowSecs: Ptr[uint64](5), MaxBytes: Ptr[uint64](1 << 20),
				QueueCapacity: Ptr[uint64](32), WhenFull: "block",
				ChunkMaxBytes: Ptr[uint64](1 << 20), ChunkMaxAgeMs: Ptr[uint64](500),
				FlushIntervalMs: Ptr[uint64](50),
			}},
		},
		// Nothing listens on port 9: the uploader finds nothing to send and never reaches it.
		Upload: &Upload{
			Endpoint: "http://127.0.0.1:9", Bucket: "fleet", Region: "eu-west-1", Prefix: "robots",
			PathStyle: Ptr(true), Origin: "robot-1", AccessKeyID: "AKIAEXAMPLE",
			SecretAccessKey: "example-secret", SessionToken: "example-token",
			AccessKeyIDEnv: "FLEET_KEY_ID", SecretAccessKeyEnv: "FLEET_SECRET",
			SecretAccessKeyFile: secretFile, SessionTokenEnv: "FLEET_TOKEN",
			PartSizeBytes: Ptr[uint64](8 << 20), RequestTimeoutMs: Ptr[uint64](1000),
			Concurrency: Ptr[uint32](1), RetryInitialMs: Ptr[uint64](500),
			RetryMaxMs: Ptr[uint64](5000), DeadLetterAfterMs: Ptr[uint64](60000),
		},
		Restart: &Restart{Policy: "bounded", MaxRestarts: Ptr[uint32](2), WithinMs: Ptr[uint64](1000)},
	}
	assertEveryFieldSet(t, reflect.ValueOf(config), "Config")
	document, err := config.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var written, sample map[string]any
	if err := json.Unmarshal(document, &written); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(samples(t, "config")["defaults.json"], &sample); err != nil {
		t.Fatal(err)
	}
	for _, key := range keyPaths(sample, "") {
		if !slices.Contains(keyPaths(written, ""), key) {
			t.Errorf("the sample's key %s is not written", key)
		}
	}
	m, err := New(config)
	if err != nil {
		t.Fatalf("New(%s): %v", document, err)
	}
	m.Close()
}

// assertEveryFieldSet fails for each exported field of a struct (recursively) left at
// its zero value, so a field added later must be added to the test too.
func assertEveryFieldSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	for i := 0; i < v.NumField(); i++ {
		field, value := v.Type().Field(i), v.Field(i)
		if field.Name == "Extra" {
			continue
		}
		if value.IsZero() {
			t.Errorf("%s.%s is not set", path, field.Name)
			continue
		}
		inner := value
		for inner.Kind() == reflect.Pointer {
			inner = inner.Elem()
		}
		if inner.Kind() == reflect.Struct {
			assertEveryFieldSet(t, inner, path+"."+field.Name)
		}
	}
}

// keyPaths lists the dotted key paths of a document (not into channel_wire_formats,
// whose keys are channel ids).
func keyPaths(document map[string]any, prefix string) []string {
	var paths []string
	for key, value := range document {
		paths = append(paths, prefix+key)
		if inner, ok := value.(map[string]any); ok && key != "channel_wire_formats" {
			paths = append(paths, keyPaths(inner, prefix+key+".")...)
		}
	}
	return paths
}
