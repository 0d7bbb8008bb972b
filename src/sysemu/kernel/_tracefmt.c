/* The native trace: strace-style lines written by the C wait loop itself.
 *
 * With `sysemu run --trace`, every call stops twice (entry and exit) and the tracing observer
 * decodes it in Python: most of a traced call's cost. For calls whose every shown argument is
 * of a kind decoded here (numbers, fds, paths, buffers, struct stat, timespecs, dirent counts,
 * values whose text a pure Python function gives once per distinct value, structures whose
 * text a pure Python function gives once per distinct content), the wait loop formats the
 * line itself, byte for byte what the Python tracer writes (tests/test_trace_native.py
 * compares the two on real programs), and Python is not called at all. It serves the seccomp
 * backend's stops and the ptrace backend's (and attach's) entry and exit stops.
 *
 * Which calls, and how each argument is shown, comes from Python (sysemu.tools.trace.native:
 * key_of and spec_of); this file knows kinds, not syscalls. A call served here is "pending"
 * between its entry and exit stop. When one ends while others are pending, their
 * `<unfinished ...>` lines are written first and they end with `<... name resumed>`, as the
 * Python tracer writes them; whenever the loop hands any stop to Python, the pending calls are
 * handed over first (adopt), so that Python's tracer sees every call still in the kernel and
 * handles restarts and deaths as it always does. Lines are collected in a buffer written to the trace stream (write) before Python
 * gets a stop, before the loop sleeps, and when the buffer grows large.
 */
#define PY_SSIZE_T_CLEAN
#include "_speedups.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <time.h>

#define AUDIT_ARCH_X86_64 0xC000003EU
#define MAX_NR 512
#define FLUSH_AT 32768
#define CACHE_SLOTS 16
#define MODE_SLOTS 64
#define ERRNO_LIMIT 4096
#define MAX_VARIANTS 32

/* Argument kinds (sysemu.tools.trace.native names them the same way). */
enum {
    K_INT, K_U32, K_HEX, K_PTR, K_FD, K_DIRFD, K_PATH, K_STRING, K_BUF_IN, K_BUF_OUT, K_STAT,
    K_DIRENTS, K_PURE, K_TIMESPEC, K_REMAINING, K_MEMORY, K_CWD, K_COUNT
};
enum { PHASE_ENTRY = 0, PHASE_EXIT = 1 };
enum { R_INT, R_HEX, R_FD, R_PURE };

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

typedef struct {
    unsigned long long key;
    PyObject *text;    /* bytes, or NULL for an empty slot */
    PyObject *content; /* K_MEMORY: the bytes the text is of (key is their hash) */
} CacheSlot;

typedef struct {
    unsigned char reg, kind, phase, size_reg;
    unsigned long long mask, sign, size_mask, size_sign;
    /* K_PURE: decoder(None, value, index) -> str; K_MEMORY: decoder(bytes) -> str, of
     * memory_size bytes (0: as many as the size register says, if within min..max). */
    PyObject *decoder;
    long memory_size, memory_min, memory_max;
    CacheSlot cache[CACHE_SLOTS];
} ArgSpec;

/* How the calls of one syscall whose key (a register, masked) is `key` are shown. */
typedef struct {
    unsigned long long key;
    int native, nargs, ret_kind;
    PyObject *ret_of; /* R_PURE: ret_of(result) -> str | None (the number) */
    CacheSlot ret_cache[CACHE_SLOTS];
    ArgSpec args[6];
} Variant;

typedef struct {
    PyObject *stats, *syscall, *name; /* the route's SyscallStats; the Syscall; bytes */
    int native, watched, key_reg;
    unsigned long long key_mask;
    Variant *variants[MAX_VARIANTS];
    int nvariants;
    long long calls, errors;
    double seconds;
} CallSpec;

/* A call between its entry and exit stop, its entry texts decoded. */
typedef struct {
    long tid;
    int nr;
    Variant *variant;
    unsigned long long args[6], ip, sp;
    double started;
    Buf text;
    size_t start[6], length[6];
    unsigned char have[6];
    int shown; /* arguments its "<unfinished ...>" line showed; -1 while none was written */
} Record;

typedef struct {
    PyObject_HEAD
    PyObject *write, *live, *pending, *unshown, *key_of, *spec_of, *adopt_of, *mode_of, *error_of;
    PyObject *on_error; /* the run's: on_error(exception) for a write that failed, or NULL */
    long string_limit;
    int fd_paths;   /* -y: file descriptors shown with their paths */
    int timestamps; /* 0, 1 (-t: the wall clock at entry), 2 (-tt: with microseconds) */
    int durations;  /* -T: time spent in each call */
    int each_line;  /* written line by line (a terminal: the program's own output interleaves) */
    CallSpec *specs[MAX_NR];
    Record *records;
    int nrecords, caprecords;
    Buf out, scratch;
    CacheSlot modes[MODE_SLOTS];
    PyObject *errors[ERRNO_LIMIT];
} NativeTrace;

/* --- Buffers ------------------------------------------------------------------------------ */

static int buf_grow(Buf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *text, size_t size) {
    if (buf_grow(b, size) < 0) return -1;
    memcpy(b->data + b->len, text, size);
    b->len += size;
    return 0;
}

static int buf_str(Buf *b, const char *text) { return buf_put(b, text, strlen(text)); }

static int buf_fmt(Buf *b, const char *format, ...) {
    char text[96];
    va_list ap;
    va_start(ap, format);
    int size = vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    return buf_put(b, text, (size_t)size < sizeof text ? (size_t)size : sizeof text - 1);
}

static int buf_bytes(Buf *b, PyObject *bytes) {
    return buf_put(b, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
}

/* --- Values, as Args.value narrows a register to its C type ------------------------------- */

typedef struct {
    unsigned long long bits; /* two's complement when negative */
    int negative;
} Value;

static Value narrow(unsigned long long raw, unsigned long long mask, unsigned long long sign) {
    Value value = {raw & mask, 0};
    if (sign && (value.bits & sign)) {
        value.negative = 1;
        value.bits |= ~mask;
    }
    return value;
}

static int put_int(Buf *b, Value v) {
    return v.negative ? buf_fmt(b, "%lld", (long long)v.bits) : buf_fmt(b, "%llu", v.bits);
}

/* Python's hex(): -0x5 for a negative value. */
static int put_hex(Buf *b, Value v) {
    return v.negative ? buf_fmt(b, "-0x%llx", ~v.bits + 1) : buf_fmt(b, "0x%llx", v.bits);
}

static int put_pointer(Buf *b, Value v) {
    return !v.negative && v.bits == 0 ? buf_str(b, "NULL") : put_hex(b, v);
}

/* Context.fd: `3</etc/hostname>` under -y (the link /proc shows; an unlinked file's
 * " (deleted)" moved out of the brackets, as strace does), else the number. */
static int put_fd(NativeTrace *t, Buf *b, long tid, Value fd) {
    if (!t->fd_paths || fd.negative) return put_int(b, fd);
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/%ld/fd/%llu", tid, fd.bits);
    ssize_t size = readlink(link, path, sizeof path - 1);
    if (size < 0) return put_int(b, fd);
    path[size] = 0;
    static const char deleted[] = " (deleted)";
    size_t tail = sizeof deleted - 1;
    struct stat ignored;
    if ((size_t)size >= tail && memcmp(path + size - tail, deleted, tail) == 0 &&
        lstat(path, &ignored) < 0) {
        path[size - tail] = 0;
        return buf_fmt(b, "%llu<", fd.bits) < 0 || buf_str(b, path) < 0 ? -1 : buf_str(b, ">(deleted)");
    }
    if (buf_fmt(b, "%llu<", fd.bits) < 0 || buf_put(b, path, (size_t)size) < 0) return -1;
    return buf_put(b, ">", 1);
}

/* dec_dirfd: AT_FDCWD (with the working directory under -y), or an fd. */
static int put_dirfd(NativeTrace *t, Buf *b, long tid, Value fd) {
    if (!(fd.negative && (long long)fd.bits == -100)) return put_fd(t, b, tid, fd);
    if (!t->fd_paths) return buf_str(b, "AT_FDCWD");
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/%ld/cwd", tid);
    ssize_t size = readlink(link, path, sizeof path - 1);
    if (size < 0) return buf_str(b, "AT_FDCWD");
    if (buf_str(b, "AT_FDCWD<") < 0 || buf_put(b, path, (size_t)size) < 0) return -1;
    return buf_put(b, ">", 1);
}

static PyObject *value_object(Value v) {
    return v.negative ? PyLong_FromLongLong((long long)v.bits) : PyLong_FromUnsignedLongLong(v.bits);
}

/* render.quote: in double quotes, escaped as strace escapes, cut after `limit` bytes. */
static int put_quoted(Buf *b, const unsigned char *data, size_t size, size_t limit, int more) {
    int cut = size > limit;
    size_t shown = cut ? limit : size;
    if (buf_grow(b, shown * 4 + 6) < 0) return -1;
    char *at = b->data + b->len;
    *at++ = '"';
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = data[i];
        const char *escape = NULL;
        switch (c) {
        case 9: escape = "\\t"; break;
        case 10: escape = "\\n"; break;
        case 11: escape = "\\v"; break;
        case 12: escape = "\\f"; break;
        case 13: escape = "\\r"; break;
        case 34: escape = "\\\""; break;
        case 92: escape = "\\\\"; break;
        default: break;
        }
        if (escape != NULL) {
            *at++ = escape[0];
            *at++ = escape[1];
        } else if (c >= 32 && c < 127) {
            *at++ = (char)c;
        } else {
            /* An octal escape before an octal digit takes three digits ("\0" "1" is not "\01"). */
            int digit_next = i + 1 < shown && data[i + 1] >= '0' && data[i + 1] <= '7';
            at += digit_next ? sprintf(at, "\\%03o", c) : sprintf(at, "\\%o", c);
        }
    }
    *at++ = '"';
    b->len = (size_t)(at - b->data);
    return cut || more ? buf_str(b, "...") : 0;
}

/* --- Tracee memory --------------------------------------------------------------------------- */

/* Up to `size` bytes at `address` into t->scratch: the bytes read (short at an unmapped page),
 * or -errno when none could be. */
static ssize_t read_into_scratch(NativeTrace *t, long tid, unsigned long long address, size_t size) {
    t->scratch.len = 0;
    if (buf_grow(&t->scratch, size + 1) < 0) return -ENOMEM;
    size_t done = 0, planned = 0;
    while (done < size) {
        ssize_t moved = read_pages((pid_t)tid, (unsigned long)address + done,
                                   t->scratch.data + done, size - done, &planned);
        if (moved < 0 && done == 0) return moved;
        if (moved <= 0) break;
        done += (size_t)moved;
        if ((size_t)moved < planned) break;
    }
    return (ssize_t)done;
}

/* A NUL-terminated string of at most `limit` bytes into t->scratch: its length or -errno. */
static ssize_t read_cstring_into_scratch(NativeTrace *t, long tid, unsigned long long address,
                                         size_t limit) {
    t->scratch.len = 0;
    if (buf_grow(&t->scratch, limit + 1) < 0) return -ENOMEM;
    size_t have = 0;
    while (have < limit) {
        unsigned long here = (unsigned long)address + have;
        size_t chunk = 4096 - here % 4096, planned;
        if (chunk > limit - have) chunk = limit - have;
        ssize_t moved = read_pages((pid_t)tid, here, t->scratch.data + have, chunk, &planned);
        if (moved <= 0) {
            if (have == 0) return moved < 0 ? moved : -EFAULT;
            break;
        }
        char *nul = memchr(t->scratch.data + have, 0, (size_t)moved);
        if (nul != NULL) return nul - t->scratch.data;
        have += (size_t)moved;
        if ((size_t)moved < chunk) break;
    }
    return (ssize_t)have;
}

/* Context.string */
static int put_string(NativeTrace *t, Buf *b, long tid, Value address, size_t limit) {
    if (!address.negative && address.bits == 0) return buf_str(b, "NULL");
    ssize_t size = read_cstring_into_scratch(t, tid, address.bits, limit + 1);
    if (size < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (size < 0) return put_hex(b, address);
    return put_quoted(b, (unsigned char *)t->scratch.data, (size_t)size, limit, 0);
}

/* Context.buffer */
static int put_buffer(NativeTrace *t, Buf *b, long tid, Value address, Value size) {
    if (!address.negative && address.bits == 0) return buf_str(b, "NULL");
    if (size.negative || size.bits == 0) return buf_str(b, "\"\"");
    size_t limit = (size_t)t->string_limit;
    size_t want = size.bits < limit ? (size_t)size.bits : limit;
    ssize_t got = read_into_scratch(t, tid, address.bits, want);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got == -EFAULT) got = 0; /* Memory.read(partial=True): nothing readable, b"" */
    if (got < 0) return put_hex(b, address);
    return put_quoted(b, (unsigned char *)t->scratch.data, (size_t)got, limit, size.bits > limit);
}

/* --- Texts from Python, remembered per value ------------------------------------------------- */

/* The text fn(*argv) returns (a str), as UTF-8 bytes in *slot; NULL with an exception set. */
static PyObject *remember(CacheSlot *slot, unsigned long long key, PyObject *fn, PyObject **argv,
                          size_t count) {
    PyObject *text = PyObject_Vectorcall(fn, argv, count, NULL);
    if (text == NULL) return NULL;
    PyObject *bytes = PyUnicode_Check(text) ? PyUnicode_AsUTF8String(text) : NULL;
    if (bytes == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "a decoder must return a str");
    Py_DECREF(text);
    if (bytes == NULL) return NULL;
    Py_XSETREF(slot->text, bytes);
    slot->key = key;
    return bytes;
}

/* A pure decoder's text for `value` (decoder(None, value, index)); a decoder that raises shows
 * the raw value, as the Python tracer's _raw_text. */
static int put_pure(Buf *b, ArgSpec *arg, Value value) {
    CacheSlot *slot = &arg->cache[value.bits % CACHE_SLOTS];
    if (slot->text != NULL && slot->key == value.bits) return buf_bytes(b, slot->text);
    PyObject *number = value_object(value), *index = PyLong_FromLong(arg->reg);
    PyObject *bytes = NULL;
    if (number != NULL && index != NULL) {
        PyObject *argv[3] = {Py_None, number, index};
        bytes = remember(slot, value.bits, arg->decoder, argv, 3);
    }
    Py_XDECREF(number);
    Py_XDECREF(index);
    if (bytes != NULL) return buf_bytes(b, bytes);
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
    PyErr_Clear();
    return value.negative ? put_int(b, value) : put_hex(b, value);
}

static int put_mode(NativeTrace *t, Buf *b, unsigned int mode) {
    CacheSlot *slot = &t->modes[mode % MODE_SLOTS];
    if (slot->text != NULL && slot->key == mode) return buf_bytes(b, slot->text);
    PyObject *number = PyLong_FromUnsignedLong(mode);
    if (number == NULL) return -1;
    PyObject *argv[1] = {number};
    PyObject *bytes = remember(slot, mode, t->mode_of, argv, 1);
    Py_DECREF(number);
    return bytes == NULL ? -1 : buf_bytes(b, bytes);
}

static int put_error(NativeTrace *t, Buf *b, long long value) {
    PyObject **slot = &t->errors[-value];
    if (*slot == NULL) {
        PyObject *number = PyLong_FromLongLong(value);
        if (number == NULL) return -1;
        CacheSlot holder = {0, NULL, NULL};
        PyObject *argv[1] = {number};
        PyObject *bytes = remember(&holder, 0, t->error_of, argv, 1);
        Py_DECREF(number);
        if (bytes == NULL) return -1;
        *slot = bytes; /* the reference the holder took */
    }
    return buf_bytes(b, *slot);
}

/* --- Structures ---------------------------------------------------------------------------- */

static int failed_result(long long result) { return result > -4096 && result < 0; }

/* dec_stat: {st_mode=S_IFREG|0644, st_size=12, ...} of a struct stat on x86-64. */
static int put_stat(NativeTrace *t, Buf *b, long tid, Value address, long long result) {
    if ((!address.negative && address.bits == 0) || failed_result(result)) return put_pointer(b, address);
    ssize_t got = read_into_scratch(t, tid, address.bits, 144);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got != 144) return put_pointer(b, address);
    unsigned int mode;
    unsigned long long rdev;
    long long size;
    memcpy(&mode, t->scratch.data + 24, 4);
    memcpy(&rdev, t->scratch.data + 40, 8);
    memcpy(&size, t->scratch.data + 48, 8);
    unsigned int kind = mode & 0170000;
    if (buf_str(b, "{st_mode=") < 0 || put_mode(t, b, mode) < 0) return -1;
    if (kind == 020000 || kind == 060000)
        return buf_fmt(b, ", st_rdev=makedev(0x%x, 0x%x), ...}", major(rdev), minor(rdev));
    return buf_fmt(b, ", st_size=%lld, ...}", size);
}

/* dec_dirents: 0x55... / * 15 entries * / (the entries getdents64 wrote, counted). */
static int put_dirents(NativeTrace *t, Buf *b, long tid, Value address, Value limit,
                       long long result) {
    if (result < 0 || (limit.negative ? 1 : (unsigned long long)result > limit.bits))
        return put_pointer(b, address);
    ssize_t got = result ? read_into_scratch(t, tid, address.bits, (size_t)result) : 0;
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got < 0) got = 0;
    long count = 0;
    size_t offset = 0, left = (size_t)result;
    while (left >= 19 && offset + 19 <= (size_t)got) {
        count++;
        unsigned short reclen;
        memcpy(&reclen, t->scratch.data + offset + 16, 2);
        size_t step = reclen < 19 ? 19 : reclen;
        if (step > left) step = left;
        left -= step;
        offset += step;
    }
    if (put_pointer(b, address) < 0) return -1;
    return buf_fmt(b, " /* %ld%s entries */", count, left ? "+" : "");
}

/* dec_timespec: {tv_sec=1, tv_nsec=500} of a 64-bit struct timespec; at exit (`exiting`), only
 * when the call succeeded. */
static int put_timespec(NativeTrace *t, Buf *b, long tid, Value address, int exiting,
                        long long result) {
    if ((!address.negative && address.bits == 0) || (exiting && failed_result(result)))
        return put_pointer(b, address);
    ssize_t got = read_into_scratch(t, tid, address.bits, 16);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got != 16) return put_pointer(b, address);
    long long fields[2];
    memcpy(fields, t->scratch.data, sizeof fields);
    return buf_fmt(b, "{tv_sec=%lld, tv_nsec=%lld}", fields[0], fields[1]);
}

/* A structure whose text a pure Python function of its bytes gives (K_MEMORY), remembered by
 * content: Context.fetch's rules (NULL, unreadable, or at exit of a failed call: the address). */
static int put_memory(NativeTrace *t, Buf *b, ArgSpec *arg, long tid, Value address, Value size,
                      int exiting, long long result) {
    if ((!address.negative && address.bits == 0) || (exiting && failed_result(result)))
        return put_pointer(b, address);
    long want = arg->memory_size;
    if (want == 0) {
        if (size.negative || size.bits < (unsigned long long)arg->memory_min ||
            size.bits > (unsigned long long)arg->memory_max)
            return put_pointer(b, address);
        want = (long)size.bits;
    }
    ssize_t got = read_into_scratch(t, tid, address.bits, (size_t)want);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got != want) return put_pointer(b, address);
    unsigned long long hash = 1469598103934665603ULL; /* FNV-1a */
    for (long i = 0; i < want; i++) hash = (hash ^ (unsigned char)t->scratch.data[i]) * 1099511628211ULL;
    CacheSlot *slot = &arg->cache[hash % CACHE_SLOTS];
    if (slot->text != NULL && slot->key == hash && PyBytes_GET_SIZE(slot->content) == want &&
        memcmp(PyBytes_AS_STRING(slot->content), t->scratch.data, (size_t)want) == 0)
        return buf_bytes(b, slot->text);
    PyObject *content = PyBytes_FromStringAndSize(t->scratch.data, want);
    if (content == NULL) return -1;
    PyObject *argv[1] = {content};
    PyObject *bytes = remember(slot, hash, arg->decoder, argv, 1);
    if (bytes == NULL) {
        Py_DECREF(content);
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
        PyErr_Clear(); /* as put_pure: a decoder that fails shows the register */
        return put_hex(b, address);
    }
    Py_XSETREF(slot->content, content);
    return buf_bytes(b, bytes);
}

/* dec_cwd_out: the directory getcwd wrote (its result counts the final NUL), quoted. */
static int put_cwd(NativeTrace *t, Buf *b, long tid, Value address, long long result) {
    if (result <= 0) return put_pointer(b, address); /* failed, or nothing written */
    ssize_t got = result > 1 ? read_into_scratch(t, tid, address.bits, (size_t)result - 1) : 0;
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got == -EFAULT) got = 0; /* Memory.read(partial=True): nothing readable, b"" */
    if (got < 0) return put_hex(b, address);
    char *nul = memchr(t->scratch.data, 0, (size_t)got);
    size_t size = nul != NULL ? (size_t)(nul - t->scratch.data) : (size_t)got;
    return put_quoted(b, (unsigned char *)t->scratch.data, size, 4096, 0);
}

/* One argument's text. `result` is meaningful at exit only. */
static int put_argument(NativeTrace *t, Buf *b, ArgSpec *arg, long tid,
                        const unsigned long long *args, long long result) {
    Value v = narrow(args[arg->reg], arg->mask, arg->sign);
    switch (arg->kind) {
    case K_INT: return put_int(b, v);
    case K_FD: return put_fd(t, b, tid, v);
    case K_U32: return buf_fmt(b, "%llu", v.bits & 0xFFFFFFFFULL);
    case K_HEX: return !v.negative && v.bits ? put_hex(b, v) : put_int(b, v);
    case K_PTR: return put_pointer(b, v);
    case K_DIRFD: return put_dirfd(t, b, tid, v);
    case K_PATH: return put_string(t, b, tid, v, 4096);
    case K_STRING: return put_string(t, b, tid, v, (size_t)t->string_limit);
    case K_BUF_IN:
        return put_buffer(t, b, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign));
    case K_BUF_OUT:
        if (result < 0) return put_pointer(b, v);
        return put_buffer(t, b, tid, v, (Value){(unsigned long long)result, 0});
    case K_STAT: return put_stat(t, b, tid, v, result);
    case K_DIRENTS:
        return put_dirents(t, b, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign),
                           result);
    case K_PURE: return put_pure(b, arg, v);
    case K_TIMESPEC: return put_timespec(t, b, tid, v, arg->phase == PHASE_EXIT, result);
    /* dec_remaining: a timespec only for a sleep to be restarted, which Python's tracer
     * writes (native_trace_exit hands restarts over): here always the address. */
    case K_REMAINING: return put_pointer(b, v);
    case K_MEMORY:
        return put_memory(t, b, arg, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign),
                          arg->phase == PHASE_EXIT, result);
    case K_CWD: return put_cwd(t, b, tid, v, result);
    default: PyErr_SetString(PyExc_ValueError, "native trace: unknown argument kind"); return -1;
    }
}

/* --- Specs ----------------------------------------------------------------------------------- */

static void clear_variant(Variant *variant) {
    Py_CLEAR(variant->ret_of);
    for (int j = 0; j < CACHE_SLOTS; j++) Py_CLEAR(variant->ret_cache[j].text);
    for (int i = 0; i < 6; i++) {
        Py_CLEAR(variant->args[i].decoder);
        for (int j = 0; j < CACHE_SLOTS; j++) {
            Py_CLEAR(variant->args[i].cache[j].text);
            Py_CLEAR(variant->args[i].cache[j].content);
        }
    }
}

static void clear_spec(CallSpec *spec) {
    Py_CLEAR(spec->stats);
    Py_CLEAR(spec->syscall);
    Py_CLEAR(spec->name);
    for (int i = 0; i < spec->nvariants; i++) {
        clear_variant(spec->variants[i]);
        PyMem_Free(spec->variants[i]);
    }
    spec->nvariants = 0;
}

/* From spec_of(syscall, key): (name: bytes, result kind, ret_of|None, ((reg, kind, phase,
 * mask, sign, size_reg, size_mask, size_sign, decoder|None), ...)). 0, or -1 (an exception). */
static int parse_variant(Variant *variant, PyObject *tuple) {
    PyObject *name, *ret_of, *arguments;
    if (!PyArg_ParseTuple(tuple, "O!iOO!", &PyBytes_Type, &name, &variant->ret_kind, &ret_of,
                          &PyTuple_Type, &arguments))
        return -1;
    if (PyTuple_GET_SIZE(arguments) > 6 || variant->ret_kind < R_INT || variant->ret_kind > R_PURE ||
        (variant->ret_kind == R_PURE && ret_of == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "native trace: malformed spec");
        return -1;
    }
    Py_INCREF(ret_of);
    variant->ret_of = ret_of;
    variant->nargs = (int)PyTuple_GET_SIZE(arguments);
    for (int i = 0; i < variant->nargs; i++) {
        ArgSpec *arg = &variant->args[i];
        int reg, kind, phase, size_reg;
        PyObject *decoder;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(arguments, i), "iiiKKiKKOlll", &reg, &kind, &phase,
                              &arg->mask, &arg->sign, &size_reg, &arg->size_mask, &arg->size_sign,
                              &decoder, &arg->memory_size, &arg->memory_min, &arg->memory_max))
            return -1;
        int needs_decoder = kind == K_PURE || kind == K_MEMORY;
        if (reg < 0 || reg > 5 || size_reg < 0 || size_reg > 5 || kind < 0 || kind >= K_COUNT ||
            (phase != PHASE_ENTRY && phase != PHASE_EXIT) || (needs_decoder && decoder == Py_None) ||
            arg->memory_size < 0 || arg->memory_size > 4096 || arg->memory_max > 4096) {
            PyErr_SetString(PyExc_ValueError, "native trace: malformed argument spec");
            return -1;
        }
        arg->reg = (unsigned char)reg;
        arg->kind = (unsigned char)kind;
        arg->phase = (unsigned char)phase;
        arg->size_reg = (unsigned char)size_reg;
        Py_INCREF(decoder);
        arg->decoder = decoder;
    }
    return 0;
}

/* The spec of call number `nr`, made on its first call: resolve(nr) gives None (nobody watches
 * the call), False (Python serves it: a handler or another observer wants it) or (stats,
 * syscall), and key_of(syscall) the (register, mask) that picks its variant. NULL: an
 * exception. */
static CallSpec *spec_for(NativeTrace *t, int nr, PyObject *resolve) {
    if (t->specs[nr] != NULL) return t->specs[nr];
    CallSpec *spec = PyMem_Calloc(1, sizeof *spec);
    if (spec == NULL) return (CallSpec *)PyErr_NoMemory();
    PyObject *route = PyObject_CallFunction(resolve, "i", nr), *key = NULL;
    int ok = route != NULL;
    spec->watched = ok && route != Py_None;
    if (ok && PyTuple_Check(route)) {
        PyObject *stats, *syscall;
        ok = PyArg_ParseTuple(route, "OO", &stats, &syscall);
        if (ok) ok = (key = PyObject_CallOneArg(t->key_of, syscall)) != NULL;
        if (ok) ok = PyArg_ParseTuple(key, "iK", &spec->key_reg, &spec->key_mask);
        if (ok && (spec->key_reg < 0 || spec->key_reg > 5)) {
            PyErr_SetString(PyExc_ValueError, "native trace: malformed key");
            ok = 0;
        }
        if (ok) {
            Py_INCREF(stats);
            spec->stats = stats;
            Py_INCREF(syscall);
            spec->syscall = syscall;
            spec->native = 1;
        }
    }
    Py_XDECREF(route);
    Py_XDECREF(key);
    if (!ok) {
        clear_spec(spec);
        PyMem_Free(spec);
        return NULL;
    }
    t->specs[nr] = spec;
    return spec;
}

/* The variant of `spec` for `key`, made on its first call by spec_of(syscall, key); NULL with
 * no exception set when Python must write these calls. */
static Variant *variant_for(NativeTrace *t, CallSpec *spec, unsigned long long key) {
    for (int i = 0; i < spec->nvariants; i++)
        if (spec->variants[i]->key == key) return spec->variants[i]->native ? spec->variants[i] : NULL;
    if (spec->nvariants == MAX_VARIANTS) return NULL; /* a call that takes many shapes */
    Variant *variant = PyMem_Calloc(1, sizeof *variant);
    if (variant == NULL) return (Variant *)PyErr_NoMemory();
    variant->key = key;
    PyObject *described = PyObject_CallFunction(t->spec_of, "OK", spec->syscall, key);
    int ok = described != NULL;
    if (ok && described != Py_None) {
        ok = parse_variant(variant, described) == 0;
        if (ok && spec->name == NULL) {
            spec->name = PyTuple_GET_ITEM(described, 0);
            Py_INCREF(spec->name);
        }
        variant->native = ok;
    }
    Py_XDECREF(described);
    if (!ok) {
        clear_variant(variant);
        PyMem_Free(variant);
        return NULL;
    }
    spec->variants[spec->nvariants++] = variant;
    return variant->native ? variant : NULL;
}

static double wall_clock(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* what time.time() reads */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* --- Records --------------------------------------------------------------------------------- */

static Record *find_record(NativeTrace *t, long tid) {
    for (int i = 0; i < t->nrecords; i++)
        if (t->records[i].tid == tid) return &t->records[i];
    return NULL;
}

static void drop_record(NativeTrace *t, Record *record) {
    PyMem_Free(record->text.data);
    int index = (int)(record - t->records);
    t->records[index] = t->records[--t->nrecords];
}

static Record *new_record(NativeTrace *t) {
    if (t->nrecords == t->caprecords) {
        int cap = t->caprecords ? t->caprecords * 2 : 4;
        Record *records = PyMem_Realloc(t->records, (size_t)cap * sizeof *records);
        if (records == NULL) return (Record *)PyErr_NoMemory();
        t->records = records;
        t->caprecords = cap;
    }
    Record *record = &t->records[t->nrecords++];
    memset(record, 0, sizeof *record);
    record->shown = -1;
    return record;
}

int native_trace_has(PyObject *self, long tid) {
    NativeTrace *t = (NativeTrace *)self;
    return t->nrecords && find_record(t, tid) != NULL;
}

/* The entry stop of `tid` (a seccomp stop, or a syscall-entry stop of the ptrace backend; the
 * task known to the engine, no call of it pending, not rewritten): NATIVE_SERVED when served
 * (entry texts decoded, resumed towards its exit stop), NATIVE_UNWATCHED when nobody watches
 * the call, NATIVE_TO_PYTHON when Python must serve it, -1 with an exception set. */
int native_trace_entry(PyObject *self, long tid, const struct syscall_info *info, PyObject *resolve) {
    NativeTrace *t = (NativeTrace *)self;
    if ((info->op != INFO_SECCOMP && info->op != INFO_ENTRY) || info->arch != AUDIT_ARCH_X86_64 ||
        info->seccomp.nr >= MAX_NR) /* (entry and seccomp share the layout of nr and args) */
        return NATIVE_TO_PYTHON;
    int nr = (int)info->seccomp.nr;
    CallSpec *spec = spec_for(t, nr, resolve);
    if (spec == NULL) return -1;
    if (!spec->watched) return NATIVE_UNWATCHED;
    if (!spec->native || find_record(t, tid) != NULL) return NATIVE_TO_PYTHON;
    Variant *variant = variant_for(t, spec, info->seccomp.args[spec->key_reg] & spec->key_mask);
    if (variant == NULL) return PyErr_Occurred() ? -1 : NATIVE_TO_PYTHON;
    Record *record = new_record(t);
    if (record == NULL) return -1;
    record->tid = tid;
    record->nr = nr;
    record->variant = variant;
    memcpy(record->args, info->seccomp.args, sizeof record->args);
    record->ip = info->instruction_pointer;
    record->sp = info->stack_pointer;
    for (int i = 0; i < variant->nargs; i++) {
        if (variant->args[i].phase != PHASE_ENTRY) continue;
        record->start[i] = record->text.len;
        if (put_argument(t, &record->text, &variant->args[i], tid, record->args, 0) < 0) goto fail;
        record->length[i] = record->text.len - record->start[i];
        record->have[i] = 1;
    }
    /* What TraceObserver.call_entered does besides decoding: the thread is live, and a call of
     * it that never finished (a restarted one) is forgotten. */
    PyObject *key = PyLong_FromLong(tid);
    if (key == NULL) goto fail;
    int failed = PySet_Add(t->live, key) < 0;
    if (!failed && PyDict_Contains(t->pending, key) == 1) failed = PyDict_DelItem(t->pending, key) < 0;
    if (!failed && PyDict_Contains(t->unshown, key) == 1) failed = PyDict_DelItem(t->unshown, key) < 0;
    Py_DECREF(key);
    if (failed || PyErr_Occurred()) goto fail;
    if (count_for_route(spec->stats, COUNT_STOPS, 1) < 0 || count_for_route(spec->stats, COUNT_PASSED, 1) < 0) goto fail;
    record->started = wall_clock();
    long resumed = raw_ptrace(PTRACE_SYSCALL, tid, 0, 0);
    if (resumed < 0 && resumed != -ESRCH) {
        errno = (int)-resumed;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, "ptrace resume");
        goto fail;
    }
    return NATIVE_SERVED;
fail:
    drop_record(t, record);
    return -1;
}

/* Whether a call Python's tracer has pending, other than tid's, has not had its
 * "<unfinished ...>" line yet (TraceObserver._unshown): finishing a call would write it. */
static int python_unshown(NativeTrace *t, long tid) {
    Py_ssize_t count = PyDict_GET_SIZE(t->unshown);
    if (count != 1) return count > 1;
    Py_ssize_t position = 0;
    PyObject *key, *value;
    PyDict_Next(t->unshown, &position, &key, &value);
    long only = PyLong_AsLong(key);
    if (only == -1 && PyErr_Occurred()) return -1;
    return only != tid;
}

/* The -t/-tt stamp of a call that entered at `when`, as the Python tracer writes it. */
static int put_stamp(Buf *b, double when, int precision) {
    time_t seconds = (time_t)when;
    struct tm local;
    char clock[16];
    if (localtime_r(&seconds, &local) == NULL || strftime(clock, sizeof clock, "%H:%M:%S", &local) == 0)
        return buf_str(b, "??:??:?? ");
    if (precision > 1) return buf_fmt(b, "%s.%06d ", clock, (int)(fmod(when, 1.0) * 1e6));
    return buf_fmt(b, "%s ", clock);
}

/* An R_PURE result: ret_of(result)'s text, or the number where it gives None. */
static int put_result_text(Buf *b, Variant *variant, long long result) {
    unsigned long long key = (unsigned long long)result;
    CacheSlot *slot = &variant->ret_cache[key % CACHE_SLOTS];
    if (slot->text == NULL || slot->key != key) {
        PyObject *text = PyObject_CallFunction(variant->ret_of, "L", result);
        if (text == NULL) return -1;
        PyObject *bytes = text;
        if (text != Py_None) {
            bytes = PyUnicode_Check(text) ? PyUnicode_AsUTF8String(text) : NULL;
            Py_DECREF(text);
            if (bytes == NULL) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a result text must be a str");
                return -1;
            }
        }
        Py_XSETREF(slot->text, bytes);
        slot->key = key;
    }
    return slot->text == Py_None ? buf_fmt(b, "%lld", result) : buf_bytes(b, slot->text);
}

static int flush(NativeTrace *t) {
    if (t->out.len == 0) return 0;
    PyObject *text = PyUnicode_DecodeUTF8(t->out.data, (Py_ssize_t)t->out.len, "replace");
    t->out.len = 0;
    if (text == NULL) return -1;
    PyObject *written = PyObject_CallOneArg(t->write, text);
    Py_DECREF(text);
    if (written != NULL) {
        Py_DECREF(written);
        return 0;
    }
    /* An observer's failure is reported, not fatal (the program must not pay for a broken
     * trace stream: a full disk); a BaseException such as KeyboardInterrupt goes on. */
    if (t->on_error == NULL || !PyErr_ExceptionMatches(PyExc_Exception)) return -1;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) PyException_SetTraceback(value, traceback);
    PyObject *reported = PyObject_CallOneArg(t->on_error, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    if (reported == NULL) return -1;
    Py_DECREF(reported);
    return 0;
}

/* `name(known, args,  <unfinished ...>`: a call still in the kernel when another thread's
 * line is written, as far as the arguments decoded at entry go (Python's
 * _print_unfinished_others: "read(3,  <unfinished ...>" but "close(3 <unfinished ...>"). */
static int put_unfinished(NativeTrace *t, Buf *out, Record *record) {
    Variant *variant = record->variant;
    int known = 0;
    while (known < variant->nargs && record->have[known]) known++;
    if (PySet_GET_SIZE(t->live) > 1 && buf_fmt(out, "[pid %5ld] ", record->tid) < 0) return -1;
    if (t->timestamps && put_stamp(out, record->started, t->timestamps) < 0) return -1;
    if (buf_bytes(out, t->specs[record->nr]->name) < 0 || buf_put(out, "(", 1) < 0) return -1;
    for (int i = 0; i < known; i++) {
        if (i && buf_put(out, ", ", 2) < 0) return -1;
        if (buf_put(out, record->text.data + record->start[i], record->length[i]) < 0) return -1;
    }
    if (known > 0 && known < variant->nargs && buf_put(out, ", ", 2) < 0) return -1;
    if (buf_str(out, " <unfinished ...>\n") < 0) return -1;
    record->shown = known;
    return 0;
}

/* The exit stop of a call served at entry: 1 when its line is written and the thread resumed
 * with `request`; 0 when Python must finish it (a restart, another thread's call to show as
 * unfinished first...); -1 with an exception set. */
int native_trace_exit(PyObject *self, long tid, const struct syscall_info *info, long request) {
    NativeTrace *t = (NativeTrace *)self;
    Record *record = find_record(t, tid);
    if (record == NULL || info->op != INFO_EXIT) return 0;
    long long result = info->exit.rval;
    if (result <= -512 && result >= -516) return 0; /* -ERESTART*: Python knows what follows */
    int unshown = python_unshown(t, tid);
    if (unshown) return unshown < 0 ? -1 : 0;
    CallSpec *spec = t->specs[record->nr];
    Variant *variant = record->variant;
    Buf *out = &t->out;
    size_t rollback = out->len;
    /* The other threads' calls still in the kernel are shown as unfinished first, as
     * TraceObserver._print_unfinished_others does (Python's own have all been: see above). */
    for (int i = 0; i < t->nrecords; i++)
        if (&t->records[i] != record && t->records[i].shown < 0 &&
            put_unfinished(t, out, &t->records[i]) < 0)
            goto fail;
    if (PySet_GET_SIZE(t->live) > 1 && buf_fmt(out, "[pid %5ld] ", tid) < 0) goto fail;
    if (t->timestamps && put_stamp(out, record->started, t->timestamps) < 0) goto fail;
    size_t line = out->len;
    int first = record->shown >= 0 ? record->shown : 0;
    if (record->shown >= 0) {
        if (buf_str(out, "<... ") < 0 || buf_bytes(out, spec->name) < 0 ||
            buf_str(out, " resumed>") < 0)
            goto fail;
    } else if (buf_bytes(out, spec->name) < 0 || buf_put(out, "(", 1) < 0) {
        goto fail;
    }
    for (int i = first; i < variant->nargs; i++) {
        if (i > first && buf_put(out, ", ", 2) < 0) goto fail;
        if (record->have[i]) {
            if (buf_put(out, record->text.data + record->start[i], record->length[i]) < 0) goto fail;
        } else if (put_argument(t, out, &variant->args[i], tid, record->args, result) < 0) {
            goto fail;
        }
    }
    if (buf_put(out, ")", 1) < 0) goto fail;
    /* strace lines up the results at column 40 (counted in characters, as Python's format),
     * but not those of a resumed line. */
    size_t characters = 0;
    for (size_t i = line; i < out->len; i++) characters += ((unsigned char)out->data[i] & 0xC0) != 0x80;
    for (; record->shown < 0 && characters < 39; characters++)
        if (buf_put(out, " ", 1) < 0) goto fail;
    if (buf_put(out, " = ", 3) < 0) goto fail;
    int failed = failed_result(result), written;
    if (failed)
        written = put_error(t, out, result);
    else if (variant->ret_kind == R_PURE)
        written = put_result_text(out, variant, result);
    else if (variant->ret_kind == R_HEX)
        written = put_hex(out, (Value){(unsigned long long)result, result < 0});
    else if (variant->ret_kind == R_FD)
        written = put_fd(t, out, tid, (Value){(unsigned long long)result, result < 0});
    else
        written = buf_fmt(out, "%lld", result);
    if (written < 0) goto fail;
    double spent = wall_clock() - record->started;
    if (t->durations && buf_fmt(out, " <%.6f>", spent) < 0) goto fail;
    if (buf_put(out, "\n", 1) < 0) goto fail;
    spec->calls++;
    spec->errors += failed;
    spec->seconds += spent;
    drop_record(t, record);
    /* On a terminal the line goes out before the program runs on, so that what it writes
     * next comes after it, as with strace. */
    if ((t->each_line || out->len >= FLUSH_AT) && flush(t) < 0) return -1;
    long resumed = raw_ptrace(request, tid, 0, 0);
    if (resumed < 0 && resumed != -ESRCH) {
        errno = (int)-resumed;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, "ptrace resume");
        return -1;
    }
    return 1;
fail:
    out->len = rollback;
    return -1;
}

/* Before Python gets a stop: every call served at entry is handed over, as if Python had seen
 * its entry (adopt(tid, nr, raw, ip, sp) gives the engine's Call; adopt_of(call, texts, started)
 * tells the tracer), and the lines so far are written. 0, or -1 with an exception set. */
int native_trace_yield(PyObject *self, PyObject *adopt) {
    NativeTrace *t = (NativeTrace *)self;
    if (flush(t) < 0) return -1;
    while (t->nrecords) {
        Record *record = &t->records[t->nrecords - 1];
        Variant *variant = record->variant;
        PyObject *raw = PyTuple_New(6), *texts = PyList_New(variant->nargs), *call = NULL;
        int ok = raw != NULL && texts != NULL;
        for (int i = 0; ok && i < 6; i++) {
            PyObject *value = PyLong_FromUnsignedLongLong(record->args[i]);
            ok = value != NULL;
            if (ok) PyTuple_SET_ITEM(raw, i, value);
        }
        for (int i = 0; ok && i < variant->nargs; i++) {
            PyObject *text = Py_None;
            Py_INCREF(text);
            if (record->have[i]) {
                Py_DECREF(text);
                text = PyUnicode_DecodeUTF8(record->text.data + record->start[i],
                                            (Py_ssize_t)record->length[i], "replace");
            }
            ok = text != NULL;
            if (ok) PyList_SET_ITEM(texts, i, text);
        }
        if (ok) {
            call = PyObject_CallFunction(adopt, "liOKK", record->tid, record->nr, raw, record->ip,
                                         record->sp);
            ok = call != NULL;
        }
        if (ok && call != Py_None) {
            PyObject *done = PyObject_CallFunction(t->adopt_of, "OOdi", call, texts, record->started,
                                                   record->shown);
            ok = done != NULL;
            Py_XDECREF(done);
        }
        Py_XDECREF(raw);
        Py_XDECREF(texts);
        Py_XDECREF(call);
        drop_record(t, record);
        if (!ok) return -1;
    }
    return 0;
}

int native_trace_flush(PyObject *self) { return flush((NativeTrace *)self); }

/* On the way out with an exception: write what is collected, keeping that exception. */
void native_trace_flush_quietly(PyObject *self) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (flush((NativeTrace *)self) < 0) PyErr_Clear();
    PyErr_Restore(type, value, traceback);
}

/* --- The Python type --------------------------------------------------------------------------- */

static void forget_specs(NativeTrace *t) {
    for (int nr = 0; nr < MAX_NR; nr++) {
        if (t->specs[nr] == NULL) continue;
        clear_spec(t->specs[nr]);
        PyMem_Free(t->specs[nr]);
        t->specs[nr] = NULL;
    }
}

static int nt_init(NativeTrace *t, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"write", "live", "pending", "unshown", "key_of", "spec_of",
                            "adopt_of", "mode_of", "error_of", "string_limit", "fd_paths",
                            "timestamps", "durations", "each_line", NULL};
    PyObject *write, *live, *pending, *unshown, *key_of, *spec_of, *adopt_of, *mode_of, *error_of;
    long limit;
    int fd_paths = 0, timestamps = 0, durations = 0, each_line = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!O!O!OOOOOl|pipp", names, &write,
                                     &PySet_Type, &live, &PyDict_Type, &pending, &PyDict_Type,
                                     &unshown, &key_of, &spec_of, &adopt_of, &mode_of, &error_of,
                                     &limit, &fd_paths, &timestamps, &durations, &each_line))
        return -1;
    if (limit < 0 || limit > (1L << 20)) {
        PyErr_SetString(PyExc_ValueError, "string_limit out of range");
        return -1;
    }
    PyObject **slots[] = {&t->write, &t->live, &t->pending, &t->unshown, &t->key_of,
                          &t->spec_of, &t->adopt_of, &t->mode_of, &t->error_of};
    PyObject *values[] = {write, live, pending, unshown, key_of, spec_of, adopt_of, mode_of,
                          error_of};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        Py_INCREF(values[i]);
        Py_XSETREF(*slots[i], values[i]);
    }
    t->string_limit = limit;
    t->fd_paths = fd_paths;
    t->timestamps = timestamps;
    t->durations = durations;
    t->each_line = each_line;
    return 0;
}

static int nt_traverse(NativeTrace *t, visitproc visit, void *arg) {
    Py_VISIT(t->write);
    Py_VISIT(t->live);
    Py_VISIT(t->pending);
    Py_VISIT(t->unshown);
    Py_VISIT(t->key_of);
    Py_VISIT(t->spec_of);
    Py_VISIT(t->adopt_of);
    Py_VISIT(t->mode_of);
    Py_VISIT(t->error_of);
    Py_VISIT(t->on_error);
    for (int nr = 0; nr < MAX_NR; nr++) {
        CallSpec *spec = t->specs[nr];
        if (spec == NULL) continue;
        Py_VISIT(spec->stats);
        Py_VISIT(spec->syscall);
        for (int v = 0; v < spec->nvariants; v++) {
            Py_VISIT(spec->variants[v]->ret_of);
            for (int i = 0; i < spec->variants[v]->nargs; i++) Py_VISIT(spec->variants[v]->args[i].decoder);
        }
    }
    return 0;
}

static int nt_clear(NativeTrace *t) {
    Py_CLEAR(t->write);
    Py_CLEAR(t->live);
    Py_CLEAR(t->pending);
    Py_CLEAR(t->unshown);
    Py_CLEAR(t->key_of);
    Py_CLEAR(t->spec_of);
    Py_CLEAR(t->adopt_of);
    Py_CLEAR(t->mode_of);
    Py_CLEAR(t->error_of);
    Py_CLEAR(t->on_error);
    forget_specs(t);
    for (int i = 0; i < MODE_SLOTS; i++) Py_CLEAR(t->modes[i].text);
    for (int i = 0; i < ERRNO_LIMIT; i++) Py_CLEAR(t->errors[i]);
    return 0;
}

static void nt_dealloc(NativeTrace *t) {
    PyObject_GC_UnTrack(t);
    nt_clear(t);
    while (t->nrecords) drop_record(t, &t->records[t->nrecords - 1]);
    PyMem_Free(t->records);
    PyMem_Free(t->out.data);
    PyMem_Free(t->scratch.data);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *nt_begin(NativeTrace *t, PyObject *on_error) {
    /* A new run: its routes (and their stats) are not the last run's. */
    Py_INCREF(on_error);
    Py_XSETREF(t->on_error, on_error);
    forget_specs(t);
    while (t->nrecords) drop_record(t, &t->records[t->nrecords - 1]);
    Py_RETURN_NONE;
}

static PyObject *nt_take_summary(NativeTrace *t, PyObject *unused) {
    PyObject *rows = PyList_New(0);
    if (rows == NULL) return NULL;
    for (int nr = 0; nr < MAX_NR; nr++) {
        CallSpec *spec = t->specs[nr];
        if (spec == NULL || spec->calls == 0 || spec->name == NULL) continue;
        PyObject *row = Py_BuildValue("(NLLd)", PyUnicode_DecodeUTF8(PyBytes_AS_STRING(spec->name),
                                                                     PyBytes_GET_SIZE(spec->name),
                                                                     "replace"),
                                      spec->calls, spec->errors, spec->seconds);
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
        spec->calls = spec->errors = 0;
        spec->seconds = 0.0;
    }
    return rows;
}

static PyObject *nt_flush(NativeTrace *t, PyObject *unused) {
    if (flush(t) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef nt_methods[] = {
    {"begin", (PyCFunction)nt_begin, METH_O,
     "begin(on_error): forget the last run's routes; on_error(exception) is told of a write"
     " to the trace stream that raised (call before each run)."},
    {"take_summary", (PyCFunction)nt_take_summary, METH_NOARGS,
     "take_summary() -> [(name, calls, errors, seconds)] of the calls written here since the"
     " last take, per syscall."},
    {"flush", (PyCFunction)nt_flush, METH_NOARGS, "flush(): write the lines collected so far."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject NativeTraceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sysemu.kernel._speedups.NativeTrace",
    .tp_basicsize = sizeof(NativeTrace),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "NativeTrace(write, live, pending, unshown, key_of, spec_of, adopt_of, mode_of, error_of, "
              "string_limit, fd_paths=False, timestamps=0, durations=False, each_line=False): strace-style lines of the calls whose arguments C can decode, "
              "written by the C wait loop (see _tracefmt.c).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)nt_init,
    .tp_dealloc = (destructor)nt_dealloc,
    .tp_traverse = (traverseproc)nt_traverse,
    .tp_clear = (inquiry)nt_clear,
    .tp_methods = nt_methods,
};

int native_trace_ready(PyObject *module) {
    if (PyType_Ready(&NativeTraceType) < 0) return -1;
    Py_INCREF(&NativeTraceType);
    if (PyModule_AddObject(module, "NativeTrace", (PyObject *)&NativeTraceType) < 0) {
        Py_DECREF(&NativeTraceType);
        return -1;
    }
    return 0;
}
