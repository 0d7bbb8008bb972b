/* sysemu.kernel._speedups: the optional C accelerator of sysemu's engine, made of the files
 * of csrc/ (each says what it owns; lowest first: pyutil, tracee, timing, calls, decide,
 * trace_text, trace_specs, trace, then the two wait loops) and the architecture's header
 * (csrc/arch.h). Every function here has a Python twin, which is the reference and serves
 * where this module is not built; the engine passes the wait loops and the C trace writer one
 * configuration object each (kernel/loop_config.py). */
#include "arch.h"
#include "calls.h"
#include "decide.h"
#include "notify_loop.h"
#include "ptrace_loop.h"
#include "trace.h"
#include "tracee.h"

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sysemu.kernel._speedups",
    "C versions of sysemu's wait loops and per-stop ptrace requests (optional).", -1, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (calls_init() < 0 || decide_init() < 0 || notify_loop_init() < 0 || ptrace_loop_init() < 0)
        return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) return NULL;
    PyMethodDef *tables[] = {tracee_methods, calls_methods, notify_loop_methods,
                             ptrace_loop_methods};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (PyModule_AddFunctions(created, tables[i]) < 0) {
            Py_DECREF(created);
            return NULL;
        }
    }
    if (PyModule_AddIntConstant(created, "ARCH_AUDIT", (long)ARCH_AUDIT) < 0 ||
        c_writer_ready(created) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
