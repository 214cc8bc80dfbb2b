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
 * made from inside a callback is queued without blocking.
 *
 * Ownership: arguments are borrowed for the duration of the call; the library copies
 * what it keeps. `msg` in a callback is valid only during the callback: read exactly
 * `len` bytes (it may be NULL when len == 0). A retrieval-hint provider hands over a
 * malloc'ed buffer, which the library releases with free().
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
