/* A program that links the installed libstorage.a and the system's libsqlite3: its own
 * SQLite calls must reach the system library (whose header it compiled against), not the
 * copy bundled inside libstorage.a, and libstorage must still work. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>
#include <storage.h>

int main(void) {
    printf("sqlite %s (header %s), storage %s\n", sqlite3_libversion(), SQLITE_VERSION,
           storage_version());
    if (strcmp(sqlite3_libversion(), SQLITE_VERSION) != 0) return 1;
    storage_ctx *ctx = NULL;
    if (storage_new_ex("{\"participant_id\":\"x\"}", NULL, NULL, &ctx, NULL) != STORAGE_OK)
        return 1;
    return storage_free(ctx) == STORAGE_OK ? 0 : 1;
}
