/* Optional accelerator for the per-stop ptrace requests of sysemu's engine.
 *
 * Every function here has a ctypes twin in ptrace.py with the same arguments and results;
 * this module only removes ctypes' per-argument conversion (about 150 ns per argument, 600 ns
 * or more per request) and combines the requests of one stop into one call. If it cannot be
 * built, sysemu runs the ctypes versions.
 *
 * Conventions: a tracee that disappeared (ESRCH: it was killed while stopped) is a normal
 * race, reported as None or False; any other failure raises OSError. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <linux/types.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/user.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#ifdef __x86_64__
#include <x86intrin.h>
#endif

#include "_speedups.h"

long raw_ptrace(long request, long pid, unsigned long addr, unsigned long data) {
    errno = 0;
    long result = ptrace((enum __ptrace_request)request, (pid_t)pid, (void *)addr, (void *)data);
    if (result == -1 && errno != 0) return -errno;
    return result;
}

static PyObject *raise_errno(int error, const char *what) {
    errno = error;
    return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
}

static int long_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, long *out,
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

/* ptrace(request, pid, addr, data) -> int: the result, or -errno on failure. */
static PyObject *sp_ptrace(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[4];
    if (long_args(args, nargs, 4, a, "ptrace") < 0) return NULL;
    return PyLong_FromLong(raw_ptrace(a[0], a[1], (unsigned long)a[2], (unsigned long)a[3]));
}

/* resume(request, tid, sig) -> bool: PTRACE_CONT/SYSCALL/LISTEN...; False if the tracee is gone. */
static PyObject *sp_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[3];
    if (long_args(args, nargs, 3, a, "resume") < 0) return NULL;
    long result = raw_ptrace(a[0], a[1], 0, (unsigned long)a[2]);
    if (result == -ESRCH) Py_RETURN_FALSE;
    if (result < 0) return raise_errno((int)-result, "ptrace resume");
    Py_RETURN_TRUE;
}

/* syscall_info(tid) -> tuple | None, shaped by op:
 *   seccomp/entry: (op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, ret_data)
 *   exit:          (op, arch, ip, sp, rval, is_error)
 *   none:          (op, arch, ip, sp) */
static PyObject *sp_syscall_info(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long tid;
    if (long_args(args, nargs, 1, &tid, "syscall_info") < 0) return NULL;
    struct syscall_info info;
    memset(&info, 0, sizeof info);
    long result = raw_ptrace(REQ_GET_SYSCALL_INFO, tid, sizeof info, (unsigned long)&info);
    if (result == -ESRCH) Py_RETURN_NONE;
    if (result < 0) return raise_errno((int)-result, "PTRACE_GET_SYSCALL_INFO");
    if (info.op == INFO_SECCOMP || info.op == INFO_ENTRY) {
        return Py_BuildValue("(BkKKKKKKKKKk)", info.op, (unsigned long)info.arch,
                             (unsigned long long)info.instruction_pointer,
                             (unsigned long long)info.stack_pointer,
                             (unsigned long long)info.seccomp.nr,
                             (unsigned long long)info.seccomp.args[0],
                             (unsigned long long)info.seccomp.args[1],
                             (unsigned long long)info.seccomp.args[2],
                             (unsigned long long)info.seccomp.args[3],
                             (unsigned long long)info.seccomp.args[4],
                             (unsigned long long)info.seccomp.args[5],
                             (unsigned long)(info.op == INFO_SECCOMP ? info.seccomp.ret_data : 0));
    }
    if (info.op == INFO_EXIT) {
        return Py_BuildValue("(BkKKLB)", info.op, (unsigned long)info.arch,
                             (unsigned long long)info.instruction_pointer,
                             (unsigned long long)info.stack_pointer, (long long)info.exit.rval,
                             info.exit.is_error);
    }
    return Py_BuildValue("(BkKK)", info.op, (unsigned long)info.arch,
                         (unsigned long long)info.instruction_pointer,
                         (unsigned long long)info.stack_pointer);
}

/* poke_user_twice_then(request, tid, offset_a, value_a, offset_b, value_b) -> bool:
 * two POKEUSERs (set two registers) and a resume with `request`, sig 0. */
static PyObject *sp_poke_twice_then(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[6];
    if (long_args(args, nargs, 6, a, "poke_user_twice_then") < 0) return NULL;
    long result = raw_ptrace(REQ_POKEUSER, a[1], (unsigned long)a[2], (unsigned long)a[3]);
    if (result >= 0) result = raw_ptrace(REQ_POKEUSER, a[1], (unsigned long)a[4], (unsigned long)a[5]);
    if (result >= 0) result = raw_ptrace(a[0], a[1], 0, 0);
    if (result == -ESRCH) Py_RETURN_FALSE;
    if (result < 0) return raise_errno((int)-result, "ptrace poke");
    Py_RETURN_TRUE;
}

/* Up to `size` bytes of the tracee's memory at `address` into `out`, one remote iovec per page
 * (at most 64 pages), so that a range running into an unmapped page is read up to that page.
 * Returns the bytes read or -errno; *planned is how many it asked for. */
static ssize_t move_pages(pid_t pid, unsigned long address, char *out, size_t size,
                          size_t *planned, int write) {
    static long page_size;
    if (!page_size) page_size = sysconf(_SC_PAGESIZE);
    struct iovec remote[64];
    size_t count = 0, total = 0;
    while (total < size && count < 64) {
        unsigned long here = address + total;
        size_t chunk = page_size - here % page_size;
        if (chunk > size - total) chunk = size - total;
        remote[count].iov_base = (void *)here;
        remote[count].iov_len = chunk;
        count++;
        total += chunk;
    }
    *planned = total;
    struct iovec local = {out, total};
    ssize_t moved = write ? process_vm_writev(pid, &local, 1, remote, count, 0)
                          : process_vm_readv(pid, &local, 1, remote, count, 0);
    return moved < 0 ? -errno : moved;
}

ssize_t read_pages(pid_t pid, unsigned long address, char *out, size_t size,
                          size_t *planned) {
    return move_pages(pid, address, out, size, planned, 0);
}

/* write_memory(pid, address, data) -> int: bytes written (short at an unmapped or read-only
 * page), or -errno if nothing was. */
static PyObject *sp_write_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "write_memory(pid, address, data: bytes)");
        return NULL;
    }
    long pid = PyLong_AsLong(args[0]);
    unsigned long address = PyLong_AsUnsignedLongMask(args[1]);
    if (PyErr_Occurred()) return NULL;
    char *data = PyBytes_AS_STRING(args[2]);
    size_t size = (size_t)PyBytes_GET_SIZE(args[2]), done = 0, planned = 0;
    while (done < size) {
        ssize_t moved = move_pages((pid_t)pid, address + done, data + done, size - done,
                                   &planned, 1);
        if (moved < 0 && done == 0) return PyLong_FromLong((long)moved);
        if (moved <= 0) break;
        done += (size_t)moved;
        if ((size_t)moved < planned) break;
    }
    return PyLong_FromSize_t(done);
}

/* read_memory(pid, address, size) -> bytes (short at an unmapped page) | int (-errno) */
static PyObject *sp_read_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[3];
    if (long_args(args, nargs, 3, a, "read_memory") < 0) return NULL;
    if (a[2] < 0 || a[2] > (64L << 20)) {
        PyErr_SetString(PyExc_ValueError, "read_memory: size out of range");
        return NULL;
    }
    size_t size = (size_t)a[2], done = 0, planned = 0;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (bytes == NULL) return NULL;
    while (done < size) {
        ssize_t moved = read_pages((pid_t)a[0], (unsigned long)a[1] + done,
                                   PyBytes_AS_STRING(bytes) + done, size - done, &planned);
        if (moved < 0 && done == 0) {
            Py_DECREF(bytes);
            return PyLong_FromLong((long)moved);
        }
        if (moved <= 0) break;
        done += (size_t)moved;
        if ((size_t)moved < planned) break; /* an unmapped page */
    }
    if (done != size && _PyBytes_Resize(&bytes, (Py_ssize_t)done) < 0) return NULL;
    return bytes;
}

/* read_cstring(pid, address, limit) -> bytes (without the NUL, at most `limit`) | int (-errno)
 * Reads up to the end of the first page, then a page at a time, until a NUL or the limit. */
static PyObject *sp_read_cstring(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[3];
    if (long_args(args, nargs, 3, a, "read_cstring") < 0) return NULL;
    size_t limit = (size_t)a[2];
    if (a[2] < 0 || limit > (1UL << 20)) {
        PyErr_SetString(PyExc_ValueError, "read_cstring: limit out of range");
        return NULL;
    }
    char stack[4096];
    char *buffer = limit <= sizeof stack ? stack : PyMem_Malloc(limit);
    if (buffer == NULL) return PyErr_NoMemory();
    size_t have = 0;
    PyObject *result = NULL;
    while (have < limit) {
        unsigned long here = (unsigned long)a[1] + have;
        size_t chunk = 4096 - here % 4096;
        if (chunk > limit - have) chunk = limit - have;
        size_t planned;
        ssize_t moved = read_pages((pid_t)a[0], here, buffer + have, chunk, &planned);
        if (moved <= 0) {
            if (have == 0) result = PyLong_FromLong(moved < 0 ? (long)moved : -EFAULT);
            break;
        }
        char *nul = memchr(buffer + have, 0, (size_t)moved);
        if (nul != NULL) {
            have = (size_t)(nul - buffer);
            break;
        }
        have += (size_t)moved;
        if ((size_t)moved < chunk) break;
    }
    if (result == NULL) result = PyBytes_FromStringAndSize(buffer, (Py_ssize_t)have);
    if (buffer != stack) PyMem_Free(buffer);
    return result;
}

/* User notification (struct seccomp_notif / seccomp_notif_resp, declared here for old headers). */
struct notif_data {
    int nr;
    __u32 arch;
    __u64 instruction_pointer;
    __u64 args[6];
};
struct notif {
    __u64 id;
    __u32 pid;
    __u32 flags;
    struct notif_data data;
};
struct notif_resp {
    __u64 id;
    __s64 val;
    __s32 error;
    __u32 flags;
};
#define NOTIF_RECV_REQ 0xc0502100UL /* _IOWR('!', 0, struct seccomp_notif) */
#define NOTIF_SEND_REQ 0xc0182101UL /* _IOWR('!', 1, struct seccomp_notif_resp) */

/* notif_recv(fd) -> (id, tid, flags, nr, arch, ip, a0..a5) | None (ENOENT, EINTR) */
static PyObject *sp_notif_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long fd;
    if (long_args(args, nargs, 1, &fd, "notif_recv") < 0) return NULL;
    struct notif request;
    memset(&request, 0, sizeof request);
    int result;
    Py_BEGIN_ALLOW_THREADS
    result = ioctl((int)fd, NOTIF_RECV_REQ, &request);
    Py_END_ALLOW_THREADS
    if (result < 0) {
        if (errno == ENOENT || errno == EINTR) {
            if (errno == EINTR && PyErr_CheckSignals() < 0) return NULL;
            Py_RETURN_NONE;
        }
        return raise_errno(errno, "SECCOMP_IOCTL_NOTIF_RECV");
    }
    return Py_BuildValue("(KkkikKKKKKKK)", (unsigned long long)request.id,
                         (unsigned long)request.pid, (unsigned long)request.flags,
                         request.data.nr, (unsigned long)request.data.arch,
                         (unsigned long long)request.data.instruction_pointer,
                         (unsigned long long)request.data.args[0],
                         (unsigned long long)request.data.args[1],
                         (unsigned long long)request.data.args[2],
                         (unsigned long long)request.data.args[3],
                         (unsigned long long)request.data.args[4],
                         (unsigned long long)request.data.args[5]);
}

/* notif_send(fd, id, val, error, flags) -> bool (False: the call is gone, ENOENT) */
static PyObject *sp_notif_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[5];
    if (long_args(args, nargs, 5, a, "notif_send") < 0) return NULL;
    struct notif_resp response = {(__u64)a[1], (__s64)a[2], (__s32)a[3], (__u32)a[4]};
    if (ioctl((int)a[0], NOTIF_SEND_REQ, &response) < 0) {
        if (errno == ENOENT) Py_RETURN_FALSE;
        return raise_errno(errno, "SECCOMP_IOCTL_NOTIF_SEND");
    }
    Py_RETURN_TRUE;
}

/* One answered notification and the next one: the NOTIF_SEND of the reply (skipped when
 * reply_id is None) and the NOTIF_RECV that follows, in one call and with the GIL released
 * across both, so that the supervisor's loop crosses from Python into C once per call.
 *
 * notif_exchange(fd, reply_id | None, val, error, flags)
 *     -> (id, tid, key, ip, (a0..a5)) | None (ENOENT, EINTR: nothing to answer)
 * where key = arch << 32 | (u32)nr, ready for one dict lookup. A reply to a call that is gone
 * (ENOENT: its thread died or was interrupted) is normal and ignored, as notif_send reports it.
 * The reply is retried on EINTR: the kernel takes its lock interruptibly, and a lost reply
 * would leave the caller blocked for good. */
/* Without the GIL: send `response` (if any; retried on EINTR), then, unless the send failed
 * otherwise than ENOENT (its call is gone), receive the next notification into `request`.
 * Returns the receive's result (-1 when it failed or did not happen); the errors, or 0, go
 * to *send_errno and *recv_errno. */
static int send_then_receive(int fd, struct notif_resp *response, struct notif *request,
                             int *send_errno, int *recv_errno) {
    *send_errno = *recv_errno = 0;
    memset(request, 0, sizeof *request);
    if (response != NULL) {
        int sent;
        do sent = ioctl(fd, NOTIF_SEND_REQ, response);
        while (sent < 0 && errno == EINTR);
        if (sent < 0) *send_errno = errno;
    }
    if (*send_errno != 0 && *send_errno != ENOENT) return -1;
    int result = ioctl(fd, NOTIF_RECV_REQ, request);
    if (result < 0) *recv_errno = errno;
    return result;
}

static PyObject *sp_notif_exchange(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "notif_exchange(fd, reply_id, val, error, flags)");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    int reply = args[1] != Py_None;
    struct notif_resp response = {0, 0, 0, 0};
    if (reply) {
        response.id = (__u64)PyLong_AsUnsignedLongLongMask(args[1]);
        /* As notif_send takes them: a 64-bit pattern, -1 and 2**64 - 1 alike. */
        response.val = (__s64)PyLong_AsUnsignedLongLongMask(args[2]);
        response.error = (__s32)PyLong_AsLong(args[3]);
        response.flags = (__u32)PyLong_AsUnsignedLongMask(args[4]);
        if (PyErr_Occurred()) return NULL;
    }
    struct notif request;
    int send_errno, recv_errno, result;
    Py_BEGIN_ALLOW_THREADS
    result = send_then_receive(fd, reply ? &response : NULL, &request, &send_errno, &recv_errno);
    Py_END_ALLOW_THREADS
    if (send_errno != 0 && send_errno != ENOENT)
        return raise_errno(send_errno, "SECCOMP_IOCTL_NOTIF_SEND");
    if (result < 0) {
        if (recv_errno == ENOENT || recv_errno == EINTR) {
            if (recv_errno == EINTR && PyErr_CheckSignals() < 0) return NULL;
            Py_RETURN_NONE;
        }
        return raise_errno(recv_errno, "SECCOMP_IOCTL_NOTIF_RECV");
    }
    PyObject *raw = PyTuple_New(6);
    if (raw == NULL) return NULL;
    for (Py_ssize_t i = 0; i < 6; i++) {
        PyObject *value = PyLong_FromUnsignedLongLong(request.data.args[i]);
        if (value == NULL) {
            Py_DECREF(raw);
            return NULL;
        }
        PyTuple_SET_ITEM(raw, i, value);
    }
    unsigned long long key = ((unsigned long long)request.data.arch << 32) | (__u32)request.data.nr;
    PyObject *items[4] = {
        PyLong_FromUnsignedLongLong(request.id),
        PyLong_FromUnsignedLong(request.pid),
        PyLong_FromUnsignedLongLong(key),
        PyLong_FromUnsignedLongLong(request.data.instruction_pointer),
    };
    PyObject *notification = PyTuple_New(5);
    if (notification == NULL || !items[0] || !items[1] || !items[2] || !items[3]) {
        for (int i = 0; i < 4; i++) Py_XDECREF(items[i]);
        Py_XDECREF(notification);
        Py_DECREF(raw);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 4; i++) PyTuple_SET_ITEM(notification, i, items[i]);
    PyTuple_SET_ITEM(notification, 4, raw);
    return notification;
}

/* The supervisor's whole loop for the calls it can decide in C, Python called only for the
 * handler (and the Call it receives); the twin of NotifySupervisor._loop_python in
 * engine/notify.py, which runs where this module is not built and is the reference:
 * every count and every reply here must be the same as there.
 *
 * notif_serve(fd, direct, tasks, task_type, call_type, listener, emulate_type, fail_type,
 *             general, raised, carry_out) -> None once no process uses the filter
 *
 * direct maps arch << 32 | (u32)nr to (syscall, handler, stats, route); tasks maps a tid to
 * its task_type(tid). Per notification of a direct route: call = call_type(syscall, args,
 * task, ip) with call._listener and call._notification set; stats.stops += 1; the handler
 * runs, timed into stats.handler_ns; an Emulate, None (continue) or Fail is counted and its
 * reply sent with the next NOTIF_RECV. Everything else goes back to Python, which replies
 * itself: general((id, tid, key, ip, args)) for a notification of any other route,
 * raised(call, route, handler, error) for a handler's Exception (a BaseException such as
 * KeyboardInterrupt propagates), carry_out(id, call, route, decision) for other decisions. */
static PyObject *s_stops, *s_handler_ns, *s_emulated, *s_passed, *s_failed, *s_value, *s_errno,
    *s_listener, *s_notification, *s_then, *s_pending_call, *s_reexecuting, *s_spawning,
    *s_rewritten;

static int add_to(PyObject *stats, PyObject *name, long long amount) {
    PyObject *old = PyObject_GetAttr(stats, name);
    if (old == NULL) return -1;
    PyObject *by = PyLong_FromLongLong(amount);
    PyObject *sum = by == NULL ? NULL : PyNumber_Add(old, by);
    Py_DECREF(old);
    Py_XDECREF(by);
    if (sum == NULL) return -1;
    int result = PyObject_SetAttr(stats, name, sum);
    Py_DECREF(sum);
    return result;
}

static PyObject *zero; /* sp of a notified call, which has none */

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* what time.perf_counter_ns reads on Linux */
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Handlers are timed in ticks: the TSC where the kernel's own clock is the TSC (x86_64 with
 * current_clocksource "tsc", which the kernel picks only when the TSC runs at one rate on every
 * CPU), else CLOCK_MONOTONIC's nanoseconds. Reading the TSC costs a pinned stop about 20 ns
 * where clock_gettime costs about 50 (its vDSO data is cold after the context switch), and a
 * handler is timed twice per call. Ticks become nanoseconds when counters are flushed, at the
 * rate the two clocks kept since the module was loaded. */
static int tsc_ticks;
static long long tsc_origin, ns_origin;

static long long ticks(void) {
#ifdef __x86_64__
    if (tsc_ticks) return (long long)__rdtsc();
#endif
    return now_ns();
}

static void choose_ticks(void) {
#ifdef __x86_64__
    char name[16] = "";
    FILE *source = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (source == NULL) return;
    int known = fgets(name, sizeof name, source) != NULL;
    fclose(source);
    if (known && strcmp(name, "tsc\n") == 0) {
        tsc_origin = (long long)__rdtsc();
        ns_origin = now_ns();
        tsc_ticks = 1;
    }
#endif
}

static long long ticks_to_ns(long long count) {
    if (!tsc_ticks) return count;
    long long tsc = ticks(), ns = now_ns();
    if (tsc <= tsc_origin || ns <= ns_origin) return 0; /* no time passed: nothing to scale by */
    return (long long)((double)count * (double)(ns - ns_origin) / (double)(tsc - tsc_origin));
}

/* Counters of the direct routes (and of the calls the native trace writes), kept here between
 * two returns to Python and added to their SyscallStats then (flush_counters): five attribute
 * updates a call cost about 0.3 µs. Both wait loops use them, always holding the GIL. */
#define COUNTED_ROUTES 64
static struct {
    PyObject *stats;
    long long values[COUNT_FIELDS];
} counted[COUNTED_ROUTES];
static int ncounted;

static PyObject *count_name(int field) {
    PyObject *names[COUNT_FIELDS] = {s_stops, s_handler_ns, s_emulated, s_passed, s_failed};
    return names[field];
}

int count_for_route(PyObject *stats, int field, long long amount) {
    for (int i = 0; i < ncounted; i++) {
        if (counted[i].stats == stats) {
            counted[i].values[field] += amount;
            return 0;
        }
    }
    if (ncounted == COUNTED_ROUTES)
        return add_to(stats, count_name(field),
                      field == COUNT_HANDLER_NS ? ticks_to_ns(amount) : amount);
    Py_INCREF(stats);
    counted[ncounted].stats = stats;
    memset(counted[ncounted].values, 0, sizeof counted[ncounted].values);
    counted[ncounted++].values[field] = amount;
    return 0;
}

/* Adds what was counted to the SyscallStats; 0, or -1 with an exception set. */
static int flush_counters(void) {
    int result = 0;
    for (int i = 0; i < ncounted; i++) {
        for (int field = 0; field < COUNT_FIELDS && result == 0; field++)
            if (counted[i].values[field])
                result = add_to(counted[i].stats, count_name(field),
                                field == COUNT_HANDLER_NS ? ticks_to_ns(counted[i].values[field])
                                                          : counted[i].values[field]);
        Py_DECREF(counted[i].stats);
    }
    ncounted = 0;
    return result;
}

/* What a wait loop returns, once its counters are flushed (an exception it raised wins). */
static PyObject *counters_flushed(PyObject *result) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int failed = flush_counters() < 0;
    if (result == NULL) {
        if (failed) PyErr_Clear();
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    if (failed) Py_CLEAR(result);
    return result;
}

/* Calls are made by filling the slots of a fresh object of the Call type, as Call.__init__ does
 * (about 0.2 µs less than running it). The slots' offsets come from the type's member
 * descriptors; a type without one of them is called instead. */
enum { SLOT_SYSCALL, SLOT_RAW, SLOT_TASK, SLOT_IP, SLOT_SP, SLOT_ARGS, SLOT_MEMORY, SLOT_LISTENER,
       SLOT_NOTIFICATION, SLOTS };
static const char *const slot_names[SLOTS] = {"syscall", "raw", "_task", "ip", "sp", "_args",
                                              "_memory", "_listener", "_notification"};
static struct {
    PyTypeObject *type;
    Py_ssize_t offsets[SLOTS]; /* -1: no such slot */
    int reusable;              /* an object of it holds nothing but these slots (see release_call) */
    PyObject *spare;           /* a released Call of this type, its slots empty, or NULL */
} call_plans[4];

static Py_ssize_t slot_offset(PyTypeObject *type, const char *name) {
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

/* Whether an object of `type` holds `slots` object slots and nothing else: no __dict__, no
 * weak references, no other slot (its size says so). */
static int holds_only_slots(PyTypeObject *type, Py_ssize_t slots) {
    return type->tp_dictoffset == 0 && type->tp_weaklistoffset == 0 &&
           type->tp_basicsize == (Py_ssize_t)(sizeof(PyObject) + slots * sizeof(PyObject *));
}

static int call_plan_index(PyTypeObject *type) {
    for (int i = 0; i < (int)(sizeof call_plans / sizeof call_plans[0]); i++) {
        if (call_plans[i].type == type) return i;
        if (call_plans[i].type == NULL) {
            call_plans[i].type = type; /* the types live as long as the module */
            Py_INCREF(type);
            Py_ssize_t slots = 0;
            for (int slot = 0; slot < SLOTS; slot++) {
                call_plans[i].offsets[slot] = slot_offset(type, slot_names[slot]);
                slots += call_plans[i].offsets[slot] >= 0;
            }
            /* Nothing else to reset between two uses: no finaliser, nothing but the slots. */
            call_plans[i].reusable = type->tp_finalize == NULL && type->tp_del == NULL &&
                                     holds_only_slots(type, slots);
            return i;
        }
    }
    return -1;
}

/* Drops the loop's reference to a Call. One that nobody else holds (the handler kept no
 * reference, nothing waits for its result) is emptied and kept as its type's spare, which the
 * next new_call fills instead of allocating: a Call less to allocate, track and deallocate per
 * call. Nobody can tell: no reference to the old Call exists. */
static void release_record(PyObject *decision);

static void release_call(PyObject *call) {
    if (call == NULL) return;
    int index = Py_REFCNT(call) == 1 ? call_plan_index(Py_TYPE(call)) : -1;
    if (index < 0 || !call_plans[index].reusable || call_plans[index].spare != NULL) {
        Py_DECREF(call);
        return;
    }
    for (int slot = 0; slot < SLOTS; slot++)
        if (call_plans[index].offsets[slot] >= 0)
            Py_CLEAR(*(PyObject **)((char *)call + call_plans[index].offsets[slot]));
    /* Clearing may have run Python (a finaliser of what a slot held) and let the other wait
     * loop's thread (auto) release a Call of its own meanwhile. */
    if (call_plans[index].spare != NULL) {
        Py_DECREF(call);
        return;
    }
    call_plans[index].spare = call;
}

/* Attributes of the engine's __slots__ objects (task states, decisions) read and written at
 * their slot's offset, about 30 ns less each than PyObject_GetAttr; the offset is found once
 * per type (a type whose attribute is not a plain slot, or a slot not set, goes through
 * getattr as before). */
struct slot_cache {
    PyTypeObject *type;
    Py_ssize_t offset;
};

static Py_ssize_t cached_offset(PyObject *obj, PyObject *name, struct slot_cache *cache) {
    PyTypeObject *type = Py_TYPE(obj);
    if (cache->type != type) {
        Py_INCREF(type);
        Py_XSETREF(cache->type, type);
        cache->offset = slot_offset(type, PyUnicode_AsUTF8(name));
    }
    return cache->offset;
}

/* obj.name: a new reference, or NULL with an exception set. */
static PyObject *get_slot(PyObject *obj, PyObject *name, struct slot_cache *cache) {
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

/* obj.name = value: 0, or -1 with an exception set. */
static int set_slot(PyObject *obj, PyObject *name, struct slot_cache *cache, PyObject *value) {
    Py_ssize_t offset = cached_offset(obj, name, cache);
    if (offset < 0) return PyObject_SetAttr(obj, name, value);
    Py_INCREF(value);
    Py_XSETREF(*(PyObject **)((char *)obj + offset), value);
    return 0;
}

static struct slot_cache c_value, c_errno, c_then, c_rewritten, c_pending_call, c_spawning,
    c_reexecuting;

/* call_type(syscall, raw, task, ip, sp), with the listener and notification id set too when
 * `listener` is not NULL; a new reference, or NULL with an exception set. */
static PyObject *new_call(PyObject *call_type, PyObject *syscall, PyObject *raw, PyObject *task,
                          PyObject *ip, PyObject *sp, PyObject *listener, PyObject *notification) {
    PyTypeObject *type = (PyTypeObject *)call_type;
    int index = call_plan_index(type);
    Py_ssize_t *offsets = index < 0 ? NULL : call_plans[index].offsets;
    int fast = offsets != NULL;
    for (int slot = 0; fast && slot < (listener ? SLOTS : SLOT_LISTENER); slot++)
        fast = offsets[slot] >= 0;
    if (!fast) {
        PyObject *call_args[5] = {syscall, raw, task, ip, sp};
        PyObject *call = PyObject_Vectorcall(call_type, call_args, 5, NULL);
        if (call != NULL && listener != NULL &&
            (PyObject_SetAttr(call, s_listener, listener) < 0 ||
             PyObject_SetAttr(call, s_notification, notification) < 0))
            Py_CLEAR(call);
        return call;
    }
    PyObject *call = call_plans[index].spare;
    call_plans[index].spare = NULL;
    if (call == NULL && (call = type->tp_alloc(type, 0)) == NULL) return NULL;
    PyObject *values[SLOTS] = {syscall, raw, task, ip, sp, Py_None, Py_None, listener, notification};
    for (int slot = 0; slot < (listener ? SLOTS : SLOT_LISTENER); slot++) {
        PyObject **field = (PyObject **)((char *)call + offsets[slot]);
        Py_INCREF(values[slot]);
        Py_XSETREF(*field, values[slot]);
    }
    return call;
}

/* The Python int last made for one kind of value (a tid, a register), handed out again while the
 * value repeats: a program calling from one place in a loop, or one thread making most of the
 * calls, costs no new ints (each new one is an allocation now and a deallocation later). Only
 * touched with the GIL held. A new reference, or NULL with an exception set. */
struct last_int {
    unsigned long long bits;
    PyObject *value;
};

static PyObject *int_for(struct last_int *last, unsigned long long bits) {
    if (last->value == NULL || last->bits != bits) {
        PyObject *fresh = PyLong_FromUnsignedLongLong(bits);
        if (fresh == NULL) return NULL;
        Py_XSETREF(last->value, fresh);
        last->bits = bits;
    }
    Py_INCREF(last->value);
    return last->value;
}

/* The same for a call's six argument registers: the tuple itself while all six repeat (read
 * or futex in a loop), else a new tuple that keeps the ints of the registers that did not
 * change. */
struct last_args {
    __u64 bits[6];
    PyObject *tuple;
};

static PyObject *args_for(struct last_args *last, const __u64 bits[6]) {
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

static struct last_int notified_tid, notified_ip, notified_key, stopped_tid, stopped_ip,
    stopped_sp, stopped_key;
static struct last_args notified_args, stopped_args;

/* Calls fn(*argv) and drops the result; -1 with the exception set if it raised. */
static int call_dropping(PyObject *fn, PyObject **argv, size_t count) {
    PyObject *result = PyObject_Vectorcall(fn, argv, count, NULL);
    if (result == NULL) return -1;
    Py_DECREF(result);
    return 0;
}

/* Calls handler(call), timed into stats.handler_ns. 1: *decision holds what it returned (a new
 * reference); 0: it raised an Exception, handed to raised(call, route, handler, error) as
 * Python's `except Exception` would; -1: an exception to propagate (a BaseException such as
 * KeyboardInterrupt, or a failure here). */
static int run_handler(PyObject *handler, PyObject *call, PyObject *stats, PyObject *raised,
                       PyObject *route, PyObject **decision) {
    long long start = ticks();
    *decision = PyObject_CallOneArg(handler, call);
    long long spent = ticks() - start;
    if (*decision != NULL) return count_for_route(stats, COUNT_HANDLER_NS, spent) < 0 ? -1 : 1;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) PyException_SetTraceback(value, traceback);
    int outcome;
    if (count_for_route(stats, COUNT_HANDLER_NS, spent) < 0) {
        outcome = -1;
    } else if (!PyErr_GivenExceptionMatches(type, PyExc_Exception)) {
        PyErr_Restore(type, value, traceback);
        return -1;
    } else {
        PyObject *argv[4] = {call, route, handler, value};
        outcome = call_dropping(raised, argv, 4) < 0 ? -1 : 0;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return outcome;
}

/* One direct notification: the reply to send in *response (returns 1), or 0 when Python
 * replied itself, or -1 with an exception set. */
static int decide_direct(const struct notif *request, PyObject *route, PyObject *const *args,
                         struct notif_resp *response) {
    PyObject *tasks = args[2], *task_type = args[3], *call_type = args[4], *listener = args[5];
    PyTypeObject *emulate_type = (PyTypeObject *)args[6], *fail_type = (PyTypeObject *)args[7];
    PyObject *raised = args[9], *carry_out = args[10];
    PyObject *syscall = PyTuple_GET_ITEM(route, 0), *handler = PyTuple_GET_ITEM(route, 1);
    PyObject *stats = PyTuple_GET_ITEM(route, 2), *route_object = PyTuple_GET_ITEM(route, 3);
    PyObject *tid = NULL, *state = NULL, *raw = NULL, *ip = NULL, *id = NULL, *call = NULL;
    PyObject *decision = NULL, *field = NULL;
    int outcome = -1;
    if ((tid = int_for(&notified_tid, request->pid)) == NULL) goto done;
    state = PyDict_GetItemWithError(tasks, tid);
    if (state != NULL) {
        Py_INCREF(state);
    } else {
        if (PyErr_Occurred()) goto done;
        if ((state = PyObject_CallOneArg(task_type, tid)) == NULL) goto done;
        if (PyDict_SetItem(tasks, tid, state) < 0) goto done;
    }
    if ((raw = args_for(&notified_args, request->data.args)) == NULL) goto done;
    if ((ip = int_for(&notified_ip, request->data.instruction_pointer)) == NULL) goto done;
    if ((id = PyLong_FromUnsignedLongLong(request->id)) == NULL) goto done;
    if ((call = new_call(call_type, syscall, raw, state, ip, zero, listener, id)) == NULL) goto done;
    if (count_for_route(stats, COUNT_STOPS, 1) < 0) goto done;
    int ran = run_handler(handler, call, stats, raised, route_object, &decision);
    if (ran <= 0) { /* raised: Python replied itself (0), or an exception (-1) */
        outcome = ran;
        goto done;
    }
    memset(response, 0, sizeof *response);
    response->id = request->id;
    if (Py_TYPE(decision) == emulate_type) {
        if ((field = get_slot(decision, s_value, &c_value)) == NULL) goto done;
        if (!PyLong_Check(field)) { /* Python's loop would fail on it too, out of the loop */
            PyErr_SetString(PyExc_TypeError, "an emulated value must be an int");
            goto done;
        }
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(field, &overflow);
        if (value == -1 && PyErr_Occurred()) goto done;
        if (overflow) /* far outside the errno range: a 64-bit pattern, as notif_send takes it */
            response->val = (__s64)PyLong_AsUnsignedLongLongMask(field);
        else if (-4096 < value && value < 0)
            response->error = (__s32)value;
        else
            response->val = (__s64)value;
        if (PyErr_Occurred() || count_for_route(stats, COUNT_EMULATED, 1) < 0) goto done;
        outcome = 1;
    } else if (decision == Py_None) {
        response->flags = 1; /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
        if (count_for_route(stats, COUNT_PASSED, 1) < 0) goto done;
        outcome = 1;
    } else if (Py_TYPE(decision) == fail_type) {
        if ((field = get_slot(decision, s_errno, &c_errno)) == NULL) goto done;
        long number = PyLong_AsLong(field);
        if (number == -1 && PyErr_Occurred()) goto done;
        response->error = (__s32)-number;
        if (count_for_route(stats, COUNT_FAILED, 1) < 0) goto done;
        outcome = 1;
    } else {
        PyObject *argv[4] = {id, call, route_object, decision};
        outcome = call_dropping(carry_out, argv, 4) < 0 ? -1 : 0;
    }
done:
    Py_XDECREF(tid);
    Py_XDECREF(state);
    Py_XDECREF(raw);
    Py_XDECREF(ip);
    Py_XDECREF(id);
    release_call(call);
    release_record(decision);
    Py_XDECREF(field);
    return outcome;
}

static PyObject *notif_serve_loop(PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11 || !PyDict_Check(args[1]) || !PyDict_Check(args[2]) ||
        !PyType_Check(args[6]) || !PyType_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "notif_serve(fd, direct: dict, tasks: dict, task_type, call_type, "
                        "listener, emulate_type: type, fail_type: type, general, raised, "
                        "carry_out)");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    PyObject *direct = args[1], *general = args[8];
    struct notif_resp response;
    int reply = 0;
    for (;;) {
        struct notif request;
        int send_errno, recv_errno, result;
        Py_BEGIN_ALLOW_THREADS
        result = send_then_receive(fd, reply ? &response : NULL, &request, &send_errno,
                                   &recv_errno);
        Py_END_ALLOW_THREADS
        reply = 0;
        if (send_errno != 0 && send_errno != ENOENT)
            return raise_errno(send_errno, "SECCOMP_IOCTL_NOTIF_SEND");
        if (result < 0) {
            if (recv_errno != ENOENT && recv_errno != EINTR)
                return raise_errno(recv_errno, "SECCOMP_IOCTL_NOTIF_RECV");
            if (recv_errno == EINTR && PyErr_CheckSignals() < 0) return NULL;
            /* Gone for good (POLLHUP), or only this call's thread was (see Listener.hung_up). */
            struct pollfd poller = {fd, POLLIN, 0};
            if (poll(&poller, 1, 0) > 0 && poller.revents & (POLLHUP | POLLERR)) Py_RETURN_NONE;
            continue;
        }
        unsigned long long bits =
            ((unsigned long long)request.data.arch << 32) | (__u32)request.data.nr;
        PyObject *key = int_for(&notified_key, bits);
        if (key == NULL) return NULL;
        PyObject *route = PyDict_GetItemWithError(direct, key);
        if (route == NULL) {
            PyObject *raw = PyErr_Occurred() ? NULL : args_for(&notified_args, request.data.args);
            PyObject *note = raw == NULL ? NULL
                                         : Py_BuildValue("(KkOKN)", (unsigned long long)request.id,
                                                         (unsigned long)request.pid, key,
                                                         (unsigned long long)request.data
                                                             .instruction_pointer,
                                                         raw);
            Py_DECREF(key);
            if (note == NULL) return NULL;
            int failed = call_dropping(general, &note, 1);
            Py_DECREF(note);
            if (failed < 0) return NULL;
            continue;
        }
        /* The handler may empty `direct` (a handler error under OnError.KILL): hold the route. */
        Py_INCREF(route);
        if (!PyTuple_Check(route) || PyTuple_GET_SIZE(route) != 4) {
            Py_DECREF(route);
            Py_DECREF(key);
            PyErr_SetString(PyExc_TypeError, "a direct route is (syscall, handler, stats, route)");
            return NULL;
        }
        int decided = decide_direct(&request, route, args, &response);
        Py_DECREF(route);
        Py_DECREF(key);
        if (decided < 0) return NULL;
        reply = decided;
    }
}

/* ptrace_serve(direct, tasks, call_type, emulate_type, fail_type, stop, spin_ns, resume,
 *              orig_rax, rax, carry_out, raised, pass_type, by_number, mode, trace, resolve,
 *              adopt)
 * (mode 2 also makes the calls PTRACE_SYSEMU skipped run after all, through their 3 stops.)
 *     -> (tid, status) | None
 *
 * The ptrace backends' wait loop for the common stop. mode 0 (seccomp): a seccomp stop whose
 * filter data names a route in `direct` (a list indexed by route id, of (syscall, handler,
 * stats, route, arch, nr) for routes with one handler the kernel matched and no observer, else
 * None). mode 1 (ptrace, PTRACE_SYSCALL) and 2 (sysemu, PTRACE_SYSEMU): a syscall stop of a
 * task with nothing pending, whose call is in no route (resumed at once: its entry, or any
 * exit under mode 1) or in a direct route of `by_number` (keyed arch << 32 | nr; None for a
 * route Python must decide). Per such
 * stop only the Call, the handler and its decision are Python: None (or a Pass without a
 * result hook) is counted as passed and resumed with `resume`, an Emulate or Fail is counted and carried out with two POKEUSERs
 * (orig_rax = -1, rax = value, at the given offsets) and the resume. Other decisions go to
 * carry_out(state, call, route, decision), a handler's Exception to
 * raised(call, route, handler, error); a BaseException propagates. Every other event is
 * returned as (tid, status) for Python to handle as its own loop would (a seccomp stop of
 * another route, or one met while `stop[0]` is set, is returned before anything is read but
 * its syscall info). None: no child is left (ECHILD).
 *
 * trace (mode 0; a NativeTrace or None): the seccomp stops of other routes and the exit stops
 * of the calls it served at entry go to it first; resolve(nr) and adopt(tid, nr, raw, ip, sp)
 * are its callbacks into the engine (see _tracefmt.c). Before any stop goes to Python, the
 * calls it has pending are handed over and its lines written.
 *
 * Waiting polls with WNOHANG for up to spin_ns while stops come faster than that, as the
 * Python loop does (see Tracer.__init__'s spin_us), with the GIL released. */
#define WALL_FLAG 0x40000000
#define SECCOMP_STOP_STATUS (SIGTRAP | (7 << 8)) /* PTRACE_EVENT_SECCOMP */
#define SYSCALL_STOP_STATUS (SIGTRAP | 0x80)     /* PTRACE_O_TRACESYSGOOD */

static int ptrace_spinning;

static int poke_and_resume(long tid, long orig_rax, long rax, long long value, long request) {
    long result = raw_ptrace(REQ_POKEUSER, tid, (unsigned long)orig_rax, (unsigned long)-1L);
    if (result >= 0) result = raw_ptrace(REQ_POKEUSER, tid, (unsigned long)rax, (unsigned long)value);
    if (result >= 0) result = raw_ptrace(request, tid, 0, 0);
    return result < 0 && result != -ESRCH ? (int)-result : 0;
}

static int run_after_all(PyObject *state, long tid);

/* One direct stop of the task `tid` (its state borrowed, found by the caller): 1 when carried
 * out (resumed, or handed to Python's callbacks), -1 with an exception set. */
static int ptrace_direct(long tid, PyObject *state, const struct syscall_info *info,
                         PyObject *entry, PyObject *const *args, int emulate_all) {
    PyObject *call_type = args[2];
    PyTypeObject *emulate_type = (PyTypeObject *)args[3], *fail_type = (PyTypeObject *)args[4];
    long request = PyLong_AsLong(args[7]), orig_rax = PyLong_AsLong(args[8]);
    long rax = PyLong_AsLong(args[9]);
    PyObject *carry_out = args[10], *raised = args[11];
    PyObject *syscall = PyTuple_GET_ITEM(entry, 0), *handler = PyTuple_GET_ITEM(entry, 1);
    PyObject *stats = PyTuple_GET_ITEM(entry, 2), *route = PyTuple_GET_ITEM(entry, 3);
    PyObject *raw = NULL, *ip = NULL, *sp = NULL, *call = NULL, *decision = NULL;
    PyObject *field = NULL;
    int outcome = -1;
    if (PyErr_Occurred()) return -1;
    if ((raw = args_for(&stopped_args, info->seccomp.args)) == NULL) goto done;
    if ((ip = int_for(&stopped_ip, info->instruction_pointer)) == NULL) goto done;
    if ((sp = int_for(&stopped_sp, info->stack_pointer)) == NULL) goto done;
    if ((call = new_call(call_type, syscall, raw, state, ip, sp, NULL, NULL)) == NULL) goto done;
    if (count_for_route(stats, COUNT_STOPS, 1) < 0) goto done;
    int ran = run_handler(handler, call, stats, raised, route, &decision);
    if (ran <= 0) { /* raised: handed to Python (1: carried out), or an exception (-1) */
        outcome = ran < 0 ? -1 : 1;
        goto done;
    }
    int passed = decision == Py_None;
    if (!passed && Py_TYPE(decision) == (PyTypeObject *)args[12]) { /* Pass: without a hook? */
        if ((field = get_slot(decision, s_then, &c_then)) == NULL) goto done;
        passed = field == Py_None;
        Py_CLEAR(field);
    }
    if (passed && emulate_all) { /* PTRACE_SYSEMU skipped it: make it run after all */
        if (count_for_route(stats, COUNT_PASSED, 1) < 0 || run_after_all(state, tid) < 0) goto done;
        outcome = 1;
    } else if (passed) {
        if (count_for_route(stats, COUNT_PASSED, 1) < 0) goto done;
        long result = raw_ptrace(request, tid, 0, 0);
        if (result < 0 && result != -ESRCH) {
            raise_errno((int)-result, "ptrace resume");
            goto done;
        }
        outcome = 1;
    } else if (Py_TYPE(decision) == emulate_type || Py_TYPE(decision) == fail_type) {
        int emulated = Py_TYPE(decision) == emulate_type;
        if ((field = emulated ? get_slot(decision, s_value, &c_value)
                               : get_slot(decision, s_errno, &c_errno)) == NULL)
            goto done;
        if (!PyLong_Check(field)) {
            PyErr_SetString(PyExc_TypeError, "an emulated value must be an int");
            goto done;
        }
        long long value = (long long)PyLong_AsUnsignedLongLongMask(field);
        if (value == -1 && PyErr_Occurred()) goto done;
        if (!emulated) value = -value;
        if (count_for_route(stats, emulated ? COUNT_EMULATED : COUNT_FAILED, 1) < 0) goto done;
        int error = poke_and_resume(tid, orig_rax, rax, value, request);
        if (error) {
            raise_errno(error, "ptrace poke");
            goto done;
        }
        outcome = 1;
    } else {
        PyObject *argv[4] = {state, call, route, decision};
        outcome = call_dropping(carry_out, argv, 4) < 0 ? -1 : 1;
    }
done:
    Py_XDECREF(raw);
    Py_XDECREF(ip);
    Py_XDECREF(sp);
    release_call(call);
    release_record(decision);
    Py_XDECREF(field);
    return outcome;
}

/* Where the task `tid` is, for a syscall stop the C loop may serve: TASK_PLAIN (known, no call
 * waiting for its result, not sysemu's own child on its way to exec), TASK_REEXEC_ENTRY or
 * TASK_REEXEC_EXIT (plain, and a call PTRACE_SYSEMU skipped is being made again: its real
 * entry or exit comes next), TASK_PYTHON (Python serves it), or -1 with an exception set. The
 * task's state goes to *state (borrowed). */
enum { TASK_PYTHON, TASK_PLAIN, TASK_REEXEC_ENTRY, TASK_REEXEC_EXIT };

/* Whether the task's last call was rewritten with data below its stack pointer: its next
 * decided call may be that call restarted, which Python recognises (Tracer._restarted_rewrite).
 * -1 with an exception set. */
static int has_rewrite(PyObject *state) {
    PyObject *record = get_slot(state, s_rewritten, &c_rewritten);
    if (record == NULL) return -1;
    int present = record != Py_None;
    Py_DECREF(record);
    return present;
}

static int task_phase(PyObject *tasks, long tid, PyObject **state) {
    PyObject *key = int_for(&stopped_tid, (unsigned long long)tid);
    if (key == NULL) return -1;
    *state = PyDict_GetItemWithError(tasks, key);
    Py_DECREF(key);
    if (*state == NULL) return PyErr_Occurred() ? -1 : TASK_PYTHON;
    PyObject *pending = get_slot(*state, s_pending_call, &c_pending_call);
    if (pending == NULL) return -1;
    int waiting = pending != Py_None;
    Py_DECREF(pending);
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

static int set_reexecuting(PyObject *state, long phase) {
    PyObject *value = PyLong_FromLong(phase);
    if (value == NULL) return -1;
    int result = set_slot(state, s_reexecuting, &c_reexecuting, value);
    Py_DECREF(value);
    return result;
}

/* PTRACE_SYSEMU skipped the call `tid` stopped at: back over the two-byte syscall instruction
 * with the number in rax again, as the kernel does to restart a call (Arch.reexecute), and run
 * on to its exit. 0, or -errno (-ESRCH: the task is gone). */
static int reexecute_and_resume(long tid) {
#ifdef __x86_64__
    struct user_regs_struct regs;
    long result = raw_ptrace(PTRACE_GETREGS, tid, 0, (unsigned long)&regs);
    if (result >= 0) {
        regs.rip -= 2;
        regs.rax = regs.orig_rax;
        result = raw_ptrace(PTRACE_SETREGS, tid, 0, (unsigned long)&regs);
    }
    if (result >= 0) result = raw_ptrace(PTRACE_SYSCALL, tid, 0, 0);
    return result < 0 ? (int)result : 0;
#else
    (void)tid;
    return -ENOSYS;
#endif
}

/* Make the skipped call of a plain task run after all (see reexecute_and_resume); 0, or -1 with
 * an exception set. A task that is gone is left to its exit event. */
static int run_after_all(PyObject *state, long tid) {
    int error = reexecute_and_resume(tid);
    if (error == -ESRCH) return 0;
    if (error < 0) {
        raise_errno(-error, "ptrace reexecute");
        return -1;
    }
    return set_reexecuting(state, 1);
}

/* A stop Python must serve: the native trace's pending calls are handed over and its lines
 * written first (see _tracefmt.c). */
static PyObject *to_python(PyObject *trace, PyObject *adopt, pid_t tid, int status) {
    if (trace != NULL && native_trace_yield(trace, adopt) < 0) return NULL;
    return Py_BuildValue("(ii)", (int)tid, status);
}

static PyObject *failing(PyObject *trace) {
    if (trace != NULL) native_trace_flush_quietly(trace);
    return NULL;
}

static PyObject *ptrace_serve_loop(PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 18 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) ||
        !PyType_Check(args[3]) || !PyType_Check(args[4]) || !PyByteArray_Check(args[5]) ||
        !PyType_Check(args[12]) || !PyDict_Check(args[13]) ||
        (args[15] != Py_None && !PyObject_TypeCheck(args[15], &NativeTraceType))) {
        PyErr_SetString(PyExc_TypeError,
                        "ptrace_serve(direct: list, tasks: dict, call_type, emulate_type, "
                        "fail_type, stop: bytearray, spin_ns, resume, orig_rax, rax, carry_out, "
                        "raised, pass_type, by_number: dict, mode, trace: NativeTrace|None, "
                        "resolve, adopt)");
        return NULL;
    }
    PyObject *direct = args[0], *tasks = args[1], *stop = args[5], *by_number = args[13];
    long long spin_ns = PyLong_AsLongLong(args[6]);
    long request = PyLong_AsLong(args[7]), mode = PyLong_AsLong(args[14]);
    if (PyErr_Occurred()) return NULL;
    int syscall_stops = mode != 0, emulate_all = mode == 2;
    /* The native trace serves the seccomp and ptrace backends' stops (not PTRACE_SYSEMU's). */
    PyObject *trace = args[15] != Py_None && !emulate_all ? args[15] : NULL;
    PyObject *resolve = args[16], *adopt = args[17];
    for (;;) {
        int status = 0, wait_errno = 0;
        pid_t tid = 0;
        if (ptrace_spinning) {
            Py_BEGIN_ALLOW_THREADS
            long long deadline = now_ns() + spin_ns;
            do tid = waitpid(-1, &status, WALL_FLAG | WNOHANG);
            while (tid == 0 && now_ns() <= deadline);
            if (tid < 0) wait_errno = errno;
            Py_END_ALLOW_THREADS
        }
        if (tid == 0) {
            /* The program runs on for a while: what the trace collected is shown now, not
             * when the buffer fills (a program blocked in a read must not hide its past). */
            if (trace != NULL && native_trace_flush(trace) < 0) return NULL;
            Py_BEGIN_ALLOW_THREADS
            /* (No clock reads without a spin budget: two of them cost a pinned stop ~70 ns.) */
            long long started = spin_ns > 0 ? now_ns() : 0;
            tid = waitpid(-1, &status, WALL_FLAG);
            ptrace_spinning = spin_ns > 0 && now_ns() - started < spin_ns;
            if (tid < 0) wait_errno = errno;
            Py_END_ALLOW_THREADS
        }
        if (tid < 0) {
            if (wait_errno == ECHILD) {
                if (trace != NULL && native_trace_yield(trace, adopt) < 0) return NULL;
                Py_RETURN_NONE;
            }
            if (wait_errno == EINTR) {
                if (PyErr_CheckSignals() < 0) return failing(trace);
                continue;
            }
            raise_errno(wait_errno, "waitpid");
            return failing(trace);
        }
        int kind = status >> 8;
        int stopping = PyByteArray_AS_STRING(stop)[0];
        if (trace != NULL && WIFSTOPPED(status) && !stopping && kind == SYSCALL_STOP_STATUS &&
            native_trace_has(trace, tid)) {
            struct syscall_info info;
            memset(&info, 0, sizeof info);
            long got = raw_ptrace(REQ_GET_SYSCALL_INFO, tid, sizeof info, (unsigned long)&info);
            int served = got < 0 ? 0 : native_trace_exit(trace, tid, &info, request);
            if (served < 0) return failing(trace);
            if (served) continue;
            return to_python(trace, adopt, tid, status);
        }
        if (!WIFSTOPPED(status) || stopping ||
            kind != (syscall_stops ? SYSCALL_STOP_STATUS : SECCOMP_STOP_STATUS))
            return to_python(trace, adopt, tid, status);
        PyObject *state = NULL;
        int phase = TASK_PLAIN;
        if (syscall_stops) {
            phase = task_phase(tasks, tid, &state);
            if (phase < 0) return failing(trace);
            if (phase == TASK_PYTHON) return to_python(trace, adopt, tid, status);
        }
        struct syscall_info info;
        memset(&info, 0, sizeof info);
        long got = raw_ptrace(REQ_GET_SYSCALL_INFO, tid, sizeof info, (unsigned long)&info);
        if (got < 0) return to_python(trace, adopt, tid, status);
        if (phase == TASK_REEXEC_ENTRY || phase == TASK_REEXEC_EXIT) {
            /* A call being made again: the skipped attempt's exit, the real entry (phase 1),
             * then the real exit (phase 2), after which the task runs on under PTRACE_SYSEMU. */
            int real_exit = phase == TASK_REEXEC_EXIT && info.op == INFO_EXIT;
            if (phase == TASK_REEXEC_EXIT && !real_exit) return Py_BuildValue("(ii)", (int)tid, status);
            if ((phase == TASK_REEXEC_ENTRY && info.op == INFO_ENTRY) || real_exit)
                if (set_reexecuting(state, real_exit ? 0 : 2) < 0) return NULL;
            long result = raw_ptrace(real_exit ? request : PTRACE_SYSCALL, tid, 0, 0);
            if (result < 0 && result != -ESRCH) return raise_errno((int)-result, "ptrace resume");
            continue;
        }
        PyObject *entry = NULL;
        if (!syscall_stops) {
            if (info.op == INFO_SECCOMP &&
                info.seccomp.ret_data < (__u32)PyList_GET_SIZE(direct))
                entry = PyList_GET_ITEM(direct, info.seccomp.ret_data);
        } else if (info.op == INFO_EXIT && !emulate_all) {
            /* Nobody waits for this result (task_phase): on to the next call. */
            long result = raw_ptrace(request, tid, 0, 0);
            if (result < 0 && result != -ESRCH) return raise_errno((int)-result, "ptrace resume");
            continue;
        } else if (info.op == INFO_ENTRY) {
            PyObject *key = int_for(
                &stopped_key, ((unsigned long long)info.arch << 32) | (info.entry.nr & 0xFFFFFFFFULL));
            if (key == NULL) return NULL;
            entry = PyDict_GetItemWithError(by_number, key); /* None: a route Python decides */
            Py_DECREF(key);
            if (entry == NULL && PyErr_Occurred()) return NULL;
            /* A call only the native trace may want: one nobody else watches (NULL), or one of
             * a route Python decides (None: observers only, as `--trace=SET` makes). */
            if ((entry == NULL || entry == Py_None) && trace != NULL) {
                int served = native_trace_entry(trace, tid, &info, resolve);
                if (served < 0) return failing(trace);
                if (served == NATIVE_SERVED) continue;
                if (served == NATIVE_TO_PYTHON || entry == Py_None)
                    return to_python(trace, adopt, tid, status);
            }
            if (entry == NULL) { /* nobody asked for this call: on, or (sysemu) made to run */
                if (emulate_all) {
                    if (run_after_all(state, tid) < 0) return NULL;
                    continue;
                }
                long result = raw_ptrace(request, tid, 0, 0);
                if (result < 0 && result != -ESRCH)
                    return raise_errno((int)-result, "ptrace resume");
                continue;
            }
        }
        int is_direct = entry != NULL && entry != Py_None &&
            PyLong_AsUnsignedLong(PyTuple_GET_ITEM(entry, 4)) == info.arch &&
            PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 5)) == info.seccomp.nr;
        if (!is_direct && (trace == NULL || syscall_stops)) return to_python(trace, adopt, tid, status);
        if (!syscall_stops) {
            PyObject *key = int_for(&stopped_tid, (unsigned long long)tid);
            if (key == NULL) return failing(trace);
            state = PyDict_GetItemWithError(tasks, key);
            Py_DECREF(key);
            if (state == NULL && PyErr_Occurred()) return failing(trace);
            if (state == NULL) return to_python(trace, adopt, tid, status); /* adopted */
            int rewritten = has_rewrite(state);
            if (rewritten < 0) return failing(trace);
            if (rewritten) return to_python(trace, adopt, tid, status);
        }
        if (!is_direct) { /* a call only the native trace may want */
            PyObject *pending = get_slot(state, s_pending_call, &c_pending_call);
            if (pending == NULL) return failing(trace);
            int waiting = pending != Py_None;
            Py_DECREF(pending);
            int served = waiting ? NATIVE_TO_PYTHON : native_trace_entry(trace, tid, &info, resolve);
            if (served < 0) return failing(trace);
            if (served != NATIVE_SERVED) return to_python(trace, adopt, tid, status);
        } else if (ptrace_direct(tid, state, &info, entry, args, emulate_all) < 0) {
            return failing(trace);
        } else if (PyByteArray_AS_STRING(stop)[0]) {
            /* The decision held its thread (a Defer), or ended the run: Python waits now. */
            if (trace != NULL && native_trace_yield(trace, adopt) < 0) return NULL;
            Py_RETURN_FALSE;
        }
        if (PyErr_CheckSignals() < 0) return failing(trace);
    }
}

static PyObject *sp_notif_serve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return counters_flushed(notif_serve_loop(args, nargs));
}

static PyObject *sp_ptrace_serve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return counters_flushed(ptrace_serve_loop(args, nargs));
}

/* record_method(owner, type, field, name, doc) -> a method of `owner` whose call
 * self.name(value) returns an object of the __slots__ class `type` with `field` set to value,
 * made with nothing run in Python (no frame, no __init__, no argument tuple): Call.emulate, the
 * decision of most hot handlers. The type must hold that one slot and nothing else (no
 * __dict__, no weak references, no other slot); one record type per process.
 *
 * The wait loops hand the record back once its decision is carried out (release_record): one
 * that nobody else holds is emptied and kept as the spare, and the next one made fills it, as
 * a Call is kept (release_call). That saves an allocation, a free and the cyclic collector's
 * bookkeeping per emulated call. Guarded by the GIL, like everything here. */
static PyTypeObject *record_type;
static Py_ssize_t record_offset;
static PyObject *spare_record;
static PyObject *record_method_name, *record_method_doc; /* kept: the method's def points in */

static PyObject *make_record(PyObject *self, PyObject *value) {
    (void)self;
    PyObject *record = spare_record;
    if (record != NULL) {
        spare_record = NULL;
    } else if ((record = record_type->tp_alloc(record_type, 0)) == NULL) {
        return NULL;
    }
    Py_INCREF(value);
    *(PyObject **)((char *)record + record_offset) = value;
    return record;
}

/* Drops a loop's reference to a decision: see record_method. */
static void release_record(PyObject *decision) {
    if (decision == NULL) return;
    if (Py_TYPE(decision) != record_type || Py_REFCNT(decision) != 1 || spare_record != NULL) {
        Py_DECREF(decision);
        return;
    }
    PyObject **field = (PyObject **)((char *)decision + record_offset);
    PyObject *value = *field;
    *field = NULL;
    spare_record = decision;
    Py_XDECREF(value);
}

static PyMethodDef record_method_def = {NULL, (PyCFunction)make_record, METH_O, NULL};

static PyObject *sp_record_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyType_Check(args[0]) || !PyType_Check(args[1]) ||
        !PyUnicode_Check(args[2]) || !PyUnicode_Check(args[3]) || !PyUnicode_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "record_method(owner, type, field, name, doc)");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)args[1];
    Py_ssize_t offset = slot_offset(type, PyUnicode_AsUTF8(args[2]));
    if (offset < 0 || !holds_only_slots(type, 1)) {
        PyErr_Format(PyExc_TypeError, "%s must hold the one slot %U and nothing else",
                     type->tp_name, args[2]);
        return NULL;
    }
    if (record_type != NULL && (record_type != type || record_offset != offset)) {
        PyErr_SetString(PyExc_TypeError, "record_method makes one record type per process");
        return NULL;
    }
    if (record_type == NULL) {
        Py_INCREF(type);
        record_type = type;
        record_offset = offset;
        Py_INCREF(args[3]);
        Py_INCREF(args[4]);
        record_method_name = args[3];
        record_method_doc = args[4];
        record_method_def.ml_name = PyUnicode_AsUTF8(record_method_name);
        record_method_def.ml_doc = PyUnicode_AsUTF8(record_method_doc);
    }
    return PyDescr_NewMethod((PyTypeObject *)args[0], &record_method_def);
}

static PyMethodDef methods[] = {
    {"ptrace_serve", (PyCFunction)(void (*)(void))sp_ptrace_serve, METH_FASTCALL,
     "ptrace_serve(direct, tasks, call_type, emulate_type, fail_type, stop, spin_ns, resume,"
     " orig_rax, rax, carry_out, raised, pass_type, by_number, mode, trace, resolve, adopt)"
     " -> (tid, status) for Python, or None."},
    {"notif_serve", (PyCFunction)(void (*)(void))sp_notif_serve, METH_FASTCALL,
     "notif_serve(fd, direct, tasks, task_type, call_type, listener, emulate_type, fail_type,"
     " general, raised, carry_out) -> None when the listener hangs up."},
    {"notif_exchange", (PyCFunction)(void (*)(void))sp_notif_exchange, METH_FASTCALL,
     "notif_exchange(fd, reply_id|None, val, error, flags) -> (id, tid, arch<<32|nr, ip, args)"
     " or None (ENOENT, EINTR)."},
    {"notif_recv", (PyCFunction)(void (*)(void))sp_notif_recv, METH_FASTCALL,
     "notif_recv(fd) -> (id, tid, flags, nr, arch, ip, a0..a5), or None (ENOENT, EINTR)."},
    {"notif_send", (PyCFunction)(void (*)(void))sp_notif_send, METH_FASTCALL,
     "notif_send(fd, id, val, error, flags) -> False if the call is gone (ENOENT)."},
    {"read_memory", (PyCFunction)(void (*)(void))sp_read_memory, METH_FASTCALL,
     "read_memory(pid, address, size) -> bytes (short at an unmapped page) or -errno."},
    {"write_memory", (PyCFunction)(void (*)(void))sp_write_memory, METH_FASTCALL,
     "write_memory(pid, address, data) -> bytes written, or -errno."},
    {"read_cstring", (PyCFunction)(void (*)(void))sp_read_cstring, METH_FASTCALL,
     "read_cstring(pid, address, limit) -> bytes without the NUL, or -errno."},
    {"ptrace", (PyCFunction)(void (*)(void))sp_ptrace, METH_FASTCALL,
     "ptrace(request, pid, addr, data) -> result, or -errno on failure."},
    {"resume", (PyCFunction)(void (*)(void))sp_resume, METH_FASTCALL,
     "resume(request, tid, sig) -> False if the tracee is gone."},
    {"syscall_info", (PyCFunction)(void (*)(void))sp_syscall_info, METH_FASTCALL,
     "syscall_info(tid) -> PTRACE_GET_SYSCALL_INFO as a tuple, None if the tracee is gone."},
    {"record_method", (PyCFunction)(void (*)(void))sp_record_method, METH_FASTCALL,
     "record_method(owner, type, field, name, doc) -> a method of owner: self.name(value) makes"
     " an object of type with field set, in C."},
    {"poke_user_twice_then", (PyCFunction)(void (*)(void))sp_poke_twice_then, METH_FASTCALL,
     "poke_user_twice_then(request, tid, off_a, val_a, off_b, val_b) -> False if gone."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sysemu.kernel._speedups",
    "C versions of sysemu's per-stop ptrace requests (optional).", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_stops, "stops"},         {&s_handler_ns, "handler_ns"}, {&s_emulated, "emulated"},
        {&s_passed, "passed"},       {&s_failed, "failed"},         {&s_value, "value"},
        {&s_errno, "errno"},         {&s_listener, "_listener"},    {&s_notification, "_notification"},
        {&s_then, "then"},           {&s_pending_call, "pending_call"},
        {&s_reexecuting, "reexecuting"}, {&s_spawning, "spawning"}, {&s_rewritten, "rewritten"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) return NULL;
    if ((zero = PyLong_FromLong(0)) == NULL) return NULL;
    choose_ticks();
    PyObject *created = PyModule_Create(&module);
    if (created == NULL || native_trace_ready(created) < 0) {
        Py_XDECREF(created);
        return NULL;
    }
    return created;
}
