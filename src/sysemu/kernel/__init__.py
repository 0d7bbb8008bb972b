"""The kernel interface: the only code that touches ctypes and libc.

ptrace requests and wait statuses, seccomp filters (built by the pure :mod:`.bpf`), tracee
memory, and per-architecture registers under :mod:`.arch`.
"""
