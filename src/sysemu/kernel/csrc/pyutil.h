/* Python-object helpers of the accelerator, below everything else in csrc/ (no kernel calls):
 * integer arguments, OSError, plain-slot access at a cached offset, and Python ints handed out
 * again while a value repeats. Only touched with the GIL held. */
#ifndef SYSEMU_CSRC_PYUTIL_H
#define SYSEMU_CSRC_PYUTIL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <linux/types.h>

/* An OSError for `error` (an errno value) about `what`; always NULL. */
PyObject *raise_errno(int error, const char *what);

/* `expected` integer arguments into out[] as 64-bit patterns (-1 and 2**64 - 1 alike); 0, or
 * -1 with an exception set. */
int long_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, long *out,
              const char *name);

/* Calls fn(*argv) and drops the result; -1 with the exception set if it raised. */
int call_dropping(PyObject *fn, PyObject **argv, size_t count);

/* An attribute of a configuration object (kernel/loop_config.py), type-checked: a new reference, or NULL with an exception
 * set. `check` may be NULL (any object). */
PyObject *config_attr(PyObject *config, const char *name, int (*check)(PyObject *));

/* The offset of `type`'s writable object slot `name` (a __slots__ member), or -1. */
Py_ssize_t slot_offset(PyTypeObject *type, const char *name);

/* Whether an object of `type` holds `slots` object slots and nothing else: no __dict__, no
 * weak references, no other slot (its size says so). */
int holds_only_slots(PyTypeObject *type, Py_ssize_t slots);

/* Attributes of the engine's __slots__ objects (task states, decisions, configurations) read
 * and written at their slot's offset, about 30 ns less each than PyObject_GetAttr; the offset
 * is found once per type (a type whose attribute is not a plain slot, or a slot not set, goes
 * through getattr). */
struct slot_cache {
    PyTypeObject *type;
    Py_ssize_t offset;
};

/* obj.name: a new reference, or NULL with an exception set. */
PyObject *get_slot(PyObject *obj, PyObject *name, struct slot_cache *cache);

/* obj.name = value: 0, or -1 with an exception set. */
int set_slot(PyObject *obj, PyObject *name, struct slot_cache *cache, PyObject *value);

/* The Python int last made for one kind of value (a tid, a register), handed out again while
 * the value repeats: a program calling from one place in a loop, or one thread making most of
 * the calls, costs no new ints. A new reference, or NULL with an exception set. */
struct last_int {
    unsigned long long bits;
    PyObject *value;
};
PyObject *int_for(struct last_int *last, unsigned long long bits);

/* The same for a call's six argument registers: the tuple itself while all six repeat (read
 * or futex in a loop), else a new tuple that keeps the ints of the registers that did not
 * change. */
struct last_args {
    __u64 bits[6];
    PyObject *tuple;
};
PyObject *args_for(struct last_args *last, const __u64 bits[6]);

#endif
