/* C helpers shared by the cgo files of package storage (each cgo preamble sees only its own
 * static functions, so they live here). Not part of the package's API. */
#ifndef LIBSTORAGE_GO_SHIM_H
#define LIBSTORAGE_GO_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include "storage.h"

/* Exported from trampoline.go; the const of the storage_callback type is cast away here. */
extern void storageGoAnswer(storage_status, uint8_t *, size_t, void *);

static inline storage_callback storage_go_answer(void) {
    return (storage_callback)storageGoAnswer;
}

/* A cgo.Handle travels as user_data: an integer in a void*, never a Go pointer. */
static inline void *storage_go_user_data(uintptr_t handle) { return (void *)handle; }

#endif
