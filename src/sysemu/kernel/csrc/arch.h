/* The architecture the accelerator is built for, chosen by the compiler's target. Only x86-64
 * has a header yet (arch/x86_64.h); on any other architecture this stops the compile, setup.py
 * builds the accelerator as optional, so the install goes on without it and the Python twins
 * of these loops (engine/tracer.py, engine/notify.py, tools/trace) serve instead. */
#ifndef SYSEMU_CSRC_ARCH_H
#define SYSEMU_CSRC_ARCH_H

#if defined(__x86_64__)
#include "../arch/x86_64.h"
#else
#error "sysemu's C accelerator knows no registers of this architecture: the Python loops serve"
#endif

#endif
