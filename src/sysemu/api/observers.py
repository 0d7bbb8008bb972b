"""Observers: see calls and process events without deciding anything.

A handler decides what happens to a call; an observer only watches (a tracer, a statistics
collector, an fd table). Observers see every call of the syscalls they subscribe to whatever
the handlers decide, including the final outcome, and the life of every traced thread. They
are called while the thread is stopped, in registration order, after nothing else can change:
``call_entered`` before the handlers decide, ``call_finished`` once the result is final.

Subscribing to results costs a syscall-exit stop for every passed call the observer watches;
an observer that only needs entries sets ``wants_results = False``. (An observer may also
offer the engine a C line writer to serve its calls without Python: see
``sysemu.engine.accelerated``.)
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING
from sysemu.api.call import Call
from sysemu.api.decisions import Outcome, Result

if TYPE_CHECKING:
    from typing import ClassVar


class Observer:
    """Base class: every method does nothing; override the ones you need."""

    wants_results: ClassVar[bool] = True
    """Whether :meth:`call_finished` needs the results of passed calls (an exit stop each)."""

    thread_safe: ClassVar[bool] = False
    """Whether this observer may be called while a handler runs on another thread. The
    ``auto`` backend serves the program on two threads and runs the user's code on them one
    at a time, which costs every notification a lock; an observer that says True here (its
    methods touch nothing a handler does, or guard it) spares that lock when no other code
    of the user's runs beside the notification thread."""

    def call_entered(self, call: Call) -> None:
        """``call`` stopped on its way into the kernel; handlers have not decided yet."""

    def call_finished(self, call: Call, outcome: Outcome, result: Result | None) -> None:
        """``call`` is over: ``outcome`` says what sysemu did, ``result`` what the program got.

        ``result`` is ``None`` when the call never returned: ``exit_group``, a successful
        ``execve`` in a thread that was not the leader, a thread killed during the call, or a
        passed call whose result this observer did not ask for (``wants_results = False``).

        ``call``'s arguments read as they did at entry: the strings and paths of an
        ``execve`` (whose memory is gone once it succeeded) and of a ``chdir`` were read
        before the call ran, and so was every observed call's under user notification.
        """

    def call_interrupted(self, call: Call, result: Result) -> None:
        """A signal interrupted ``call``, which the kernel will make again once the program's
        handler returns (``result`` is the kernel-internal ``-ERESTARTSYS`` or one of its
        kin, which the program never sees): the call enters again as a new ``call_entered``.
        :meth:`call_finished` is not called for the interrupted attempt."""

    def task_started(self, tid: int, parent: int, kind: str) -> None:
        """A new thread or process ``tid`` was created by ``parent``; ``kind`` is ``"fork"``,
        ``"vfork"`` or ``"clone"`` (threads, and processes made with ``clone``)."""

    def exec_done(self, tid: int, former_tid: int) -> None:
        """``tid`` completed an ``execve``; ``former_tid`` differs from ``tid`` when a
        non-leader thread exec'd and took the leader's id."""

    def signal_delivered(self, tid: int, signal: int) -> None:
        """``signal`` is about to be delivered to ``tid`` (it may still be ignored or
        handled by the program)."""

    def task_exited(self, tid: int, status: int) -> None:
        """``tid`` is gone; ``status`` is its wait status (``os.WIFEXITED`` and friends)."""
