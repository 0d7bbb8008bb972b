/* What the C floors that read a path argument share (floor_tracer.c and floor_unotify.c with
 * +path): reading it as sysemu reads call.path. */
#ifndef SYSEMU_BENCH_FLOOR_PATH_H
#define SYSEMU_BENCH_FLOOR_PATH_H

#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The string at `address` in `pid`, up to a NUL or PATH_MAX bytes; returns its length, or -1
 * if nothing could be read. The first read stops at the page end, where most strings end. */
static long read_string(pid_t pid, unsigned long address) {
    static char buffer[4096];
    size_t have = 0;
    while (have < sizeof buffer) {
        size_t chunk = 4096 - (address + have) % 4096;
        if (chunk > sizeof buffer - have) chunk = sizeof buffer - have;
        struct iovec local = {buffer + have, chunk}, remote = {(void *)(address + have), chunk};
        ssize_t moved = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (moved <= 0) return have ? (long)have : -1;
        char *nul = memchr(buffer + have, 0, (size_t)moved);
        if (nul) return nul - buffer;
        have += (size_t)moved;
    }
    return (long)have;
}

#endif
