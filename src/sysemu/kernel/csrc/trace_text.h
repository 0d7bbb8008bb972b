/* the C trace writer's texts: a growing byte buffer, and each argument kind written as the
 * Python tracer's decoders write it (sysemu.tools.trace.decoders*), byte for byte. Knows
 * kinds, not syscalls; the native ABI's structure layouts come from arch.h. */
#ifndef SYSEMU_CSRC_TRACE_TEXT_H
#define SYSEMU_CSRC_TRACE_TEXT_H

#include "errnos.h"
#include "pyutil.h"

#include <string.h>

#define MODE_SLOTS 64
#define ERRNO_LIMIT (SYSEMU_MAX_ERRNO + 1)
#define CACHE_SLOTS 16

/* Argument kinds (sysemu.tools.trace.c_writer names them the same way). */
enum {
    K_INT, K_U32, K_HEX, K_PTR, K_FD, K_DIRFD, K_PATH, K_STRING, K_BUF_IN, K_BUF_OUT, K_STAT,
    K_DIRENTS, K_PURE, K_TIMESPEC, K_REMAINING, K_MEMORY, K_CWD, K_COUNT
};
enum { PHASE_ENTRY = 0, PHASE_EXIT = 1 };

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

/* A text from Python, remembered for the value (or content) it is of. */
typedef struct {
    unsigned long long key;
    PyObject *text;    /* bytes, or NULL for an empty slot */
    PyObject *content; /* K_MEMORY: the bytes the text is of (key is their hash) */
} CacheSlot;

/* How one argument is shown: see sysemu.tools.trace.c_writer.ArgSpec. */
typedef struct {
    unsigned char reg, kind, phase, size_reg;
    unsigned long long mask, sign, size_mask, size_sign;
    /* K_PURE: decoder(None, value, index) -> str; K_MEMORY: decoder(bytes) -> str, of
     * memory_size bytes (0: as many as the size register says, if within min..max). */
    PyObject *decoder;
    long memory_size, memory_min, memory_max;
    CacheSlot cache[CACHE_SLOTS];
} ArgSpec;

/* A register narrowed to its C type, as Args.value narrows it. */
typedef struct {
    unsigned long long bits; /* two's complement when negative */
    int negative;
} Value;

/* The trace's options and what its texts keep between calls. */
struct trace_format {
    long string_limit; /* -s */
    int fd_paths;      /* -y: file descriptors shown with their paths */
    PyObject *mode_of, *error_of; /* mode_of(st_mode) -> str, error_of(-errno) -> str */
    Buf scratch;                  /* the tracee's memory being shown */
    CacheSlot modes[MODE_SLOTS];
    PyObject *errors[ERRNO_LIMIT];
};

/* The buffer: 0, or -1 with an exception set. A line is a few dozen of these: the common
 * case (room enough) is inline, in every file that writes. */
int buf_grow_slow(Buf *b, size_t more);
static inline int buf_grow(Buf *b, size_t more) {
    return b->len + more <= b->cap ? 0 : buf_grow_slow(b, more);
}
static inline int buf_put(Buf *b, const char *text, size_t size) {
    if (buf_grow(b, size) < 0) return -1;
    memcpy(b->data + b->len, text, size);
    b->len += size;
    return 0;
}
static inline int buf_str(Buf *b, const char *text) { return buf_put(b, text, strlen(text)); }
int buf_fmt(Buf *b, const char *format, ...);
int buf_bytes(Buf *b, PyObject *bytes);

/* Numbers and fds as the Python tracer shows them: 0, or -1 with an exception set. */
int put_int(Buf *b, Value v);
int put_hex(Buf *b, Value v);
int put_fd(struct trace_format *t, Buf *b, long tid, Value fd);

/* A failed call's result (-ENOENT): "-1 ENOENT (No such file or directory)". */
int put_error(struct trace_format *t, Buf *b, long long value);

/* The -t/-tt stamp of a call that entered at `when` (time.time()). */
int put_stamp(Buf *b, double when, int precision);

/* The text fn(*argv) returns (a str), as UTF-8 bytes kept in *slot (a borrowed reference);
 * NULL with an exception set. */
PyObject *remember(CacheSlot *slot, unsigned long long key, PyObject *fn, PyObject **argv,
                   size_t count);

/* One argument's text; `result` is meaningful at exit only. 0, or -1 with an exception set. */
int put_argument(struct trace_format *t, Buf *b, ArgSpec *arg, long tid,
                 const unsigned long long *args, long long result);

/* Whether a call's result is an error (-MAX_ERRNO < result < 0). */
static inline int failed_result(long long result) { return is_error_return(result); }

/* Drops what the format holds (its options stay). */
void trace_format_clear(struct trace_format *t);

#endif
