/* Python-object helpers: see pyutil.h. */
#include "pyutil.h"

#include <errno.h>
#include <string.h>
#include <structmember.h>

PyObject *raise_errno(int error, const char *what) {
    errno = error;
    return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
}

int long_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, long *out,
              const char *name) {
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        /* Registers are 64-bit patterns: accept -1 and values up to 2**64 - 1 alike. */
        out[i] = (long)PyLong_AsUnsignedLongLongMask(args[i]);
        if (out[i] == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

int call_dropping(PyObject *fn, PyObject **argv, size_t count) {
    PyObject *result = PyObject_Vectorcall(fn, argv, count, NULL);
    if (result == NULL) return -1;
    Py_DECREF(result);
    return 0;
}

Py_ssize_t slot_offset(PyTypeObject *type, const char *name) {
    PyObject *descriptor = PyObject_GetAttrString((PyObject *)type, name);
    if (descriptor == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY)) offset = member->offset;
    }
    Py_DECREF(descriptor);
    return offset;
}

int holds_only_slots(PyTypeObject *type, Py_ssize_t slots) {
    return type->tp_dictoffset == 0 && type->tp_weaklistoffset == 0 &&
           type->tp_basicsize == (Py_ssize_t)(sizeof(PyObject) + slots * sizeof(PyObject *));
}

static Py_ssize_t cached_offset(PyObject *obj, PyObject *name, struct slot_cache *cache) {
    PyTypeObject *type = Py_TYPE(obj);
    if (cache->type != type) {
        Py_INCREF(type);
        Py_XSETREF(cache->type, type);
        cache->offset = slot_offset(type, PyUnicode_AsUTF8(name));
    }
    return cache->offset;
}

PyObject *get_slot(PyObject *obj, PyObject *name, struct slot_cache *cache) {
    Py_ssize_t offset = cached_offset(obj, name, cache);
    if (offset >= 0) {
        PyObject *value = *(PyObject **)((char *)obj + offset);
        if (value != NULL) {
            Py_INCREF(value);
            return value;
        }
    }
    return PyObject_GetAttr(obj, name);
}

int set_slot(PyObject *obj, PyObject *name, struct slot_cache *cache, PyObject *value) {
    Py_ssize_t offset = cached_offset(obj, name, cache);
    if (offset < 0) return PyObject_SetAttr(obj, name, value);
    Py_INCREF(value);
    Py_XSETREF(*(PyObject **)((char *)obj + offset), value);
    return 0;
}

/* Configuration attributes are read through their slot, by a name interned once: a serve call
 * reads about fifteen, and the ptrace loop is called again after each stop it hands back. */
#define CONFIG_NAMES 64
static struct {
    const char *text; /* the caller's string literal, compared by address */
    PyObject *name;
    struct slot_cache cache;
} config_names[CONFIG_NAMES];
static int nconfig_names;

PyObject *config_attr(PyObject *config, const char *name, int (*check)(PyObject *)) {
    int index = 0;
    while (index < nconfig_names && config_names[index].text != name) index++;
    if (index == nconfig_names && index < CONFIG_NAMES) {
        PyObject *interned = PyUnicode_InternFromString(name);
        if (interned == NULL) return NULL;
        config_names[index].text = name;
        config_names[index].name = interned;
        nconfig_names++;
    }
    PyObject *value = index < CONFIG_NAMES
                          ? get_slot(config, config_names[index].name, &config_names[index].cache)
                          : PyObject_GetAttrString(config, name);
    if (value != NULL && check != NULL && !check(value)) {
        PyErr_Format(PyExc_TypeError, "%s.%s has the wrong type (%s)", Py_TYPE(config)->tp_name,
                     name, Py_TYPE(value)->tp_name);
        Py_CLEAR(value);
    }
    return value;
}

PyObject *int_for(struct last_int *last, unsigned long long bits) {
    if (last->value == NULL || last->bits != bits) {
        PyObject *fresh = PyLong_FromUnsignedLongLong(bits);
        if (fresh == NULL) return NULL;
        Py_XSETREF(last->value, fresh);
        last->bits = bits;
    }
    Py_INCREF(last->value);
    return last->value;
}

PyObject *args_for(struct last_args *last, const __u64 bits[6]) {
    if (last->tuple != NULL && memcmp(last->bits, bits, sizeof last->bits) == 0) {
        Py_INCREF(last->tuple);
        return last->tuple;
    }
    PyObject *raw = PyTuple_New(6);
    if (raw == NULL) return NULL;
    for (Py_ssize_t i = 0; i < 6; i++) {
        PyObject *value;
        if (last->tuple != NULL && last->bits[i] == bits[i]) {
            value = PyTuple_GET_ITEM(last->tuple, i);
            Py_INCREF(value);
        } else if ((value = PyLong_FromUnsignedLongLong(bits[i])) == NULL) {
            Py_DECREF(raw);
            return NULL;
        }
        PyTuple_SET_ITEM(raw, i, value);
    }
    Py_XSETREF(last->tuple, raw);
    memcpy(last->bits, bits, sizeof last->bits);
    Py_INCREF(raw);
    return raw;
}
