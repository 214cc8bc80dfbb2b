package storage

// UnwrapStatus says what Unwrap did with a received message.
type UnwrapStatus string

// The outcomes of Unwrap.
const (
	Delivered UnwrapStatus = "delivered" // delivered now (a message_ready event follows)
	Buffered  UnwrapStatus = "buffered"  // held back until its missing dependencies arrive
	Duplicate UnwrapStatus = "duplicate" // seen before; nothing happened
	Sync      UnwrapStatus = "sync"      // a sync message: metadata only, never delivered
	Ephemeral UnwrapStatus = "ephemeral" // an ephemeral message: delivered, never stored
)

// Dependency is a message another message depends on. RetrievalHint and SenderID are
// empty where the library does not know them (message_lost events name ids only).
type Dependency struct {
	MessageID     string `json:"messageId"`
	RetrievalHint []byte `json:"retrievalHint"`
	SenderID      string `json:"senderId"`
}

// UnwrapResult is the outcome of Unwrap.
type UnwrapResult struct {
	ChannelID   string       `json:"channelId"`
	MessageID   string       `json:"messageId"`
	SenderID    string       `json:"senderId"`
	Content     []byte       `json:"content"`
	Status      UnwrapStatus `json:"status"`
	MissingDeps []Dependency `json:"missingDeps"`
}

// ChannelStats are a channel's sizes and lifetime counters.
type ChannelStats struct {
	ChannelID         string          `json:"channelId"`
	LamportTimestamp  int64           `json:"lamportTimestamp"`
	HistoryLen        uint64          `json:"historyLen"`
	OutgoingLen       uint64          `json:"outgoingLen"`
	IncomingLen       uint64          `json:"incomingLen"`
	IncomingBytes     uint64          `json:"incomingBytes"`
	OutgoingRepairLen uint64          `json:"outgoingRepairLen"`
	IncomingRepairLen uint64          `json:"incomingRepairLen"`
	Memory            MemoryStats     `json:"memory"`
	Counters          ChannelCounters `json:"counters"`
}

// MemoryStats are what the channel and its whole context hold against the context's
// memory budget (README, "Resource limits").
type MemoryStats struct {
	Channel MemoryUsage `json:"channel"`
	Context MemoryUsage `json:"context"`
	Budget  uint64      `json:"budget"`
}

// MemoryUsage is held memory by kind, in bytes.
type MemoryUsage struct {
	Total    uint64 `json:"total"`
	Base     uint64 `json:"base"`
	History  uint64 `json:"history"`
	Buffered uint64 `json:"buffered"`
	Repair   uint64 `json:"repair"`
}

// Refusals count inputs refused because a limit was reached, by reason.
type Refusals struct {
	TooLarge        uint64 `json:"tooLarge"`
	TooManyEntries  uint64 `json:"tooManyEntries"`
	IDTooLong       uint64 `json:"idTooLong"`
	BufferFull      uint64 `json:"bufferFull"`
	MemoryBudget    uint64 `json:"memoryBudget"`
	TooManyChannels uint64 `json:"tooManyChannels"`
	RepairEntries   uint64 `json:"repairEntries"`
}

// ChannelCounters count what happened on a channel since it was created.
type ChannelCounters struct {
	Delivered            uint64   `json:"delivered"`
	Acknowledged         uint64   `json:"acknowledged"`
	PossiblyAcknowledged uint64   `json:"possiblyAcknowledged"`
	Resends              uint64   `json:"resends"`
	Expired              uint64   `json:"expired"`
	Lost                 uint64   `json:"lost"`
	Evicted              uint64   `json:"evicted"`
	Duplicates           uint64   `json:"duplicates"`
	RepairsRequested     uint64   `json:"repairsRequested"`
	RepairsSent          uint64   `json:"repairsSent"`
	DroppedByLimits      uint64   `json:"droppedByLimits"`
	Refusals             Refusals `json:"refusals"`
}
