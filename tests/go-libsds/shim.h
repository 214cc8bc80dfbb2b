/* C side of the libsds client in this package, written the way libsds's cgo Go binding
 * (waku-org/sds-go-bindings) is: a Resp that the result callback fills with the msg
 * POINTER, read by Go only after the caller's WaitGroup wait, i.e. after the callback has
 * returned. Static helpers live here because a cgo file with //export may only declare. */
#ifndef LIBSTORAGE_GO_LIBSDS_SHIM_H
#define LIBSTORAGE_GO_LIBSDS_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include "libsds.h"

typedef struct {
    int ret;
    char *msg;    /* the library's buffer, not a copy */
    size_t len;
    uintptr_t wg; /* cgo.Handle of the caller's *sync.WaitGroup */
    int called;   /* set by the callback, for calls that return before any wait */
} Resp;

static inline Resp *allocResp(uintptr_t wg) {
    Resp *r = calloc(1, sizeof(Resp));
    if (r != NULL) r->wg = wg;
    return r;
}

static inline void freeResp(Resp *r) { free(r); }

/* Exported from sds.go. */
extern void SdsGoCallback(int ret, char *msg, size_t len, void *resp);
extern void sdsGlobalEventCallback(int ret, char *msg, size_t len, void *userData);
extern void sdsGlobalRetrievalHintProvider(char *messageId, char **hint, size_t *hintLen,
                                           void *userData);

static inline void *cGoSdsNewReliabilityManager(Resp *resp) {
    return SdsNewReliabilityManager((SdsCallBack)SdsGoCallback, resp);
}

/* As the binding does, the context itself is the event callback's userData, so that one
 * exported Go function can route events to their manager. */
static inline void cGoSdsSetEventCallback(void *ctx) {
    SdsSetEventCallback(ctx, (SdsCallBack)sdsGlobalEventCallback, ctx);
}

static inline void cGoSdsSetRetrievalHintProvider(void *ctx) {
    SdsSetRetrievalHintProvider(ctx, (SdsRetrievalHintProvider)sdsGlobalRetrievalHintProvider,
                                ctx);
}

static inline int cGoSdsCleanupReliabilityManager(void *ctx, Resp *resp) {
    return SdsCleanupReliabilityManager(ctx, (SdsCallBack)SdsGoCallback, resp);
}

static inline int cGoSdsResetReliabilityManager(void *ctx, Resp *resp) {
    return SdsResetReliabilityManager(ctx, (SdsCallBack)SdsGoCallback, resp);
}

static inline int cGoSdsWrapOutgoingMessage(void *ctx, void *message, size_t messageLen,
                                            const char *messageId, const char *channelId,
                                            Resp *resp) {
    return SdsWrapOutgoingMessage(ctx, message, messageLen, messageId, channelId,
                                  (SdsCallBack)SdsGoCallback, resp);
}

static inline int cGoSdsUnwrapReceivedMessage(void *ctx, void *message, size_t messageLen,
                                              Resp *resp) {
    return SdsUnwrapReceivedMessage(ctx, message, messageLen, (SdsCallBack)SdsGoCallback,
                                    resp);
}

static inline int cGoSdsMarkDependenciesMet(void *ctx, char **messageIds, size_t count,
                                            const char *channelId, Resp *resp) {
    return SdsMarkDependenciesMet(ctx, messageIds, count, channelId,
                                  (SdsCallBack)SdsGoCallback, resp);
}

static inline int cGoSdsStartPeriodicTasks(void *ctx, Resp *resp) {
    return SdsStartPeriodicTasks(ctx, (SdsCallBack)SdsGoCallback, resp);
}

/* A C array of count C strings, for SdsMarkDependenciesMet (Go may not build one of its
 * own pointers for C to keep). */
static inline char **allocCStrings(size_t count) { return calloc(count ? count : 1, sizeof(char *)); }
static inline void setCString(char **array, size_t i, char *s) { array[i] = s; }
static inline void freeCStrings(char **array, size_t count) {
    for (size_t i = 0; i < count; i++) free(array[i]);
    free(array);
}

#endif
