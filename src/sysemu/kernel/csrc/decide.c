/* A direct route's decision: see decide.h. */
#include "decide.h"

#include <string.h>

#include "calls.h"
#include "tracee.h"

static PyObject *s_value, *s_errno, *s_then, *s_acquire, *s_release;
static struct slot_cache c_value, c_errno, c_then;

static int is_dict(PyObject *value) { return PyDict_Check(value); }
static int is_type(PyObject *value) { return PyType_Check(value); }
static int is_type_or_none(PyObject *value) { return value == Py_None || PyType_Check(value); }

int decide_config_read(PyObject *config, struct decide_config *out) {
    memset(out, 0, sizeof *out);
    PyObject *pass_type = NULL;
    if ((out->tasks = config_attr(config, "tasks", is_dict)) == NULL ||
        (out->call_type = config_attr(config, "call_type", is_type)) == NULL ||
        (out->emulate_type = (PyTypeObject *)config_attr(config, "emulate_type", is_type)) == NULL ||
        (out->fail_type = (PyTypeObject *)config_attr(config, "fail_type", is_type)) == NULL ||
        (pass_type = config_attr(config, "pass_type", is_type_or_none)) == NULL ||
        (out->raised = config_attr(config, "raised", NULL)) == NULL ||
        (out->carry_out = config_attr(config, "carry_out", NULL)) == NULL) {
        Py_XDECREF(pass_type);
        decide_config_clear(out);
        return -1;
    }
    if (pass_type == Py_None)
        Py_DECREF(pass_type);
    else
        out->pass_type = (PyTypeObject *)pass_type;
    PyObject *serial = config_attr(config, "serial", NULL);
    if (serial == NULL) {
        decide_config_clear(out);
        return -1;
    }
    if (serial != Py_None) {
        out->serial_acquire = PyObject_GetAttr(serial, s_acquire);
        out->serial_release = out->serial_acquire ? PyObject_GetAttr(serial, s_release) : NULL;
    }
    int failed = serial != Py_None && out->serial_release == NULL;
    Py_DECREF(serial);
    if (failed) {
        decide_config_clear(out);
        return -1;
    }
    return 0;
}

int serial_enter(const struct decide_config *config) {
    if (config->serial_acquire == NULL) return 0;
    /* (_thread.lock.acquire releases the GIL while it waits.) */
    PyObject *taken = PyObject_CallNoArgs(config->serial_acquire);
    if (taken == NULL) return -1;
    Py_DECREF(taken);
    return 0;
}

void serial_leave(const struct decide_config *config) {
    if (config->serial_release == NULL) return;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject *released = PyObject_CallNoArgs(config->serial_release);
    if (released == NULL)
        PyErr_Clear(); /* (only a lock not held fails, which this pairing never leaves) */
    else
        Py_DECREF(released);
    PyErr_Restore(type, value, traceback);
}

void decide_config_clear(struct decide_config *config) {
    Py_CLEAR(config->tasks);
    Py_CLEAR(config->call_type);
    Py_CLEAR(config->emulate_type);
    Py_CLEAR(config->fail_type);
    Py_CLEAR(config->pass_type);
    Py_CLEAR(config->raised);
    Py_CLEAR(config->carry_out);
    Py_CLEAR(config->serial_acquire);
    Py_CLEAR(config->serial_release);
}

/* The verdict of a decision the handler returned, counted; 0, or -1 with an exception set. */
static int sort(const struct decide_config *config, PyObject *stats, struct verdict *verdict) {
    PyObject *decision = verdict->decision;
    PyTypeObject *type = Py_TYPE(decision);
    int passed = decision == Py_None;
    if (!passed && type == config->pass_type) { /* a Pass without a result hook runs as None */
        PyObject *then = get_slot(decision, s_then, &c_then);
        if (then == NULL) return -1;
        passed = then == Py_None;
        Py_DECREF(then);
    }
    if (passed) {
        verdict->kind = VERDICT_PASS;
        return count_for_route(stats, COUNT_PASSED, 1);
    }
    if (type != config->emulate_type && type != config->fail_type) {
        verdict->kind = VERDICT_OTHER;
        return 0;
    }
    int emulated = type == config->emulate_type;
    verdict->value = emulated ? get_slot(decision, s_value, &c_value)
                              : get_slot(decision, s_errno, &c_errno);
    if (verdict->value == NULL) return -1;
    if (!PyLong_Check(verdict->value)) { /* Python's loop fails on it too, out of the loop */
        PyErr_SetString(PyExc_TypeError, emulated ? "an emulated value must be an int"
                                                  : "an errno must be an int");
        return -1;
    }
    verdict->kind = emulated ? VERDICT_EMULATE : VERDICT_FAIL;
    return count_for_route(stats, emulated ? COUNT_EMULATED : COUNT_FAILED, 1);
}

int decide(const struct decide_config *config, PyObject *entry, PyObject *call,
           struct verdict *verdict) {
    PyObject *handler = PyTuple_GET_ITEM(entry, 1), *stats = PyTuple_GET_ITEM(entry, 2);
    PyObject *route = PyTuple_GET_ITEM(entry, 3);
    verdict->kind = VERDICT_RAISED;
    verdict->decision = verdict->value = NULL;
    if (count_for_route(stats, COUNT_STOPS, 1) < 0) return -1;
    int ran = run_handler(handler, call, stats, config->raised, route, &verdict->decision);
    if (ran <= 0) return ran; /* raised: handed to Python (0), or an exception (-1) */
    return sort(config, stats, verdict);
}

/* Whether `path` (`length` bytes) is absolute and lexically normal: no empty, "." or ".."
 * component, so that resolving it changes nothing but a trailing slash. */
static int plain_absolute(const char *path, size_t length) {
    if (length == 0 || path[0] != '/') return 0;
    for (size_t i = 0; i < length; i++) {
        if (path[i] != '/') continue;
        size_t rest = length - i - 1; /* bytes after this slash */
        const char *next = path + i + 1;
        if (rest > 0 && next[0] == '/') return 0;
        if ((rest == 1 && next[0] == '.') || (rest > 1 && next[0] == '.' && next[1] == '/'))
            return 0;
        if (rest >= 2 && next[0] == '.' && next[1] == '.' && (rest == 2 || next[2] == '/'))
            return 0;
    }
    return 1;
}

int guard_passes(PyObject *entry, pid_t pid, const __u64 *args) {
    if (PyTuple_GET_SIZE(entry) < 7) return 0;
    PyObject *guard = PyTuple_GET_ITEM(entry, 6);
    if (guard == Py_None) return 0;
    if (!PyTuple_Check(guard) || PyTuple_GET_SIZE(guard) != 2) {
        PyErr_SetString(PyExc_TypeError, "a path guard is (argument index, prefixes)");
        return -1;
    }
    long index = PyLong_AsLong(PyTuple_GET_ITEM(guard, 0));
    PyObject *prefixes = PyTuple_GET_ITEM(guard, 1);
    if (index == -1 && PyErr_Occurred()) return -1;
    if (index < 0 || index > 5 || !PyTuple_Check(prefixes)) {
        PyErr_SetString(PyExc_TypeError, "a path guard is (argument index 0-5, prefixes)");
        return -1;
    }
    char path[4096]; /* PATH_MAX: the kernel refuses longer paths (ENAMETOOLONG) */
    ssize_t length = read_cstring_into(pid, (unsigned long)args[index], path, sizeof path, 1);
    if (length < 0 || (size_t)length >= sizeof path || !plain_absolute(path, (size_t)length))
        return 0; /* unreadable, too long, relative or not normal: the handler judges it */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(prefix)) {
            PyErr_SetString(PyExc_TypeError, "a path guard's prefixes are bytes");
            return -1;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(prefix);
        if (size <= length && memcmp(path, PyBytes_AS_STRING(prefix), (size_t)size) == 0)
            return 0;
    }
    PyObject *stats = PyTuple_GET_ITEM(entry, 2);
    if (count_for_route(stats, COUNT_STOPS, 1) < 0 || count_for_route(stats, COUNT_PASSED, 1) < 0)
        return -1;
    return 1;
}

void verdict_clear(struct verdict *verdict) {
    Py_CLEAR(verdict->value);
    release_record(verdict->decision);
    verdict->decision = NULL;
}

int decide_init(void) {
    if ((s_value = PyUnicode_InternFromString("value")) == NULL ||
        (s_errno = PyUnicode_InternFromString("errno")) == NULL ||
        (s_then = PyUnicode_InternFromString("then")) == NULL ||
        (s_acquire = PyUnicode_InternFromString("acquire")) == NULL ||
        (s_release = PyUnicode_InternFromString("release")) == NULL)
        return -1;
    return 0;
}
