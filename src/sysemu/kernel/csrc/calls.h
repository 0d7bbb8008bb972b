/* Call objects and their counters, shared by both wait loops and the C trace writer: Calls
 * made by filling a recycled object's slots, decisions made by record_method and recycled the
 * same way, handlers run and timed, and the direct routes' counters kept in C between two
 * returns to Python. Only touched with the GIL held. */
#ifndef SYSEMU_CSRC_CALLS_H
#define SYSEMU_CSRC_CALLS_H

#include "pyutil.h"

/* call_type(syscall, raw, task, ip, sp), with its _listener and _notification slots set too
 * when `listener` is not NULL: a new reference, or NULL with an exception set. */
PyObject *new_call(PyObject *call_type, PyObject *syscall, PyObject *raw, PyObject *task,
                   PyObject *ip, PyObject *sp, PyObject *listener, PyObject *notification);

/* Drops a loop's reference to a Call (NULL allowed): see calls.c. */
void release_call(PyObject *call);

/* Drops a loop's reference to a decision (NULL allowed): see record_method in calls.c. */
void release_record(PyObject *decision);

/* A direct route's counters (fields of its SyscallStats), kept here between two returns of a
 * wait loop to Python and added to the SyscallStats then: 0, or -1 with an exception set.
 * COUNT_HANDLER_NS amounts are ticks (timing.h), made nanoseconds when added. */
enum { COUNT_STOPS, COUNT_HANDLER_NS, COUNT_EMULATED, COUNT_PASSED, COUNT_FAILED, COUNT_FIELDS };
int count_for_route(PyObject *stats, int field, long long amount);

/* What a wait loop returns, once the counters are added (an exception it raised wins). */
PyObject *counters_flushed(PyObject *result);

/* Calls handler(call), timed into stats.handler_ns. 1: *decision holds what it returned (a
 * new reference); 0: it raised an Exception, handed to raised(call, route, handler, error) as
 * Python's `except Exception` would; -1: an exception to propagate (a BaseException such as
 * KeyboardInterrupt, or a failure here). */
int run_handler(PyObject *handler, PyObject *call, PyObject *stats, PyObject *raised,
                PyObject *route, PyObject **decision);

/* record_method, for the module. */
extern PyMethodDef calls_methods[];

/* Interns the names used here; 0, or -1 with an exception set. */
int calls_init(void);

#endif
