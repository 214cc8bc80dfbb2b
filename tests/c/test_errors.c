/* Errors in words: every status's name and description. */
#include "harness.h"

/* Every constant of the header's enum, with its spelling. */
#define STATUS(x) {x, #x}
static const struct {
    storage_status status;
    const char *name;
} STATUSES[] = {
    STATUS(STORAGE_OK),
    STATUS(STORAGE_INVALID_HANDLE),
    STATUS(STORAGE_NULL_ARGUMENT),
    STATUS(STORAGE_INVALID_UTF8),
    STATUS(STORAGE_EMPTY_CHANNEL_ID),
    STATUS(STORAGE_INVALID_CONFIG),
    STATUS(STORAGE_MISUSE),
    STATUS(STORAGE_PANIC),
    STATUS(STORAGE_SHUTTING_DOWN),
    STATUS(STORAGE_TIMEOUT),
    STATUS(STORAGE_EMPTY_CONTENT),
    STATUS(STORAGE_TOO_LARGE),
    STATUS(STORAGE_DECODE_ERROR),
    STATUS(STORAGE_UNKNOWN_CHANNEL),
    STATUS(STORAGE_LIMIT_REACHED),
    STATUS(STORAGE_PERSISTENCE_ERROR),
    STATUS(STORAGE_START_FAILED),
    STATUS(STORAGE_RECORDING_INVALID),
    STATUS(STORAGE_RECORDING_NOT_FOUND),
    STATUS(STORAGE_RECORDING_EXISTS),
    STATUS(STORAGE_RECORDING_IO),
};
#define N_STATUSES (sizeof STATUSES / sizeof STATUSES[0])

static void every_status_has_its_name_and_a_description(void) {
    const char *unknown = storage_status_description(-1);
    for (size_t i = 0; i < N_STATUSES; i++) {
        CHECK_EQ_INT(STATUSES[i].status, (int32_t)i); /* values are 0, 1, 2, ... */
        CHECK_STR_EQ(storage_status_name(STATUSES[i].status), STATUSES[i].name);
        const char *description = storage_status_description(STATUSES[i].status);
        CHECKF(description != NULL && strlen(description) > 0 && strchr(description, '\n') == NULL,
               "description of %s", STATUSES[i].name);
        CHECK(strcmp(description, unknown) != 0);
        CHECK(storage_status_name(STATUSES[i].status) == storage_status_name(STATUSES[i].status));
    }
    /* Past the last one (so this list is the header's whole enum) and below 0. */
    int32_t unknowns[] = {(int32_t)N_STATUSES, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknowns / sizeof unknowns[0]; i++) {
        CHECK_STR_EQ(storage_status_name(unknowns[i]), "STORAGE_UNKNOWN_STATUS");
        CHECK_STR_EQ(storage_status_description(unknowns[i]), unknown);
    }
    CHECK_STR_EQ(storage_status_description(STORAGE_TIMEOUT),
                 "`storage_next_event` found no event before its timeout.");
    CHECK_STR_EQ(storage_status_description(STORAGE_PANIC),
                 "The library hit an internal error (a bug); the request was not carried out. "
                 "If the worker itself stopped, later requests get `STORAGE_SHUTTING_DOWN`.");
}

int main(void) {
    RUN_TEST(every_status_has_its_name_and_a_description);
    return harness_report();
}
