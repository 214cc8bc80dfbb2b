package storage

// #include "shim.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// Wrap wraps content as message messageID on channelID and returns the wire bytes to
// broadcast. The channel is created on first use.
func (m *Manager) Wrap(channelID, messageID string, content []byte) ([]byte, error) {
	return m.wrap("Wrap", channelID, messageID, content, false)
}

// WrapEphemeral wraps an ephemeral message: no causal history, never buffered, stored
// or acknowledged; receivers deliver it at once.
func (m *Manager) WrapEphemeral(channelID, messageID string, content []byte) ([]byte, error) {
	return m.wrap("WrapEphemeral", channelID, messageID, content, true)
}

func (m *Manager) wrap(op, channelID, messageID string, content []byte, ephemeral bool) ([]byte, error) {
	channel, err := cString(op, "channel_id", channelID)
	if err != nil {
		return nil, err
	}
	defer freeCString(channel)
	id, err := cString(op, "message_id", messageID)
	if err != nil {
		return nil, err
	}
	defer freeCString(id)
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		data, n := cBytes(content)
		if ephemeral {
			return C.storage_wrap_ephemeral(ctx, channel, id, data, n, cb, ud)
		}
		return C.storage_wrap(ctx, channel, id, data, n, cb, ud)
	})
}

// Unwrap processes bytes received from the transport. Delivered messages also arrive as
// message_ready events, in causal order.
func (m *Manager) Unwrap(wire []byte) (UnwrapResult, error) {
	var result UnwrapResult
	document, err := m.request("Unwrap", func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		data, n := cBytes(wire)
		return C.storage_unwrap(ctx, data, n, cb, ud)
	})
	if err == nil {
		err = decodeResult("Unwrap", document, &result)
	}
	return result, err
}

// MarkDependenciesMet declares messageIDs present on channelID (the host retrieved them
// another way), releasing messages that were waiting only for them.
func (m *Manager) MarkDependenciesMet(channelID string, messageIDs ...string) error {
	const op = "MarkDependenciesMet"
	ids := make([]*C.char, len(messageIDs))
	defer func() {
		for _, id := range ids {
			freeCString(id)
		}
	}()
	for i, messageID := range messageIDs {
		var err error
		if ids[i], err = cString(op, "message_ids", messageID); err != nil {
			return err
		}
	}
	return m.channelRequest(op, channelID, func(ctx *C.storage_ctx, channel *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		var first **C.char
		if len(ids) > 0 {
			first = &ids[0] // Go memory holding only C pointers may be passed to C
		}
		return C.storage_mark_dependencies_met(ctx, first, C.size_t(len(ids)), channel, cb, ud)
	})
}

// BuildSyncMessage returns the wire bytes of a sync message for channelID: metadata
// only, which lets peers acknowledge and repair without new content.
func (m *Manager) BuildSyncMessage(channelID string) ([]byte, error) {
	return m.channelRequestBytes("BuildSyncMessage", channelID, func(ctx *C.storage_ctx, channel *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_build_sync_message(ctx, channel, cb, ud)
	})
}

// EnsureChannel loads channelID from persistence, or creates it.
func (m *Manager) EnsureChannel(channelID string) error {
	return m.channelRequest("EnsureChannel", channelID, func(ctx *C.storage_ctx, channel *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_ensure_channel(ctx, channel, cb, ud)
	})
}

// RemoveChannel deletes channelID and its persisted state.
func (m *Manager) RemoveChannel(channelID string) error {
	return m.channelRequest("RemoveChannel", channelID, func(ctx *C.storage_ctx, channel *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_remove_channel(ctx, channel, cb, ud)
	})
}

// ChannelStats reads channelID's sizes and counters.
func (m *Manager) ChannelStats(channelID string) (ChannelStats, error) {
	var stats ChannelStats
	document, err := m.channelRequestBytes("ChannelStats", channelID, func(ctx *C.storage_ctx, channel *C.char, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_channel_stats(ctx, channel, cb, ud)
	})
	if err == nil {
		err = decodeResult("ChannelStats", document, &stats)
	}
	return stats, err
}

// Reset deletes every channel and its persisted state.
func (m *Manager) Reset() error {
	_, err := m.request("Reset", func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_reset(ctx, cb, ud)
	})
	return err
}

// StartPeriodicTasks starts the resend, loss and repair sweeps and the sync timer (each
// runs once at once). Starting twice is harmless.
func (m *Manager) StartPeriodicTasks() error {
	_, err := m.request("StartPeriodicTasks", func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return C.storage_start_periodic_tasks(ctx, cb, ud)
	})
	return err
}

// channelSubmitFunc makes one C request naming a channel.
type channelSubmitFunc func(ctx *C.storage_ctx, channel *C.char, callback C.storage_callback, userData unsafe.Pointer) C.storage_status

// channelRequestBytes runs a request naming channelID and returns its result bytes.
func (m *Manager) channelRequestBytes(op, channelID string, submit channelSubmitFunc) ([]byte, error) {
	channel, err := cString(op, "channel_id", channelID)
	if err != nil {
		return nil, err
	}
	defer freeCString(channel)
	return m.request(op, func(ctx *C.storage_ctx, cb C.storage_callback, ud unsafe.Pointer) C.storage_status {
		return submit(ctx, channel, cb, ud)
	})
}

// channelRequest runs a request naming channelID that answers with success or an error.
func (m *Manager) channelRequest(op, channelID string, submit channelSubmitFunc) error {
	_, err := m.channelRequestBytes(op, channelID, submit)
	return err
}

// decodeResult reads a JSON result document into v.
func decodeResult(op string, document []byte, v any) error {
	if err := json.Unmarshal(document, v); err != nil {
		return &Error{Op: op, Status: StatusDecodeError, Message: "unreadable result: " + err.Error()}
	}
	return nil
}
