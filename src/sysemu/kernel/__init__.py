"""The kernel interface: the only code that calls the kernel (through :mod:`.raw`: the C
accelerator, or ctypes where it is not built).

ptrace requests and wait statuses, seccomp filters (built by the pure :mod:`.bpf`), tracee
memory, and per-architecture registers under :mod:`.arch`.
"""
