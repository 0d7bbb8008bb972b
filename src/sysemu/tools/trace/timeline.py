"""The run as a timeline: Trace Event Format JSON, which Perfetto (ui.perfetto.dev) and
``chrome://tracing`` open (``--timeline FILE``).

Each process is a process track and each of its threads a thread track, named by ``M``
(metadata) events; each system call is a complete (``X``) slice on its thread's track, with
its decoded arguments, result and sysemu's decision in ``args``; spawns, execs, signals and
exits are thread-scoped instant (``i``) events, and a flow arrow (``s`` to ``f``) goes from
each parent to the thread or process it made. Times are microseconds since the first event
(``otherData.start_time`` is that moment, in seconds since the epoch).
"""

from __future__ import annotations

import json
import os

from sysemu.tools.trace.events import (
    SCHEMA_VERSION,
    Event,
    ExecEvent,
    ExitEvent,
    NoteEvent,
    SignalEvent,
    SpawnEvent,
    SyscallEvent,
)

# Colours of chrome://tracing's palette for calls sysemu did not simply pass.
_COLOURS = {"emulated": "olive", "failed": "terrible", "rewritten": "yellow", "killed": "black"}


class Timeline:
    """A sink of trace records (see :class:`~sysemu.tools.trace.events.EventObserver`) that
    keeps them as Trace Event Format events; :meth:`document` is the file's content."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self._start: float | None = None
        self._names: dict[int, str] = {}  # thread id -> its name (comm)
        self._processes: dict[int, str] = {}  # pid -> the program it runs
        self._threads: dict[int, int] = {}  # thread id -> pid
        self._ends: dict[int, int] = {}  # thread id -> where its last slice ended
        self._open: dict[int, dict[str, object]] = {}  # thread id -> a slice without an end

    def _us(self, when: float) -> int:
        if self._start is None:
            self._start = when
        return round((when - self._start) * 1e6)

    def _track(self, pid: int, tid: int) -> None:
        if tid in self._threads:
            return
        self._threads[tid] = pid
        self._names[tid] = _comm(tid) or f"thread {tid}"
        self._processes.setdefault(pid, self._names[tid])

    def __call__(self, event: Event) -> None:
        """Add ``event`` to the timeline."""
        self._track(event.pid, event.tid)
        if isinstance(event, SyscallEvent):
            self._slice(event)
            return
        ts = self._us(event.time)
        if isinstance(event, ExitEvent):
            self._close(event.tid, ts)
            name = f"killed by {event.signal}" if event.signal else f"exit {event.status}"
        elif isinstance(event, SignalEvent):
            name = event.signal
        elif isinstance(event, ExecEvent):
            program = event.program or "?"
            name = f"exec {program}"
            self._processes[event.pid] = os.path.basename(program)
            self._names[event.tid] = os.path.basename(program)
        elif isinstance(event, NoteEvent):
            name = event.text
        else:
            assert isinstance(event, SpawnEvent)
            name = f"{event.kind} from {event.parent}"
            if event.parent in self._threads:
                self._flow(event, ts)
        record = event.to_json()
        for key in ("v", "event", "time", "pid", "tid"):
            record.pop(key)
        self.events.append({"name": name, "cat": event.event, "ph": "i", "s": "t", "ts": ts,
                            "pid": event.pid, "tid": event.tid, "args": record})  # fmt: skip

    def _flow(self, event: SpawnEvent, ts: int) -> None:
        """An arrow from the parent's call that made the thread (the flow starts inside it) to
        the new thread's track."""
        parent = event.parent
        common = {"name": event.kind, "cat": "spawn", "id": event.tid, "ts": ts}
        self.events.append({**common, "ph": "s", "pid": self._threads[parent], "tid": parent})
        self.events.append({**common, "ph": "f", "bp": "e", "pid": event.pid, "tid": event.tid})

    def _slice(self, event: SyscallEvent) -> None:
        tid = event.tid
        # Clock steps and rounding must not make a thread's slices overlap.
        start = max(self._us(event.time), self._ends.get(tid, 0))
        decision = event.decision
        args: dict[str, object] = {
            "args": event.args,
            "return": event.result,
            "errno": event.errno,
            "decision": decision,
            "injected": decision in ("emulated", "failed"),
        }
        if event.paths:
            args["paths"] = event.paths
        slice_: dict[str, object] = {
            "name": event.name, "cat": f"syscall,{decision}", "ph": "X", "ts": start, "dur": 0,
            "pid": event.pid, "tid": tid, "args": args,
        }  # fmt: skip
        colour = _COLOURS.get(decision)
        if colour is not None:
            slice_["cname"] = colour
        self.events.append(slice_)
        if event.duration is None:
            # Never returned (exit_group, a thread killed in a call): it ends when the thread does.
            self._open[tid] = slice_
            self._ends[tid] = start
            return
        end = max(start, self._us(event.time + event.duration))
        slice_["dur"] = end - start
        self._ends[tid] = end

    def _close(self, tid: int, ts: int) -> None:
        slice_ = self._open.pop(tid, None)
        if slice_ is not None:
            start = slice_["ts"]
            assert isinstance(start, int)
            slice_["dur"] = max(0, ts - start)
            self._ends[tid] = max(ts, start)

    def document(self) -> dict[str, object]:
        """The Trace Event Format document: metadata events naming the tracks, then the rest."""
        metadata: list[dict[str, object]] = []
        for pid, name in self._processes.items():
            metadata.append({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                             "args": {"name": f"{name} ({pid})"}})  # fmt: skip
        for tid, pid in self._threads.items():
            metadata.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                             "args": {"name": f"{self._names[tid]} ({tid})"}})  # fmt: skip
        return {
            "traceEvents": metadata + self.events,
            "displayTimeUnit": "ms",
            "otherData": {"producer": "sysemu", "v": SCHEMA_VERSION, "start_time": self._start},
        }

    def write(self, path: str) -> None:
        """Write :meth:`document` to ``path``."""
        with open(path, "w") as out:
            json.dump(self.document(), out, separators=(",", ":"))
            out.write("\n")


def _comm(tid: int) -> str | None:
    try:
        with open(f"/proc/{tid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return None
