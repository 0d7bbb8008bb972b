/* How the C trace writer shows each syscall, asked of Python once per syscall and variant
 * (sysemu.tools.trace.c_writer: c_writer_key and c_writer_spec) and kept here. */
#ifndef SYSEMU_CSRC_TRACE_SPECS_H
#define SYSEMU_CSRC_TRACE_SPECS_H

#include "trace_text.h"

#define MAX_NR 512
#define MAX_VARIANTS 32

enum { R_INT, R_HEX, R_FD, R_PURE }; /* result kinds */

/* How the calls of one syscall whose key (a register, masked) is `key` are shown. */
typedef struct {
    unsigned long long key;
    int in_c, nargs, ret_kind;
    PyObject *ret_of; /* R_PURE: ret_of(result) -> str | None (the number) */
    CacheSlot ret_cache[CACHE_SLOTS];
    ArgSpec args[6];
} Variant;

typedef struct {
    PyObject *stats, *syscall, *name; /* the route's SyscallStats; the Syscall; bytes */
    int in_c, watched, key_reg;
    unsigned long long key_mask;
    Variant *variants[MAX_VARIANTS];
    int nvariants;
    long long calls, errors; /* strace -c's table, see take_summary */
    double seconds;
} CallSpec;

struct trace_specs {
    PyObject *key_of, *spec_of; /* c_writer_key, c_writer_spec */
    CallSpec *specs[MAX_NR];    /* by number (the native ABI's), made on a call's first stop */
};

/* The spec of call number `nr` (< MAX_NR), made on its first call: resolve(nr) gives None
 * (nobody watches the call), False (Python serves it: a handler or another observer wants it)
 * or (stats, syscall), and key_of(syscall) the (register, mask) that picks its variant.
 * NULL: an exception. */
CallSpec *make_spec(struct trace_specs *t, int nr, PyObject *resolve);
static inline CallSpec *spec_for(struct trace_specs *t, int nr, PyObject *resolve) {
    return t->specs[nr] != NULL ? t->specs[nr] : make_spec(t, nr, resolve);
}

/* The variant of `spec` for `key`, made on its first call by spec_of(syscall, key); NULL with
 * no exception set when Python must write these calls. */
Variant *make_variant(struct trace_specs *t, CallSpec *spec, unsigned long long key);
static inline Variant *variant_for(struct trace_specs *t, CallSpec *spec, unsigned long long key) {
    for (int i = 0; i < spec->nvariants; i++)
        if (spec->variants[i]->key == key) return spec->variants[i]->in_c ? spec->variants[i] : NULL;
    return make_variant(t, spec, key);
}

/* Forgets every spec (a new run's routes are not the last run's). */
void forget_specs(struct trace_specs *t);

/* For the garbage collector: visits what the specs hold. */
int visit_specs(struct trace_specs *t, visitproc visit, void *arg);

#endif
