/*
 * fleet_demo: three robots share one channel over a simulated lossy radio link.
 *
 * The link drops a share of the packets and delays the others by a random number of
 * ticks (so packets also arrive out of order). The robots chat; libstorage delivers in
 * causal order, resends what was not acknowledged, and repairs what was lost (SDS-R).
 * Each robot persists its state to SQLite and robot A records what it delivers to MCAP.
 * Robot C is then switched off while the others keep talking, restarts from its
 * database and catches up. Finally A's recording is verified and replayed.
 *
 * A single host thread drives everything: requests are answered through callbacks, which
 * this program waits for, and events are pulled with storage_next_event.
 *
 * Usage: fleet_demo [WORK_DIR]   (default: a fresh folder under /tmp)
 */
#define _POSIX_C_SOURCE 200809L

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "storage.h"

#define ROBOTS 3
#define CHANNEL "fleet"
#define DROP_PERCENT 20
#define MAX_DELAY_TICKS 3
#define TICK_MS 10
#define MAX_PACKETS 4096

static void die(const char *what, const char *detail) {
    fprintf(stderr, "fleet_demo: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* ---- Deterministic randomness (xorshift): every run loses the same packets ----------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static unsigned rng_below(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Whether the `len` bytes at `data` contain `needle`. */
static bool contains(const uint8_t *data, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(data + i, needle, n) == 0) return true;
    return false;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Waiting for a request's callback ---------------------------------------------------- */

typedef struct {
    sem_t done;
    storage_status status;
    char *data; /* NUL-terminated copy of the callback's bytes */
    size_t len;
} reply;

static void on_reply(storage_status status, const uint8_t *data, size_t len, void *user_data) {
    reply *r = user_data;
    r->status = status;
    r->data = malloc(len + 1);
    if (r->data == NULL) die("out of memory", NULL);
    if (len > 0) memcpy(r->data, data, len);
    r->data[len] = '\0';
    r->len = len;
    sem_post(&r->done);
}

/* Waits for the answer of a request the library accepted; dies if it was refused. */
static void await(storage_status accepted, reply *r, const char *what) {
    if (accepted != STORAGE_OK) die(what, "refused");
    sem_wait(&r->done);
    sem_destroy(&r->done);
}

/* As await, for a request that must succeed: dies with the library's message otherwise. */
static void await_ok(storage_status accepted, reply *r, const char *what) {
    await(accepted, r, what);
    if (r->status != STORAGE_OK) die(what, r->data);
}

static reply *reply_new(void) {
    reply *r = calloc(1, sizeof *r);
    if (r == NULL || sem_init(&r->done, 0, 0) != 0) die("out of memory", NULL);
    return r;
}

static void reply_free(reply *r) {
    free(r->data);
    free(r);
}

/* ---- Tiny JSON and base64 helpers for the event documents ------------------------------- */

/* Copies the string value of "key" in json into out (no unescaping: ids here are plain). */
static bool json_string(const char *json, const char *key, char *out, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (p == NULL) return false;
    p += strlen(pattern);
    size_t n = 0;
    while (p[n] != '\0' && p[n] != '"' && n + 1 < cap) n++;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes the base64 string value of "key"; returns a malloc'd buffer (NULL if absent). */
static uint8_t *json_base64(const char *json, const char *key, size_t *len) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (p == NULL) return NULL;
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (end == NULL) return NULL;
    uint8_t *out = malloc((size_t)(end - p) / 4 * 3 + 3);
    if (out == NULL) die("out of memory", NULL);
    size_t n = 0;
    unsigned bits = 0, acc = 0;
    for (; p < end; p++) {
        int v = base64_value(*p);
        if (v < 0) continue; /* padding */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    *len = n;
    return out;
}

/* ---- Robots and the radio link ------------------------------------------------------ */

typedef struct {
    const char *name;
    storage_ctx *ctx;
    bool online;
    char db_path[512];
    /* what the demo observed */
    int sent, delivered, acked, resends, buffered, repairs_answered;
} robot;

typedef struct {
    int to;
    long due_tick;
    uint8_t *bytes;
    size_t len;
} packet;

static robot robots[ROBOTS] = {{.name = "A"}, {.name = "B"}, {.name = "C"}};
static packet in_flight[MAX_PACKETS];
static int in_flight_count;
static long tick;
static int packets_sent, packets_dropped;
static char work_dir[256];

/* Puts a copy of the bytes on the air towards every other robot that is switched on; the
 * link drops some and delays the rest. */
static void broadcast(int from, const uint8_t *bytes, size_t len) {
    for (int to = 0; to < ROBOTS; to++) {
        if (to == from) continue;
        packets_sent++;
        if (!robots[to].online || rng_below(100) < DROP_PERCENT) {
            packets_dropped++;
            continue;
        }
        if (in_flight_count == MAX_PACKETS) die("the link is saturated", NULL);
        packet *p = &in_flight[in_flight_count++];
        p->to = to;
        p->due_tick = tick + 1 + rng_below(MAX_DELAY_TICKS);
        p->bytes = malloc(len);
        if (p->bytes == NULL) die("out of memory", NULL);
        memcpy(p->bytes, bytes, len);
        p->len = len;
    }
}

/* Hands every packet whose time has come to its robot. */
static void deliver_due_packets(void) {
    for (int i = 0; i < in_flight_count;) {
        packet *p = &in_flight[i];
        if (p->due_tick > tick) {
            i++;
            continue;
        }
        robot *r = &robots[p->to];
        if (r->online) {
            reply *answer = reply_new();
            await(storage_unwrap(r->ctx, p->bytes, p->len, on_reply, answer), answer, "unwrap");
            /* a status other than OK is a packet the robot refused; the radio carries on */
            reply_free(answer);
        }
        free(p->bytes);
        in_flight[i] = in_flight[--in_flight_count];
    }
}

/* Reacts to one event of robot i: the transport side of the protocol. */
static void handle_event(int i, const char *json) {
    robot *r = &robots[i];
    char type[48] = "";
    json_string(json, "eventType", type, sizeof type);
    if (strcmp(type, "message_ready") == 0) {
        r->delivered++;
    } else if (strcmp(type, "message_sent") == 0) {
        r->acked++;
    } else if (strcmp(type, "missing_dependencies") == 0) {
        r->buffered++;
    } else if (strcmp(type, "resend") == 0 || strcmp(type, "repair_ready") == 0) {
        size_t len = 0;
        uint8_t *bytes = json_base64(json, "message", &len);
        if (bytes != NULL) {
            broadcast(i, bytes, len);
            free(bytes);
        }
        if (strcmp(type, "resend") == 0)
            r->resends++;
        else
            r->repairs_answered++;
    } else if (strcmp(type, "periodic_sync") == 0) {
        /* A sync message carries causal history, bloom and repair requests. */
        reply *wrapped = reply_new();
        await(storage_build_sync_message(r->ctx, CHANNEL, on_reply, wrapped), wrapped, "sync");
        if (wrapped->status == STORAGE_OK) broadcast(i, (const uint8_t *)wrapped->data, wrapped->len);
        reply_free(wrapped);
    }
}

static void drain_events(void) {
    for (int i = 0; i < ROBOTS; i++) {
        if (!robots[i].online) continue;
        uint8_t *data;
        size_t len;
        while (storage_next_event(robots[i].ctx, 0, &data, &len) == STORAGE_OK) {
            char *json = malloc(len + 1);
            if (json == NULL) die("out of memory", NULL);
            memcpy(json, data, len);
            json[len] = '\0';
            storage_bytes_free(data, len);
            handle_event(i, json);
            free(json);
        }
    }
}

/* Lets time pass: packets land, timers fire, events are handled. */
static void run_ticks(int n) {
    for (int k = 0; k < n; k++) {
        tick++;
        deliver_due_packets();
        drain_events();
        sleep_ms(TICK_MS);
    }
}

static void robot_start(int i) {
    robot *r = &robots[i];
    char config[1024];
    snprintf(config, sizeof config,
             "{\"participant_id\":\"robot-%s\",\"persistence\":{\"kind\":\"sqlite\",\"path\":\"%s\"},"
             "\"recording\":{\"root\":\"%s/recordings\"},"
             "\"resend_interval_ms\":300,\"outgoing_sweep_interval_ms\":100,"
             "\"incoming_sweep_interval_ms\":100,\"repair_sweep_interval_ms\":50,"
             "\"repair_t_min_ms\":30,\"repair_t_max_ms\":150,\"sync_interval_ms\":150,"
             "\"max_repair_requests\":10}",
             r->name, r->db_path, work_dir);
    if (storage_new(config, NULL, NULL, &r->ctx) != STORAGE_OK) die("storage_new failed", r->name);
    reply *answer = reply_new();
    await_ok(storage_ensure_channel(r->ctx, CHANNEL, on_reply, answer), answer, "ensure_channel");
    reply_free(answer);
    answer = reply_new();
    await_ok(storage_start_periodic_tasks(r->ctx, on_reply, answer), answer, "periodic tasks");
    reply_free(answer);
    r->online = true;
}

static void robot_stop(int i) {
    robots[i].online = false;
    if (storage_free(robots[i].ctx) != STORAGE_OK) die("storage_free failed", robots[i].name);
    robots[i].ctx = NULL;
}

/* Robot i says something. */
static void say(int i, int n) {
    robot *r = &robots[i];
    char id[64], text[96];
    snprintf(id, sizeof id, "%s-%d", r->name, n);
    snprintf(text, sizeof text, "robot %s, status report %d", r->name, n);
    reply *wrapped = reply_new();
    await_ok(storage_wrap(r->ctx, CHANNEL, id, (const uint8_t *)text, strlen(text), on_reply,
                          wrapped),
             wrapped, "wrap");
    broadcast(i, (const uint8_t *)wrapped->data, wrapped->len);
    r->sent++;
    reply_free(wrapped);
}

/* Reads one integer field of a channel_stats document. */
static long stat_of(int i, const char *key) {
    reply *answer = reply_new();
    await(storage_channel_stats(robots[i].ctx, CHANNEL, on_reply, answer), answer, "stats");
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = answer->status == STORAGE_OK ? strstr(answer->data, pattern) : NULL;
    long value = p ? strtol(p + strlen(pattern), NULL, 10) : -1;
    reply_free(answer);
    return value;
}

static void report(const char *title) {
    printf("\n%s\n", title);
    printf("  robot  sent  delivered  acked  resends  buffered  repairs  history\n");
    /* buffered: messages held back for missing dependencies; repairs: SDS-R rebroadcasts */
    for (int i = 0; i < ROBOTS; i++) {
        robot *r = &robots[i];
        if (!r->online) {
            printf("  %-5s  (switched off)\n", r->name);
            continue;
        }
        printf("  %-5s  %4d  %9d  %5d  %7d  %8d  %7d  %7ld\n", r->name, r->sent, r->delivered,
               r->acked, r->resends, r->buffered, r->repairs_answered, stat_of(i, "historyLen"));
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        snprintf(work_dir, sizeof work_dir, "%s", argv[1]);
        mkdir(work_dir, 0755);
    } else {
        snprintf(work_dir, sizeof work_dir, "/tmp/fleet_demo.XXXXXX");
        if (mkdtemp(work_dir) == NULL) die("cannot create a work folder", NULL);
    }
    char recordings[300];
    snprintf(recordings, sizeof recordings, "%s/recordings", work_dir);
    mkdir(recordings, 0755);
    for (int i = 0; i < ROBOTS; i++) {
        snprintf(robots[i].db_path, sizeof robots[i].db_path, "%s/robot-%s.db", work_dir,
                 robots[i].name);
        remove(robots[i].db_path);
    }

    printf("libstorage %s fleet demo: 3 robots, one channel, %d%% packet loss, up to %d ticks "
           "of delay (reordering)\n",
           storage_version(), DROP_PERCENT, MAX_DELAY_TICKS);
    printf("work folder: %s\n", work_dir);
    for (int i = 0; i < ROBOTS; i++) robot_start(i);

    reply *r = reply_new();
    await_ok(storage_recording_start(robots[0].ctx, "robot-a", "{\"channels\":\"all\"}",
                                           on_reply, r),
                   r, "recording_start");
    reply_free(r);

    /* Phase 1: everyone talks. */
    int said[ROBOTS] = {0};
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < ROBOTS; i++) say(i, said[i]++);
        run_ticks(2);
    }
    run_ticks(150); /* resends, repairs and syncs settle */
    report("after 36 messages over the lossy link:");

    /* Phase 2: C is switched off; A and B carry on. */
    robot_stop(2);
    printf("\nrobot C switches off; A and B send 12 more messages\n");
    for (int round = 0; round < 6; round++) {
        say(0, said[0]++);
        say(1, said[1]++);
        run_ticks(2);
    }
    run_ticks(50);

    /* Phase 3: C restarts from its database and catches up. */
    int before = robots[2].delivered;
    robot_start(2);
    printf("robot C restarts from %s with %ld messages in its history\n", robots[2].db_path,
           stat_of(2, "historyLen"));
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < ROBOTS; i++) say(i, said[i]++);
        run_ticks(2);
    }
    run_ticks(200);
    report("after C's restart and 12 more messages:");
    int total = said[0] + said[1] + said[2];
    printf("  C delivered %d messages after restarting (it had %d before)\n",
           robots[2].delivered - before, before);
    printf("  messages held (own + delivered) of %d: A %d, B %d, C %d\n", total,
           robots[0].delivered + said[0], robots[1].delivered + said[1],
           robots[2].delivered + said[2]);
    printf("  radio: %d packets, %d dropped\n", packets_sent, packets_dropped);

    /* Phase 4: A's recording is sealed, verified and replayed. */
    r = reply_new();
    await_ok(storage_recording_stop(robots[0].ctx, "robot-a", on_reply, r), r,
                   "recording_stop");
    long written = -1;
    const char *w = strstr(r->data, "\"written\":");
    if (w != NULL) written = strtol(w + strlen("\"written\":"), NULL, 10);
    int chunks = 0;
    for (const char *c = r->data; (c = strstr(c, "\"sha256\"")) != NULL; c++) chunks++;
    printf("\nA's recording: %ld delivered messages in %d sealed MCAP chunk file(s) under %s\n",
           written, chunks, recordings);
    reply_free(r);
    r = reply_new();
    await_ok(storage_recording_verify(robots[0].ctx, "robot-a", on_reply, r), r,
                   "recording_verify");
    printf("verify: %s\n", strstr(r->data, "\"ok\":true") ? "every chunk intact" : r->data);
    reply_free(r);
    r = reply_new();
    await_ok(storage_replay_start(robots[0].ctx, "robot-a", "{\"rate\":0}", on_reply, r),
                   r, "replay_start");
    reply_free(r);
    int replayed = 0;
    for (bool finished = false; !finished;) {
        uint8_t *data;
        size_t len;
        storage_status st = storage_next_event(robots[0].ctx, 5000, &data, &len);
        if (st != STORAGE_OK) die("the replay did not finish", NULL);
        if (contains(data, len, "\"replay_message\"")) replayed++;
        if (contains(data, len, "\"replay_finished\"")) finished = true;
        storage_bytes_free(data, len);
    }
    printf("replay: %d messages, in recorded order (A delivered %d)\n", replayed,
           robots[0].delivered);

    for (int i = 0; i < ROBOTS; i++) robot_stop(i);
    for (int i = 0; i < in_flight_count; i++) free(in_flight[i].bytes);
    return 0;
}
