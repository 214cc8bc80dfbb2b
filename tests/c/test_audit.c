/* Tamper evidence through the C API: the chain head in the chunk_sealed event and the stop
 * result, verify against an anchored head, supersession, erasure as a separate recorded
 * step, queries of the audit log, and the refusals of hostile arguments (bad head hex, a
 * huge reason, unknown recordings, an unknown query key). */
#include "harness.h"

#include <unistd.h>

static char root[64];

static storage_ctx *recorder_ctx(collector *events) {
    char config[256];
    snprintf(config, sizeof config,
             "{\"participant_id\":\"bob\",\"recording\":{\"root\":\"%s\"}}", root);
    return new_ctx(config, events);
}

/* Records three messages into `name` and stops it; returns the stop result's head
 * (malloc'ed) after checking the chunk_sealed event announced the same head. */
static char *record_and_stop(storage_ctx *alice, storage_ctx *bob, collector *events,
                             const char *name) {
    waiter w;
    waiter_init(&w);
    CHECK_EQ_INT(storage_recording_start(bob, name, NULL, record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-m%d", name, i);
        buffer m = wrap_msg(alice, "room", id, "payload");
        free(unwrap_msg(bob, m));
        buffer_free(&m);
    }
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_stop(bob, name, record_cb, &w), STORAGE_OK);
    char *head = json_string(expect_answer(&w, STORAGE_OK), "head");
    CHECK(head != NULL && strlen(head) == 64);
    char wanted[128];
    snprintf(wanted, sizeof wanted, "\"name\":\"%s\"", name);
    long at = events_wait_match(events, 0, "\"eventType\":\"chunk_sealed\"", wanted,
                                HARNESS_TIMEOUT_MS);
    CHECK_CONTAINS(events_get(events, (size_t)at), head);
    CHECK_CONTAINS(events_get(events, (size_t)at), "\"index\":0");
    waiter_destroy(&w);
    return head;
}

static void anchored_verify_supersede_erase_query(void) {
    collector events;
    events_init(&events);
    storage_ctx *alice = new_ctx("{\"participant_id\":\"alice\"}", NULL);
    storage_ctx *bob = recorder_ctx(&events);
    waiter w;
    waiter_init(&w);
    char *head = record_and_stop(alice, bob, &events, "evidence");
    free(record_and_stop(alice, bob, &events, "evidence-2"));

    /* Verify against the anchored head: it is the head; an upper-case copy too. */
    CHECK_EQ_INT(storage_recording_verify_anchored(bob, "evidence", head, record_cb, &w),
                 STORAGE_OK);
    const char *report = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(report, "\"ok\":true");
    CHECK_CONTAINS(report, "\"anchor\":\"head\"");
    /* A head the chain does not hold: history was rewritten. */
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify_anchored(bob, "evidence", zeros, record_cb, &w),
                 STORAGE_OK);
    report = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(report, "\"ok\":false");
    CHECK_CONTAINS(report, "\"anchor\":\"mismatch\"");

    /* Supersede by a replacement, with an actor and a reason. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "evidence", -1, "evidence-2", "operator-7",
                                             "re-recorded after calibration", record_cb, &w),
                 STORAGE_OK);
    const char *record = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(record, "\"action\":\"supersede\"");
    CHECK_CONTAINS(record, "\"replacement\":\"evidence-2\"");
    CHECK_CONTAINS(record, "\"actor\":\"operator-7\"");
    CHECK_CONTAINS(record, head);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "evidence", -1, NULL, NULL, "again", record_cb,
                                             &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_EXISTS);

    /* One chunk alone can be retired (found corrupt, say); an unknown chunk is not found. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "evidence-2", 0, NULL, NULL, "bad sector",
                                             record_cb, &w),
                 STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_OK), "\"chunk\":0");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "evidence-2", 9, NULL, NULL, "no such chunk",
                                             record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_NOT_FOUND);

    /* Listing shows the superseded recording with its record; its files are still there. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recordings_list(bob, record_cb, &w), STORAGE_OK);
    const char *list = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(list, "\"superseded\":{");
    CHECK_CONTAINS(list, "re-recorded after calibration");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify(bob, "evidence", record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_OK), "\"ok\":true");

    /* Erase: the separate, recorded step (actor NULL: the participant id). */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_erase(bob, "evidence", NULL, "retention over", record_cb, &w),
                 STORAGE_OK);
    record = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(record, "\"action\":\"erase\"");
    CHECK_CONTAINS(record, "\"actor\":\"bob\"");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify(bob, "evidence", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_NOT_FOUND);
    /* A recording not superseded is not erased. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_erase(bob, "evidence-2", "operator-7", "why", record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_INVALID);

    /* Query: by recording, by actor, by time range; the log's own chain checks. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_audit_query(bob, "{\"recording\":\"evidence\"}", record_cb, &w),
                 STORAGE_OK);
    const char *reading = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(reading, "\"action\":\"supersede\"");
    CHECK_CONTAINS(reading, "\"action\":\"erase\"");
    CHECK_CONTAINS(reading, "\"status\":\"ok\"");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_audit_query(bob, "{\"actor\":\"operator-7\"}", record_cb, &w),
                 STORAGE_OK);
    reading = expect_answer(&w, STORAGE_OK);
    CHECK_CONTAINS(reading, "\"action\":\"supersede\"");
    CHECK(strstr(reading, "\"action\":\"erase\"") == NULL);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_audit_query(bob, "{\"until_ns\":1}", record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_OK), "\"records\":[]");
    waiter_reset(&w);
    CHECK_EQ_INT(storage_audit_query(bob, NULL, record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_OK), "\"records\":3");

    /* Clean up: the second recording goes the same way. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_delete(bob, "evidence-2", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_OK);
    free(head);
    waiter_destroy(&w);
    free_ctx(alice);
    free_ctx(bob);
    events_destroy(&events);
}

static void hostile_arguments(void) {
    storage_ctx *bob = recorder_ctx(NULL);
    waiter w;
    waiter_init(&w);
    /* A head that is not 64 hex digits is refused at once. */
    const char *bad_heads[] = {"", "abc", "zz5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d"};
    for (size_t i = 0; i < sizeof bad_heads / sizeof *bad_heads; i++) {
        waiter_reset(&w);
        CHECK_EQ_INT(storage_recording_verify_anchored(bob, "x", bad_heads[i], record_cb, &w),
                     STORAGE_RECORDING_INVALID);
        CHECK_CONTAINS(expect_answer(&w, STORAGE_RECORDING_INVALID), "64 hex digits");
    }
    CHECK_EQ_INT(storage_recording_verify_anchored(bob, "x", NULL, NULL, NULL),
                 STORAGE_NULL_ARGUMENT);
    /* A huge reason or actor is refused before anything is copied. */
    size_t huge = 64 * 1024;
    char *reason = malloc(huge + 1);
    CHECK(reason != NULL);
    memset(reason, 'r', huge);
    reason[huge] = '\0';
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "x", -1, NULL, NULL, reason, record_cb, &w),
                 STORAGE_TOO_LARGE);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_TOO_LARGE), "reason");
    CHECK_EQ_INT(storage_recording_erase(bob, "x", reason, "why", NULL, NULL), STORAGE_TOO_LARGE);
    free(reason);
    CHECK_EQ_INT(storage_recording_supersede(bob, "x", -1, NULL, NULL, NULL, NULL, NULL),
                 STORAGE_NULL_ARGUMENT);
    /* Unknown recordings, an unknown replacement, an unknown chunk. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_supersede(bob, "never", -1, NULL, NULL, "r", record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_NOT_FOUND);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_erase(bob, "never", NULL, "r", record_cb, &w), STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_NOT_FOUND);
    waiter_reset(&w);
    CHECK_EQ_INT(storage_recording_verify_anchored(bob, "never",
                                                   "5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d"
                                                   "5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d",
                                                   record_cb, &w),
                 STORAGE_OK);
    expect_answer(&w, STORAGE_RECORDING_NOT_FOUND);
    /* An unknown query key names itself. */
    waiter_reset(&w);
    CHECK_EQ_INT(storage_audit_query(bob, "{\"who\":\"me\"}", record_cb, &w), STORAGE_OK);
    CHECK_CONTAINS(expect_answer(&w, STORAGE_RECORDING_INVALID), "who");
    CHECK_EQ_INT(storage_audit_query(NULL, NULL, NULL, NULL), STORAGE_INVALID_HANDLE);
    waiter_destroy(&w);
    free_ctx(bob);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/storage-c-audit-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    RUN_TEST(anchored_verify_supersede_erase_query);
    RUN_TEST(hostile_arguments);
    /* What remains is the audit log (erasure never erases it). */
    char path[sizeof root + 16];
    snprintf(path, sizeof path, "%s/audit.log", root);
    CHECK_EQ_INT(unlink(path), 0);
    snprintf(path, sizeof path, "%s/audit.head", root);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(rmdir(root), 0);
    return harness_report();
}
