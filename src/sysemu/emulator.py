"""``Emulator``: register handlers, run a program under them.

This is the front of the library: it joins a handler set (what to do with calls) and the tools
in use (tracing, fault injection, the virtual filesystem: see :mod:`sysemu.tools.tool`) to a
backend (how the kernel is made to do it). Handlers never see which backend runs them.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from sysemu._typing import TYPE_CHECKING
from sysemu.abi import Abi
from sysemu.api.conditions import Condition
from sysemu.api.execs import ExecHook, hide_vdso
from sysemu.api.handlers import HandlerSet, OnError, SyscallSpec
from sysemu.api.observers import Observer
from sysemu.api.results import RunResult
from sysemu.api.routes import Handler, HandlerError, Predicate
from sysemu.engine import backends
from sysemu.engine.backends import BACKENDS, DEFAULT_BACKEND, runner
from sysemu.engine.spawn import resolve_program
from sysemu.kernel.ptrace import host_arch
from sysemu.tools.tool import Tool

if TYPE_CHECKING:
    from typing import IO, TypeAlias, TypeVar

    from sysemu.engine.attach import Attacher
    from sysemu.tools.inject.injector import Injector
    from sysemu.tools.vfs import VirtualFS

    _ToolT = TypeVar("_ToolT", bound=Tool)

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Emulator", "print_handler_error"]


def print_handler_error(error: HandlerError) -> None:
    """Write a handler's error and traceback to stderr (the default reporter)."""
    import traceback  # noqa: PLC0415 (an error path: start-up does not pay for it)

    print(f"sysemu: {error}:", file=sys.stderr)
    cause = error.__cause__
    if cause is not None:
        traceback.print_exception(cause, file=sys.stderr)


class Emulator:
    """A set of syscall handlers and the means to run programs under them.

    ``on_error`` says what happens to a call whose handler raises: :attr:`OnError.KILL` (the
    default: the program is killed and :meth:`run` raises :class:`HandlerError`),
    :attr:`OnError.FAIL` (the call fails with ``error_errno``) or :attr:`OnError.PASS` (the
    kernel runs it). With the last two the traceback goes to ``report`` (stderr by default)
    and the run goes on.

    ``spin_us``: while stops come fast, the tracer polls for the next one for up to this many
    microseconds instead of sleeping, which saves a cross-CPU wake-up per stop (the bulk of a
    stop's cost on virtual machines) for that much CPU time. The default is 250 when sysemu may
    run on more than one CPU and 0 otherwise; 0 turns it off.

    ``seed`` makes :meth:`inject`'s ``probability`` reproducible. ``handler_timeout`` (seconds)
    limits how long a handler or result hook may run: one that takes longer is a handler error
    (``HandlerTimeoutError``), handled as ``on_error`` says. It needs runs made from the main
    thread (it uses ``SIGALRM``) and the ptrace-based backends.

    ``allow_io_uring``: by default, while a handler decides about a call that an io_uring
    operation can do instead (``openat``, ``write``, ``connect``...), ``io_uring_setup`` fails
    with ENOSYS, as on a kernel without io_uring, so that the program falls back to plain
    calls the handlers see; True lets rings be made, and their operations then bypass every
    handler.

    ``backend`` chooses how the kernel is made to stop the calls (the handlers do not know
    which runs them): ``"auto"`` (the default: one seccomp filter; calls whose handlers are
    all ``decides_only`` are answered through user notification, the cheapest stop, the
    others stop in ptrace; the handlers still run one at a time; see
    :mod:`sysemu.engine.auto`), ``"seccomp"`` (a seccomp filter stops only the calls
    handlers asked for, and ptrace decides all of them), ``"ptrace"`` (no filter: every call
    stops twice; for kernels or sandboxes without seccomp, and the reference the others are
    tested against), ``"unotify"`` (seccomp user notification: no ptrace at all, but
    handlers can only pass, emulate or fail; see :mod:`sysemu.engine.notify`) or
    ``"sysemu"`` (``PTRACE_SYSEMU``: every call stops and none runs unless the tracer makes it
    run again; for full emulators that answer (nearly) every call themselves).

    ``vdso=False`` hides the vDSO from every program the run execs (see
    :func:`sysemu.api.execs.hide_vdso`), so that ``clock_gettime``, ``gettimeofday`` and
    ``time`` enter the kernel, where handlers see them; the time tool does so itself. With
    the vDSO in place, a run whose handlers name those calls warns (``RuntimeWarning``) that
    they will rarely stop. Needs a ptrace-based backend.
    """

    def __init__(
        self,
        *,
        on_error: OnError | str = OnError.KILL,
        error_errno: int = errno.EIO,
        report: Callable[[HandlerError], None] | None = print_handler_error,
        spin_us: int | None = None,
        seed: int | None = None,
        backend: str | None = None,
        handler_timeout: float | None = None,
        allow_io_uring: bool = False,
        vdso: bool = True,
    ) -> None:
        chosen = DEFAULT_BACKEND if backend is None else backend
        if chosen not in BACKENDS:
            raise ValueError(f"unknown backend {chosen!r} (choose from {', '.join(BACKENDS)})")
        self.backend = chosen
        if handler_timeout is not None and handler_timeout <= 0:
            raise ValueError(f"handler_timeout must be more than 0, not {handler_timeout}")
        if handler_timeout is not None and chosen == "unotify":
            raise ValueError("handler_timeout needs a ptrace-based backend, not unotify")
        self.handler_timeout = handler_timeout
        self.allow_io_uring = allow_io_uring
        if not vdso and chosen == "unotify":
            raise ValueError("vdso=False needs a ptrace-based backend, not unotify")
        self.vdso = vdso
        self.warn_vdso = True
        """Whether :meth:`run` warns about handlers the vDSO hides (see
        :meth:`vdso_warning`)."""
        self.vdso_warned: Callable[[str], None] | None = None
        """Where :meth:`run` sends that warning: ``warnings.warn`` (a ``RuntimeWarning``)
        when None; the command line prints it as its own warning."""
        self.handlers = HandlerSet()
        self.spin_us = spin_us
        self.seed = seed
        self._tools: dict[str, Tool] = {}
        self.on_error = OnError(on_error)
        self.error_errno = error_errno
        self.report = report

    def on(
        self,
        syscalls: SyscallSpec,
        *,
        abi: Abi | None = None,
        when: Predicate | None = None,
        decides_only: bool = False,
        path_prefixes: Sequence[str] | None = None,
        **conditions: Condition | int,
    ) -> Callable[[Handler], Handler]:
        """Decorator registering a handler for ``syscalls`` (a name, a number, or a list).

        ``@emu.on("write", fd=2)`` stops only writes to fd 2 (the kernel checks the condition);
        ``when=`` adds a Python predicate on the :class:`Call`. A name covers the call in every
        ABI (i386 and x32 too); a number is the native ABI's unless ``abi`` says otherwise and
        may be one no kernel implements, for experimental system calls. ``decides_only=True``
        promises the handler only passes, emulates or fails, which lets the ``auto`` backend
        use seccomp user notification for it. ``path_prefixes=("/srv/",)`` promises that
        the handler passes every call whose plain absolute path is outside those prefixes,
        which the C wait loops then pass without running it (see :meth:`HandlerSet.on`).
        """
        return self.handlers.on(
            syscalls,
            abi=abi,
            when=when,
            decides_only=decides_only,
            path_prefixes=path_prefixes,
            **conditions,
        )

    def add(
        self,
        syscalls: SyscallSpec,
        handler: Handler,
        *,
        abi: Abi | None = None,
        when: Predicate | None = None,
        decides_only: bool = False,
        path_prefixes: Sequence[str] | None = None,
        **conditions: Condition | int,
    ) -> None:
        """Register ``handler`` without a decorator; see :meth:`on`."""
        self.handlers.add(
            syscalls,
            handler,
            abi=abi,
            when=when,
            arg_conditions=conditions,
            decides_only=decides_only,
            path_prefixes=path_prefixes,
        )

    def inject(
        self,
        spec: str,
        *,
        error: int | str | None = None,
        retval: int | None = None,
        short: int | str | None = None,
        signal: int | str | None = None,
        delay_enter: float = 0.0,
        delay_exit: float = 0.0,
        when: str | None = None,
        path: str | None = None,
        fd: int | None = None,
        fdpath: str | None = None,
        pid: int | str | None = None,
        probability: float | None = None,
        after: bool = False,
    ) -> None:
        """Inject a fault into the calls ``spec`` selects.

        ``spec`` is a whole ``--inject`` spec (``"write:error=ENOSPC:fdpath=*/app.log"``,
        see :mod:`sysemu.tools.inject.spec`) or just its syscall set, with the options as
        keyword arguments: ``emu.inject("write", error=errno.ENOSPC, fdpath="*/app.log")``.
        ``short=1`` or ``short="50%"`` makes the kernel itself do a short transfer (the byte
        count cut before the call runs; the ptrace backends). Delays are in seconds. What was
        injected is in ``RunResult.injections``. Raises
        ``ValueError`` (``InjectSpecError``) for a bad spec, at once.
        """
        options: list[str] = []
        if error is not None:
            options.append(f"error={error}")
        if retval is not None:
            options.append(f"retval={retval}")
        if short is not None:
            options.append(f"short={short}")
        if signal is not None:
            options.append(f"signal={signal}")
        if delay_enter:
            options.append(f"delay_enter={round(delay_enter * 1e9)}ns")
        if delay_exit:
            options.append(f"delay_exit={round(delay_exit * 1e9)}ns")
        for name, value in (("when", when), ("path", path), ("fd", fd), ("fdpath", fdpath),
                            ("pid", pid), ("probability", probability)):  # fmt: skip
            if value is not None:
                options.append(f"{name}={value}")
        if after:
            options.append("after")
        text = ":".join([spec, *options])
        from sysemu.tools.inject.injector import injector_of  # noqa: PLC0415 (on first use)

        injector = injector_of(self, self.seed)
        self.seed = injector.seed  # drawn at random when not given: keep it
        injector.add(text, self.handlers)

    @property
    def tools(self) -> dict[str, Tool]:
        """The tools in use, by name (see :meth:`use`)."""
        return self._tools

    def use(self, tool: _ToolT) -> _ToolT:
        """Put ``tool`` (a :class:`sysemu.tools.tool.Tool`) in front of every later run, in
        place of a tool of the same name; returns it.

        At each run the tool installs its handlers and observers after :attr:`handlers`, may
        find the program and choose where it starts, and its results are kept in the run's
        ``RunResult.tools`` under its name.
        """
        if not isinstance(tool, Tool):
            raise TypeError(f"a tool must be a sysemu.tools.tool.Tool, not {tool!r}")
        if not tool.name:
            raise ValueError(f"{type(tool).__name__} has no name")
        self._tools[tool.name] = tool
        return tool

    @property
    def fs(self) -> VirtualFS:
        """The programs' virtual filesystem, made on first use and put in front of every
        later run: ``emu.fs.bind("/data", "/srv/data")``, ``emu.fs.add_file("/etc/motd",
        b"hello\\n")``, ``.hide()``, ``.readonly()``, ``.root()``, ``.cwd()`` (see
        :class:`sysemu.tools.vfs.VirtualFS`). Its handlers come after :attr:`handlers`, and a
        run without ``cwd`` starts where :meth:`~sysemu.tools.vfs.VirtualFS.cwd` (or the root)
        says. It is the view of the tool named ``"vfs"`` in :attr:`tools`."""
        from sysemu.tools.vfs.tool import FileSystemTool  # noqa: PLC0415 (on first use)

        tool = self._tools.get(FileSystemTool.name)
        if not isinstance(tool, FileSystemTool):
            from sysemu.tools.vfs import VirtualFS  # noqa: PLC0415

            tool = FileSystemTool(VirtualFS())
            self.use(tool)
        return tool.view

    @fs.setter
    def fs(self, view: VirtualFS | None) -> None:
        """Put ``view`` (a configured :class:`sysemu.tools.vfs.VirtualFS`) in front of every
        later run instead, or none."""
        from sysemu.tools.vfs.tool import FileSystemTool  # noqa: PLC0415 (on first use)

        if view is None:
            self._tools.pop(FileSystemTool.name, None)
        else:
            self.use(FileSystemTool(view))

    @property
    def clock(self) -> object | None:
        """The programs' virtual clock (None: the real time), put in front of every later
        run: ``emu.clock = VirtualClock(start="2030-01-01T00:00:00Z", rate=10)``, or any
        object with ``now(clock_id)`` in seconds (see :mod:`sysemu.tools.time`). The vDSO is
        then hidden, and the clock may be stepped (``clock.advance(3600)``) while the program
        runs. It is the clock of the tool named ``"time"`` in :attr:`tools`."""
        tool = self._tools.get("time")
        return getattr(tool, "clock", None)

    @clock.setter
    def clock(self, clock: object | None) -> None:
        """Put ``clock`` in front of every later run, or none."""
        if clock is None:
            self._tools.pop("time", None)
            return
        if self.backend == "unotify":
            raise ValueError("a virtual clock needs a ptrace-based backend, not unotify")
        from sysemu.tools.time.tool import TimeTool  # noqa: PLC0415 (on first use)

        self.use(TimeTool(clock, in_process=True))

    def _run_handlers(self) -> HandlerSet:
        """:attr:`handlers`, with the tools' (as configured now) after them, and io_uring
        refused where its operations would bypass a handler (unless ``allow_io_uring``)."""
        handlers = self.handlers
        if self._tools or not self.vdso:
            handlers = handlers.copy()
            for tool in self._tools.values():
                tool.install(handlers)
            if not self.vdso:
                handlers.on_exec(hide_vdso)
        return handlers if self.allow_io_uring else handlers.guarded_against_io_uring()

    def vdso_warning(self) -> str | None:
        """Why handlers of this emulator (and its tools) would not see the calls they name,
        or None: the vDSO answers ``clock_gettime``, ``gettimeofday`` and ``time`` in user
        space unless it is hidden (``vdso=False``, or the time tool)."""
        return _vdso_warning(self._run_handlers())

    def _warn_about_vdso(self, handlers: HandlerSet) -> None:
        warning = _vdso_warning(handlers) if self.warn_vdso else None
        if warning is not None and self.vdso_warned is not None:
            self.vdso_warned(warning)
        elif warning is not None:
            import warnings  # noqa: PLC0415 (only runs that warn)

            warnings.warn(warning, RuntimeWarning, stacklevel=3)

    def on_exec(self, hook: ExecHook) -> ExecHook:
        """Call ``hook`` with an :class:`~sysemu.api.execs.ExecImage` at every exec of the
        traced tree, before the new image runs (usable as a decorator); see
        :meth:`HandlerSet.on_exec`."""
        self.handlers.on_exec(hook)
        return hook

    @property
    def injector(self) -> Injector | None:
        """The fault injector behind :meth:`inject` (``None`` until the first ``inject``):
        the tool named ``"inject"`` in :attr:`tools`."""
        tool = self._tools.get("inject")
        if tool is None:
            return None
        from sysemu.tools.inject.injector import Injector  # noqa: PLC0415 (in use: loaded)

        return tool if isinstance(tool, Injector) else None

    def observe(
        self, observer: Observer, syscalls: SyscallSpec | None = None, *, abi: Abi | None = None
    ) -> None:
        """Add an :class:`Observer` for ``syscalls`` (every call when ``None``): it sees each
        call and its outcome, and the life of every traced thread, without deciding anything.
        """
        self.handlers.observe(observer, syscalls, abi=abi)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: Stream = None,
        stdout: Stream = None,
        stderr: Stream = None,
        capture_output: bool = False,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ``argv`` under the handlers and wait until every process it starts has exited.

        Standard streams and the terminal are inherited unless ``stdin``, ``stdout`` or
        ``stderr`` give a file or file descriptor; ``capture_output`` collects the program's
        output into ``result.stdout`` and ``result.stderr``. After ``timeout`` seconds every
        process of the run is killed and :class:`RunTimeoutError` raised. Raises
        :class:`~sysemu.engine.spawn.ProgramNotFoundError` before starting anything if the program
        does not exist (in :attr:`fs`'s view when it remaps names, else on the host), and
        :class:`HandlerError` if a handler raised under ``OnError.KILL`` (after the program
        was killed; the handler's exception is the ``__cause__``).

        While it runs, this process must not wait for children of its own: the tracer collects
        every child's status.
        """
        if not argv:
            raise ValueError("nothing to run: argv is empty")
        environment = dict(os.environ if env is None else env)
        # The first tool that knows the program (the virtual filesystem's view) finds it.
        tools = self._tools.values()
        found = next(
            (p for t in tools if (p := t.find_program(argv[0], environment)) is not None), None
        )
        path = found or resolve_program(argv[0], environment)
        arch = host_arch()
        for tool in self._tools.values():
            tool.run_started()
        handlers = self._run_handlers()
        self._warn_about_vdso(handlers)
        compiled = handlers.compile(arch.abis)
        if cwd is None:
            cwd = next((c for t in tools if (c := t.start_cwd) is not None), None)
        tracer = runner(self.backend, compiled, arch, self._settings())
        if not capture_output:
            stdio = (_fileno(stdin), _fileno(stdout), _fileno(stderr))
            result = tracer.run(
                argv, path=path, env=environment, cwd=cwd, stdio=stdio, timeout=timeout
            )
        else:
            import tempfile  # noqa: PLC0415 (only captures pay for it)

            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                stdio = (_fileno(stdin), out.fileno(), err.fileno())
                result = tracer.run(
                    argv, path=path, env=environment, cwd=cwd, stdio=stdio, timeout=timeout
                )
                out.seek(0)
                err.seek(0)
                result.stdout, result.stderr = out.read(), err.read()
        return self._finish(result)

    def attach(self, pid: int, *, on_ready: Callable[[Attacher], None] | None = None) -> RunResult:
        """Trace the running process ``pid`` (every thread) with the handlers, until it exits
        or a detach is requested; then it runs on exactly as before.

        Attaching is ptrace only (a seccomp filter could never be removed again), so every
        call of the process stops twice while attached. ``on_ready`` receives the
        :class:`~sysemu.engine.attach.Attacher` before the loop starts: call its
        ``request_detach()`` (from a signal handler of this thread, say) to detach.
        Raises :class:`~sysemu.engine.attach.AttachError` if the process cannot be traced.
        """
        arch = host_arch()
        for tool in self._tools.values():
            tool.run_started()
        handlers = self._run_handlers()
        self._warn_about_vdso(handlers)
        attacher = backends.attacher(handlers.compile(arch.abis), arch, self._settings())
        if on_ready is not None:
            on_ready(attacher)
        result = attacher.attach(pid)
        return self._finish(result)

    def _settings(self) -> backends.Settings:
        return backends.Settings(
            self.on_error, self.error_errno, self.report, self.spin_us, self.handler_timeout
        )

    def _finish(self, result: RunResult) -> RunResult:
        """What every kind of run ends with: each tool's results, and a fatal handler error
        raised (carrying the result)."""
        for tool in self._tools.values():
            value = tool.run_finished(result)
            if value is not None:
                result.tools[tool.name] = value
        if result.fatal_error is not None:
            result.fatal_error.result = result
            raise result.fatal_error
        return result


if TYPE_CHECKING:
    Stream: TypeAlias = IO[bytes] | IO[str] | int | None
    """A standard stream for the program: a file with a descriptor, a descriptor, or ``None``
    (inherit this process's)."""
else:

    def __getattr__(name: str) -> object:
        # ``Stream`` is made on demand: it needs typing, which start-up does not load.
        if name == "Stream":
            from typing import IO  # noqa: PLC0415

            return IO[bytes] | IO[str] | int | None
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fileno(stream: Stream) -> int | None:
    if stream is None or isinstance(stream, int):
        return stream
    stream.flush()
    return stream.fileno()


def _vdso_warning(handlers: HandlerSet) -> str | None:
    """See :meth:`Emulator.vdso_warning`, for the handler set a run is given."""
    if handlers.vdso_hidden:
        return None
    named = handlers.vdso_calls()
    if not named:
        return None
    return (
        f"handlers for {', '.join(named)} will rarely stop: the vDSO answers them without "
        "entering the kernel (hide it with --no-vdso, Emulator(vdso=False))"
    )
