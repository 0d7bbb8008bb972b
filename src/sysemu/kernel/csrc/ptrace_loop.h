/* The ptrace backends' wait loop for the common stop, the C twin of Tracer._loop_python and
 * its _dispatch in engine/tracer.py (the reference). */
#ifndef SYSEMU_CSRC_PTRACE_LOOP_H
#define SYSEMU_CSRC_PTRACE_LOOP_H

#include "pyutil.h"

/* ptrace_serve, for the module. */
extern PyMethodDef ptrace_loop_methods[];

/* 0, or -1 with an exception set. */
int ptrace_loop_init(void);

#endif
