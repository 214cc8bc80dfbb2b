/*
 * Ping-pong benchmark of libstorage's C APIs.
 *
 * Two contexts, A and B, default configuration, one channel. Message i is wrapped by A
 * when i is even and by B when it is odd, then unwrapped by the other one, so every
 * message acknowledges the previous one through its causal history. Each step waits for
 * its callback before the next (synchronous driving), so a "pair" is one wrap plus one
 * unwrap, host round trips included.
 *
 * Modes, each in its own child process so that peak RSS (getrusage ru_maxrss) is per mode:
 *   native-callback  native API, events through an event callback
 *   native-pull      native API, no event callback, events pulled with storage_next_event
 *   libsds           libsds-compatible API, wrap results parsed back from decimal text;
 *                    like libsds's cgo binding, the host keeps the result pointer and reads
 *                    it after the callback returned (include/libsds.h, "Lifetime of msg")
 *   native-chained   native API driven from its callbacks, as a transport would be: the
 *                    wrap callback hands the bytes to the peer's storage_unwrap, whose
 *                    callback wraps the reply; no host thread in the loop
 * plus a memory measurement: the resident-memory cost of 1000 messages in a context's
 * history (the default max_message_history) over an empty context.
 *
 * The host waits for each callback by checking and yielding its core for a while before it
 * blocks on a semaphore; PINGPONG_HOST_WAIT=block makes it block at once (every step then
 * pays a futex wake-up of the host thread).
 *
 * Usage: pingpong [N [MODE]]   (N messages per mode, default 10000; MODE runs one mode,
 *                               without the memory measurement)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libsds.h"
#include "storage.h"

#define CHANNEL "bench"
#define CONTENT_LEN 100
#define WAIT_SECONDS 10
#define HISTORY_MESSAGES 1000
#define HOST_SPIN_YIELDS 100

static uint8_t content[CONTENT_LEN];

/* ---- Small utilities -------------------------------------------------------------------- */

static void die(const char *what) {
    fprintf(stderr, "pingpong: %s\n", what);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set of this process, KiB. */
static long peak_rss_kib(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

/* Current resident set of this process, KiB. */
static long current_rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Whether the `len` bytes at `data` contain `needle`. */
static bool contains(const uint8_t *data, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (data[i] == (uint8_t)needle[0] && memcmp(data + i, needle, n) == 0) return true;
    }
    return false;
}

/* ---- A slot: one outstanding request, its callback copies the result ---------------------- */

typedef struct {
    sem_t done;
    int status;
    uint8_t *data; /* reused between requests */
    size_t len;
    size_t cap;
} slot;

static void slot_init(slot *s) {
    memset(s, 0, sizeof *s);
    if (sem_init(&s->done, 0, 0) != 0) die("sem_init");
}

static void slot_destroy(slot *s) {
    sem_destroy(&s->done);
    free(s->data);
}

static void slot_fill(slot *s, int status, const void *data, size_t len) {
    if (len + 1 > s->cap) {
        s->cap = (len + 1) * 2;
        s->data = realloc(s->data, s->cap);
        if (s->data == NULL) die("out of memory");
    }
    if (len > 0) memcpy(s->data, data, len);
    s->data[len] = '\0';
    s->len = len;
    s->status = status;
    sem_post(&s->done);
}

/* How the host waits for a callback: false = check, yield the core and check again for a
 * while before blocking (the default, as a latency-minded host would); true = block on the
 * semaphore at once (PINGPONG_HOST_WAIT=block). */
static bool host_blocks;

/* Waits for `done` to be posted, as the host waits for any callback. */
static void wait_posted(sem_t *done) {
    for (int i = 0; !host_blocks && i < HOST_SPIN_YIELDS; i++) {
        if (sem_trywait(done) == 0) return;
        sched_yield();
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_SECONDS;
    while (sem_timedwait(done, &deadline) != 0) {
        if (errno != EINTR) die("a callback did not arrive within 10 s");
    }
}

static void slot_wait(slot *s) { wait_posted(&s->done); }

static void native_slot_cb(storage_status status, const uint8_t *data, size_t len, void *ud) {
    slot_fill(ud, status, data, len);
}

static void sds_slot_cb(int ret, const char *msg, size_t len, void *ud) {
    slot_fill(ud, ret, msg, len);
}

/* A libsds result the host reads after its callback returned, as libsds's cgo binding
 * does: only the pointer is kept, no copy (libsds.h guarantees the buffer outlives the
 * callback). */
typedef struct {
    sem_t done;
    int status;
    const uint8_t *msg;
    size_t len;
} kept_result;

static void sds_keep_cb(int ret, const char *msg, size_t len, void *ud) {
    kept_result *r = ud;
    r->status = ret;
    r->msg = (const uint8_t *)msg;
    r->len = len;
    sem_post(&r->done);
}

/* ---- Event counting --------------------------------------------------------------------- */

static atomic_long ready_events;
static atomic_long sent_events;

static void count_event(const uint8_t *data, size_t len) {
    if (contains(data, len, "\"message_ready\"")) atomic_fetch_add(&ready_events, 1);
    if (contains(data, len, "\"message_sent\"")) atomic_fetch_add(&sent_events, 1);
}

static void native_event_cb(storage_status status, const uint8_t *data, size_t len, void *ud) {
    (void)status;
    (void)ud;
    count_event(data, len);
}

static void sds_event_cb(int ret, const char *msg, size_t len, void *ud) {
    (void)ret;
    (void)ud;
    count_event((const uint8_t *)msg, len);
}

/* ---- The two endpoints of a run, whatever the API ------------------------------------- */

typedef struct endpoints endpoints;
struct endpoints {
    void *ctx[2];
    slot wrapped;  /* wire bytes of the last wrap */
    kept_result wrapped_text; /* the last libsds wrap result, read after its callback */
    slot answer;   /* the last unwrap result */
    uint8_t *wire; /* decoded wire bytes (libsds) */
    size_t wire_cap;
    /* One step: ctx[from] wraps message `id`, ctx[1 - from] unwraps it. */
    void (*step)(endpoints *e, int from, const char *id);
};

static void check_delivered(const slot *answer, bool native) {
    if (answer->status != 0) die("an unwrap failed");
    const char *expected = native ? "\"status\":\"delivered\"" : "\"missingDeps\":[]";
    if (!contains(answer->data, answer->len, expected)) die("a message was not delivered");
}

static void native_wrap_unwrap(endpoints *e, int from, const char *id) {
    storage_ctx *sender = e->ctx[from], *receiver = e->ctx[1 - from];
    if (storage_wrap(sender, CHANNEL, id, content, CONTENT_LEN, native_slot_cb, &e->wrapped) !=
        STORAGE_OK)
        die("storage_wrap refused");
    slot_wait(&e->wrapped);
    if (e->wrapped.status != STORAGE_OK) die("a wrap failed");
    if (storage_unwrap(receiver, e->wrapped.data, e->wrapped.len, native_slot_cb, &e->answer) !=
        STORAGE_OK)
        die("storage_unwrap refused");
    slot_wait(&e->answer);
    check_delivered(&e->answer, true);
}

static void native_callback_step(endpoints *e, int from, const char *id) {
    native_wrap_unwrap(e, from, id);
}

/* Pulls every pending event of ctx (events are queued before the unwrap is answered). */
static void drain_events(storage_ctx *ctx) {
    uint8_t *data;
    size_t len;
    while (storage_next_event(ctx, 0, &data, &len) == STORAGE_OK) {
        count_event(data, len);
        storage_bytes_free(data, len);
    }
}

static void native_pull_step(endpoints *e, int from, const char *id) {
    native_wrap_unwrap(e, from, id);
    drain_events(e->ctx[1 - from]);
}

/* Parses "b0,b1,..." into e->wire; returns the byte count. Tight on purpose: the host's
 * parsing is part of every libsds round trip, and the benchmark should time the library. */
static size_t parse_decimal_list(endpoints *e, const uint8_t *text, size_t len) {
    if (len / 2 + 1 > e->wire_cap) {
        e->wire_cap = len / 2 + 1;
        e->wire = realloc(e->wire, e->wire_cap);
        if (e->wire == NULL) die("out of memory");
    }
    const uint8_t *p = text, *end = text + len;
    size_t n = 0;
    while (p < end) {
        unsigned value = 0, digits = 0, d;
        while (p < end && (d = (unsigned)(*p - '0')) <= 9) {
            value = value * 10 + d;
            p++;
            digits++;
        }
        if (digits == 0 || digits > 3 || value > 255) die("malformed decimal list");
        e->wire[n++] = (uint8_t)value;
        if (p < end && *p++ != ',') die("malformed decimal list");
    }
    return n;
}

static void libsds_step(endpoints *e, int from, const char *id) {
    kept_result *wrapped = &e->wrapped_text;
    if (SdsWrapOutgoingMessage(e->ctx[from], content, CONTENT_LEN, id, CHANNEL, sds_keep_cb,
                               wrapped) != RET_OK)
        die("SdsWrapOutgoingMessage refused");
    wait_posted(&wrapped->done);
    if (wrapped->status != RET_OK) die("a libsds wrap failed");
    size_t n = parse_decimal_list(e, wrapped->msg, wrapped->len);
    if (SdsUnwrapReceivedMessage(e->ctx[1 - from], e->wire, n, sds_slot_cb, &e->answer) != RET_OK)
        die("SdsUnwrapReceivedMessage refused");
    slot_wait(&e->answer);
    check_delivered(&e->answer, false);
}

static void native_open(endpoints *e, bool with_callback, void (*step)(endpoints *, int,
                                                                       const char *)) {
    const char *configs[2] = {"{\"participant_id\":\"a\"}", "{\"participant_id\":\"b\"}"};
    for (int i = 0; i < 2; i++) {
        storage_ctx *ctx = NULL;
        if (storage_new(configs[i], with_callback ? native_event_cb : NULL, NULL, &ctx) !=
            STORAGE_OK)
            die("storage_new failed");
        e->ctx[i] = ctx;
    }
    e->step = step;
}

static void libsds_open(endpoints *e) {
    for (int i = 0; i < 2; i++) {
        e->ctx[i] = SdsNewReliabilityManager(sds_slot_cb, &e->answer);
        if (e->ctx[i] == NULL) die("SdsNewReliabilityManager failed");
        slot_wait(&e->answer);
        SdsSetEventCallback(e->ctx[i], sds_event_cb, NULL);
    }
    e->step = libsds_step;
}

static void endpoints_init(endpoints *e) {
    memset(e, 0, sizeof *e);
    slot_init(&e->wrapped);
    slot_init(&e->answer);
    if (sem_init(&e->wrapped_text.done, 0, 0) != 0) die("sem_init");
}

static void endpoints_close(endpoints *e, bool libsds) {
    for (int i = 0; i < 2; i++) {
        if (libsds) {
            if (SdsCleanupReliabilityManager(e->ctx[i], sds_slot_cb, &e->answer) != RET_OK)
                die("SdsCleanupReliabilityManager failed");
            slot_wait(&e->answer);
        } else if (storage_free(e->ctx[i]) != STORAGE_OK) {
            die("storage_free failed");
        }
    }
    slot_destroy(&e->wrapped);
    slot_destroy(&e->answer);
    sem_destroy(&e->wrapped_text.done);
    free(e->wire);
}

/* Runs messages [first, first + n) of the ping-pong. */
static void run_steps(endpoints *e, long first, long n) {
    char id[32];
    for (long i = first; i < first + n; i++) {
        snprintf(id, sizeof id, "msg-%ld", i);
        e->step(e, (int)(i % 2), id);
    }
}

/* ---- Callback-driven chain ------------------------------------------------------------- */

typedef struct {
    storage_ctx *ctx[2];
    long n;
    atomic_long delivered;
    double t[4]; /* start, n/5 delivered, n - n/5 delivered, all delivered */
    sem_t finished;
} chain;

/* What a chain callback needs: the chain and the side its request went to. */
typedef struct {
    chain *c;
    int side;
} chain_link;

static chain_link chain_links[2];

static void chain_wrap(chain *c, int side, long i);

static void chain_unwrapped(storage_status status, const uint8_t *data, size_t len, void *ud) {
    const chain_link *link = ud;
    chain *c = link->c;
    if (status != STORAGE_OK || !contains(data, len, "\"status\":\"delivered\""))
        die("a chained message was not delivered");
    long done = atomic_fetch_add(&c->delivered, 1) + 1;
    if (done == c->n / 5) c->t[1] = now_s();
    if (done == c->n - c->n / 5) c->t[2] = now_s();
    if (done == c->n) {
        c->t[3] = now_s();
        sem_post(&c->finished);
        return;
    }
    chain_wrap(c, link->side, done); /* the receiver answers */
}

static void chain_wrapped(storage_status status, const uint8_t *data, size_t len, void *ud) {
    const chain_link *link = ud;
    if (status != STORAGE_OK) die("a chained wrap failed");
    int peer = 1 - link->side;
    if (storage_unwrap(link->c->ctx[peer], data, len, chain_unwrapped, &chain_links[peer]) !=
        STORAGE_OK)
        die("storage_unwrap refused");
}

static void chain_wrap(chain *c, int side, long i) {
    char id[32];
    snprintf(id, sizeof id, "msg-%ld", i);
    if (storage_wrap(c->ctx[side], CHANNEL, id, content, CONTENT_LEN, chain_wrapped,
                     &chain_links[side]) != STORAGE_OK)
        die("storage_wrap refused");
}

static void run_chained(long n) {
    chain c;
    memset(&c, 0, sizeof c);
    c.n = n;
    if (sem_init(&c.finished, 0, 0) != 0) die("sem_init");
    endpoints e;
    endpoints_init(&e);
    native_open(&e, true, native_callback_step);
    for (int i = 0; i < 2; i++) {
        c.ctx[i] = e.ctx[i];
        chain_links[i] = (chain_link){&c, i};
    }
    c.t[0] = now_s();
    chain_wrap(&c, 0, 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 600;
    while (sem_timedwait(&c.finished, &deadline) != 0)
        if (errno != EINTR) die("the chain did not finish");
    endpoints_close(&e, false);
    sem_destroy(&c.finished);
    long fifth = n / 5, ready = atomic_load(&ready_events);
    printf("%-16s %10.0f %12.0f %12.0f %10.1f   ready=%ld sent=%ld\n", "native-chained",
           (double)n / (c.t[3] - c.t[0]), (double)fifth / (c.t[1] - c.t[0]),
           (double)fifth / (c.t[3] - c.t[2]), (double)peak_rss_kib() / 1024.0, ready,
           atomic_load(&sent_events));
    if (ready != n) die("message_ready events do not match the messages sent");
}

/* ---- Modes ------------------------------------------------------------------------------ */

enum mode { NATIVE_CALLBACK, NATIVE_PULL, LIBSDS, NATIVE_CHAINED };
static const char *const MODE_NAMES[] = {"native-callback", "native-pull", "libsds",
                                         "native-chained"};

static void run_mode(enum mode mode, long n) {
    endpoints e;
    endpoints_init(&e);
    switch (mode) {
    case NATIVE_CHAINED: endpoints_close(&e, false); run_chained(n); return;
    case NATIVE_CALLBACK: native_open(&e, true, native_callback_step); break;
    case NATIVE_PULL: native_open(&e, false, native_pull_step); break;
    case LIBSDS: libsds_open(&e); break;
    }
    long fifth = n / 5;
    double t0 = now_s();
    run_steps(&e, 0, fifth);
    double t1 = now_s();
    run_steps(&e, fifth, n - 2 * fifth);
    double t2 = now_s();
    run_steps(&e, n - fifth, fifth);
    double t3 = now_s();
    endpoints_close(&e, mode == LIBSDS);

    /* Every message was delivered once; all but the last were acknowledged. */
    long ready = atomic_load(&ready_events), sent = atomic_load(&sent_events);
    printf("%-16s %10.0f %12.0f %12.0f %10.1f   ready=%ld sent=%ld\n", MODE_NAMES[mode],
           (double)n / (t3 - t0), (double)fifth / (t1 - t0), (double)fifth / (t3 - t2),
           (double)peak_rss_kib() / 1024.0, ready, sent);
    if (ready != n) die("message_ready events do not match the messages sent");
}

/* Resident cost of HISTORY_MESSAGES messages in history over an empty context. */
static void run_memory(void) {
    long base = current_rss_kib();
    endpoints e;
    endpoints_init(&e);
    native_open(&e, true, native_callback_step);
    run_steps(&e, 0, 2); /* the channel exists on both sides, nothing in flight */
    long empty = current_rss_kib();
    run_steps(&e, 2, HISTORY_MESSAGES - 2);
    long full = current_rss_kib();

    /* Each side holds HISTORY_MESSAGES messages: half its own, half received. */
    if (storage_channel_stats(e.ctx[0], CHANNEL, native_slot_cb, &e.answer) != STORAGE_OK)
        die("storage_channel_stats refused");
    slot_wait(&e.answer);
    char expected[48];
    snprintf(expected, sizeof expected, "\"historyLen\":%d", HISTORY_MESSAGES);
    if (!contains(e.answer.data, e.answer.len, expected)) die("history is not full");
    endpoints_close(&e, false);

    double per_context = (double)(full - empty) / 2.0;
    printf("memory: two empty contexts +%ld KiB; %d messages of %d bytes in history: "
           "+%.0f KiB per context (%.0f bytes per message)\n",
           empty - base, HISTORY_MESSAGES, CONTENT_LEN, per_context,
           per_context * 1024.0 / HISTORY_MESSAGES);
}

/* Runs one mode (or, with memory, the memory measurement) in a child process: fresh RSS
 * and no state shared between runs. */
static void in_child(enum mode mode, long n, bool memory) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (memory)
            run_memory();
        else
            run_mode(mode, n);
        fflush(stdout);
        exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("a benchmark run failed");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    if (n < 5) die("N must be at least 5");
    const char *wait = getenv("PINGPONG_HOST_WAIT");
    host_blocks = wait != NULL && strcmp(wait, "block") == 0;
    for (size_t i = 0; i < CONTENT_LEN; i++) content[i] = (uint8_t)(i * 7 + 1);

    printf("libstorage %s ping-pong: %ld messages of %d bytes, default config, one channel, "
           "host %s\n",
           storage_version(), n, CONTENT_LEN, host_blocks ? "blocks" : "yields, then blocks");
    printf("%-16s %10s %12s %12s %10s\n", "mode", "pairs/s", "first 20%", "last 20%",
           "peak MiB");
    for (enum mode mode = NATIVE_CALLBACK; mode <= NATIVE_CHAINED; mode++) {
        if (argc > 2 && strcmp(argv[2], MODE_NAMES[mode]) != 0) continue;
        in_child(mode, n, false);
    }
    if (argc <= 2) in_child(NATIVE_CALLBACK, 0, true);
    return 0;
}
