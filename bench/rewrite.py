"""What one rewrite of a call's number and arguments costs the tracer, with
``PTRACE_SET_SYSCALL_INFO`` (Linux 6.16) and with registers, interleaved.

    python3 bench/rewrite.py [--rewrites N] [--rounds R]

A child stops at the syscall-entry stop of a ``getppid``; the tracer rewrites that call N
times in a row (the same number and arguments again: the kernel does the same work), once
through the request and once through registers (``set_syscall_info_works`` set to False, as
``SYSEMU_NO_SET_SYSCALL_INFO=1`` does), the order alternating by round. Prints the median µs
per rewrite of each and the median of the per-round ratios. Nothing but the tracer's requests
is timed: no stop, no resume, no handler. Where the kernel lacks the request, says so.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from sysemu.kernel import ptrace, raw


def stopped_child() -> tuple[int, tuple[int, ...]]:
    """A child stopped at the entry of its ``getppid``, and that stop's syscall info."""
    child = os.fork()
    if child == 0:
        raw.ptrace(ptrace.PTRACE_TRACEME, 0, 0, 0)
        os.kill(os.getpid(), signal.SIGSTOP)
        os.getppid()
        os._exit(0)
    os.waitpid(child, 0)
    ptrace.set_options(child, ptrace.PTRACE_O_TRACESYSGOOD | ptrace.PTRACE_O_EXITKILL)
    ptrace.syscall(child)
    os.waitpid(child, 0)
    info = ptrace.syscall_info(child)
    if info is None or info[0] != ptrace.SYSCALL_INFO_ENTRY:
        raise SystemExit(f"the child did not stop at a syscall entry: {info}")
    return child, info


def main() -> None:
    """Time both ways and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rewrites", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()
    child, info = stopped_child()
    try:
        arch = ptrace.host_arch()
        abi, nr, args = arch.native_abi, info[4], list(info[5:11])
        per_rewrite: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(options.rounds):
            for request in (True, False) if round_ % 2 == 0 else (False, True):
                ptrace.set_syscall_info_works = None if request else False
                started = time.perf_counter_ns()
                for _ in range(options.rewrites):
                    arch.rewrite(child, abi, nr, args, seccomp=False)
                elapsed = time.perf_counter_ns() - started
                if request and ptrace.set_syscall_info_works is False:
                    print("this kernel has no PTRACE_SET_SYSCALL_INFO: registers only")
                    return
                per_rewrite[request].append(elapsed / options.rewrites / 1000)
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    ratios = [a / b for a, b in zip(per_rewrite[True], per_rewrite[False], strict=True)]
    accelerator = "C accelerator" if ptrace.SPEEDUPS else "ctypes (no accelerator)"
    print(f"{options.rewrites} rewrites x {options.rounds} rounds, {accelerator}, medians:")
    print(f"  PTRACE_SET_SYSCALL_INFO  {statistics.median(per_rewrite[True]):8.3f} µs/rewrite")
    print(f"  registers                {statistics.median(per_rewrite[False]):8.3f} µs/rewrite")
    print(f"  request/registers        {statistics.median(ratios):8.3f} (median of per-round)")


if __name__ == "__main__":
    main()
