package storage

import (
	"encoding/json"
	"strings"
	"testing"
)

// recorder opens a Manager recording under a fresh root.
func recorder(t *testing.T) *Manager {
	t.Helper()
	m, err := New(Config{ParticipantID: "bob", Extra: map[string]any{
		"recording": map[string]any{"root": t.TempDir()},
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// recordOne records one message as recording name and returns the stop result's head,
// checking the chunk_sealed event announced it.
func recordOne(t *testing.T, alice, bob *Manager, name string) string {
	t.Helper()
	if err := bob.RecordingStart(name, nil); err != nil {
		t.Fatalf("RecordingStart: %v", err)
	}
	mustUnwrap(t, bob, mustWrap(t, alice, "room", name+"-m", "payload"), Delivered)
	stopped, err := bob.RecordingStop(name)
	var summary struct{ Head string }
	if err != nil || json.Unmarshal(stopped, &summary) != nil || len(summary.Head) != 64 {
		t.Fatalf("RecordingStop: %s, %v", stopped, err)
	}
	if sealed := nextEvent(t, bob, ChunkSealed); sealed.Name != name || sealed.Head != summary.Head {
		t.Fatalf("chunk_sealed %+v, want head %s of %s", sealed, summary.Head, name)
	}
	return summary.Head
}

func TestSupersedeEraseAuditAndAnchoredVerify(t *testing.T) {
	alice := open(t, "alice")
	bob := recorder(t)
	head := recordOne(t, alice, bob, "evidence")
	recordOne(t, alice, bob, "evidence-2")

	report, err := bob.RecordingVerifyAnchored("evidence", head)
	if err != nil || !strings.Contains(string(report), `"anchor":"head"`) {
		t.Fatalf("RecordingVerifyAnchored: %s, %v", report, err)
	}
	report, err = bob.RecordingVerifyAnchored("evidence", strings.Repeat("0", 64))
	if err != nil || !strings.Contains(string(report), `"anchor":"mismatch"`) {
		t.Fatalf("RecordingVerifyAnchored (rewritten): %s, %v", report, err)
	}
	wantError(t, func() error { _, err := bob.RecordingVerifyAnchored("evidence", "xyz"); return err }(),
		StatusRecordingInvalid, "64 hex digits")

	record, err := bob.RecordingSupersede("evidence", Supersession{Replacement: "evidence-2",
		Actor: "operator-7", Reason: "re-recorded"})
	var sup struct{ Action, Actor, Replacement, TargetHash string }
	if err != nil || json.Unmarshal(record, &sup) != nil {
		t.Fatalf("RecordingSupersede: %s, %v", record, err)
	}
	if sup.Action != "supersede" || sup.Actor != "operator-7" || sup.Replacement != "evidence-2" {
		t.Fatalf("supersession record %s", record)
	}
	zero := uint64(0)
	chunkRecord, err := bob.RecordingSupersede("evidence-2", Supersession{Chunk: &zero, Reason: "bad sector"})
	if err != nil || !strings.Contains(string(chunkRecord), `"chunk":0`) {
		t.Fatalf("RecordingSupersede of a chunk: %s, %v", chunkRecord, err)
	}
	listed, err := bob.Recordings()
	if err != nil || !strings.Contains(string(listed), `"superseded":{`) {
		t.Fatalf("Recordings: %s, %v", listed, err)
	}
	if _, err := bob.RecordingErase("evidence", "", "retention over"); err != nil {
		t.Fatalf("RecordingErase: %v", err)
	}
	_, err = bob.RecordingErase("evidence-2", "", "not superseded")
	wantError(t, err, StatusRecordingInvalid, "evidence-2")
	_, err = bob.RecordingSupersede("never", Supersession{Reason: "r"})
	wantError(t, err, StatusRecordingNotFound, "never")
	_, err = bob.RecordingSupersede("evidence-2", Supersession{Reason: strings.Repeat("r", 5000)})
	wantError(t, err, StatusTooLarge, "reason")

	mine, err := bob.Audit(AuditQuery{Actor: "operator-7"})
	var reading struct {
		Records []struct{ Action, Actor string }
		Verdict struct{ Status string }
	}
	if err != nil || json.Unmarshal(mine, &reading) != nil {
		t.Fatalf("Audit: %s, %v", mine, err)
	}
	if len(reading.Records) != 1 || reading.Records[0].Action != "supersede" || reading.Verdict.Status != "ok" {
		t.Fatalf("Audit by actor: %s", mine)
	}
	early := uint64(1)
	none, err := bob.Audit(AuditQuery{Recording: "evidence", UntilNs: &early})
	if err != nil || !strings.Contains(string(none), `"records":[]`) {
		t.Fatalf("Audit before any record: %s, %v", none, err)
	}
}
