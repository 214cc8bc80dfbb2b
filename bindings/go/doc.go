// Package storage is the Go binding of libstorage (libstorage.so): reliable, causally
// ordered sync (SDS / SDS-R) over a transport the caller owns, and durable storage of
// that state.
//
// A Manager wraps one native context. Every request method (Wrap, Unwrap, ...) is
// synchronous: it submits the request and waits for the library's answer. Events
// (message_ready, message_sent, resend, ...) arrive on the channel returned by
// Manager.Events, fed by a goroutine that pulls them with storage_next_event, so no
// application Go code ever runs on the library's worker thread.
//
// The package links against libstorage.so with cgo. Inside the repository `make go-test`
// builds the library and points cgo at it; elsewhere set CGO_CFLAGS / CGO_LDFLAGS to
// where storage.h and libstorage.so are installed (pkg-config storage).
package storage
