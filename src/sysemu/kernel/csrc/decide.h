/* A direct route's decision, once for both wait loops: the Call is handed to the route's one
 * handler, counted and timed, and what it returned is sorted into a verdict that each loop
 * carries out its own way (ptrace_loop.c with registers, notify_loop.c with a reply), in one
 * function each. The engine's Python loops are the reference (engine/tracer.py _decide and
 * _carry_out, engine/notify.py _loop_python). */
#ifndef SYSEMU_CSRC_DECIDE_H
#define SYSEMU_CSRC_DECIDE_H

#include "pyutil.h"

#include <linux/types.h>
#include <sys/types.h>

/* What deciding needs of a loop's configuration (sysemu.kernel.loop_config.DecisionConfig),
 * read once per serve call: strong references, dropped by decide_config_clear. */
struct decide_config {
    PyObject *tasks;            /* dict: tid -> the engine's TaskState */
    PyObject *call_type;        /* the Call class to make */
    PyTypeObject *emulate_type; /* Emulate */
    PyTypeObject *fail_type;    /* Fail */
    PyTypeObject *pass_type;    /* Pass, or NULL: a Pass goes to carry_out like any decision */
    PyObject *raised;           /* raised(call, route, handler, error): a handler's Exception */
    PyObject *carry_out;        /* carry_out(what, call, route, decision): the other decisions */
    PyObject *serial_acquire;   /* a lock's acquire and release (bound once), held while a */
    PyObject *serial_release;   /* stop runs Python code; NULL: no lock */
};

/* Reads `config`'s DecisionConfig attributes into *out; 0, or -1 with an exception set (and
 * nothing held). */
int decide_config_read(PyObject *config, struct decide_config *out);
void decide_config_clear(struct decide_config *config);

/* Take the configuration's serial lock (waiting with the GIL released), if it has one: two
 * loops that serve one handler set (the auto backend) run its Python code one stop at a time.
 * serial_enter returns 0, or -1 with an exception set; serial_leave keeps a pending
 * exception as it is. */
int serial_enter(const struct decide_config *config);
void serial_leave(const struct decide_config *config);

enum {
    VERDICT_RAISED,  /* the handler raised an Exception, already handed to raised() */
    VERDICT_PASS,    /* None, or a Pass without a result hook: the call runs */
    VERDICT_EMULATE, /* Emulate: value is what the call returns */
    VERDICT_FAIL,    /* Fail: value is the errno */
    VERDICT_OTHER,   /* anything else: for carry_out (decision is set) */
};

struct verdict {
    int kind;
    PyObject *decision; /* what the handler returned (a new reference), or NULL */
    PyObject *value;    /* EMULATE, FAIL: an int (a new reference), else NULL */
};

/* Runs route entry (syscall, handler, stats, route, ...)'s handler on `call` and counts the
 * stop and its outcome in stats: 0 with *verdict filled, or -1 with an exception set. */
int decide(const struct decide_config *config, PyObject *entry, PyObject *call,
           struct verdict *verdict);

/* Whether route entry (..., path_guard)'s path guard passes the call of process `pid` whose
 * argument registers are `args` without its handler (sysemu.api.routes.Route.direct): its path
 * argument reads as an absolute, lexically normal path that starts with none of the guard's
 * prefixes. Such a call is counted as a passed stop. 1 passed, 0 for the handler (no guard,
 * a path it cannot judge, a prefix matched), -1 with an exception set. */
int guard_passes(PyObject *entry, pid_t pid, const __u64 *args);

/* Drops the verdict's references (a recycled decision goes back, see calls.h). */
void verdict_clear(struct verdict *verdict);

/* Interns the names used here; 0, or -1 with an exception set. */
int decide_init(void);

#endif
