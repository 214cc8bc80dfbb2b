// Both public headers, together, as a C++17 program sees them: `make c-test` compiles
// this with -Wall -Wextra -Werror, so a header change that breaks C++ users fails there.
#include "storage.h"
#include "libsds.h"

// The host vtable is a complete type C++ code can fill in.
static_assert(sizeof(storage_persistence_vtable) > 0, "complete type");

int main() {
    // One function of each API, named with its exact C++ type.
    auto native = &storage_new;
    auto libsds = &SdsNewReliabilityManager;
    (void)native;
    (void)libsds;
    return 0;
}
