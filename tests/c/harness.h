/*
 * Helpers shared by the C tests of libstorage (header-only, everything static inline).
 *
 * Include this header FIRST in a test: it sets _POSIX_C_SOURCE for pthreads and clocks.
 * It includes storage.h and provides native-API helpers, unless HARNESS_LIBSDS_ONLY is
 * defined before it is included: then it includes neither storage.h nor libsds.h and
 * offers only the API-independent parts (CHECK, waiter, event collector, JSON/base64/
 * decimal helpers and the libsds callbacks), so that the libsds test sees libsds.h only.
 *
 * A failed CHECK (or a wait that times out) prints file:line and exits with status 1.
 * Tests run cases with RUN_TEST and end with `return harness_report();`, which prints the
 * line CI reads, e.g. "7 passed, 0 failed".
 */
#ifndef LIBSTORAGE_TESTS_HARNESS_H
#define LIBSTORAGE_TESTS_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HARNESS_LIBSDS_ONLY
#include "storage.h"
#endif

/* How long a test waits for an asynchronous callback before it fails. */
#define HARNESS_TIMEOUT_MS 10000

/* ------------------------------------------------------------------------------------ */
/* Failing, checking, running                                                           */
/* ------------------------------------------------------------------------------------ */

static inline void harness_fail(const char *file, int line, const char *expr, const char *fmt,
                                ...) {
    fflush(stdout);
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    if (fmt != NULL) {
        va_list args;
        va_start(args, fmt);
        fputs("    ", stderr);
        vfprintf(stderr, fmt, args);
        fputc('\n', stderr);
        va_end(args);
    }
    fflush(stderr);
    exit(1);
}

#define CHECK(cond)                                                 \
    do {                                                            \
        if (!(cond)) harness_fail(__FILE__, __LINE__, #cond, NULL); \
    } while (0)

/* CHECK with a printf-style explanation printed on failure. */
#define CHECKF(cond, ...)                                                  \
    do {                                                                   \
        if (!(cond)) harness_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

#define CHECK_EQ_INT(actual, expected)                                       \
    do {                                                                     \
        long long harness_a_ = (long long)(actual);                          \
        long long harness_e_ = (long long)(expected);                        \
        if (harness_a_ != harness_e_)                                        \
            harness_fail(__FILE__, __LINE__, #actual " == " #expected,       \
                         "got %lld, expected %lld", harness_a_, harness_e_); \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                     \
    do {                                                                     \
        const char *harness_h_ = (haystack);                                 \
        const char *harness_n_ = (needle);                                   \
        if (harness_h_ == NULL || strstr(harness_h_, harness_n_) == NULL)    \
            harness_fail(__FILE__, __LINE__, #haystack " contains " #needle, \
                         "\"%s\" not found in: %s", harness_n_,              \
                         harness_h_ ? harness_h_ : "(null)");                \
    } while (0)

#define CHECK_STR_EQ(actual, expected)                                    \
    do {                                                                  \
        const char *harness_a_ = (actual);                                \
        const char *harness_e_ = (expected);                              \
        if (harness_a_ == NULL || strcmp(harness_a_, harness_e_) != 0)    \
            harness_fail(__FILE__, __LINE__, #actual " == " #expected,    \
                         "got \"%s\", expected \"%s\"",                   \
                         harness_a_ ? harness_a_ : "(null)", harness_e_); \
    } while (0)

static inline int *harness_passed(void) {
    static int passed;
    return &passed;
}

/* Runs one case; a failing case exits the process, so reaching the end means it passed. */
#define RUN_TEST(fn)            \
    do {                        \
        printf("-- %s\n", #fn); \
        fflush(stdout);         \
        fn();                   \
        (*harness_passed())++;  \
    } while (0)

static inline int harness_report(void) {
    printf("%d passed, 0 failed\n", *harness_passed());
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Time                                                                                 */
/* ------------------------------------------------------------------------------------ */

static inline int64_t harness_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void harness_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    CHECK(pthread_condattr_init(&attr) == 0);
    CHECK(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0);
    CHECK(pthread_cond_init(cv, &attr) == 0);
    pthread_condattr_destroy(&attr);
}

/* Waits on cv (mu held) until the absolute monotonic deadline; ETIMEDOUT once it passed. */
static inline int harness_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                                          int64_t deadline_ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return pthread_cond_timedwait(cv, mu, &ts);
}

/* ------------------------------------------------------------------------------------ */
/* Waiter: records the callbacks of asynchronous requests                               */
/* ------------------------------------------------------------------------------------ */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;        /* callbacks so far */
    int status;       /* status (native) or callerRet (libsds) of the last callback */
    char *data;       /* malloc'ed, NUL-terminated copy of the last callback's data */
    size_t len;       /* its length (without the NUL) */
    bool data_null;   /* the last callback passed data == NULL */
    pthread_t thread; /* the thread that made the last callback */
} waiter;

static inline void waiter_init(waiter *w) {
    memset(w, 0, sizeof *w);
    CHECK(pthread_mutex_init(&w->mu, NULL) == 0);
    harness_cond_init(&w->cv);
}

static inline void waiter_destroy(waiter *w) {
    free(w->data);
    w->data = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Forgets every recorded call, so the waiter can serve the next request. */
static inline void waiter_reset(waiter *w) {
    pthread_mutex_lock(&w->mu);
    free(w->data);
    w->data = NULL;
    w->len = 0;
    w->calls = 0;
    w->status = 0;
    w->data_null = false;
    pthread_mutex_unlock(&w->mu);
}

/* Copies one callback's outcome; the data is borrowed only for the callback's duration. */
static inline void waiter_record(waiter *w, int status, const void *data, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    if (len > 0) memcpy(copy, data, len);
    copy[len] = '\0';
    pthread_mutex_lock(&w->mu);
    free(w->data);
    w->data = copy;
    w->len = len;
    w->status = status;
    w->data_null = (data == NULL);
    w->thread = pthread_self();
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static inline int waiter_calls(waiter *w) {
    pthread_mutex_lock(&w->mu);
    int calls = w->calls;
    pthread_mutex_unlock(&w->mu);
    return calls;
}

static inline void waiter_wait_at(const char *file, int line, waiter *w, int n_calls,
                                  int timeout_ms) {
    int64_t deadline = harness_now_ms() + timeout_ms;
    pthread_mutex_lock(&w->mu);
    while (w->calls < n_calls) {
        if (harness_cond_wait_until(&w->cv, &w->mu, deadline) == ETIMEDOUT &&
            w->calls < n_calls) {
            int calls = w->calls;
            pthread_mutex_unlock(&w->mu);
            harness_fail(file, line, "wait_for", "timed out after %d ms: %d of %d callback(s)",
                         timeout_ms, calls, n_calls);
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* Waits until the waiter has seen n_calls callbacks; fails the test after timeout_ms. */
#define wait_for(w, n_calls, timeout_ms) \
    waiter_wait_at(__FILE__, __LINE__, (w), (n_calls), (timeout_ms))

/* libsds request callback: records into the waiter passed as user data. */
static inline void record_sds_cb(int ret, const char *msg, size_t len, void *user_data) {
    waiter_record((waiter *)user_data, ret, msg, len);
}

/* ------------------------------------------------------------------------------------ */
/* Event collector: a thread-safe list of malloc'ed JSON strings                        */
/* ------------------------------------------------------------------------------------ */

typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **items;
    size_t count;
    size_t cap;
} collector;

static inline void events_init(collector *c) {
    memset(c, 0, sizeof *c);
    CHECK(pthread_mutex_init(&c->mu, NULL) == 0);
    harness_cond_init(&c->cv);
}

static inline void events_destroy(collector *c) {
    for (size_t i = 0; i < c->count; i++) free(c->items[i]);
    free(c->items);
    c->items = NULL;
    c->count = c->cap = 0;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static inline void events_push(collector *c, const void *data, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) abort();
    if (len > 0) memcpy(copy, data, len);
    copy[len] = '\0';
    pthread_mutex_lock(&c->mu);
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **items = realloc(c->items, cap * sizeof *items);
        if (items == NULL) abort();
        c->items = items;
        c->cap = cap;
    }
    c->items[c->count++] = copy;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static inline size_t events_count(collector *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* The i-th event; strings stay valid until events_destroy. */
static inline const char *events_get(collector *c, size_t i) {
    pthread_mutex_lock(&c->mu);
    const char *item = i < c->count ? c->items[i] : NULL;
    pthread_mutex_unlock(&c->mu);
    return item;
}

static inline bool harness_matches(const char *item, const char *needle1, const char *needle2) {
    return strstr(item, needle1) != NULL && (needle2 == NULL || strstr(item, needle2) != NULL);
}

/* Index of the first event at or after `from` containing both needles (needle2 may be
 * NULL), or -1. Called with the lock held. */
static inline long harness_find_locked(collector *c, size_t from, const char *needle1,
                                       const char *needle2) {
    for (size_t i = from; i < c->count; i++) {
        if (harness_matches(c->items[i], needle1, needle2)) return (long)i;
    }
    return -1;
}

static inline long events_find(collector *c, size_t from, const char *needle1,
                               const char *needle2) {
    pthread_mutex_lock(&c->mu);
    long found = harness_find_locked(c, from, needle1, needle2);
    pthread_mutex_unlock(&c->mu);
    return found;
}

static inline size_t events_count_matching(collector *c, const char *needle1,
                                           const char *needle2) {
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->count; i++) {
        if (harness_matches(c->items[i], needle1, needle2)) n++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

static inline void harness_dump_events_locked(collector *c) {
    fprintf(stderr, "    %zu event(s) collected:\n", c->count);
    for (size_t i = 0; i < c->count; i++) fprintf(stderr, "    [%zu] %s\n", i, c->items[i]);
}

static inline long events_wait_match_at(const char *file, int line, collector *c, size_t from,
                                        const char *needle1, const char *needle2,
                                        int timeout_ms) {
    int64_t deadline = harness_now_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    long found;
    while ((found = harness_find_locked(c, from, needle1, needle2)) < 0) {
        if (harness_cond_wait_until(&c->cv, &c->mu, deadline) == ETIMEDOUT &&
            (found = harness_find_locked(c, from, needle1, needle2)) < 0) {
            harness_dump_events_locked(c);
            pthread_mutex_unlock(&c->mu);
            harness_fail(file, line, "events_wait", "timed out after %d ms waiting for an event "
                         "with %s%s%s", timeout_ms, needle1, needle2 ? " and " : "",
                         needle2 ? needle2 : "");
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Waits for an event (at index >= from) containing needle1 and, unless NULL, needle2;
 * returns its index. Fails the test after timeout_ms. */
#define events_wait_match(c, from, needle1, needle2, timeout_ms) \
    events_wait_match_at(__FILE__, __LINE__, (c), (from), (needle1), (needle2), (timeout_ms))

/* Waits for any event containing needle; returns its index. */
#define events_wait_for_substring(c, needle, timeout_ms) \
    events_wait_match_at(__FILE__, __LINE__, (c), 0, (needle), NULL, (timeout_ms))

/* libsds event callback: records into the collector passed as user data. */
static inline void record_sds_event_cb(int ret, const char *msg, size_t len, void *user_data) {
    (void)ret;
    events_push((collector *)user_data, msg, len);
}

/* ------------------------------------------------------------------------------------ */
/* Buffers, JSON, base64 and decimal lists                                              */
/* ------------------------------------------------------------------------------------ */

/* Owned bytes, e.g. a wrapped message kept for later. */
typedef struct buffer {
    uint8_t *data;
    size_t len;
} buffer;

static inline void buffer_free(buffer *b) {
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* The value of the first "key":"..." string in a compact JSON document, malloc'ed, or
 * NULL if absent. Escapes are copied as they are (tests use plain ids). */
static inline char *json_string(const char *json, const char *key) {
    size_t key_len = strlen(key);
    char *pattern = malloc(key_len + 5);
    if (pattern == NULL) abort();
    snprintf(pattern, key_len + 5, "\"%s\":\"", key);
    const char *start = strstr(json, pattern);
    free(pattern);
    if (start == NULL) return NULL;
    start += key_len + 4;
    const char *end = start;
    while (*end != '\0' && *end != '"') end += (end[0] == '\\' && end[1] != '\0') ? 2 : 1;
    if (*end != '"') return NULL;
    size_t len = (size_t)(end - start);
    char *value = malloc(len + 1);
    if (value == NULL) abort();
    memcpy(value, start, len);
    value[len] = '\0';
    return value;
}

/* Standard padded base64 of data, malloc'ed and NUL-terminated. */
static inline char *b64_encode(const void *data, size_t len) {
    static const char harness_b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL) abort();
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)in[i] << 16;
        if (i + 1 < len) n |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) n |= in[i + 2];
        out[o++] = harness_b64_alphabet[(n >> 18) & 63];
        out[o++] = harness_b64_alphabet[(n >> 12) & 63];
        out[o++] = i + 1 < len ? harness_b64_alphabet[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? harness_b64_alphabet[n & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Parses "b0,b1,..." (decimal byte values, no spaces; "" is no bytes) into a malloc'ed
 * buffer; NULL if the text is not exactly such a list. */
static inline uint8_t *decimal_list_parse(const char *text, size_t len, size_t *out_len) {
    uint8_t *bytes = malloc(len / 2 + 1);
    if (bytes == NULL) abort();
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned value = 0;
        size_t digits = 0;
        while (i < len && text[i] >= '0' && text[i] <= '9' && digits < 4) {
            value = value * 10 + (unsigned)(text[i] - '0');
            digits++;
            i++;
        }
        bool separator_ok = (i == len) || (text[i] == ',' && i + 1 < len);
        if (digits == 0 || value > 255 || !separator_ok) {
            free(bytes);
            return NULL;
        }
        bytes[n++] = (uint8_t)value;
        if (i < len) i++; /* the comma */
    }
    *out_len = n;
    return bytes;
}

/* ------------------------------------------------------------------------------------ */
/* Native API helpers                                                                   */
/* ------------------------------------------------------------------------------------ */
#ifndef HARNESS_LIBSDS_ONLY

/* Native request callback: records into the waiter passed as user data. */
static inline void record_cb(storage_status status, const uint8_t *data, size_t len,
                             void *user_data) {
    waiter_record((waiter *)user_data, status, data, len);
}

/* Native event callback: records into the collector passed as user data. */
static inline void record_event_cb(storage_status status, const uint8_t *data, size_t len,
                                   void *user_data) {
    CHECK_EQ_INT(status, STORAGE_OK);
    events_push((collector *)user_data, data, len);
}

/* Creates a context (events go to `events`, or queue for storage_next_event when NULL). */
static inline storage_ctx *new_ctx(const char *config_json, collector *events) {
    storage_ctx *ctx = NULL;
    storage_status st = storage_new(config_json, events ? record_event_cb : NULL, events, &ctx);
    CHECK_EQ_INT(st, STORAGE_OK);
    CHECK(ctx != NULL);
    return ctx;
}

/* Waits for one callback on w and checks its status; returns its data (owned by w). */
static inline const char *expect_answer_at(const char *file, int line, waiter *w,
                                           storage_status expected) {
    waiter_wait_at(file, line, w, 1, HARNESS_TIMEOUT_MS);
    if (w->status != (int)expected)
        harness_fail(file, line, "callback status", "got status %d (%s), expected %d",
                     w->status, w->data ? w->data : "", (int)expected);
    return w->data;
}
#define expect_answer(w, expected) expect_answer_at(__FILE__, __LINE__, (w), (expected))

/* Wraps `content` and waits: returns the wire bytes. */
static inline buffer wrap_msg(storage_ctx *ctx, const char *channel, const char *id,
                              const char *content) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_wrap(ctx, channel, id, (const uint8_t *)content, strlen(content),
                              record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    CHECK(w.len > 0);
    buffer out = {(uint8_t *)w.data, w.len};
    w.data = NULL; /* ownership moves to the caller */
    waiter_destroy(&w);
    return out;
}

/* Unwraps `bytes` and waits: returns the result JSON (malloc'ed). */
static inline char *unwrap_msg(storage_ctx *ctx, buffer bytes) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_unwrap(ctx, bytes.data, bytes.len, record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    char *json = w.data;
    w.data = NULL;
    waiter_destroy(&w);
    return json;
}

/* Reads a channel's statistics and waits: returns the JSON (malloc'ed). */
static inline char *stats_json(storage_ctx *ctx, const char *channel) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_channel_stats(ctx, channel, record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    char *json = w.data;
    w.data = NULL;
    waiter_destroy(&w);
    return json;
}

/* Pulls one event (OK) and returns a malloc'ed copy; the library's buffer is released. */
static inline char *pull_event(storage_ctx *ctx) {
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(storage_next_event(ctx, HARNESS_TIMEOUT_MS, &data, &len), STORAGE_OK);
    CHECK(data != NULL);
    CHECK(len > 0);
    char *copy = malloc(len + 1);
    CHECK(copy != NULL);
    memcpy(copy, data, len);
    copy[len] = '\0';
    storage_bytes_free(data, len);
    return copy;
}

static inline void free_ctx(storage_ctx *ctx) {
    CHECK_EQ_INT(storage_free(ctx), STORAGE_OK);
}

#endif /* HARNESS_LIBSDS_ONLY */

#endif /* LIBSTORAGE_TESTS_HARNESS_H */
