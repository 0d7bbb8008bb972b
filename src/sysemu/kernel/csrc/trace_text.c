/* the C trace writer's texts: see trace_text.h. */
#define PY_SSIZE_T_CLEAN
#include "trace_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "tracee.h"

/* --- Buffers ------------------------------------------------------------------------------ */

int buf_grow_slow(Buf *b, size_t more) {
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



int buf_fmt(Buf *b, const char *format, ...) {
    char text[96];
    va_list ap;
    va_start(ap, format);
    int size = vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    return buf_put(b, text, (size_t)size < sizeof text ? (size_t)size : sizeof text - 1);
}

int buf_bytes(Buf *b, PyObject *bytes) {
    return buf_put(b, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
}

/* --- Values, as Args.value narrows a register to its C type ------------------------------- */


static Value narrow(unsigned long long raw, unsigned long long mask, unsigned long long sign) {
    Value value = {raw & mask, 0};
    if (sign && (value.bits & sign)) {
        value.negative = 1;
        value.bits |= ~mask;
    }
    return value;
}

int put_int(Buf *b, Value v) {
    return v.negative ? buf_fmt(b, "%lld", (long long)v.bits) : buf_fmt(b, "%llu", v.bits);
}

/* Python's hex(): -0x5 for a negative value. */
int put_hex(Buf *b, Value v) {
    return v.negative ? buf_fmt(b, "-0x%llx", ~v.bits + 1) : buf_fmt(b, "0x%llx", v.bits);
}

static int put_pointer(Buf *b, Value v) {
    return !v.negative && v.bits == 0 ? buf_str(b, "NULL") : put_hex(b, v);
}

/* Context.fd: `3</etc/hostname>` under -y (the link /proc shows; an unlinked file's
 * " (deleted)" moved out of the brackets, as strace does), else the number. */
int put_fd(struct trace_format *t, Buf *b, long tid, Value fd) {
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
static int put_dirfd(struct trace_format *t, Buf *b, long tid, Value fd) {
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
static ssize_t read_into_scratch(struct trace_format *t, long tid, unsigned long long address,
                                 size_t size) {
    t->scratch.len = 0;
    if (buf_grow(&t->scratch, size + 1) < 0) return -ENOMEM;
    return read_memory_into((pid_t)tid, (unsigned long)address, t->scratch.data, size);
}

/* A NUL-terminated string of at most `limit` bytes into t->scratch: its length or -errno. */
static ssize_t read_cstring_into_scratch(struct trace_format *t, long tid,
                                         unsigned long long address, size_t limit) {
    t->scratch.len = 0;
    if (buf_grow(&t->scratch, limit + 1) < 0) return -ENOMEM;
    return read_cstring_into((pid_t)tid, (unsigned long)address, t->scratch.data, limit, 1);
}

/* Context.string */
static int put_string(struct trace_format *t, Buf *b, long tid, Value address, size_t limit) {
    if (!address.negative && address.bits == 0) return buf_str(b, "NULL");
    ssize_t size = read_cstring_into_scratch(t, tid, address.bits, limit + 1);
    if (size < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (size < 0) return put_hex(b, address);
    return put_quoted(b, (unsigned char *)t->scratch.data, (size_t)size, limit, 0);
}

/* Context.buffer */
static int put_buffer(struct trace_format *t, Buf *b, long tid, Value address, Value size) {
    if (!address.negative && address.bits == 0) return buf_str(b, "NULL");
    if (size.negative || size.bits == 0) return buf_str(b, "\"\"");
    size_t limit = (size_t)t->string_limit;
    /* one byte past the limit is read too, as strace does to see the buffer go on */
    size_t want = size.bits <= limit ? (size_t)size.bits : limit + 1;
    ssize_t got = read_into_scratch(t, tid, address.bits, want);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    /* Context.buffer: all that is shown is read, or the address is */
    if (got < 0 || (size_t)got < want) return put_hex(b, address);
    return put_quoted(b, (unsigned char *)t->scratch.data, (size_t)got, limit, size.bits > limit);
}

/* --- Texts from Python, remembered per value ------------------------------------------------- */

/* The text fn(*argv) returns (a str), as UTF-8 bytes in *slot; NULL with an exception set. */
PyObject *remember(CacheSlot *slot, unsigned long long key, PyObject *fn, PyObject **argv,
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

static int put_mode(struct trace_format *t, Buf *b, unsigned int mode) {
    CacheSlot *slot = &t->modes[mode % MODE_SLOTS];
    if (slot->text != NULL && slot->key == mode) return buf_bytes(b, slot->text);
    PyObject *number = PyLong_FromUnsignedLong(mode);
    if (number == NULL) return -1;
    PyObject *argv[1] = {number};
    PyObject *bytes = remember(slot, mode, t->mode_of, argv, 1);
    Py_DECREF(number);
    return bytes == NULL ? -1 : buf_bytes(b, bytes);
}

int put_error(struct trace_format *t, Buf *b, long long value) {
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



/* dec_stat: {st_mode=S_IFREG|0644, st_size=12, ...} of a struct stat on the native ABI (arch.h). */
static int put_stat(struct trace_format *t, Buf *b, long tid, Value address, long long result) {
    if ((!address.negative && address.bits == 0) || failed_result(result)) return put_pointer(b, address);
    ssize_t got = read_into_scratch(t, tid, address.bits, ARCH_STAT_SIZE);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got != ARCH_STAT_SIZE) return put_pointer(b, address);
    unsigned int mode;
    unsigned long long rdev;
    long long size;
    memcpy(&mode, t->scratch.data + ARCH_STAT_MODE_OFFSET, 4);
    memcpy(&rdev, t->scratch.data + ARCH_STAT_RDEV_OFFSET, 8);
    memcpy(&size, t->scratch.data + ARCH_STAT_SIZE_OFFSET, 8);
    unsigned int kind = mode & 0170000;
    if (buf_str(b, "{st_mode=") < 0 || put_mode(t, b, mode) < 0) return -1;
    if (kind == 020000 || kind == 060000)
        return buf_fmt(b, ", st_rdev=makedev(0x%x, 0x%x), ...}", major(rdev), minor(rdev));
    return buf_fmt(b, ", st_size=%lld, ...}", size);
}

/* dec_dirents: 0x55... / * 15 entries * / (the entries getdents64 wrote, counted). */
static int put_dirents(struct trace_format *t, Buf *b, long tid, Value address, Value limit,
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
static int put_timespec(struct trace_format *t, Buf *b, long tid, Value address, int exiting,
                        long long result) {
    if ((!address.negative && address.bits == 0) || (exiting && failed_result(result)))
        return put_pointer(b, address);
    ssize_t got = read_into_scratch(t, tid, address.bits, ARCH_TIMESPEC_SIZE);
    if (got < 0 && PyErr_Occurred()) return -1; /* our memory, not the tracee's */
    if (got != ARCH_TIMESPEC_SIZE) return put_pointer(b, address);
    long long seconds;
    unsigned long long nanoseconds; /* shown unsigned, as strace zero-extends it */
    memcpy(&seconds, t->scratch.data, sizeof seconds);
    memcpy(&nanoseconds, t->scratch.data + sizeof seconds, sizeof nanoseconds);
    return buf_fmt(b, "{tv_sec=%lld, tv_nsec=%llu}", seconds, nanoseconds);
}

/* A structure whose text a pure Python function of its bytes gives (K_MEMORY), remembered by
 * content: Context.fetch's rules (NULL, unreadable, or at exit of a failed call: the address). */
static int put_memory(struct trace_format *t, Buf *b, ArgSpec *arg, long tid, Value address, Value size,
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
static int put_cwd(struct trace_format *t, Buf *b, long tid, Value address, long long result) {
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
int put_argument(struct trace_format *t, Buf *b, ArgSpec *arg, long tid,
                        const unsigned long long *args, long long result) {
    Value v = narrow(args[arg->reg], arg->mask, arg->sign);
    switch (arg->kind) {
    case K_INT: return put_int(b, v);
    case K_FD: return put_fd(t, b, tid, v);
    case K_U32: return buf_fmt(b, "%llu", v.bits & 0xFFFFFFFFULL);
    case K_HEX: return !v.negative && v.bits ? put_hex(b, v) : put_int(b, v);
    case K_PTR: return put_pointer(b, v);
    case K_DIRFD: return put_dirfd(t, b, tid, v);
    case K_PATH: return put_string(t, b, tid, v, 4095); /* PATH_MAX - 1, as strace */
    case K_STRING: return put_string(t, b, tid, v, (size_t)t->string_limit);
    case K_BUF_IN:
        return put_buffer(t, b, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign));
    case K_BUF_OUT: {
        if (result < 0) return put_pointer(b, v);
        /* not more than the buffer holds (recv with MSG_TRUNC returns the datagram's size) */
        Value room = narrow(args[arg->size_reg], arg->size_mask, arg->size_sign);
        /* memory_min set: a size query (a size of 0) shows the address (getxattr) */
        if (arg->memory_min && !room.negative && room.bits == 0) return put_pointer(b, v);
        unsigned long long shown = (unsigned long long)result;
        if (!room.negative && room.bits < shown) shown = room.bits;
        return put_buffer(t, b, tid, v, (Value){shown, 0});
    }
    case K_STAT: return put_stat(t, b, tid, v, result);
    case K_DIRENTS:
        return put_dirents(t, b, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign),
                           result);
    case K_PURE: return put_pure(b, arg, v);
    case K_TIMESPEC: return put_timespec(t, b, tid, v, arg->phase == PHASE_EXIT, result);
    /* dec_remaining: a timespec only for a sleep to be restarted, which Python's tracer
     * writes (c_writer_exit hands restarts over): here always the address. */
    case K_REMAINING: return put_pointer(b, v);
    case K_MEMORY:
        return put_memory(t, b, arg, tid, v, narrow(args[arg->size_reg], arg->size_mask, arg->size_sign),
                          arg->phase == PHASE_EXIT, result);
    case K_CWD: return put_cwd(t, b, tid, v, result);
    default: PyErr_SetString(PyExc_ValueError, "C trace writer: unknown argument kind"); return -1;
    }
}

/* The -t/-tt stamp of a call that entered at `when`, as the Python tracer writes it. */
int put_stamp(Buf *b, double when, int precision) {
    time_t seconds = (time_t)when;
    struct tm local;
    char clock[16];
    if (localtime_r(&seconds, &local) == NULL || strftime(clock, sizeof clock, "%H:%M:%S", &local) == 0)
        return buf_str(b, "??:??:?? ");
    if (precision > 1) return buf_fmt(b, "%s.%06d ", clock, (int)(fmod(when, 1.0) * 1e6));
    return buf_fmt(b, "%s ", clock);
}


void trace_format_clear(struct trace_format *t) {
    for (int i = 0; i < MODE_SLOTS; i++) Py_CLEAR(t->modes[i].text);
    for (int i = 0; i < ERRNO_LIMIT; i++) Py_CLEAR(t->errors[i]);
}
