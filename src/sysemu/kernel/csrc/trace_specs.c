/* the C trace writer's specs: see trace_specs.h. */
#define PY_SSIZE_T_CLEAN
#include "trace_specs.h"

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
        PyErr_SetString(PyExc_ValueError, "C trace writer: malformed spec");
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
            PyErr_SetString(PyExc_ValueError, "C trace writer: malformed argument spec");
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
CallSpec *make_spec(struct trace_specs *t, int nr, PyObject *resolve) {
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
            PyErr_SetString(PyExc_ValueError, "C trace writer: malformed key");
            ok = 0;
        }
        if (ok) {
            Py_INCREF(stats);
            spec->stats = stats;
            Py_INCREF(syscall);
            spec->syscall = syscall;
            spec->in_c = 1;
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
Variant *make_variant(struct trace_specs *t, CallSpec *spec, unsigned long long key) {
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
        variant->in_c = ok;
    }
    Py_XDECREF(described);
    if (!ok) {
        clear_variant(variant);
        PyMem_Free(variant);
        return NULL;
    }
    spec->variants[spec->nvariants++] = variant;
    return variant->in_c ? variant : NULL;
}

void forget_specs(struct trace_specs *t) {
    for (int nr = 0; nr < MAX_NR; nr++) {
        if (t->specs[nr] == NULL) continue;
        clear_spec(t->specs[nr]);
        PyMem_Free(t->specs[nr]);
        t->specs[nr] = NULL;
    }
}

int visit_specs(struct trace_specs *t, visitproc visit, void *arg) {
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
