/* What the two C files of sysemu's accelerator share: _speedups.c (the ptrace requests and
 * the wait loops) and _tracefmt.c (strace-style lines written by the wait loop itself). */
#ifndef SYSEMU_SPEEDUPS_H
#define SYSEMU_SPEEDUPS_H

#include <Python.h>
#include <linux/types.h>
#include <sys/types.h>

#define REQ_GET_SYSCALL_INFO 0x420e /* Linux 5.3 */
#define REQ_POKEUSER 6
#define INFO_NONE 0
#define INFO_ENTRY 1
#define INFO_EXIT 2
#define INFO_SECCOMP 3

/* struct ptrace_syscall_info, declared here because older uapi headers lack it. */
struct syscall_info {
    __u8 op;
    __u8 pad[3];
    __u32 arch;
    __u64 instruction_pointer;
    __u64 stack_pointer;
    union {
        struct {
            __u64 nr;
            __u64 args[6];
        } entry;
        struct {
            __s64 rval;
            __u8 is_error;
        } exit;
        struct {
            __u64 nr;
            __u64 args[6];
            __u32 ret_data;
        } seccomp;
    };
};


/* ptrace(2) with the result or -errno. */
long raw_ptrace(long request, long pid, unsigned long addr, unsigned long data);

/* Up to `size` bytes of the tracee's memory at `address` into `out` (short at an unmapped
 * page): the bytes read or -errno; *planned is how many were asked for. */
ssize_t read_pages(pid_t pid, unsigned long address, char *out, size_t size, size_t *planned);

/* A direct route's counters, kept in C between two returns of a wait loop to Python and
 * added to its SyscallStats then (_speedups.c): 0, or -1 with an exception set. The
 * COUNT_HANDLER_NS amounts are in _speedups.c's ticks, made nanoseconds when added. */
enum { COUNT_STOPS, COUNT_HANDLER_NS, COUNT_EMULATED, COUNT_PASSED, COUNT_FAILED, COUNT_FIELDS };
int count_for_route(PyObject *stats, int field, long long amount);

/* The native trace (_tracefmt.c): calls whose every argument C can decode are written by the
 * wait loop itself, without a Python call. See NativeTrace's docstring. */
extern PyTypeObject NativeTraceType;
int native_trace_ready(PyObject *module);
enum { NATIVE_TO_PYTHON = 0, NATIVE_SERVED = 1, NATIVE_UNWATCHED = 2 };
int native_trace_entry(PyObject *trace, long tid, const struct syscall_info *info,
                       PyObject *resolve);
int native_trace_has(PyObject *trace, long tid);
int native_trace_exit(PyObject *trace, long tid, const struct syscall_info *info, long request);
int native_trace_yield(PyObject *trace, PyObject *adopt);
int native_trace_flush(PyObject *trace);
void native_trace_flush_quietly(PyObject *trace);

#endif
