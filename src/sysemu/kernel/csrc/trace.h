/* The C trace writer: strace-style lines written by the C wait loop itself.
 *
 * With `sysemu run --trace`, every call stops twice (entry and exit) and the tracing observer
 * decodes it in Python: most of a traced call's cost. For calls whose every shown argument is
 * of a kind decoded here (trace_text.h), the wait loop formats the line itself, byte for byte
 * what the Python tracer writes (tests/test_trace_c_writer.py compares the two on real
 * programs, with -y, -t, -tt and -T too), and Python is not called at all. It serves the
 * seccomp backend's stops and the ptrace backend's (and attach's) entry and exit stops.
 *
 * Which calls, and how each argument is shown, comes from Python (trace_specs.h); this code
 * knows kinds, not syscalls. A call served here is "pending" between its entry and exit stop.
 * When one ends while others are pending, their `<unfinished ...>` lines are written first and
 * they end with `<... name resumed>`, as the Python tracer writes them; whenever the loop hands
 * any stop to Python, the pending calls are handed over first (adopt), so that Python's tracer
 * sees every call still in the kernel and handles restarts and deaths as it always does. Lines
 * are collected in a buffer written to the trace stream (write) before Python gets a stop,
 * before the loop sleeps, and when the buffer grows large. */
#ifndef SYSEMU_CSRC_TRACE_H
#define SYSEMU_CSRC_TRACE_H

#include "pyutil.h"
#include "tracee.h"

/* Whether `object` is a CTraceWriter. */
int is_c_trace_writer(PyObject *object);

enum { C_TO_PYTHON = 0, C_SERVED = 1, C_UNWATCHED = 2 };

/* The entry stop of `tid` (a seccomp stop, or a syscall-entry stop of the ptrace backend; the
 * task known to the engine, no call of it pending, not rewritten): C_SERVED when served
 * (entry texts decoded, resumed towards its exit stop), C_UNWATCHED when nobody watches
 * the call, C_TO_PYTHON when Python must serve it, -1 with an exception set. resolve(nr)
 * is the engine's (see trace_specs.h). */
int c_writer_entry(PyObject *trace, long tid, const struct syscall_info *info,
                       PyObject *resolve);

/* Whether a call of `tid` is pending here. */
int c_writer_has(PyObject *trace, long tid);

/* The exit stop of a call served at entry: 1 when its line is written and the thread resumed
 * with `request`; 0 when Python must finish it (a restart, another thread's call to show as
 * unfinished first...); -1 with an exception set. */
int c_writer_exit(PyObject *trace, long tid, const struct syscall_info *info, long request);

/* Before Python gets a stop: every pending call is handed over, as if Python had seen its
 * entry (adopt(tid, nr, raw, ip, sp) gives the engine's Call), and the lines so far are
 * written. 0, or -1 with an exception set. */
int c_writer_yield(PyObject *trace, PyObject *adopt);

/* Writes the lines collected so far: 0, or -1 with an exception set. */
int c_writer_flush(PyObject *trace);

/* On the way out with an exception: writes what is collected, keeping that exception. */
void c_writer_flush_quietly(PyObject *trace);

/* Adds the CTraceWriter type to the module: 0, or -1 with an exception set. */
int c_writer_ready(PyObject *module);

#endif
