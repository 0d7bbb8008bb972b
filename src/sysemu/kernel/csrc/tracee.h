/* Tracee access: ptrace requests, PTRACE_GET_SYSCALL_INFO, and the tracee's memory, for the
 * wait loops, the C trace writer and (as module functions) kernel/raw.py, kernel/ptrace.py and
 * kernel/memory.py. Conventions: a tracee that disappeared (ESRCH: killed while stopped)
 * is a normal race, reported as None or False; any other failure raises OSError. */
#ifndef SYSEMU_CSRC_TRACEE_H
#define SYSEMU_CSRC_TRACEE_H

#include "pyutil.h"

#include <errno.h>
#include <linux/types.h>
#include <string.h>
#include <sys/types.h>

#define REQ_GET_SYSCALL_INFO 0x420e /* Linux 5.3 */
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

/* *info as syscall_info(tid) gives it to Python, shaped by op (NULL with an exception):
 *   seccomp/entry: (op, arch, ip, sp, nr, a0, a1, a2, a3, a4, a5, ret_data)
 *   exit:          (op, arch, ip, sp, rval, is_error)
 *   none:          (op, arch, ip, sp) */
PyObject *syscall_info_tuple(const struct syscall_info *info);

/* ptrace(2) with the result or -errno. */
long raw_ptrace(long request, long pid, unsigned long addr, unsigned long data);

/* PTRACE_GET_SYSCALL_INFO of `tid` into *info (zeroed first): >= 0, or -errno. */
static inline long get_syscall_info(long tid, struct syscall_info *info) {
    memset(info, 0, sizeof *info);
    return raw_ptrace(REQ_GET_SYSCALL_INFO, tid, sizeof *info, (unsigned long)info);
}

/* -1 with an OSError set for a failed resume (-errno). */
int resume_failed(long error);

/* Resume `tid` with `request` (signal 0); 0, or -1 with an OSError set. A tracee that is gone
 * is not an error: its exit event comes next. */
static inline int resume_or_raise(long tid, long request) {
    long result = raw_ptrace(request, tid, 0, 0);
    return result < 0 && result != -ESRCH ? resume_failed(result) : 0;
}

/* Up to `size` bytes of the tracee's memory at `address` into `out` (short at an unmapped
 * page): the bytes read or -errno; *planned is how many were asked for. */
ssize_t read_pages(pid_t pid, unsigned long address, char *out, size_t size, size_t *planned);

/* Up to `size` bytes at `address` into `out`, page after page until one is unmapped: the
 * bytes read, or -errno when none could be. */
ssize_t read_memory_into(pid_t pid, unsigned long address, char *out, size_t size);

/* A NUL-terminated string of at most `limit` bytes at `address` into `out`: its length
 * without the NUL, or -errno (-EFAULT: nothing readable; with `whole`, also an unreadable byte
 * before the NUL or the limit). */
ssize_t read_cstring_into(pid_t pid, unsigned long address, char *out, size_t limit, int whole);

/* ptrace, syscall, address_of, resume, syscall_info, poke_user_twice_then, read_memory,
 * write_memory and read_cstring, for the module. */
extern PyMethodDef tracee_methods[];

#endif
