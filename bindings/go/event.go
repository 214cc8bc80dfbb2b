package storage

import (
	"encoding/json"
	"fmt"
)

// EventType is an event's "eventType".
type EventType string

// The event types of the native API (README, "Events").
const (
	MessageReady         EventType = "message_ready"
	MessageSent          EventType = "message_sent"
	PossiblyAcknowledged EventType = "possibly_acknowledged"
	Resend               EventType = "resend"
	MessageExpired       EventType = "message_expired"
	MissingDependencies  EventType = "missing_dependencies"
	MessageLost          EventType = "message_lost"
	RepairReady          EventType = "repair_ready"
	PeriodicSync         EventType = "periodic_sync"
	LimitReached         EventType = "limit_reached" // received messages refused for a limit
	EventQueueOverflow   EventType = "event_queue_overflow"
	PersistenceWarning   EventType = "persistence_warning"
	RecordingDropped     EventType = "recording_dropped"
	RecordingFailed      EventType = "recording_failed"
	RecordingRecovered   EventType = "recording_recovered" // at start: a file crash recovery acted on
	RecordingStarted     EventType = "recording_started"   // at start: the recording.autostart recording
	WorkerRestarted      EventType = "worker_restarted"    // the worker panicked and restarted (Raw has the details)
	ChunkSealed          EventType = "chunk_sealed"        // a chunk was sealed: the chain's Head moved
	UploadProgress       EventType = "upload_progress"     // the uploader's totals: BytesSent, ChunksDone, ChunksPending
	ChunkUploaded        EventType = "chunk_uploaded"      // chunk Index of Name is in the bucket under Key
	ChunkDeadLettered    EventType = "chunk_dead_lettered" // the uploader gave up on chunk Index of Name (Reason)
	UploadPaused         EventType = "upload_paused"       // the upload queue paused (Reason)
	UploadResumed        EventType = "upload_resumed"      // the upload queue runs again
	ReplayMessage        EventType = "replay_message"
	ReplayFinished       EventType = "replay_finished"
)

// Event is one event of a Manager (docs/json.md, "Native events", has every type and
// key). Only the fields its Type carries are set; Raw keeps the library's JSON document.
type Event struct {
	Type             EventType
	ChannelID        string
	MessageID        string
	SenderID         string       // message_ready, replay_message
	LamportTimestamp int64        // message_ready, replay_message
	Content          []byte       // message_ready, replay_message: the payload
	Hits             uint64       // possibly_acknowledged: bloom hits so far
	Attempt          uint64       // resend
	Wire             []byte       // resend, repair_ready: the bytes to broadcast
	MissingDeps      []Dependency // missing_dependencies, message_lost
	Dropped          uint64       // event_queue_overflow: events discarded; recording_dropped: messages
	Warning          string       // persistence_warning, recording_failed: what went wrong
	Refused          uint64       // limit_reached: messages refused since the last one
	Reason           string       // limit_reached: why the latest was refused
	Name             string       // recording_*: the recording
	File             string       // recording_recovered: the file acted on
	Action           string       // recording_recovered: recovered, listed, quarantined or failed
	Messages         uint64       // recording_recovered: saved; replay_finished: replayed
	Detail           string       // recording_recovered
	ReplayID         uint64       // replay_message, replay_finished
	LogTimeNs        uint64       // replay_message: when it was recorded (Unix ns)
	Cancelled        bool         // replay_finished: stopped by ReplayStop
	Error            string       // replay_finished: why it failed ("" if it did not)
	Index            uint64       // chunk_sealed: the chunk's index
	SHA256           string       // chunk_sealed: the chunk file's SHA-256
	Head             string       // chunk_sealed: the chain's head, to anchor elsewhere
	Key              string       // chunk_uploaded: the object key
	BytesSent        uint64       // chunk_uploaded, upload_progress
	ChunksDone       uint64       // upload_progress
	ChunksPending    uint64       // upload_progress
	Raw              json.RawMessage
}

// eventDocument is the JSON shape of every native event; "message" is base64 wire bytes
// in resend/repair_ready but text in persistence_warning and recording_failed, so it is
// decoded by type. The tests decode every sample event strictly into it.
type eventDocument struct {
	EventType        EventType       `json:"eventType"`
	ChannelID        string          `json:"channelId"`
	MessageID        string          `json:"messageId"`
	SenderID         string          `json:"senderId"`
	LamportTimestamp int64           `json:"lamportTimestamp"`
	Content          []byte          `json:"content"`
	Hits             uint64          `json:"hits"`
	Attempt          uint64          `json:"attempt"`
	Message          json.RawMessage `json:"message"`
	MissingDeps      []Dependency    `json:"missingDeps"`
	Dropped          uint64          `json:"dropped"`
	Refused          uint64          `json:"refused"`
	Reason           string          `json:"reason"`
	Name             string          `json:"name"`
	File             string          `json:"file"`
	Action           string          `json:"action"`
	Messages         uint64          `json:"messages"`
	Detail           string          `json:"detail"`
	ReplayID         uint64          `json:"replayId"`
	LogTimeNs        uint64          `json:"logTimeNs"`
	Cancelled        bool            `json:"cancelled"`
	Error            *string         `json:"error"`
	Index            uint64          `json:"index"`
	SHA256           string          `json:"sha256"`
	Head             string          `json:"head"`
	Key              string          `json:"key"`
	BytesSent        uint64          `json:"bytesSent"`
	ChunksDone       uint64          `json:"chunksDone"`
	ChunksPending    uint64          `json:"chunksPending"`
	// worker_restarted: read from Raw by callers that need them.
	RestartCount       uint64   `json:"restartCount"`
	FailedRequests     uint64   `json:"failedRequests"`
	StateLost          bool     `json:"stateLost"`
	ChannelsReloaded   []string `json:"channelsReloaded"`
	ChannelsLost       []string `json:"channelsLost"`
	RecordingsReopened []string `json:"recordingsReopened"`
}

// ParseEvent decodes one native event document.
func ParseEvent(raw []byte) (Event, error) {
	var doc eventDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Event{}, fmt.Errorf("storage.ParseEvent: bad event %q: %w", raw, err)
	}
	event := Event{
		Type:             doc.EventType,
		ChannelID:        doc.ChannelID,
		MessageID:        doc.MessageID,
		SenderID:         doc.SenderID,
		LamportTimestamp: doc.LamportTimestamp,
		Content:          doc.Content,
		Hits:             doc.Hits,
		Attempt:          doc.Attempt,
		MissingDeps:      doc.MissingDeps,
		Dropped:          doc.Dropped,
		Refused:          doc.Refused,
		Reason:           doc.Reason,
		Name:             doc.Name,
		File:             doc.File,
		Action:           doc.Action,
		Messages:         doc.Messages,
		Detail:           doc.Detail,
		ReplayID:         doc.ReplayID,
		LogTimeNs:        doc.LogTimeNs,
		Cancelled:        doc.Cancelled,
		Index:            doc.Index,
		SHA256:           doc.SHA256,
		Head:             doc.Head,
		Key:              doc.Key,
		BytesSent:        doc.BytesSent,
		ChunksDone:       doc.ChunksDone,
		ChunksPending:    doc.ChunksPending,
		Raw:              append(json.RawMessage(nil), raw...),
	}
	if doc.Error != nil {
		event.Error = *doc.Error
	}
	if len(doc.Message) > 0 {
		target := any(&event.Wire)
		if doc.EventType == PersistenceWarning || doc.EventType == RecordingFailed {
			target = &event.Warning
		}
		if err := json.Unmarshal(doc.Message, target); err != nil {
			return Event{}, fmt.Errorf("storage.ParseEvent: bad event %q: %w", raw, err)
		}
	}
	return event, nil
}

// UnmarshalJSON reads a dependency written either as an object (unwrap results,
// missing_dependencies) or as a bare message id (message_lost).
func (d *Dependency) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		*d = Dependency{}
		return json.Unmarshal(data, &d.MessageID)
	}
	type plain Dependency // no UnmarshalJSON: avoids recursing into this method
	return json.Unmarshal(data, (*plain)(d))
}
