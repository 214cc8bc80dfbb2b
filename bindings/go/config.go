package storage

import "encoding/json"

// Config is the configuration document of a Manager (see the README's "Configuration"
// table for defaults and meanings). Every key the library reads has a field. Unset
// fields (nil pointers, nil sections, empty strings, whose empty value is the default or
// invalid) are left out, so the library applies its default; numbers are pointers so an
// explicit 0 is sent as 0 (set them with Ptr). An empty Config is the document {}.
// Durations are in milliseconds, as in the document.
type Config struct {
	ParticipantID             string   `json:"participant_id,omitempty"`
	BloomCapacity             *uint64  `json:"bloom_capacity,omitempty"`
	BloomErrorRate            *float64 `json:"bloom_error_rate,omitempty"`
	MaxMessageHistory         *uint64  `json:"max_message_history,omitempty"`
	MaxHistoryBytes           *uint64  `json:"max_history_bytes,omitempty"`
	MaxCausalHistory          *uint64  `json:"max_causal_history,omitempty"`
	ResendIntervalMs          *uint64  `json:"resend_interval_ms,omitempty"`
	MaxResendAttempts         *uint32  `json:"max_resend_attempts,omitempty"`
	BloomAcksToConfirm        *uint32  `json:"bloom_acks_to_confirm,omitempty"`
	MaxDependencyWaitMs       *uint64  `json:"max_dependency_wait_ms,omitempty"`
	LamportUnit               string   `json:"lamport_unit,omitempty"` // "milliseconds" or "seconds"
	RepairTMinMs              *uint64  `json:"repair_t_min_ms,omitempty"`
	RepairTMaxMs              *uint64  `json:"repair_t_max_ms,omitempty"`
	NumResponseGroups         *uint32  `json:"num_response_groups,omitempty"`
	MaxRepairRequests         *uint64  `json:"max_repair_requests,omitempty"`
	MaxChannels               *uint64  `json:"max_channels,omitempty"`
	MaxIncomingBuffer         *uint64  `json:"max_incoming_buffer,omitempty"`
	MaxIncomingBufferBytes    *uint64  `json:"max_incoming_buffer_bytes,omitempty"`
	MaxOutgoingBuffer         *uint64  `json:"max_outgoing_buffer,omitempty"`
	MaxRepairBuffer           *uint64  `json:"max_repair_buffer,omitempty"`
	MaxWireMessageSize        *uint64  `json:"max_wire_message_size,omitempty"`
	MemoryBudgetBytes         *uint64  `json:"memory_budget_bytes,omitempty"`
	MaxReceivedCausalHistory  *uint64  `json:"max_received_causal_history,omitempty"`
	MaxReceivedRepairRequests *uint64  `json:"max_received_repair_requests,omitempty"`
	MaxIDBytes                *uint64  `json:"max_id_bytes,omitempty"`
	MaxLamportLeadMs          *uint64  `json:"max_lamport_lead_ms,omitempty"`
	WireFormat                string   `json:"wire_format,omitempty"` // "nim" (default) or "spec" (@waku/sds)
	// ChannelWireFormats overrides WireFormat per channel: channel id to "nim" or "spec".
	ChannelWireFormats map[string]string `json:"channel_wire_formats,omitempty"`

	SyncIntervalMs          *uint64 `json:"sync_interval_ms,omitempty"`
	OutgoingSweepIntervalMs *uint64 `json:"outgoing_sweep_interval_ms,omitempty"`
	IncomingSweepIntervalMs *uint64 `json:"incoming_sweep_interval_ms,omitempty"`
	RepairSweepIntervalMs   *uint64 `json:"repair_sweep_interval_ms,omitempty"`
	RequestQueueCapacity    *uint64 `json:"request_queue_capacity,omitempty"`
	EventQueueCapacity      *uint64 `json:"event_queue_capacity,omitempty"`
	RequestQueueMaxBytes    *uint64 `json:"request_queue_max_bytes,omitempty"`
	EventQueueMaxBytes      *uint64 `json:"event_queue_max_bytes,omitempty"`

	Persistence *Persistence `json:"persistence,omitempty"`
	Recording   *Recording   `json:"recording,omitempty"`
	Upload      *Upload      `json:"upload,omitempty"`
	Restart     *Restart     `json:"restart,omitempty"`

	// Extra keys written into the document as they are, over the fields above: for keys
	// added to the library after this binding, never needed for the keys it knows.
	Extra map[string]any `json:"-"`
}

// Recording is the "recording" section: where recordings live and their defaults.
type Recording struct {
	Root            string  `json:"root,omitempty"`              // an existing folder; recordings are off without it
	QueueCapacity   *uint64 `json:"queue_capacity,omitempty"`    // messages queued before each recorder thread
	WhenFull        string  `json:"when_full,omitempty"`         // "block" (default) or "drop"
	ChunkMaxBytes   *uint64 `json:"chunk_max_bytes,omitempty"`   // chunk files are sealed at this size
	ChunkMaxAgeMs   *uint64 `json:"chunk_max_age_ms,omitempty"`  // ... or at this age
	FlushIntervalMs *uint64 `json:"flush_interval_ms,omitempty"` // longest a message waits to be synced
	// A recording started with the context (nil: none).
	Autostart *Autostart `json:"autostart,omitempty"`
}

// Autostart is the recording the context starts with: named Name-<unix ms>, with the
// options of RecordingStart (unset ones take the section's defaults).
type Autostart struct {
	Name string `json:"name"`
	RecordingOptions
}

// RecordingOptions are the options of a recording (storage_recording_start's options
// document and the autostart's); unset fields are left out.
type RecordingOptions struct {
	// Channels records only these channel ids (nil: "all").
	Channels   []string `json:"channels,omitempty"`
	RecordSent *bool    `json:"record_sent,omitempty"` // also record the messages this context sends
	Mode       string   `json:"mode,omitempty"`        // "continuous" (default) or "ring"
	WindowSecs *uint64  `json:"window_secs,omitempty"` // ring: the window kept
	MaxBytes   *uint64  `json:"max_bytes,omitempty"`   // ring: the most bytes kept
	// Defaults of the recording section, overridden for this recording.
	QueueCapacity   *uint64 `json:"queue_capacity,omitempty"`
	WhenFull        string  `json:"when_full,omitempty"`
	ChunkMaxBytes   *uint64 `json:"chunk_max_bytes,omitempty"`
	ChunkMaxAgeMs   *uint64 `json:"chunk_max_age_ms,omitempty"`
	FlushIntervalMs *uint64 `json:"flush_interval_ms,omitempty"`
}

// Upload is the "upload" section (it needs Recording.Root): a background uploader sends
// sealed chunks to an S3-compatible bucket as they are sealed (see the README's "Uploads
// to object storage"). Endpoint and Bucket are required. Credentials come from the
// fields, the variables the *Env fields name, SecretAccessKeyFile, else the AWS_*
// variables; prefer a file or a variable to a secret in the document.
type Upload struct {
	Endpoint            string  `json:"endpoint,omitempty"`
	Bucket              string  `json:"bucket,omitempty"`
	Region              string  `json:"region,omitempty"`     // default: AWS_REGION, else us-east-1
	Prefix              string  `json:"prefix,omitempty"`     // keys: {prefix}/{origin}/{recording}/...
	PathStyle           *bool   `json:"path_style,omitempty"` // default true; false: virtual-host style
	Origin              string  `json:"origin,omitempty"`     // default: the participant id
	AccessKeyID         string  `json:"access_key_id,omitempty"`
	SecretAccessKey     string  `json:"secret_access_key,omitempty"`
	SessionToken        string  `json:"session_token,omitempty"`
	AccessKeyIDEnv      string  `json:"access_key_id_env,omitempty"`
	SecretAccessKeyEnv  string  `json:"secret_access_key_env,omitempty"`
	SecretAccessKeyFile string  `json:"secret_access_key_file,omitempty"`
	SessionTokenEnv     string  `json:"session_token_env,omitempty"`
	PartSizeBytes       *uint64 `json:"part_size_bytes,omitempty"`      // multipart above this (default 16 MiB, at least 5 MiB)
	RequestTimeoutMs    *uint64 `json:"request_timeout_ms,omitempty"`   // one request (default 60 000)
	Concurrency         *uint32 `json:"concurrency,omitempty"`          // recordings sent at once (1 to 16, default 2)
	RetryInitialMs      *uint64 `json:"retry_initial_ms,omitempty"`     // first wait after a failure (default 1 000)
	RetryMaxMs          *uint64 `json:"retry_max_ms,omitempty"`         // longest wait (default 300 000)
	DeadLetterAfterMs   *uint64 `json:"dead_letter_after_ms,omitempty"` // a chunk failing this long is given up (default a day)
}

// Persistence selects where a Manager keeps its protocol state.
type Persistence struct {
	Kind       string `json:"kind"`                 // "none", "memory" or "sqlite"
	Path       string `json:"path,omitempty"`       // sqlite: the database file
	Durability string `json:"durability,omitempty"` // sqlite: "full" (default) or "normal"
}

// JSON renders the configuration document handed to storage_new.
func (c Config) JSON() ([]byte, error) {
	typed, err := json.Marshal(c)
	if err != nil || len(c.Extra) == 0 {
		return typed, err
	}
	// Merge through a map so Extra can override any typed field.
	merged := map[string]any{}
	if err := json.Unmarshal(typed, &merged); err != nil {
		return nil, err
	}
	for key, value := range c.Extra {
		merged[key] = value
	}
	return json.Marshal(merged)
}

// Restart is the worker's restart policy: Policy "once" (the default: one restart) or
// "bounded" with MaxRestarts within WithinMs.
type Restart struct {
	Policy      string  `json:"policy,omitempty"`
	MaxRestarts *uint32 `json:"max_restarts,omitempty"`
	WithinMs    *uint64 `json:"within_ms,omitempty"`
}

// Ptr returns a pointer to v: Config{MaxResendAttempts: storage.Ptr[uint32](0)}.
func Ptr[T any](v T) *T { return &v }
