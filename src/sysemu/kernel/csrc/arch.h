/* The architecture the accelerator is built for, chosen by the compiler's target: x86-64
 * (arch/x86_64.h) or aarch64 (arch/aarch64.h). On any other architecture this stops the
 * compile; setup.py builds the accelerator as optional, so the install goes on without it and
 * the Python twins of these loops (engine/tracer.py, engine/notify.py, tools/trace) serve. */
#ifndef SYSEMU_CSRC_ARCH_H
#define SYSEMU_CSRC_ARCH_H

#if defined(__x86_64__)
#include "../arch/x86_64.h"
#elif defined(__aarch64__)
#include "../arch/aarch64.h"
#else
#error "sysemu's C accelerator knows no registers of this architecture: the Python loops serve"
#endif

#endif
