/*
 * libsds-compatible API of libstorage: a drop-in for nim-sds's libsds.h.
 *
 * Same functions, signatures, return codes, result formats and JSON events as libsds
 * (nim-sds 0.3.x); existing libsds users relink against libstorage.so. A context created
 * here has participant id "" (no SDS-R), libsds's defaults and no persistence; one bloom
 * filter hit counts as an acknowledgement, as in libsds.
 *
 * Thread safety: every function may be called from any thread. Requests run in call
 * order on the context's worker thread, where their callbacks and all events run. A call
 * made from inside a callback is queued without blocking. An argument error is reported
 * through the callback on the calling thread, before the function returns RET_ERR.
 *
 * Ownership: arguments are borrowed for the duration of the call; the library copies
 * what it keeps. A retrieval-hint provider hands over a malloc'ed buffer: when *hint is
 * not NULL and *hintLen > 0 the library copies it and releases it with free(); otherwise
 * the library leaves *hint alone (as nim-sds does), so a zero-length hint may point to
 * static storage.
 *
 * What a callback receives (msg, len):
 *   - a result or an event: its exact text, len bytes, followed by a NUL byte that len
 *     does not count (as nim-sds's strings are NUL-terminated);
 *   - a request with no result (new, reset, mark dependencies met, start periodic tasks):
 *     a valid pointer to a static empty string "" and len 0, never NULL;
 *   - SdsCleanupReliabilityManager's callback: msg NULL and len 0;
 *   - an error: the error text (see each function), NUL-terminated as above.
 *
 * Lifetime of msg (differs from the native API, whose data is borrowed for the callback
 * only): libsds clients, such as its cgo Go binding, keep the msg pointer and read it after
 * the callback has returned, so every non-empty msg stays readable and unchanged after its
 * callback returns, also after the context that produced it is cleaned up. The library
 * keeps such buffers, newest last, in one ring shared by all contexts of the process, and
 * releases a buffer only when both hold:
 *   - at least 8 later buffers have been handed to libsds callbacks (of any context, on
 *     any thread), and
 *   - either 4096 later buffers have been, or the later buffers handed over total at
 *     least 16 MiB (counted as allocated bytes).
 * So a client must copy what it wants to keep before that many results, error messages
 * and events have been produced after it. The ring holds at most 4096 buffers totalling
 * less than 16 MiB plus its oldest buffer, or, when results are huge, just the 8 newest
 * ones; it lives as long as the process, and keeps up to 4 released buffers of at most
 * 1 MiB each for later results to be written into. Empty results point to static storage and do
 * not count; nor does cleanup's NULL.
 *
 * A call on a context that was cleaned up, or never existed, returns RET_ERR without
 * calling back (the setters ignore it), as libsds does.
 *
 * Where this differs from nim-sds 0.3.x, deliberately: events are delivered also when the
 * event callback's userData is NULL (nim-sds's libsds.nim drops them then); cleaning up a
 * context from inside one of its own callbacks is refused (callback with RET_ERR and a
 * message, returns RET_ERR) instead of deadlocking on its own worker thread.
 */
#ifndef __libsds__
#define __libsds__

#include <stddef.h>
#include <stdint.h>

#define RET_OK 0
#define RET_ERR 1
#define RET_MISSING_CALLBACK 2

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*SdsCallBack)(int callerRet, const char *msg, size_t len, void *userData);

typedef void (*SdsRetrievalHintProvider)(const char *messageId, char **hint, size_t *hintLen,
                                         void *userData);

/* Returns the context at once (NULL if callback is NULL); later callback(RET_OK, "", 0). */
void *SdsNewReliabilityManager(SdsCallBack callback, void *userData);

/* Events go to callback(RET_OK, json, len); a NULL callback drops events. Called from
   another thread while the old callback runs, waits for it to return. */
void SdsSetEventCallback(void *ctx, SdsCallBack callback, void *userData);

/* Asked, on the worker thread, for the hint of each causal-history entry of a wrap. */
void SdsSetRetrievalHintProvider(void *ctx, SdsRetrievalHintProvider callback, void *userData);

/* Synchronous: stops the worker, then callback(RET_OK, NULL, 0); returns RET_OK. */
int SdsCleanupReliabilityManager(void *ctx, SdsCallBack callback, void *userData);

/* Forgets every channel; later callback(RET_OK, "", 0). */
int SdsResetReliabilityManager(void *ctx, SdsCallBack callback, void *userData);

/* Later callback(RET_OK, "b0,b1,..."): the wrapped bytes as comma-separated decimals. */
int SdsWrapOutgoingMessage(void *ctx, void *message, size_t messageLen, const char *messageId,
                           const char *channelId, SdsCallBack callback, void *userData);

/* Later callback(RET_OK, {"message":[..],"channelId":"..","missingDeps":[..]}). */
int SdsUnwrapReceivedMessage(void *ctx, void *message, size_t messageLen, SdsCallBack callback,
                             void *userData);

/* A NULL entry in messageIds counts as "". Later callback(RET_OK, "", 0). */
int SdsMarkDependenciesMet(void *ctx, char **messageIds, size_t count, const char *channelId,
                           SdsCallBack callback, void *userData);

/* Starts the buffer sweep, sync timer and repair sweep; later callback(RET_OK, "", 0). */
int SdsStartPeriodicTasks(void *ctx, SdsCallBack callback, void *userData);

#ifdef __cplusplus
}
#endif

#endif /* __libsds__ */
