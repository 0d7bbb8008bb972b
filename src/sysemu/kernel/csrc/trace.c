/* The C trace writer: see trace.h. */
#define PY_SSIZE_T_CLEAN
#include "errnos.h"
#include "trace.h"

#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "calls.h"
#include "trace_specs.h"
#include "trace_text.h"

#define FLUSH_AT 32768

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
    /* From the TraceWriterConfig: write(text) to the stream; the Python tracer's live tids,
     * pending and unshown calls (TraceObserver._live, _pending, _unshown); adopt_of(call,
     * texts, started, shown) to hand it a call (TraceObserver._adopt_from_c). */
    PyObject *write, *live, *pending, *unshown, *adopt_of;
    PyObject *on_error; /* the run's: on_error(exception) for a write that failed, or NULL */
    int timestamps; /* 0, 1 (-t: the wall clock at entry), 2 (-tt: with microseconds) */
    int durations;  /* -T: time spent in each call */
    int each_line;  /* written line by line (a terminal: the program's own output interleaves) */
    /* The stream's file descriptor, which flush() writes to itself while the stream is open
     * (TraceWriterConfig.fd), and the stream; -1 once a write failed: the stream writes all. */
    int fd;
    PyObject *stream;
    struct trace_format format;
    struct trace_specs specs;
    Record *records;
    int nrecords, caprecords;
    Buf out;
} CTraceWriter;

static double wall_clock(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* what time.time() reads */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* --- Records --------------------------------------------------------------------------------- */

static Record *find_record(CTraceWriter *t, long tid) {
    for (int i = 0; i < t->nrecords; i++)
        if (t->records[i].tid == tid) return &t->records[i];
    return NULL;
}

static void drop_record(CTraceWriter *t, Record *record) {
    PyMem_Free(record->text.data);
    int index = (int)(record - t->records);
    t->records[index] = t->records[--t->nrecords];
}

static Record *new_record(CTraceWriter *t) {
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

int c_writer_has(PyObject *self, long tid) {
    CTraceWriter *t = (CTraceWriter *)self;
    return t->nrecords && find_record(t, tid) != NULL;
}

/* The entry stop of `tid` (a seccomp stop, or a syscall-entry stop of the ptrace backend; the
 * task known to the engine, no call of it pending, not rewritten): C_SERVED when served
 * (entry texts decoded, resumed towards its exit stop), C_UNWATCHED when nobody watches
 * the call, C_TO_PYTHON when Python must serve it, -1 with an exception set. */
int c_writer_entry(PyObject *self, long tid, const struct syscall_info *info, PyObject *resolve) {
    CTraceWriter *t = (CTraceWriter *)self;
    if ((info->op != INFO_SECCOMP && info->op != INFO_ENTRY) || info->arch != ARCH_AUDIT ||
        info->seccomp.nr >= MAX_NR) /* (entry and seccomp share the layout of nr and args) */
        return C_TO_PYTHON;
    int nr = (int)info->seccomp.nr;
    CallSpec *spec = spec_for(&t->specs, nr, resolve);
    if (spec == NULL) return -1;
    if (!spec->watched) return C_UNWATCHED;
    if (!spec->in_c || find_record(t, tid) != NULL) return C_TO_PYTHON;
    Variant *variant = variant_for(&t->specs, spec, info->seccomp.args[spec->key_reg] & spec->key_mask);
    if (variant == NULL) return PyErr_Occurred() ? -1 : C_TO_PYTHON;
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
        if (put_argument(&t->format, &record->text, &variant->args[i], tid, record->args, 0) < 0) goto fail;
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
    if (resume_or_raise(tid, PTRACE_SYSCALL) < 0) goto fail;
    return C_SERVED;
fail:
    drop_record(t, record);
    return -1;
}

/* Whether a call Python's tracer has pending, other than tid's, has not had its
 * "<unfinished ...>" line yet (TraceObserver._unshown): finishing a call would write it. */
static int python_unshown(CTraceWriter *t, long tid) {
    Py_ssize_t count = PyDict_GET_SIZE(t->unshown);
    if (count != 1) return count > 1;
    Py_ssize_t position = 0;
    PyObject *key, *value;
    PyDict_Next(t->unshown, &position, &key, &value);
    long only = PyLong_AsLong(key);
    if (only == -1 && PyErr_Occurred()) return -1;
    return only != tid;
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

/* Write the collected lines to t->fd itself, with no Python call, text object or encoding: the
 * bytes written, all of them unless what is left must go through the stream's write() (a byte
 * outside ASCII, whose text the stream's encoding decides; the stream closed; or a write that
 * failed, which the stream then reports as it would, and writes everything from then on). */
static size_t write_directly(CTraceWriter *t) {
    const unsigned char *data = (const unsigned char *)t->out.data;
    size_t length = t->out.len, done = 0;
    for (size_t i = 0; i < length; i++)
        if (data[i] >= 0x80) return 0;
    PyObject *closed = PyObject_GetAttrString(t->stream, "closed");
    int is_closed = closed == NULL ? -1 : PyObject_IsTrue(closed);
    Py_XDECREF(closed);
    if (is_closed != 0) {
        PyErr_Clear();
        t->fd = -1;
        return 0;
    }
    while (done < length) {
        ssize_t wrote;
        Py_BEGIN_ALLOW_THREADS
        wrote = write(t->fd, data + done, length - done);
        Py_END_ALLOW_THREADS
        if (wrote <= 0) { /* (EINTR too: the stream's write() handles signals as Python does) */
            t->fd = -1;
            break;
        }
        done += (size_t)wrote;
    }
    return done;
}

static int flush(CTraceWriter *t) {
    if (t->out.len == 0) return 0;
    size_t direct = t->fd >= 0 && t->stream != NULL ? write_directly(t) : 0;
    if (direct == t->out.len) {
        t->out.len = 0;
        return 0;
    }
    PyObject *text =
        PyUnicode_DecodeUTF8(t->out.data + direct, (Py_ssize_t)(t->out.len - direct), "replace");
    t->out.len = 0;
    if (text == NULL) return -1;
    PyObject *written = PyObject_CallOneArg(t->write, text);
    Py_DECREF(text);
    if (written != NULL) {
        Py_DECREF(written);
        return 0;
    }
    t->fd = -1; /* after a failure, every line goes through the stream, which reports them */
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
static int put_unfinished(CTraceWriter *t, Buf *out, Record *record) {
    Variant *variant = record->variant;
    int known = 0;
    while (known < variant->nargs && record->have[known]) known++;
    if (PySet_GET_SIZE(t->live) > 1 && buf_fmt(out, "[pid %5ld] ", record->tid) < 0) return -1;
    if (t->timestamps && put_stamp(out, record->started, t->timestamps) < 0) return -1;
    if (buf_bytes(out, t->specs.specs[record->nr]->name) < 0 || buf_put(out, "(", 1) < 0) return -1;
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
int c_writer_exit(PyObject *self, long tid, const struct syscall_info *info, long request) {
    CTraceWriter *t = (CTraceWriter *)self;
    Record *record = find_record(t, tid);
    if (record == NULL || info->op != INFO_EXIT) return 0;
    long long result = info->exit.rval;
    if (is_restart_return(result)) return 0; /* -ERESTART*: Python knows what follows */
    int unshown = python_unshown(t, tid);
    if (unshown) return unshown < 0 ? -1 : 0;
    CallSpec *spec = t->specs.specs[record->nr];
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
        } else if (put_argument(&t->format, out, &variant->args[i], tid, record->args, result) < 0) {
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
        written = put_error(&t->format, out, result);
    else if (variant->ret_kind == R_PURE)
        written = put_result_text(out, variant, result);
    else if (variant->ret_kind == R_HEX)
        written = put_hex(out, (Value){(unsigned long long)result, result < 0});
    else if (variant->ret_kind == R_FD)
        written = put_fd(&t->format, out, tid, (Value){(unsigned long long)result, result < 0});
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
    return resume_or_raise(tid, request) < 0 ? -1 : 1;
fail:
    out->len = rollback;
    return -1;
}

/* Before Python gets a stop: every call served at entry is handed over, as if Python had seen
 * its entry (adopt(tid, nr, raw, ip, sp) gives the engine's Call; adopt_of(call, texts, started)
 * tells the tracer), and the lines so far are written. 0, or -1 with an exception set. */
int c_writer_yield(PyObject *self, PyObject *adopt) {
    CTraceWriter *t = (CTraceWriter *)self;
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

int c_writer_flush(PyObject *self) { return flush((CTraceWriter *)self); }

/* On the way out with an exception: write what is collected, keeping that exception. */
void c_writer_flush_quietly(PyObject *self) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (flush((CTraceWriter *)self) < 0) PyErr_Clear();
    PyErr_Restore(type, value, traceback);
}

/* --- The Python type --------------------------------------------------------------------------- */

/* --- The Python type --------------------------------------------------------------------------- */

static int is_set(PyObject *value) { return PySet_Check(value); }
static int is_dict(PyObject *value) { return PyDict_Check(value); }

/* config.name as a C long (a bool or int), or -1 with an exception set. */
static long long_attr(PyObject *config, const char *name) {
    PyObject *value = config_attr(config, name, NULL);
    if (value == NULL) return -1;
    long number = PyLong_AsLong(value);
    Py_DECREF(value);
    return number;
}

/* CTraceWriter(config: TraceWriterConfig): its attributes are read here, once. */
static int nt_init(CTraceWriter *t, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"config", NULL};
    PyObject *config;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O", names, &config)) return -1;
    struct {
        PyObject **slot;
        const char *name;
        int (*check)(PyObject *);
    } objects[] = {
        {&t->write, "write", NULL},           {&t->live, "live", is_set},
        {&t->pending, "pending", is_dict},    {&t->unshown, "unshown", is_dict},
        {&t->adopt_of, "adopt_of", NULL},     {&t->specs.key_of, "key_of", NULL},
        {&t->specs.spec_of, "spec_of", NULL}, {&t->format.mode_of, "mode_of", NULL},
        {&t->format.error_of, "error_of", NULL}, {&t->stream, "stream", NULL},
    };
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        PyObject *value = config_attr(config, objects[i].name, objects[i].check);
        if (value == NULL) return -1;
        Py_XSETREF(*objects[i].slot, value);
    }
    long limit = long_attr(config, "string_limit");
    long fd_paths = long_attr(config, "fd_paths"), timestamps = long_attr(config, "timestamps");
    long durations = long_attr(config, "durations"), each_line = long_attr(config, "each_line");
    long fd = long_attr(config, "fd");
    if (PyErr_Occurred()) return -1;
    if (limit < 0 || limit > (1L << 20) || timestamps < 0 || timestamps > 2) {
        PyErr_SetString(PyExc_ValueError, "string_limit or timestamps out of range");
        return -1;
    }
    t->format.string_limit = limit;
    t->format.fd_paths = fd_paths != 0;
    t->timestamps = (int)timestamps;
    t->durations = durations != 0;
    t->each_line = each_line != 0;
    t->fd = fd >= 0 && fd <= 0x7FFFFFFF && t->stream != Py_None ? (int)fd : -1;
    return 0;
}

static int nt_traverse(CTraceWriter *t, visitproc visit, void *arg) {
    Py_VISIT(t->write);
    Py_VISIT(t->live);
    Py_VISIT(t->pending);
    Py_VISIT(t->unshown);
    Py_VISIT(t->adopt_of);
    Py_VISIT(t->on_error);
    Py_VISIT(t->stream);
    Py_VISIT(t->specs.key_of);
    Py_VISIT(t->specs.spec_of);
    Py_VISIT(t->format.mode_of);
    Py_VISIT(t->format.error_of);
    return visit_specs(&t->specs, visit, arg);
}

static int nt_clear(CTraceWriter *t) {
    Py_CLEAR(t->write);
    Py_CLEAR(t->live);
    Py_CLEAR(t->pending);
    Py_CLEAR(t->unshown);
    Py_CLEAR(t->adopt_of);
    Py_CLEAR(t->on_error);
    Py_CLEAR(t->stream);
    Py_CLEAR(t->specs.key_of);
    Py_CLEAR(t->specs.spec_of);
    Py_CLEAR(t->format.mode_of);
    Py_CLEAR(t->format.error_of);
    forget_specs(&t->specs);
    trace_format_clear(&t->format);
    return 0;
}
static void nt_dealloc(CTraceWriter *t) {
    PyObject_GC_UnTrack(t);
    nt_clear(t);
    while (t->nrecords) drop_record(t, &t->records[t->nrecords - 1]);
    PyMem_Free(t->records);
    PyMem_Free(t->out.data);
    PyMem_Free(t->format.scratch.data);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *nt_begin(CTraceWriter *t, PyObject *on_error) {
    /* A new run: its routes (and their stats) are not the last run's. */
    Py_INCREF(on_error);
    Py_XSETREF(t->on_error, on_error);
    forget_specs(&t->specs);
    while (t->nrecords) drop_record(t, &t->records[t->nrecords - 1]);
    Py_RETURN_NONE;
}

static PyObject *nt_take_summary(CTraceWriter *t, PyObject *unused) {
    PyObject *rows = PyList_New(0);
    if (rows == NULL) return NULL;
    for (int nr = 0; nr < MAX_NR; nr++) {
        CallSpec *spec = t->specs.specs[nr];
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

static PyObject *nt_flush(CTraceWriter *t, PyObject *unused) {
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

static PyTypeObject CTraceWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sysemu.kernel._speedups.CTraceWriter",
    .tp_basicsize = sizeof(CTraceWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "CTraceWriter(config: TraceWriterConfig): strace-style lines of the calls whose"
              " arguments C can decode, written by the C wait loop (see csrc/trace.h).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)nt_init,
    .tp_dealloc = (destructor)nt_dealloc,
    .tp_traverse = (traverseproc)nt_traverse,
    .tp_clear = (inquiry)nt_clear,
    .tp_methods = nt_methods,
};

int is_c_trace_writer(PyObject *object) { return PyObject_TypeCheck(object, &CTraceWriterType); }

int c_writer_ready(PyObject *module) {
    if (PyType_Ready(&CTraceWriterType) < 0) return -1;
    Py_INCREF(&CTraceWriterType);
    if (PyModule_AddObject(module, "CTraceWriter", (PyObject *)&CTraceWriterType) < 0) {
        Py_DECREF(&CTraceWriterType);
        return -1;
    }
    return 0;
}
