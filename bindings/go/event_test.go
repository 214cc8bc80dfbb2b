package storage

import (
	"encoding/json"
	"testing"
)

func TestParseEventReadsEveryShape(t *testing.T) {
	cases := []struct {
		raw   string
		check func(Event) bool
	}{
		{`{"eventType":"message_ready","channelId":"c","messageId":"m","senderId":"s","lamportTimestamp":7,"content":"aGk="}`,
			func(e Event) bool { return e.SenderID == "s" && e.LamportTimestamp == 7 && string(e.Content) == "hi" }},
		{`{"eventType":"resend","channelId":"c","messageId":"m","attempt":2,"message":"AAE="}`,
			func(e Event) bool { return e.Attempt == 2 && string(e.Wire) == "\x00\x01" }},
		{`{"eventType":"persistence_warning","channelId":"c","message":"disk full"}`,
			func(e Event) bool { return e.Warning == "disk full" && e.Wire == nil }},
		{`{"eventType":"message_lost","channelId":"c","messageId":"m","missingDeps":["a","b"]}`,
			func(e Event) bool { return len(e.MissingDeps) == 2 && e.MissingDeps[1].MessageID == "b" }},
		{`{"eventType":"missing_dependencies","channelId":"c","messageId":"m","missingDeps":[{"messageId":"a","retrievalHint":"aGk=","senderId":"s"}]}`,
			func(e Event) bool {
				return string(e.MissingDeps[0].RetrievalHint) == "hi" && e.MissingDeps[0].SenderID == "s"
			}},
		{`{"eventType":"possibly_acknowledged","channelId":"c","messageId":"m","hits":1}`,
			func(e Event) bool { return e.Hits == 1 }},
		{`{"eventType":"event_queue_overflow","dropped":3}`,
			func(e Event) bool { return e.Dropped == 3 }},
		{`{"eventType":"message_ready","channelId":"c","messageId":"m","senderId":"s","lamportTimestamp":-9,"content":""}`,
			func(e Event) bool { return e.Type == MessageReady && e.LamportTimestamp == -9 }},
		{`{"eventType":"limit_reached","channelId":"c","refused":4,"reason":"full"}`,
			func(e Event) bool { return e.Type == LimitReached && e.Refused == 4 && e.Reason == "full" }},
	}
	for _, c := range cases {
		event, err := ParseEvent([]byte(c.raw))
		if err != nil || !c.check(event) || string(event.Raw) != c.raw {
			t.Errorf("ParseEvent(%s) = %+v, %v", c.raw, event, err)
		}
		var kind struct{ EventType EventType }
		_ = json.Unmarshal([]byte(c.raw), &kind)
		if event.Type != kind.EventType {
			t.Errorf("type %q, want %q", event.Type, kind.EventType)
		}
	}
	if _, err := ParseEvent([]byte("{")); err == nil {
		t.Error("ParseEvent accepted a truncated document")
	}
}
