package storage

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// recordHandler keeps every slog record it is handed.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// autostarted counts the INFO records of an autostarted recording, with their target.
func (h *recordHandler) autostarted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		target := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "target" {
				target = a.Value.String()
			}
			return true
		})
		if r.Level == slog.LevelInfo && strings.Contains(r.Message, "started (recording.autostart)") &&
			strings.HasPrefix(target, "storage::") {
			n++
		}
	}
	return n
}

// runAutostart opens a Manager whose autostarted recording logs one INFO record, makes
// one request after its start-up, and closes it.
func runAutostart(t *testing.T) {
	t.Helper()
	m, err := New(Config{Recording: &Recording{Root: t.TempDir(), Autostart: &Autostart{Name: "auto"}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := m.Recordings(); err != nil {
		t.Fatalf("Recordings: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestLogsReachSlogAtTheLevel(t *testing.T) {
	h := &recordHandler{}
	if err := ForwardLogs(slog.New(h), slog.LevelInfo); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ForwardLogs(nil, 0) }()
	runAutostart(t)
	if n := h.autostarted(); n != 1 {
		t.Fatalf("%d autostart records, want 1", n)
	}
}

func TestNoLogsByDefaultOrAboveTheLevel(t *testing.T) {
	h := &recordHandler{}
	if err := ForwardLogs(slog.New(h), slog.LevelWarn); err != nil {
		t.Fatal(err)
	}
	runAutostart(t)
	if err := ForwardLogs(nil, 0); err != nil {
		t.Fatal(err)
	}
	runAutostart(t)
	if n := len(h.records); n != 0 {
		t.Fatalf("%d records, want none", n)
	}
}
