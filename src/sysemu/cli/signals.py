"""What ``sysemu run`` does with the signals it gets while its program runs.

sysemu shares its process group (and terminal) with the program, as any command started by a
shell does. So a signal to that group reaches sysemu too, whether a terminal, another shell or
the program itself sent it. A program that signals its own group (``kill -TERM 0``,
``kill -- -$PGID``, ``killpg``) and handles the signal goes on natively; sysemu must go on as
well, or the run ends under a program that meant to survive. Signals from outside keep their
documented meaning: ``SIGTERM`` and ``SIGHUP`` end the run (exit 143 and 129), Ctrl-C and
Ctrl-\\ are for the program only.

Only the sender tells the two apart, and only ``siginfo_t`` names it, which a Python signal
handler never sees. So the signals that would end sysemu are blocked in every thread (the
engine's threads inherit the mask, and the program's child clears it before exec), and one
thread takes them with ``sigwaitinfo``. It drops those sent from inside the program's tree
(:func:`sent_from_the_tree`) and, for any other, wakes the main thread with a signal of its own,
whose handler raises ``SystemExit(128 + N)``: that unwinds through the wait loop, which kills
the tree, exactly as the handler of ``SIGTERM`` did before. A plain flag would not do: the main
thread may sleep in ``waitpid`` for as long as the program does, and only a signal makes that
call return ``EINTR``.

A sender is only known while it exists, and one may be reaped before the watching thread gets
a CPU. On the ptrace backends that still leaves a trace: a process that signals its own group
gets the signal itself, and stops in a signal-delivery-stop before it can go on to exit, so
:class:`_Deliveries` (an observer of those stops) has seen it. Otherwise (the unotify backend,
or a sender outside the group it signalled) a gone sender cannot be placed: most often a
program that signalled its group on its way out (``trap 'kill 0' EXIT``) and whose run is
ending, sometimes a short-lived kill(1) from outside. Such a signal waits 3 s for
the run's end: if the run ends it is dropped and the program's status stands, else it ends
the run, the documented behaviour (a known gap, see RELIABILITY.md).
"""

from __future__ import annotations

import _thread
import collections
import os
import signal
from types import FrameType

from sysemu._typing import TYPE_CHECKING
from sysemu.api.observers import Observer

if TYPE_CHECKING:
    from sysemu.emulator import Emulator

# Sent from outside, these end the run as their default action would end sysemu: the tree is
# killed and sysemu exits 128+N. From the program's tree, they are its own business.
ENDING_SIGNALS = frozenset({signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2})
# Ignored whoever sends them, as a shell ignores them while a foreground job runs: the terminal
# sends them to the whole group, and the program decides what they mean.
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGQUIT)
# The watching thread's wake-up call to the main thread. A real-time signal: none has a
# meaning for sysemu, and one the program sends to its group wakes the main thread for
# nothing (the handler returns) instead of killing sysemu by its default action.
_WAKE = signal.SIGRTMIN
# How long a signal whose sender is gone waits for the run's end before it ends the run. A
# run's end can take most of a second on a loaded machine (the unotify backend's guardian
# reports the status, the listener hangs up): 0.5 s ended runs whose program had finished.
_GRACE_SECONDS = 3.0
# How many of the tree's last deliveries of ending signals are remembered: a group signal's
# sender is looked up within milliseconds of its own delivery.
_REMEMBERED = 64


def sent_from_the_tree(sender: int, supervisor: int) -> bool | None:
    """Whether process ``sender`` belongs to the tree that ``supervisor`` (sysemu) runs: a
    descendant by /proc's parent links, or a process one of ``supervisor``'s threads traces
    (an orphan re-parented to init stays traced). None once it is gone: nobody can tell."""
    if sender in (supervisor, 1):  # (init's parent reads 0, as a gone process's does)
        return False
    seen = set()
    current = sender
    while current > 1 and current not in seen:
        seen.add(current)
        parent = _parent(current)
        if parent == supervisor:
            return True
        if parent is None:
            if current == sender:
                return None
            break
        current = parent
    tracer = _tracer(sender)
    if tracer != 0 and os.path.exists(f"/proc/{supervisor}/task/{tracer}"):
        return True
    # Not found: an answer only if the sender is still there. A sender that went during the
    # walk may have taken its ancestors with it (the unotify backend's guardian reaps the
    # program and exits), which ends the walk short of sysemu without saying anything.
    return None if _parent(sender) is None else False


def _parent(pid: int) -> int | None:
    """The parent of ``pid`` (a zombie's too), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return parent_in_stat(stat.read())
    except OSError:
        return None


def parent_in_stat(stat: bytes) -> int | None:
    """The parent named by the text of a /proc/<pid>/stat, None for none. A process being
    reaped while its stat is read shows parent 0 (the kernel no longer tells it): that is a
    process gone, not one outside the tree."""
    try:
        # The command name is in parentheses and may hold anything: split after the last.
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
    except (ValueError, IndexError):
        return None
    return parent or None


def _tracer(pid: int) -> int:
    """The thread that traces ``pid`` (its id, as /proc shows it), 0 for none or gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class _Deliveries(Observer):
    """The threads of the tree that lately got an ending signal (on the ptrace backends,
    which see signal-delivery-stops): a sender among them signalled a group it is in."""

    wants_results = False
    thread_safe = True  # (a bounded deque's append and membership test)

    def __init__(self) -> None:
        self._seen: collections.deque[tuple[int, int]] = collections.deque(maxlen=_REMEMBERED)

    def signal_delivered(self, tid: int, signal: int) -> None:
        """Remember ``tid`` if ``signal`` is one the signal thread takes."""
        if signal in ENDING_SIGNALS:
            self._seen.append((tid, signal))

    def got(self, tid: int, number: int) -> bool:
        """Whether ``tid`` was lately delivered signal ``number``."""
        return (tid, number) in self._seen


class _Flag:
    """A one-way event (set once, waited on with a time limit) on a bare lock: the
    ``threading`` module costs every start of the command line most of a millisecond."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        """Set it (a second call does nothing); safe from a signal handler."""
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        """Whether it is set."""
        return self._set

    def wait(self, timeout: float) -> bool:
        """Wait until it is set, at most ``timeout`` seconds; whether it is."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
        return self._set


class RunSignals:
    """The handling the module doc describes, for one ``sysemu run`` in this process's main
    thread. :meth:`install` before the program is started (before any other thread too),
    :meth:`run_ended` once it has ended."""

    def __init__(self) -> None:
        """Nothing happens until :meth:`install`."""
        self._supervisor = os.getpid()
        self._ending: int | None = None
        self._main = _thread.get_ident()  # (made in the main thread, as install() must be)
        self._ended = _Flag()
        self._taken = _Flag()
        self._deliveries = _Deliveries()

    def install(self, emu: Emulator) -> None:
        """Ignore the terminal's signals, block the ending ones in this thread (and so in every
        thread started from now on), start the thread that takes them, and watch the
        deliveries of ``emu``'s runs."""
        self.watch(emu)
        for number in IGNORED_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        signal.signal(_WAKE, self._woken)
        signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
        _thread.start_new_thread(self._watch, ())  # never waited for: it ends with sysemu

    def watch(self, emu: Emulator) -> None:
        """Watch the deliveries of ending signals in ``emu``'s runs (part of :meth:`install`):
        what places a sender that is gone (see the module doc)."""
        emu.observe(self._deliveries, [])

    def run_ended(self) -> None:
        """The program has ended: a signal whose sender could not be placed is dropped now."""
        self._ended.set()

    def _watch(self) -> None:
        """Take the ending signals until one comes from outside the tree, then wake the main
        thread until it has taken the order."""
        while True:
            info = signal.sigwaitinfo(ENDING_SIGNALS)
            inside = self.from_the_tree(info.si_pid, info.si_signo)
            if inside:
                continue
            # A sender already reaped is most often a program that signalled its group and
            # ended (``trap 'kill 0' EXIT``), the run's end with it: a grace to see whether
            # the run ends tells that from a short-lived kill(1) from outside.
            if inside is None and self._ended.wait(_GRACE_SECONDS):
                return
            break
        self._ending = info.si_signo
        # The main thread may be between its wait loop's check for signals and the waitpid
        # that sleeps until the next stop: a wake-up then is seen only at that stop. So it
        # is sent until taken.
        while self._main is not None and not self._taken.is_set():
            signal.pthread_kill(self._main, _WAKE)
            self._taken.wait(0.05)

    def from_the_tree(self, sender: int, number: int) -> bool | None:
        """Whether signal ``number`` from process ``sender`` came from the program's tree;
        None when that cannot be told (the sender is gone, and left no trace)."""
        if not sender:  # the kernel's own (a terminal's hang-up): from outside
            return False
        inside = sent_from_the_tree(sender, self._supervisor)
        if inside is None and self._deliveries.got(sender, number):
            return True
        return inside

    def _woken(self, _number: int, _frame: FrameType | None) -> None:
        if self._ending is not None and not self._taken.is_set():
            # (Else the program sent _WAKE to its group, or the order was taken already.)
            self._taken.set()
            raise SystemExit(128 + self._ending)  # unwinds through the tracer: kills the tree
