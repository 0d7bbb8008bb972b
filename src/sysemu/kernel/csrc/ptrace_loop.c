/* The ptrace backends' wait loop: see ptrace_loop.h.
 *
 * ptrace_serve(config: PtraceLoopConfig) -> (tid, status[, info]) | False | None
 *
 * config.mode 0 (seccomp): a seccomp stop whose filter data names a route in config.direct (a
 * list indexed by route id, of (syscall, handler, stats, route, arch, nr) for routes with one
 * handler the kernel matched and no observer, else None). Modes 1 (ptrace, PTRACE_SYSCALL)
 * and 2 (sysemu, PTRACE_SYSEMU, which also makes the calls it skipped run after all, through
 * their 3 stops): a syscall stop of a task with nothing pending, whose call is in no route
 * (resumed at once: its entry, or any exit under mode 1) or in a direct route of
 * config.by_number (keyed arch << 32 | nr; None for a route Python must decide). Per such stop
 * only the Call, the handler and its decision are Python (decide.h); ptrace_carry_out below
 * carries the verdict out: None (or a Pass without a result hook) resumed with
 * config.resume_request, an Emulate or Fail with the architecture's skip (arch.h), other
 * decisions by config.carry_out(state, call, route, decision). Every other event is returned
 * as (tid, status) for Python to handle as its own loop would, with the stop's syscall info
 * as a third item where it was read (a seccomp stop of another route, or one met while
 * config.stop[0] is set, is returned before anything is read but its syscall info). None: no child is left (ECHILD). False: a decision set config.stop[0] (it
 * held its thread, a Defer, or ended the run), and Python waits from now on.
 *
 * config.trace (modes 0 and 1; a CTraceWriter or None): the seccomp stops of other routes and
 * the exit stops of the calls it served at entry go to it first; config.resolve(nr) and
 * config.adopt(tid, nr, raw, ip, sp) are its callbacks into the engine (see trace.h). Before
 * any stop goes to Python, the calls it has pending are handed over and its lines written.
 *
 * Waiting polls with WNOHANG for up to config.spin_ns while stops come faster than that, as
 * the Python loop does (see Tracer.__init__'s spin_us), with the GIL released, and unless the
 * tracer is being preempted (see count_spin_window). */
#include "ptrace_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "arch.h"
#include "calls.h"
#include "decide.h"
#include "timing.h"
#include "trace.h"
#include "tracee.h"

#define WALL_FLAG 0x40000000
#define SECCOMP_STOP_STATUS (SIGTRAP | (7 << 8)) /* PTRACE_EVENT_SECCOMP */
#define SYSCALL_STOP_STATUS (SIGTRAP | 0x80)     /* PTRACE_O_TRACESYSGOOD */

static PyObject *s_pending_call, *s_reexecuting, *s_spawning, *s_rewritten;
static struct slot_cache c_pending_call, c_spawning, c_reexecuting, c_rewritten;
static struct last_int stopped_tid, stopped_ip, stopped_sp, stopped_key;
static struct last_args stopped_args;
static int ptrace_spinning;

/* Spinning pays while the tracer has a CPU to itself. When every CPU is wanted (other programs,
 * or the tracee's own threads), the spinning tracer is preempted (involuntary context
 * switches), takes CPU time the tracee needs, and the scheduler makes it wait behind the others
 * for the time it burned: on a 2-CPU machine under load, tar traced with every call took 25%
 * longer spinning than not. So every SPIN_WINDOW stops the loop reads its thread's count of
 * involuntary switches; a window with SPIN_CONTENDED or more stops the spinning for the next
 * SPIN_BACKOFF stops, after which it is measured again. */
#define SPIN_WINDOW 128
#define SPIN_CONTENDED 4
#define SPIN_BACKOFF 4096
/* Spinning pays only when it finds the stop it waits for. A spin that runs out cost a CPU
 * for its whole budget, and when the program shares that CPU with the tracer (the scheduler
 * placed it there, and does not preempt a spinning tracer for it) it kept the program from
 * running as long: with results (two stops a call), a spin waits for the next call after each
 * exit stop, and the program's return from that call waited with it. On a 2-CPU machine about
 * half of the runs of --trace=openat on a call every 50 µs had a median call of 43 µs, against
 * 24 µs without spinning. So SPIN_MISSES more spins that ran out than spins that found a stop,
 * within a window, stop the spinning too, at once: a short run must not pay a whole window. */
#define SPIN_MISSES 8
/* A spin that runs out has cost its whole budget, so it also makes the window's contention
 * check at once, without waiting for the window's end: with a 250 µs budget and the program
 * on the tracer's CPU, a whole window of such spins made each stop of a call every 200 µs
 * cost 70 µs more than sleeping (the program preempts a polling tracer for the exit of its
 * call, so those spins find their stop and the misses alone never stop the spinning). */
static int spin_window, spin_backoff, spins_found, spins_out;
static long spin_preempted = -1; /* ru_nivcsw at the start of the window (-1: unknown) */

static long involuntary_switches(void) {
    struct rusage usage;
    return getrusage(RUSAGE_THREAD, &usage) == 0 ? usage.ru_nivcsw : -1;
}

/* Whether the count `now` is SPIN_CONTENDED or more past the window's start. */
static int contended_at(long now) {
    return now >= 0 && spin_preempted >= 0 && now - spin_preempted >= SPIN_CONTENDED;
}

/* The check of a spin that ran out; the first one of a ptrace_serve call starts the count. */
static int spin_contended(void) {
    long now = involuntary_switches();
    if (spin_preempted < 0) spin_preempted = now;
    return contended_at(now);
}

/* After each stop waited for with a spin budget: the contention check above. */
static void count_spin_window(void) {
    if (spin_backoff > 0) {
        if (--spin_backoff == 0) {
            spin_window = 0;
            spin_preempted = involuntary_switches();
        }
        return;
    }
    if (++spin_window < SPIN_WINDOW) return;
    spin_window = 0;
    long now = involuntary_switches();
    if (contended_at(now)) spin_backoff = SPIN_BACKOFF;
    spin_preempted = now;
    spins_found = spins_out = 0;
}

/* What ptrace_serve reads of its PtraceLoopConfig, once per call. */
struct ptrace_config {
    struct decide_config decide;
    PyObject *direct, *by_number, *stop, *trace, *resolve, *adopt;
    long long spin_ns;
    long request;
    int syscall_stops, emulate_all;
    /* follow_clone3: the call (audit_arch << 32 | nr), the filter data of its stops, and the
     * flag to clear in its struct clone_args; clone3_key 0: Python follows clone3. */
    unsigned long long clone3_key, clone3_flag;
    unsigned long clone3_route;
};

static int is_list(PyObject *value) { return PyList_Check(value); }
static int is_dict(PyObject *value) { return PyDict_Check(value); }
static int is_bytearray(PyObject *value) { return PyByteArray_Check(value) && PyByteArray_GET_SIZE(value) > 0; }
static int is_trace(PyObject *value) { return value == Py_None || is_c_trace_writer(value); }

static void ptrace_config_clear(struct ptrace_config *config) {
    decide_config_clear(&config->decide);
    Py_CLEAR(config->direct);
    Py_CLEAR(config->by_number);
    Py_CLEAR(config->stop);
    Py_CLEAR(config->trace);
    Py_CLEAR(config->resolve);
    Py_CLEAR(config->adopt);
}

static long long number_attr(PyObject *object, const char *name) {
    PyObject *value = config_attr(object, name, NULL);
    if (value == NULL) return -1;
    long long number = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return number;
}

static int ptrace_config_read(PyObject *object, struct ptrace_config *config) {
    memset(config, 0, sizeof *config);
    if (decide_config_read(object, &config->decide) < 0) return -1;
    config->spin_ns = number_attr(object, "spin_ns");
    config->request = (long)number_attr(object, "resume_request");
    long long mode = number_attr(object, "mode");
    if (PyErr_Occurred() || (config->direct = config_attr(object, "direct", is_list)) == NULL ||
        (config->by_number = config_attr(object, "by_number", is_dict)) == NULL ||
        (config->stop = config_attr(object, "stop", is_bytearray)) == NULL ||
        (config->trace = config_attr(object, "trace", is_trace)) == NULL ||
        (config->resolve = config_attr(object, "resolve", NULL)) == NULL ||
        (config->adopt = config_attr(object, "adopt", NULL)) == NULL) {
        ptrace_config_clear(config);
        return -1;
    }
    PyObject *clone3 = config_attr(object, "follow_clone3", NULL);
    if (clone3 == NULL) {
        ptrace_config_clear(config);
        return -1;
    }
    if (clone3 != Py_None) {
        if (PyTuple_Check(clone3) && PyTuple_GET_SIZE(clone3) == 3) {
            config->clone3_key = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(clone3, 0));
            config->clone3_route = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(clone3, 1));
            config->clone3_flag = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(clone3, 2));
        } else {
            PyErr_SetString(PyExc_TypeError, "follow_clone3 must be (key, route, flag) or None");
        }
    }
    Py_DECREF(clone3);
    if (PyErr_Occurred()) {
        ptrace_config_clear(config);
        return -1;
    }
    config->syscall_stops = mode != 0;
    config->emulate_all = mode == 2;
    /* The C trace writer serves the seccomp and ptrace backends' stops (not PTRACE_SYSEMU's). */
    if (config->trace == Py_None || config->emulate_all) Py_CLEAR(config->trace);
    return 0;
}

static int set_reexecuting(PyObject *state, long phase) {
    PyObject *value = PyLong_FromLong(phase);
    if (value == NULL) return -1;
    int result = set_slot(state, s_reexecuting, &c_reexecuting, value);
    Py_DECREF(value);
    return result;
}

/* Make the call PTRACE_SYSEMU skipped run after all (the architecture's reexecute, then on to
 * its entry with PTRACE_SYSCALL); 0, or -1 with an exception set. A task that is gone is left
 * to its exit event. */
static int run_after_all(PyObject *state, long tid) {
    long error = arch_reexecute(tid);
    if (error >= 0) error = raw_ptrace(PTRACE_SYSCALL, tid, 0, 0);
    if (error == -ESRCH) return 0;
    if (error < 0) {
        raise_errno((int)-error, "ptrace reexecute");
        return -1;
    }
    return set_reexecuting(state, 1);
}

/* How the ptrace loop carries out a verdict for the stopped task `tid`: 0, or -1 with an
 * exception set. */
static int ptrace_carry_out(const struct ptrace_config *config, const struct verdict *verdict,
                            long tid, PyObject *state, PyObject *call, PyObject *route) {
    switch (verdict->kind) {
    case VERDICT_RAISED: return 0;
    case VERDICT_PASS:
        if (config->emulate_all) return run_after_all(state, tid); /* PTRACE_SYSEMU skipped it */
        return resume_or_raise(tid, config->request);
    case VERDICT_EMULATE:
    case VERDICT_FAIL: {
        long long value = (long long)PyLong_AsUnsignedLongLongMask(verdict->value);
        if (value == -1 && PyErr_Occurred()) return -1;
        long error = arch_skip_and_continue(tid, verdict->kind == VERDICT_FAIL ? -value : value,
                                            config->request);
        if (error < 0 && error != -ESRCH) {
            raise_errno((int)-error, "ptrace poke");
            return -1;
        }
        return 0;
    }
    default: {
        PyObject *argv[4] = {state, call, route, verdict->decision};
        return call_dropping(config->decide.carry_out, argv, 4);
    }
    }
}

/* One direct stop of the task `tid` (its state borrowed, found by the caller): 0 when
 * carried out (resumed, or handed to Python's callbacks), -1 with an exception set. */
static int serve_direct(const struct ptrace_config *config, long tid, PyObject *state,
                        const struct syscall_info *info, PyObject *entry) {
    PyObject *raw = NULL, *ip = NULL, *sp = NULL, *call = NULL;
    struct verdict verdict = {VERDICT_RAISED, NULL, NULL};
    int outcome = -1;
    int guarded = guard_passes(entry, (pid_t)tid, info->seccomp.args);
    if (guarded != 0) {
        verdict.kind = VERDICT_PASS;
        return guarded < 0 ? -1 : ptrace_carry_out(config, &verdict, tid, state, NULL, NULL);
    }
    if ((raw = args_for(&stopped_args, info->seccomp.args)) == NULL) goto done;
    if ((ip = int_for(&stopped_ip, info->instruction_pointer)) == NULL) goto done;
    if ((sp = int_for(&stopped_sp, info->stack_pointer)) == NULL) goto done;
    if ((call = new_call(config->decide.call_type, PyTuple_GET_ITEM(entry, 0), raw, state, ip,
                         sp, NULL, NULL)) == NULL)
        goto done;
    if (decide(&config->decide, entry, call, &verdict) < 0) goto done;
    outcome = ptrace_carry_out(config, &verdict, tid, state, call, PyTuple_GET_ITEM(entry, 3));
done:
    Py_XDECREF(raw);
    Py_XDECREF(ip);
    Py_XDECREF(sp);
    release_call(call);
    verdict_clear(&verdict);
    return outcome;
}

/* Where the task `tid` is, for a syscall stop the C loop may serve: TASK_PLAIN (known, no call
 * waiting for its result, not sysemu's own child on its way to exec), TASK_REEXEC_ENTRY or
 * TASK_REEXEC_EXIT (plain, and a call PTRACE_SYSEMU skipped is being made again: its real
 * entry or exit comes next), TASK_PYTHON (Python serves it), or -1 with an exception set. The
 * task's state goes to *state (borrowed). */
enum { TASK_PYTHON, TASK_PLAIN, TASK_REEXEC_ENTRY, TASK_REEXEC_EXIT };

/* Whether the task's last call was rewritten with data (in its scratch slot): its next decided
 * call may be that call restarted, which Python recognises (CallCycle._restarted_rewrite). Or
 * the task is making sysemu's mmap of a scratch area in place of its call, or entering that
 * call again afterwards (engine/scratch.py): Python serves both stops, the mmap's exit and the
 * call's new entry, and the C loop needs no state of its own for them. -1 with an exception. */
static int has_rewrite(PyObject *state) {
    PyObject *record = get_slot(state, s_rewritten, &c_rewritten);
    if (record == NULL) return -1;
    int present = record != Py_None;
    Py_DECREF(record);
    return present;
}

/* Whether a call of the task waits for its result (its pending_call); -1 with an exception. */
static int has_pending(PyObject *state) {
    PyObject *pending = get_slot(state, s_pending_call, &c_pending_call);
    if (pending == NULL) return -1;
    int waiting = pending != Py_None;
    Py_DECREF(pending);
    return waiting;
}

/* The engine's state of `tid` (borrowed), or NULL: unknown (no exception) or an exception. */
static PyObject *task_state(const struct ptrace_config *config, long tid) {
    PyObject *key = int_for(&stopped_tid, (unsigned long long)tid);
    if (key == NULL) return NULL;
    PyObject *state = PyDict_GetItemWithError(config->decide.tasks, key);
    Py_DECREF(key);
    return state;
}

static int task_phase(const struct ptrace_config *config, long tid, PyObject **state) {
    *state = task_state(config, tid);
    if (*state == NULL) return PyErr_Occurred() ? -1 : TASK_PYTHON;
    int waiting = has_pending(*state);
    if (waiting < 0) return -1;
    PyObject *spawning = get_slot(*state, s_spawning, &c_spawning);
    if (spawning == NULL) return -1;
    int starting = PyObject_IsTrue(spawning);
    Py_DECREF(spawning);
    if (starting < 0) return -1;
    int rewritten = has_rewrite(*state);
    if (rewritten < 0) return -1;
    if (waiting || starting || rewritten) return TASK_PYTHON;
    PyObject *again = get_slot(*state, s_reexecuting, &c_reexecuting);
    if (again == NULL) return -1;
    long phase = PyLong_AsLong(again);
    Py_DECREF(again);
    if (phase == -1 && PyErr_Occurred()) return -1;
    return phase == 0 ? TASK_PLAIN : phase == 1 ? TASK_REEXEC_ENTRY : phase == 2 ? TASK_REEXEC_EXIT
                                                                               : TASK_PYTHON;
}

/* A stop Python must serve: the C trace writer's pending calls are handed over and its lines
 * written first (see trace.h). */
static PyObject *to_python(const struct ptrace_config *config, pid_t tid, int status) {
    if (config->trace != NULL && c_writer_yield(config->trace, config->adopt) < 0) return NULL;
    return Py_BuildValue("(ii)", (int)tid, status);
}

/* The same, with the stop's syscall info read already: Python takes it as it is, rather than
 * asking the kernel again (one PTRACE_GET_SYSCALL_INFO per stop). */
static PyObject *to_python_with(const struct ptrace_config *config, pid_t tid, int status,
                                const struct syscall_info *info) {
    if (config->trace != NULL && c_writer_yield(config->trace, config->adopt) < 0) return NULL;
    return Py_BuildValue("(iiN)", (int)tid, status, syscall_info_tuple(info));
}

static PyObject *failing(const struct ptrace_config *config) {
    if (config->trace != NULL) c_writer_flush_quietly(config->trace);
    return NULL;
}

/* The next stop: waitpid, spinning first while stops come fast (see the top). The tid, or -1
 * with the error in *wait_errno, or -1 with an exception and *failed set: 1 when writing the
 * trace failed, 2 when a signal handler raised.
 *
 * A signal that arrives while the loop is not blocked in waitpid (spinning with WNOHANG, or
 * serving a stop) interrupts nothing: its Python handler (Ctrl-C's detach, say) would wait
 * for the next EINTR, which never comes while stops keep the loop busy. So the handlers are run
 * before every wait, and again before blocking after a spin. */
static pid_t next_stop(const struct ptrace_config *config, int *status, int *wait_errno,
                       int *failed) {
    pid_t tid = 0;
    long long spin_ns = config->spin_ns;
    *wait_errno = *failed = 0;
    if (PyErr_CheckSignals() < 0) {
        *failed = 2;
        return -1;
    }
    if (spin_ns > 0) count_spin_window();
    if (ptrace_spinning && spin_backoff == 0) {
        Py_BEGIN_ALLOW_THREADS
        long long deadline = now_ns() + spin_ns;
        do tid = waitpid(-1, status, WALL_FLAG | WNOHANG);
        while (tid == 0 && now_ns() <= deadline);
        if (tid < 0) *wait_errno = errno;
        Py_END_ALLOW_THREADS
        if (tid != 0) {
            spins_found++;
        } else if (++spins_out >= spins_found + SPIN_MISSES || spin_contended()) {
            spin_backoff = SPIN_BACKOFF;
            spins_found = spins_out = 0;
        }
    }
    if (tid == 0) {
        /* The program runs on for a while: what the trace collected is shown now, not when
         * the buffer fills (a program blocked in a read must not hide its past). */
        if (config->trace != NULL && c_writer_flush(config->trace) < 0) {
            *failed = 1;
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            *failed = 2;
            return -1;
        }
        Py_BEGIN_ALLOW_THREADS
        /* (No clock reads without a spin budget: two of them cost a pinned stop ~70 ns.) */
        long long started = spin_ns > 0 ? now_ns() : 0;
        tid = waitpid(-1, status, WALL_FLAG);
        ptrace_spinning = spin_ns > 0 && spin_backoff == 0 && now_ns() - started < spin_ns;
        if (tid < 0) *wait_errno = errno;
        Py_END_ALLOW_THREADS
    }
    return tid;
}

/* A call being made again after PTRACE_SYSEMU skipped it: the skipped attempt's exit, the
 * real entry (TASK_REEXEC_ENTRY), then the real exit (TASK_REEXEC_EXIT), after which the task
 * runs on under PTRACE_SYSEMU. 1 when resumed, 0 for Python, -1 with an exception set. */
static int reexecuting(const struct ptrace_config *config, long tid, PyObject *state, int phase,
                       const struct syscall_info *info) {
    int real_exit = phase == TASK_REEXEC_EXIT && info->op == INFO_EXIT;
    if (phase == TASK_REEXEC_EXIT && !real_exit) return 0;
    if ((phase == TASK_REEXEC_ENTRY && info->op == INFO_ENTRY) || real_exit)
        if (set_reexecuting(state, real_exit ? 0 : 2) < 0) return -1;
    return resume_or_raise(tid, real_exit ? config->request : PTRACE_SYSCALL) < 0 ? -1 : 1;
}

/* A clone3 stopped for the engine alone (engine/untraced.py): clear the flag in the caller's
 * struct clone_args, which the kernel copies when the call runs. A struct too small to hold
 * the flags, or one that cannot be read, is left alone: the kernel refuses the call itself. */
static void follow_clone3(const struct ptrace_config *config, pid_t tid,
                          const struct syscall_info *info) {
    unsigned long long flags;
    if (info->seccomp.args[1] < sizeof flags) return;
    unsigned long address = (unsigned long)info->seccomp.args[0];
    if (read_memory_into(tid, address, (char *)&flags, sizeof flags) != (ssize_t)sizeof flags)
        return;
    if (flags & config->clone3_flag)
        raw_ptrace(PTRACE_POKEDATA, tid, address, (unsigned long)(flags & ~config->clone3_flag));
}

static PyObject *ptrace_serve_loop(const struct ptrace_config *config) {
    PyObject *trace = config->trace;
    int syscall_stops = config->syscall_stops, emulate_all = config->emulate_all;
    long request = config->request;
    for (;;) {
        int status = 0, wait_errno, failed;
        pid_t tid = next_stop(config, &status, &wait_errno, &failed);
        if (failed) return failed == 2 ? failing(config) : NULL;
        if (tid < 0) {
            if (wait_errno == ECHILD) {
                if (trace != NULL && c_writer_yield(trace, config->adopt) < 0) return NULL;
                Py_RETURN_NONE;
            }
            if (wait_errno == EINTR) {
                if (PyErr_CheckSignals() < 0) return failing(config);
                continue;
            }
            raise_errno(wait_errno, "waitpid");
            return failing(config);
        }
        int kind = status >> 8;
        int stopping = PyByteArray_AS_STRING(config->stop)[0];
        struct syscall_info info;
        if (trace != NULL && WIFSTOPPED(status) && !stopping && kind == SYSCALL_STOP_STATUS &&
            c_writer_has(trace, tid)) {
            long got = get_syscall_info(tid, &info);
            int served = got < 0 ? 0 : c_writer_exit(trace, tid, &info, request);
            if (served < 0) return failing(config);
            if (served) continue;
            return got < 0 ? to_python(config, tid, status)
                           : to_python_with(config, tid, status, &info);
        }
        if (!WIFSTOPPED(status) || stopping ||
            kind != (syscall_stops ? SYSCALL_STOP_STATUS : SECCOMP_STOP_STATUS))
            return to_python(config, tid, status);
        PyObject *state = NULL;
        int phase = TASK_PLAIN;
        if (syscall_stops) {
            phase = task_phase(config, tid, &state);
            if (phase < 0) return failing(config);
            if (phase == TASK_PYTHON) return to_python(config, tid, status);
        }
        if (get_syscall_info(tid, &info) < 0) return to_python(config, tid, status);
        if (phase == TASK_REEXEC_ENTRY || phase == TASK_REEXEC_EXIT) {
            int resumed = reexecuting(config, tid, state, phase, &info);
            if (resumed < 0) return NULL;
            if (resumed == 0)
                return Py_BuildValue("(iiN)", (int)tid, status, syscall_info_tuple(&info));
            continue;
        }
        PyObject *entry = NULL;
        if (!syscall_stops && config->clone3_key && info.op == INFO_SECCOMP &&
            info.seccomp.ret_data == config->clone3_route &&
            (((unsigned long long)info.arch << 32) | (info.seccomp.nr & 0xFFFFFFFFULL)) ==
                config->clone3_key) {
            follow_clone3(config, tid, &info);
            if (resume_or_raise(tid, request) < 0) return NULL;
            continue;
        }
        if (!syscall_stops) {
            if (info.op == INFO_SECCOMP &&
                info.seccomp.ret_data < (__u32)PyList_GET_SIZE(config->direct))
                entry = PyList_GET_ITEM(config->direct, info.seccomp.ret_data);
        } else if (info.op == INFO_EXIT && !emulate_all) {
            /* Nobody waits for this result (task_phase): on to the next call. */
            if (resume_or_raise(tid, request) < 0) return NULL;
            continue;
        } else if (info.op == INFO_ENTRY) {
            if (info.arch != ARCH_AUDIT && info.arch != ARCH_AUDIT_COMPAT)
                /* an unknown ABI's call: killed there */
                return to_python_with(config, tid, status, &info);
            PyObject *key = int_for(
                &stopped_key, ((unsigned long long)info.arch << 32) | (info.entry.nr & 0xFFFFFFFFULL));
            if (key == NULL) return NULL;
            entry = PyDict_GetItemWithError(config->by_number, key); /* None: Python decides */
            Py_DECREF(key);
            if (entry == NULL && PyErr_Occurred()) return NULL;
            /* A call only the C trace writer may want: one nobody else watches (NULL), or one of
             * a route Python decides (None: observers only, as `--trace=SET` makes). */
            if ((entry == NULL || entry == Py_None) && trace != NULL) {
                int served = c_writer_entry(trace, tid, &info, config->resolve);
                if (served < 0) return failing(config);
                if (served == C_SERVED) continue;
                if (served == C_TO_PYTHON || entry == Py_None)
                    return to_python_with(config, tid, status, &info);
            }
            if (entry == NULL) { /* nobody asked for this call: on, or (sysemu) made to run */
                if (emulate_all ? run_after_all(state, tid) < 0 : resume_or_raise(tid, request) < 0)
                    return NULL;
                continue;
            }
        }
        int is_direct = entry != NULL && entry != Py_None &&
            PyLong_AsUnsignedLong(PyTuple_GET_ITEM(entry, 4)) == info.arch &&
            PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 5)) == info.seccomp.nr;
        if (PyErr_Occurred()) return failing(config);
        if (!is_direct && (trace == NULL || syscall_stops))
            return to_python_with(config, tid, status, &info);
        if (!syscall_stops) {
            state = task_state(config, tid);
            if (state == NULL && PyErr_Occurred()) return failing(config);
            if (state == NULL) /* adopted */
                return to_python_with(config, tid, status, &info);
            int rewritten = has_rewrite(state);
            if (rewritten < 0) return failing(config);
            if (rewritten) return to_python_with(config, tid, status, &info);
        }
        if (!is_direct) { /* a call only the C trace writer may want */
            int waiting = has_pending(state);
            if (waiting < 0) return failing(config);
            int served = waiting ? C_TO_PYTHON : c_writer_entry(trace, tid, &info, config->resolve);
            if (served < 0) return failing(config);
            if (served != C_SERVED) return to_python_with(config, tid, status, &info);
        } else {
            if (serial_enter(&config->decide) < 0) return failing(config);
            int served = serve_direct(config, tid, state, &info, entry);
            serial_leave(&config->decide);
            if (served < 0) return failing(config);
            if (PyByteArray_AS_STRING(config->stop)[0]) {
                /* The decision held its thread (a Defer), or ended the run: Python waits. */
                if (trace != NULL && c_writer_yield(trace, config->adopt) < 0) return NULL;
                Py_RETURN_FALSE;
            }
        }
    }
}

static PyObject *sp_ptrace_serve(PyObject *self, PyObject *config_object) {
    struct ptrace_config config;
    if (ptrace_config_read(config_object, &config) < 0) return NULL;
    spin_preempted = -1; /* a count of this thread's: the next call may come from another */
    PyObject *result = counters_flushed(ptrace_serve_loop(&config));
    ptrace_config_clear(&config);
    return result;
}

PyMethodDef ptrace_loop_methods[] = {
    {"ptrace_serve", (PyCFunction)sp_ptrace_serve, METH_O,
     "ptrace_serve(config: PtraceLoopConfig) -> (tid, status[, info]) for Python (info: the"
     " stop's syscall_info(tid), when read already), False (Python waits) or None (no child"
     " left)."},
    {NULL, NULL, 0, NULL},
};

int ptrace_loop_init(void) {
    if ((s_pending_call = PyUnicode_InternFromString("pending_call")) == NULL ||
        (s_reexecuting = PyUnicode_InternFromString("reexecuting")) == NULL ||
        (s_spawning = PyUnicode_InternFromString("spawning")) == NULL ||
        (s_rewritten = PyUnicode_InternFromString("rewritten")) == NULL)
        return -1;
    return 0;
}
