/* What libsds clients do with the buffers their callbacks receive, under ASan: like
 * libsds's cgo Go binding, the callback keeps only the msg POINTER and wakes the caller,
 * which reads msg[0..len] after the callback has returned -- from several threads at
 * once, and after the context is cleaned up. include/libsds.h ("Lifetime of msg") states
 * the guarantee; every read below happens after the library has finished the callback
 * (a later request on the same context has been answered, or the context is gone). Also:
 * what a callback receives for a request without a result, the NUL after every text, and
 * who owns a zero-length retrieval hint. */
#define HARNESS_LIBSDS_ONLY
#include "harness.h"

#include "libsds.h"

#define WAIT_MS HARNESS_TIMEOUT_MS
#define CHANNEL "ch"

/* ---- A response kept the way the cgo binding keeps it: pointer and length only ---------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int ret;
    const char *msg; /* the library's buffer, read after the callback returned */
    size_t len;
} resp;

static void resp_init(resp *r) {
    memset(r, 0, sizeof *r);
    CHECK(pthread_mutex_init(&r->mu, NULL) == 0);
    harness_cond_init(&r->cv);
}

static void resp_destroy(resp *r) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static void keep_cb(int ret, const char *msg, size_t len, void *user_data) {
    resp *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->ret = ret;
    r->msg = msg;
    r->len = len;
    r->calls++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits for the callback; afterwards r->msg is read without the library's help. */
static void resp_wait_at(const char *file, int line, resp *r) {
    int64_t deadline = harness_now_ms() + WAIT_MS;
    pthread_mutex_lock(&r->mu);
    while (r->calls == 0) {
        if (harness_cond_wait_until(&r->cv, &r->mu, deadline) == ETIMEDOUT && r->calls == 0) {
            pthread_mutex_unlock(&r->mu);
            harness_fail(file, line, "resp_wait", "no callback within %d ms", WAIT_MS);
        }
    }
    pthread_mutex_unlock(&r->mu);
}
#define resp_wait(r) resp_wait_at(__FILE__, __LINE__, (r))

/* The text a kept response points to: exactly len bytes, then the NUL libsds.h promises. */
static const char *kept_text_at(const char *file, int line, const resp *r) {
    if (r->msg == NULL) harness_fail(file, line, "kept_text", "msg is NULL (len %zu)", r->len);
    if (r->msg[r->len] != '\0')
        harness_fail(file, line, "kept_text", "no NUL after the %zu bytes of msg", r->len);
    if (strlen(r->msg) != r->len)
        harness_fail(file, line, "kept_text", "a NUL inside the %zu bytes of msg", r->len);
    return r->msg;
}
#define kept_text(r) kept_text_at(__FILE__, __LINE__, (r))

/* ---- Requests -------------------------------------------------------------------------- */

static void *open_manager(void) {
    resp r;
    resp_init(&r);
    void *ctx = SdsNewReliabilityManager(keep_cb, &r);
    CHECK(ctx != NULL);
    resp_wait(&r);
    CHECK_EQ_INT(r.ret, RET_OK);
    resp_destroy(&r);
    return ctx;
}

static void close_manager(void *ctx) {
    resp r;
    resp_init(&r);
    CHECK_EQ_INT(SdsCleanupReliabilityManager(ctx, keep_cb, &r), RET_OK);
    CHECK_EQ_INT(r.calls, 1);
    resp_destroy(&r);
}

/* Returns once every callback `ctx` had to make before now has returned: the worker
 * answers requests in order, and this one's callback is the last. Its result is empty, so
 * it does not count towards the buffers that age the kept ones. */
static void barrier(void *ctx) {
    resp r;
    resp_init(&r);
    CHECK_EQ_INT(SdsMarkDependenciesMet(ctx, NULL, 0, CHANNEL, keep_cb, &r), RET_OK);
    resp_wait(&r);
    CHECKF(r.ret == RET_OK && r.len == 0, "barrier failed: ret %d", r.ret);
    resp_destroy(&r);
}

static void wrap_async(void *ctx, const char *content, const char *id, resp *r) {
    CHECK_EQ_INT(SdsWrapOutgoingMessage(ctx, (void *)content, strlen(content), id, CHANNEL,
                                        keep_cb, r),
                 RET_OK);
}

/* The wire bytes of a kept wrap result (parsed after its callback returned). */
static buffer kept_wire(const resp *r) {
    CHECKF(r->ret == RET_OK, "wrap failed: %s", r->msg ? r->msg : "(null)");
    const char *text = kept_text(r);
    buffer wire = {NULL, 0};
    wire.data = decimal_list_parse(text, r->len, &wire.len);
    CHECKF(wire.data != NULL, "not a decimal list: %.120s", text);
    return wire;
}

/* Wraps and waits; the wire bytes parsed from the kept text. */
static buffer wrap_now(void *ctx, const char *content, const char *id) {
    resp r;
    resp_init(&r);
    wrap_async(ctx, content, id, &r);
    resp_wait(&r);
    buffer wire = kept_wire(&r);
    resp_destroy(&r);
    return wire;
}

/* Unwraps and waits for the answer, which must be RET_OK. */
static void unwrap_now(void *ctx, buffer wire) {
    resp r;
    resp_init(&r);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(ctx, wire.data, wire.len, keep_cb, &r), RET_OK);
    resp_wait(&r);
    CHECKF(r.ret == RET_OK, "unwrap failed: %s", kept_text(&r));
    resp_destroy(&r);
}

/* The "message":[...] JSON array for `content`. */
static char *message_array_json(const char *content) {
    size_t n = strlen(content);
    char *out = malloc(n * 4 + 16);
    CHECK(out != NULL);
    size_t o = (size_t)sprintf(out, "\"message\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(out + o, i == 0 ? "%u" : ",%u", (unsigned)(uint8_t)content[i]);
    sprintf(out + o, "]");
    return out;
}

/* Checks a kept unwrap result: delivered content, no missing dependencies. */
static void check_kept_unwrap(const resp *r, const char *content) {
    CHECKF(r->ret == RET_OK, "unwrap failed: %s", r->msg ? r->msg : "(null)");
    const char *json = kept_text(r);
    char *array = message_array_json(content);
    CHECK_CONTAINS(json, array);
    free(array);
    CHECK_CONTAINS(json, "\"missingDeps\":[]");
}

/* ---- Events kept the same way ------------------------------------------------------------ */

#define MAX_KEPT_EVENTS 32

typedef struct {
    pthread_mutex_t mu;
    size_t count;
    const char *msg[MAX_KEPT_EVENTS];
    size_t len[MAX_KEPT_EVENTS];
} kept_events;

static void kept_events_init(kept_events *e) {
    memset(e, 0, sizeof *e);
    CHECK(pthread_mutex_init(&e->mu, NULL) == 0);
}

static void keep_event_cb(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret;
    kept_events *e = user_data;
    pthread_mutex_lock(&e->mu);
    if (e->count < MAX_KEPT_EVENTS) {
        e->msg[e->count] = msg;
        e->len[e->count] = len;
        e->count++;
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---- Cases ------------------------------------------------------------------------------- */

/* new, mark dependencies met, start periodic tasks and reset answer "" with len 0: a valid
 * pointer to an empty C string (as nim-sds passes a Nim ""), still readable afterwards. */
static void results_without_content_are_a_static_empty_string(void) {
    resp created;
    resp_init(&created);
    void *ctx = SdsNewReliabilityManager(keep_cb, &created);
    CHECK(ctx != NULL);
    resp_wait(&created);
    resp wrapped, marked, started, reset;
    resp_init(&wrapped);
    resp_init(&marked);
    resp_init(&started);
    resp_init(&reset);
    wrap_async(ctx, "x", "m1", &wrapped); /* a channel exists */
    CHECK_EQ_INT(SdsMarkDependenciesMet(ctx, NULL, 0, CHANNEL, keep_cb, &marked), RET_OK);
    CHECK_EQ_INT(SdsStartPeriodicTasks(ctx, keep_cb, &started), RET_OK);
    CHECK_EQ_INT(SdsResetReliabilityManager(ctx, keep_cb, &reset), RET_OK);
    resp_wait(&reset);
    resp *empty[] = {&created, &marked, &started, &reset};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        CHECK_EQ_INT(empty[i]->calls, 1);
        CHECK_EQ_INT(empty[i]->ret, RET_OK);
        CHECK_EQ_INT(empty[i]->len, 0);
        CHECK_STR_EQ(kept_text(empty[i]), "");
    }
    close_manager(ctx);
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        CHECK_STR_EQ(kept_text(empty[i]), ""); /* static: valid for good */
        resp_destroy(empty[i]);
    }
    resp_destroy(&wrapped);
}

/* Wrap and unwrap results, read after their callbacks returned and after later results
 * (of another context too) have been produced. */
static void results_are_read_after_their_callbacks_returned(void) {
    void *a = open_manager();
    void *b = open_manager();
    resp wrapped, unwrapped, reply;
    resp_init(&wrapped);
    resp_init(&unwrapped);
    resp_init(&reply);

    wrap_async(a, "hello", "m1", &wrapped);
    resp_wait(&wrapped);
    barrier(a);
    buffer m1 = kept_wire(&wrapped);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(b, m1.data, m1.len, keep_cb, &unwrapped), RET_OK);
    resp_wait(&unwrapped);
    barrier(b);
    /* Later results: a wrap on B. Both kept buffers are still intact. */
    wrap_async(b, "reply", "r1", &reply);
    resp_wait(&reply);
    barrier(b);
    CHECK_STR_EQ(kept_text(&unwrapped),
                 "{\"message\":[104,101,108,108,111],\"channelId\":\"ch\",\"missingDeps\":[]}");
    buffer again = kept_wire(&wrapped);
    CHECK_EQ_INT(again.len, m1.len);
    CHECK(memcmp(again.data, m1.data, m1.len) == 0);
    buffer r1 = kept_wire(&reply);

    buffer_free(&again);
    buffer_free(&m1);
    buffer_free(&r1);
    resp_destroy(&wrapped);
    resp_destroy(&unwrapped);
    resp_destroy(&reply);
    close_manager(a);
    close_manager(b);
}

/* Error messages, both the immediate refusals (on the caller's thread) and the failures
 * reported later by the worker, read after their callbacks returned. */
static void error_messages_are_read_after_their_callbacks_returned(void) {
    void *ctx = open_manager();
    resp refused, failed, ok;
    resp_init(&refused);
    resp_init(&failed);
    resp_init(&ok);
    CHECK_EQ_INT(SdsWrapOutgoingMessage(ctx, "x", 1, "m", "", keep_cb, &refused), RET_ERR);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(ctx, "\xff\xff garbage", 10, keep_cb, &failed),
                 RET_OK);
    resp_wait(&failed);
    wrap_async(ctx, "later", "m1", &ok);
    resp_wait(&ok);
    barrier(ctx);
    CHECK_EQ_INT(refused.ret, RET_ERR);
    CHECK_STR_EQ(kept_text(&refused), "libsds error: channel ID is empty string");
    CHECK_EQ_INT(failed.ret, RET_ERR);
    CHECK_STR_EQ(kept_text(&failed),
                 "error processing UNWRAP_MESSAGE request: reDeserializationError");
    resp_destroy(&refused);
    resp_destroy(&failed);
    resp_destroy(&ok);
    close_manager(ctx);
}

/* Events, kept by pointer and read after the requests that caused them were answered. */
static void events_are_read_after_their_callbacks_returned(void) {
    void *a = open_manager();
    void *b = open_manager();
    kept_events ea, eb;
    kept_events_init(&ea);
    kept_events_init(&eb);
    SdsSetEventCallback(a, keep_event_cb, &ea);
    SdsSetEventCallback(b, keep_event_cb, &eb);
    buffer m1 = wrap_now(a, "one", "m1");
    buffer m2 = wrap_now(a, "two", "m2");
    /* m2 before m1: missing_dependencies, then both ready once m1 arrives. */
    unwrap_now(b, m2);
    unwrap_now(b, m1);
    /* B's reply acknowledges m1 and m2 to A. */
    buffer r1 = wrap_now(b, "re", "r1");
    unwrap_now(a, r1);
    barrier(a);
    barrier(b);

    CHECK_EQ_INT(eb.count, 3);
    const char *expected_b[] = {
        "{\"eventType\":\"missing_dependencies\",\"messageId\":\"m2\",\"channelId\":\"ch\","
        "\"missingDeps\":[{\"messageId\":\"m1\",\"retrievalHint\":\"\"}]}",
        "{\"messageId\":\"m1\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}",
        "{\"messageId\":\"m2\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(eb.msg[i][eb.len[i]], '\0');
        CHECK_EQ_INT(eb.len[i], strlen(expected_b[i]));
        CHECK_STR_EQ(eb.msg[i], expected_b[i]);
    }
    /* A: both acknowledged (in either order), then B's reply ready. */
    CHECK_EQ_INT(ea.count, 3);
    size_t sent = 0;
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(ea.msg[i][ea.len[i]], '\0');
        if (strstr(ea.msg[i], "\"eventType\":\"message_sent\"") != NULL) sent++;
    }
    CHECK_EQ_INT(sent, 2);
    CHECK_STR_EQ(ea.msg[2], "{\"messageId\":\"r1\",\"channelId\":\"ch\",\"eventType\":\"message_ready\"}");

    /* Still readable once both contexts are gone. */
    close_manager(a);
    close_manager(b);
    CHECK_STR_EQ(eb.msg[1], expected_b[1]);
    buffer_free(&m1);
    buffer_free(&m2);
    buffer_free(&r1);
    pthread_mutex_destroy(&ea.mu);
    pthread_mutex_destroy(&eb.mu);
}

/* Results outlive the context that produced them: a wrap answered before cleanup, and
 * requests still queued when cleanup stops the worker, read after cleanup returned. */
static void results_outlive_cleanup(void) {
    void *ctx = open_manager();
    resp wrapped, queued[4], cleaned;
    resp_init(&wrapped);
    resp_init(&cleaned);
    wrap_async(ctx, "before cleanup", "m1", &wrapped);
    resp_wait(&wrapped);
    for (int i = 0; i < 4; i++) {
        resp_init(&queued[i]);
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        wrap_async(ctx, "queued", id, &queued[i]);
    }
    CHECK_EQ_INT(SdsCleanupReliabilityManager(ctx, keep_cb, &cleaned), RET_OK);
    /* Cleanup's own callback: NULL, 0 (libsds-abi.md). */
    CHECK_EQ_INT(cleaned.calls, 1);
    CHECK_EQ_INT(cleaned.ret, RET_OK);
    CHECK(cleaned.msg == NULL);
    CHECK_EQ_INT(cleaned.len, 0);

    buffer wire = kept_wire(&wrapped);
    CHECK(wire.len > 0);
    buffer_free(&wire);
    for (int i = 0; i < 4; i++) {
        /* Each was answered exactly once before cleanup returned: wrapped, or refused. */
        CHECK_EQ_INT(queued[i].calls, 1);
        const char *text = kept_text(&queued[i]);
        if (queued[i].ret == RET_OK) {
            wire = kept_wire(&queued[i]);
            buffer_free(&wire);
        } else {
            CHECK_STR_EQ(text, "error processing WRAP_MESSAGE request: reInternalError");
        }
        resp_destroy(&queued[i]);
    }
    /* The context is gone: RET_ERR and no callback, for every request function. */
    resp late;
    resp_init(&late);
    char *ids[] = {"m1"};
    CHECK_EQ_INT(SdsWrapOutgoingMessage(ctx, "x", 1, "m", CHANNEL, keep_cb, &late), RET_ERR);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(ctx, "x", 1, keep_cb, &late), RET_ERR);
    CHECK_EQ_INT(SdsMarkDependenciesMet(ctx, ids, 1, CHANNEL, keep_cb, &late), RET_ERR);
    CHECK_EQ_INT(SdsStartPeriodicTasks(ctx, keep_cb, &late), RET_ERR);
    CHECK_EQ_INT(SdsResetReliabilityManager(ctx, keep_cb, &late), RET_ERR);
    CHECK_EQ_INT(SdsCleanupReliabilityManager(ctx, keep_cb, &late), RET_ERR);
    SdsSetEventCallback(ctx, keep_cb, &late);
    CHECK_EQ_INT(late.calls, 0);
    resp_destroy(&late);
    resp_destroy(&wrapped);
    resp_destroy(&cleaned);
}

/* ---- Several threads at once ------------------------------------------------------------- */

#define THREADS 4
/* Few enough that all the results the test produces stay under libsds.h's 16 MiB, so no
 * scheduling of the threads can age a kept buffer out: a failure is a real bug. */
#define ROUNDS 20

typedef struct {
    int index;
    void *sender;
    void *receiver;
} worker_args;

/* Ping-pongs through two contexts of its own, reading every result only after a later
 * request on the same context was answered, while the other threads do the same. */
static void *lifetime_worker(void *arg) {
    const worker_args *w = arg;
    for (int round = 0; round < ROUNDS; round++) {
        char id[32], content[64];
        snprintf(id, sizeof id, "t%d-m%d", w->index, round);
        snprintf(content, sizeof content, "thread %d round %d", w->index, round);
        resp wrapped, unwrapped;
        resp_init(&wrapped);
        resp_init(&unwrapped);
        wrap_async(w->sender, content, id, &wrapped);
        resp_wait(&wrapped);
        barrier(w->sender);
        buffer wire = kept_wire(&wrapped);
        CHECK_EQ_INT(SdsUnwrapReceivedMessage(w->receiver, wire.data, wire.len, keep_cb,
                                              &unwrapped),
                     RET_OK);
        resp_wait(&unwrapped);
        barrier(w->receiver);
        check_kept_unwrap(&unwrapped, content);
        buffer_free(&wire);
        resp_destroy(&wrapped);
        resp_destroy(&unwrapped);
    }
    return NULL;
}

static void several_threads_read_results_after_their_callbacks(void) {
    worker_args args[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_args){i, open_manager(), open_manager()};
        /* The receiver's channel exists before its first barrier. */
        resp r;
        resp_init(&r);
        wrap_async(args[i].receiver, "hi", "hello", &r);
        resp_wait(&r);
        resp_destroy(&r);
    }
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&threads[i], NULL, lifetime_worker, &args[i]) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    for (int i = 0; i < THREADS; i++) {
        close_manager(args[i].sender);
        close_manager(args[i].receiver);
    }
}

/* ---- Retrieval hints --------------------------------------------------------------------- */

/* A zero-length hint pointing to static storage: nim-sds leaves *hint alone unless
 * *hintLen > 0, so the library must not free() it (ASan reports a bad free otherwise). */
static void static_empty_hint(const char *message_id, char **hint, size_t *hint_len,
                              void *user_data) {
    (void)message_id;
    (void)user_data;
    *hint = (char *)"";
    *hint_len = 0;
}

static void a_zero_length_hint_stays_the_hosts(void) {
    void *a = open_manager();
    void *b = open_manager();
    SdsSetRetrievalHintProvider(a, static_empty_hint, NULL);
    resp r1, r2, r3, u;
    resp_init(&r1);
    resp_init(&r2);
    resp_init(&r3);
    resp_init(&u);
    wrap_async(a, "one", "m1", &r1);
    wrap_async(a, "two", "m2", &r2);
    wrap_async(a, "three", "m3", &r3); /* asks the provider for m1 and m2 */
    resp_wait(&r3);
    buffer m3 = kept_wire(&r3);
    CHECK_EQ_INT(SdsUnwrapReceivedMessage(b, m3.data, m3.len, keep_cb, &u), RET_OK);
    resp_wait(&u);
    barrier(b);
    CHECK_CONTAINS(kept_text(&u), "{\"messageId\":\"m2\",\"retrievalHint\":\"\"}");
    buffer_free(&m3);
    resp_destroy(&r1);
    resp_destroy(&r2);
    resp_destroy(&r3);
    resp_destroy(&u);
    close_manager(a);
    close_manager(b);
}

int main(void) {
    RUN_TEST(results_without_content_are_a_static_empty_string);
    RUN_TEST(results_are_read_after_their_callbacks_returned);
    RUN_TEST(error_messages_are_read_after_their_callbacks_returned);
    RUN_TEST(events_are_read_after_their_callbacks_returned);
    RUN_TEST(results_outlive_cleanup);
    RUN_TEST(several_threads_read_results_after_their_callbacks);
    RUN_TEST(a_zero_length_hint_stays_the_hosts);
    return harness_report();
}
