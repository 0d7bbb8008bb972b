/* Tracee access: see tracee.h. Each module function here has a twin in kernel/ptrace.py,
 * kernel/memory.py or kernel/ctypes_calls.py with the same arguments and results; C only
 * removes ctypes' per-argument conversion (about 150 ns per argument, 600 ns or more per request)
 * and combines the requests of one stop into one call. */
#include "tracee.h"

#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define REQ_POKEUSER 6

long raw_ptrace(long request, long pid, unsigned long addr, unsigned long data) {
    errno = 0;
    long result = ptrace((enum __ptrace_request)request, (pid_t)pid, (void *)addr, (void *)data);
    if (result == -1 && errno != 0) return -errno;
    return result;
}

int resume_failed(long error) {
    raise_errno((int)-error, "ptrace resume");
    return -1;
}

/* One argument of a request from Python: an int (a 64-bit pattern: -1 and values up to
 * 2**64 - 1 alike) or a buffer, passed as the address of its memory. A writable buffer
 * (bytearray) is what a call that writes gets; a read-only one (bytes) serves calls that only
 * read. *view holds the buffer until release_words(). */
static int word_or_buffer(PyObject *object, unsigned long *word, Py_buffer *view) {
    view->obj = NULL;
    if (PyLong_Check(object)) {
        *word = (unsigned long)PyLong_AsUnsignedLongLongMask(object);
        return *word == (unsigned long)-1 && PyErr_Occurred() ? -1 : 0;
    }
    if (PyObject_GetBuffer(object, view, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        if (PyObject_GetBuffer(object, view, PyBUF_SIMPLE) < 0) return -1;
    }
    *word = (unsigned long)view->buf;
    return 0;
}

static void release_words(Py_buffer *views, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (views[i].obj != NULL) PyBuffer_Release(&views[i]);
}

/* The first `count` arguments as words into `words`; 0, or -1 with an error set (and nothing
 * held). */
static int words_of(PyObject *const *args, Py_ssize_t count, unsigned long *words,
                    Py_buffer *views) {
    for (Py_ssize_t i = 0; i < count; i++) {
        if (word_or_buffer(args[i], &words[i], &views[i]) < 0) {
            release_words(views, i);
            return -1;
        }
    }
    return 0;
}

/* ptrace(request, pid, addr, data) -> int: the result, or -errno on failure. `addr` and
 * `data` are ints or buffers (see word_or_buffer). */
static PyObject *sp_ptrace(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "ptrace() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    unsigned long words[4];
    Py_buffer views[4];
    if (words_of(args, 4, words, views) < 0) return NULL;
    long result = raw_ptrace((long)words[0], (long)words[1], words[2], words[3]);
    release_words(views, 4);
    return PyLong_FromLong(result);
}

/* syscall(number, *args) -> int: syscall(2) with up to six ints or buffers (see
 * word_or_buffer); the result, or -errno on failure. */
static PyObject *sp_syscall(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 7) {
        PyErr_Format(PyExc_TypeError, "syscall() takes 1 to 7 arguments (%zd given)", nargs);
        return NULL;
    }
    unsigned long words[7] = {0};
    Py_buffer views[7];
    if (words_of(args, nargs, words, views) < 0) return NULL;
    errno = 0;
    long result = syscall((long)words[0], words[1], words[2], words[3], words[4], words[5],
                          words[6]);
    if (result == -1) result = -errno;
    release_words(views, nargs);
    return PyLong_FromLong(result);
}

/* address_of(buffer) -> int: where a buffer's memory is, for structures that point to it
 * (valid while the object lives and is not resized). */
static PyObject *sp_address_of(PyObject *self, PyObject *object) {
    Py_buffer view;
    if (PyObject_GetBuffer(object, &view, PyBUF_SIMPLE) < 0) return NULL;
    unsigned long address = (unsigned long)view.buf;
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(address);
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

PyObject *syscall_info_tuple(const struct syscall_info *info) {
    if (info->op == INFO_SECCOMP || info->op == INFO_ENTRY) {
        return Py_BuildValue("(BkKKKKKKKKKk)", info->op, (unsigned long)info->arch,
                             (unsigned long long)info->instruction_pointer,
                             (unsigned long long)info->stack_pointer,
                             (unsigned long long)info->seccomp.nr,
                             (unsigned long long)info->seccomp.args[0],
                             (unsigned long long)info->seccomp.args[1],
                             (unsigned long long)info->seccomp.args[2],
                             (unsigned long long)info->seccomp.args[3],
                             (unsigned long long)info->seccomp.args[4],
                             (unsigned long long)info->seccomp.args[5],
                             (unsigned long)(info->op == INFO_SECCOMP ? info->seccomp.ret_data
                                                                      : 0));
    }
    if (info->op == INFO_EXIT) {
        return Py_BuildValue("(BkKKLB)", info->op, (unsigned long)info->arch,
                             (unsigned long long)info->instruction_pointer,
                             (unsigned long long)info->stack_pointer, (long long)info->exit.rval,
                             info->exit.is_error);
    }
    return Py_BuildValue("(BkKK)", info->op, (unsigned long)info->arch,
                         (unsigned long long)info->instruction_pointer,
                         (unsigned long long)info->stack_pointer);
}

/* syscall_info(tid) -> tuple | None (see syscall_info_tuple). */
static PyObject *sp_syscall_info(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long tid;
    if (long_args(args, nargs, 1, &tid, "syscall_info") < 0) return NULL;
    struct syscall_info info;
    long result = get_syscall_info(tid, &info);
    if (result == -ESRCH) Py_RETURN_NONE;
    if (result < 0) return raise_errno((int)-result, "PTRACE_GET_SYSCALL_INFO");
    return syscall_info_tuple(&info);
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

ssize_t read_pages(pid_t pid, unsigned long address, char *out, size_t size, size_t *planned) {
    return move_pages(pid, address, out, size, planned, 0);
}

ssize_t read_memory_into(pid_t pid, unsigned long address, char *out, size_t size) {
    size_t done = 0, planned = 0;
    while (done < size) {
        ssize_t moved = read_pages(pid, address + done, out + done, size - done, &planned);
        if (moved < 0 && done == 0) return moved;
        if (moved <= 0) break;
        done += (size_t)moved;
        if ((size_t)moved < planned) break; /* an unmapped page */
    }
    return (ssize_t)done;
}

/* Reads up to the end of the first page, then a page at a time, until a NUL or the limit.
 * `whole`: an unreadable byte before either fails the read (-EFAULT), as strace then shows the
 * address instead of the string. */
ssize_t read_cstring_into(pid_t pid, unsigned long address, char *out, size_t limit, int whole) {
    size_t have = 0;
    while (have < limit) {
        unsigned long here = address + have;
        size_t chunk = 4096 - here % 4096, planned;
        if (chunk > limit - have) chunk = limit - have;
        ssize_t moved = read_pages(pid, here, out + have, chunk, &planned);
        if (moved <= 0) {
            if (have == 0 || whole) return moved < 0 && have == 0 ? moved : -EFAULT;
            break;
        }
        char *nul = memchr(out + have, 0, (size_t)moved);
        if (nul != NULL) return nul - out;
        have += (size_t)moved;
        if ((size_t)moved < chunk) {
            if (whole) return -EFAULT;
            break;
        }
    }
    return (ssize_t)have;
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
    size_t size = (size_t)a[2];
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (bytes == NULL) return NULL;
    ssize_t done = read_memory_into((pid_t)a[0], (unsigned long)a[1], PyBytes_AS_STRING(bytes), size);
    if (done < 0) {
        Py_DECREF(bytes);
        return PyLong_FromLong((long)done);
    }
    if ((size_t)done != size && _PyBytes_Resize(&bytes, (Py_ssize_t)done) < 0) return NULL;
    return bytes;
}

/* read_cstring(pid, address, limit[, whole]) -> bytes (without the NUL, at most `limit`) | int
 * (-errno); `whole`: -EFAULT unless a NUL or the limit is reached. */
static PyObject *sp_read_cstring(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long a[4] = {0, 0, 0, 0};
    if (long_args(args, nargs, nargs == 4 ? 4 : 3, a, "read_cstring") < 0) return NULL;
    size_t limit = (size_t)a[2];
    if (a[2] < 0 || limit > (1UL << 20)) {
        PyErr_SetString(PyExc_ValueError, "read_cstring: limit out of range");
        return NULL;
    }
    char stack[4096];
    char *buffer = limit <= sizeof stack ? stack : PyMem_Malloc(limit);
    if (buffer == NULL) return PyErr_NoMemory();
    ssize_t have = read_cstring_into((pid_t)a[0], (unsigned long)a[1], buffer, limit, (int)a[3]);
    PyObject *result = have < 0 ? PyLong_FromLong((long)have)
                                : PyBytes_FromStringAndSize(buffer, (Py_ssize_t)have);
    if (buffer != stack) PyMem_Free(buffer);
    return result;
}

PyMethodDef tracee_methods[] = {
    {"read_memory", (PyCFunction)(void (*)(void))sp_read_memory, METH_FASTCALL,
     "read_memory(pid, address, size) -> bytes (short at an unmapped page) or -errno."},
    {"write_memory", (PyCFunction)(void (*)(void))sp_write_memory, METH_FASTCALL,
     "write_memory(pid, address, data) -> bytes written, or -errno."},
    {"read_cstring", (PyCFunction)(void (*)(void))sp_read_cstring, METH_FASTCALL,
     "read_cstring(pid, address, limit[, whole]) -> bytes without the NUL, or -errno."},
    {"ptrace", (PyCFunction)(void (*)(void))sp_ptrace, METH_FASTCALL,
     "ptrace(request, pid, addr, data) -> result, or -errno; addr and data: ints or buffers."},
    {"syscall", (PyCFunction)(void (*)(void))sp_syscall, METH_FASTCALL,
     "syscall(number, *args) -> result, or -errno; up to six ints or buffers."},
    {"address_of", (PyCFunction)sp_address_of, METH_O,
     "address_of(buffer) -> the address of the buffer's memory."},
    {"resume", (PyCFunction)(void (*)(void))sp_resume, METH_FASTCALL,
     "resume(request, tid, sig) -> False if the tracee is gone."},
    {"syscall_info", (PyCFunction)(void (*)(void))sp_syscall_info, METH_FASTCALL,
     "syscall_info(tid) -> PTRACE_GET_SYSCALL_INFO as a tuple, None if the tracee is gone."},
    {"poke_user_twice_then", (PyCFunction)(void (*)(void))sp_poke_twice_then, METH_FASTCALL,
     "poke_user_twice_then(request, tid, off_a, val_a, off_b, val_b) -> False if gone."},
    {NULL, NULL, 0, NULL},
};
