/* Seccomp user notification: see notify_loop.h. */
#include "errnos.h"
#include "notify_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>

#include "calls.h"
#include "decide.h"

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
 * otherwise than ENOENT (its call is gone), receive the next notification into `request`;
 * with `poll_first` (kernels before 6.6, whose NOTIF_RECV a hang-up does not wake: see
 * kernel/unotify.py) only after poll says one is there, and ENOENT when it says hang-up.
 * Returns the receive's result (-1 when it failed or did not happen); the errors, or 0, go
 * to *send_errno and *recv_errno. */
static int send_then_receive(int fd, int poll_first, struct notif_resp *response,
                             struct notif *request, int *send_errno, int *recv_errno) {
    *send_errno = *recv_errno = 0;
    memset(request, 0, sizeof *request);
    if (response != NULL) {
        int sent;
        do sent = ioctl(fd, NOTIF_SEND_REQ, response);
        while (sent < 0 && errno == EINTR);
        if (sent < 0) *send_errno = errno;
    }
    if (*send_errno != 0 && *send_errno != ENOENT) return -1;
    if (poll_first) {
        struct pollfd poller = {fd, POLLIN, 0};
        if (poll(&poller, 1, -1) < 0) {
            *recv_errno = errno;
            return -1;
        }
        if (!(poller.revents & POLLIN)) {
            *recv_errno = ENOENT;
            return -1;
        }
    }
    int result = ioctl(fd, NOTIF_RECV_REQ, request);
    if (result < 0) *recv_errno = errno;
    return result;
}

static PyObject *sp_notif_exchange(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "notif_exchange(fd, reply_id, val, error, flags[, poll_first])");
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
    int poll_first = nargs == 6 ? PyObject_IsTrue(args[5]) : 0;
    if (poll_first < 0) return NULL;
    struct notif request;
    int send_errno, recv_errno, result;
    Py_BEGIN_ALLOW_THREADS
    result = send_then_receive(fd, poll_first, reply ? &response : NULL, &request, &send_errno,
                               &recv_errno);
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
 * notif_serve(config: NotifyLoopConfig) -> None once no process uses the filter
 *
 * config.direct maps arch << 32 | (u32)nr to (syscall, handler, stats, route); config.tasks
 * maps a tid to its config.task_type(tid). Per notification of a direct route: a
 * config.call_type(syscall, args, task, ip) with _listener and _notification set is decided
 * (decide.h), and an Emulate, None (continue) or Fail is answered with the next NOTIF_RECV.
 * Everything else goes back to Python, which replies itself: config.general((id, tid, key,
 * ip, args)) for a notification of any other route, config.raised(call, route, handler,
 * error) for a handler's Exception (a BaseException such as KeyboardInterrupt propagates),
 * config.carry_out(id, call, route, decision) for other decisions (a Pass among them). */
static PyObject *zero; /* sp of a notified call, which has none */
static struct last_int notified_tid, notified_ip, notified_key;
static struct last_args notified_args;

/* What notif_serve reads of its NotifyLoopConfig, once per call. */
struct notify_config {
    struct decide_config decide;
    int fd, poll_first;
    PyObject *direct, *task_type, *listener, *general;
};

static int is_dict(PyObject *value) { return PyDict_Check(value); }

static void notify_config_clear(struct notify_config *config) {
    decide_config_clear(&config->decide);
    Py_CLEAR(config->direct);
    Py_CLEAR(config->task_type);
    Py_CLEAR(config->listener);
    Py_CLEAR(config->general);
}

static int notify_config_read(PyObject *object, struct notify_config *config) {
    memset(config, 0, sizeof *config);
    if (decide_config_read(object, &config->decide) < 0) return -1;
    PyObject *fd = config_attr(object, "fd", NULL);
    config->fd = fd == NULL ? -1 : (int)PyLong_AsLong(fd);
    Py_XDECREF(fd);
    PyObject *poll_first = PyErr_Occurred() ? NULL : config_attr(object, "poll_first", NULL);
    config->poll_first = poll_first == NULL ? -1 : PyObject_IsTrue(poll_first);
    Py_XDECREF(poll_first);
    if (config->poll_first < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "poll_first");
    if (PyErr_Occurred() || (config->direct = config_attr(object, "direct", is_dict)) == NULL ||
        (config->task_type = config_attr(object, "task_type", NULL)) == NULL ||
        (config->listener = config_attr(object, "listener", NULL)) == NULL ||
        (config->general = config_attr(object, "general", NULL)) == NULL) {
        notify_config_clear(config);
        return -1;
    }
    return 0;
}

/* The reply to a direct notification, as the notify loop carries out a verdict: 1 with
 * *response filled, 0 when Python replied itself (carry_out, or raised), -1 with an exception
 * set. */
static int notify_carry_out(const struct notify_config *config, const struct verdict *verdict,
                            PyObject *id, PyObject *call, PyObject *route,
                            struct notif_resp *response) {
    switch (verdict->kind) {
    case VERDICT_RAISED: return 0;
    case VERDICT_PASS: response->flags = 1; return 1; /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
    case VERDICT_EMULATE: {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(verdict->value, &overflow);
        if (value == -1 && PyErr_Occurred()) return -1;
        if (overflow) /* far outside the errno range: a 64-bit pattern, as notif_send takes it */
            response->val = (__s64)PyLong_AsUnsignedLongLongMask(verdict->value);
        else if (is_error_return(value)) /* the kernel's own errno range */
            response->error = (__s32)value;
        else
            response->val = (__s64)value;
        return PyErr_Occurred() ? -1 : 1;
    }
    case VERDICT_FAIL: {
        long number = PyLong_AsLong(verdict->value);
        if (number == -1 && PyErr_Occurred()) return -1;
        response->error = (__s32)-number;
        return 1;
    }
    default: {
        PyObject *argv[4] = {id, call, route, verdict->decision};
        return call_dropping(config->decide.carry_out, argv, 4) < 0 ? -1 : 0;
    }
    }
}

/* One direct notification: the reply to send in *response (returns 1), or 0 when Python
 * replied itself, or -1 with an exception set. */
static int serve_direct(const struct notify_config *config, const struct notif *request,
                        PyObject *entry, struct notif_resp *response) {
    PyObject *tid = NULL, *state = NULL, *raw = NULL, *ip = NULL, *id = NULL, *call = NULL;
    struct verdict verdict = {VERDICT_RAISED, NULL, NULL};
    int outcome = -1;
    int guarded = guard_passes(entry, (pid_t)request->pid, request->data.args);
    if (guarded != 0) {
        memset(response, 0, sizeof *response);
        response->id = request->id;
        response->flags = 1; /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
        return guarded < 0 ? -1 : 1;
    }
    if ((tid = int_for(&notified_tid, request->pid)) == NULL) goto done;
    state = PyDict_GetItemWithError(config->decide.tasks, tid);
    if (state != NULL) {
        Py_INCREF(state);
    } else {
        if (PyErr_Occurred()) goto done;
        if ((state = PyObject_CallOneArg(config->task_type, tid)) == NULL) goto done;
        if (PyDict_SetItem(config->decide.tasks, tid, state) < 0) goto done;
    }
    if ((raw = args_for(&notified_args, request->data.args)) == NULL) goto done;
    if ((ip = int_for(&notified_ip, request->data.instruction_pointer)) == NULL) goto done;
    if ((id = PyLong_FromUnsignedLongLong(request->id)) == NULL) goto done;
    if ((call = new_call(config->decide.call_type, PyTuple_GET_ITEM(entry, 0), raw, state, ip,
                         zero, config->listener, id)) == NULL)
        goto done;
    if (decide(&config->decide, entry, call, &verdict) < 0) goto done;
    memset(response, 0, sizeof *response);
    response->id = request->id;
    outcome = notify_carry_out(config, &verdict, id, call, PyTuple_GET_ITEM(entry, 3), response);
done:
    Py_XDECREF(tid);
    Py_XDECREF(state);
    Py_XDECREF(raw);
    Py_XDECREF(ip);
    Py_XDECREF(id);
    release_call(call);
    verdict_clear(&verdict);
    return outcome;
}

/* A notification of a route Python decides: general((id, tid, key, ip, args)). */
static int to_general(const struct notify_config *config, const struct notif *request,
                      PyObject *key) {
    PyObject *raw = args_for(&notified_args, request->data.args);
    if (raw == NULL) return -1;
    PyObject *note = Py_BuildValue("(KkOKN)", (unsigned long long)request->id,
                                   (unsigned long)request->pid, key,
                                   (unsigned long long)request->data.instruction_pointer, raw);
    if (note == NULL) return -1;
    int failed = call_dropping(config->general, &note, 1);
    Py_DECREF(note);
    return failed;
}

static PyObject *notif_serve_loop(const struct notify_config *config) {
    int fd = config->fd;
    struct notif_resp response;
    int reply = 0;
    for (;;) {
        struct notif request;
        int send_errno, recv_errno, result;
        Py_BEGIN_ALLOW_THREADS
        result = send_then_receive(fd, config->poll_first, reply ? &response : NULL, &request,
                                   &send_errno, &recv_errno);
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
        PyObject *entry = PyDict_GetItemWithError(config->direct, key);
        if (entry == NULL) {
            int failed = PyErr_Occurred() ? -1 : serial_enter(&config->decide);
            if (failed == 0) {
                failed = to_general(config, &request, key);
                serial_leave(&config->decide);
            }
            Py_DECREF(key);
            if (failed < 0) return NULL;
            continue;
        }
        /* The handler may empty `direct` (a handler error under OnError.KILL): hold the entry. */
        Py_INCREF(entry);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 4) {
            Py_DECREF(entry);
            Py_DECREF(key);
            PyErr_SetString(PyExc_TypeError, "a direct route is (syscall, handler, stats, route)");
            return NULL;
        }
        if (serial_enter(&config->decide) < 0) {
            Py_DECREF(entry);
            Py_DECREF(key);
            return NULL;
        }
        int decided = serve_direct(config, &request, entry, &response);
        serial_leave(&config->decide);
        Py_DECREF(entry);
        Py_DECREF(key);
        if (decided < 0) return NULL;
        reply = decided;
    }
}

static PyObject *sp_notif_serve(PyObject *self, PyObject *config_object) {
    struct notify_config config;
    if (notify_config_read(config_object, &config) < 0) return NULL;
    PyObject *result = counters_flushed(notif_serve_loop(&config));
    notify_config_clear(&config);
    return result;
}

PyMethodDef notify_loop_methods[] = {
    {"notif_serve", (PyCFunction)sp_notif_serve, METH_O,
     "notif_serve(config: NotifyLoopConfig) -> None when the listener hangs up."},
    {"notif_exchange", (PyCFunction)(void (*)(void))sp_notif_exchange, METH_FASTCALL,
     "notif_exchange(fd, reply_id|None, val, error, flags[, poll_first]) -> (id, tid, arch<<32|nr, ip, args)"
     " or None (ENOENT, EINTR)."},
    {"notif_recv", (PyCFunction)(void (*)(void))sp_notif_recv, METH_FASTCALL,
     "notif_recv(fd) -> (id, tid, flags, nr, arch, ip, a0..a5), or None (ENOENT, EINTR)."},
    {"notif_send", (PyCFunction)(void (*)(void))sp_notif_send, METH_FASTCALL,
     "notif_send(fd, id, val, error, flags) -> False if the call is gone (ENOENT)."},
    {NULL, NULL, 0, NULL},
};

int notify_loop_init(void) { return (zero = PyLong_FromLong(0)) == NULL ? -1 : 0; }
