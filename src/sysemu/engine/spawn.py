"""Starting a traced program: fork, seize, install the filter, exec.

Order matters. The child blocks on a pipe until the parent has seized it, so that no call of
the child escapes the tracer; it installs the seccomp filter itself (a filter can only be
installed by the thread it applies to) and then calls ``execve`` directly on a path resolved in
the parent, so that the only call it makes under the filter is the exec itself. A failure in
the child is sent back over a close-on-exec pipe, as ``subprocess`` does.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence

from sysemu.kernel import ptrace
from sysemu.kernel.seccomp import PreparedFilter

# The user-notification backend's child sends its listener fd over a socket at this fd number,
# and the filter allows sendmsg on exactly it, before any rule of the user's: the supervisor is
# not listening yet, so a trapped sendmsg would block forever.
LISTENER_SOCKET_FD = 1022


class ProgramNotFoundError(FileNotFoundError):
    """The command to run does not exist or is not executable.

    ``found`` is True when a file of that name exists but cannot be executed (a directory, no
    execute permission): shells and ``env`` exit 126 then, and 127 when nothing was found.
    """

    def __init__(self, message: str, *, found: bool = False) -> None:
        super().__init__(message)
        self.found = found


def resolve_program(program: str, env: Mapping[str, str]) -> str:
    """The path ``execve`` should get for ``program``, searched in ``env``'s PATH like a shell
    does; raises :class:`ProgramNotFoundError` with a one-line message."""
    if "/" in program:
        if not os.path.exists(program):
            raise ProgramNotFoundError(f"{program}: no such file or directory")
        if os.path.isdir(program) or not os.access(program, os.X_OK):
            raise ProgramNotFoundError(f"{program}: not an executable file", found=True)
        return program
    # As execvp(3) searches (shutil.which would do, but costs start-up time to import).
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ProgramNotFoundError(f"{program}: command not found")


# Python ignores SIGPIPE (and may ignore SIGXFSZ); ignored signals survive exec, so the child
# restores them as subprocess does. SIGINT/SIGQUIT may be ignored by the CLI while it waits.
_RESTORED_SIGNALS = ("SIGPIPE", "SIGXFZ", "SIGXFSZ", "SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP")


def exec_child(
    *,
    path: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    filter_: PreparedFilter | None,
    go_read: int,
    error_write: int,
    stdio: Sequence[int | None],
    listener_socket: int | None,
    filter_flags: int,
    personality: int = 0,
) -> None:
    """The forked child's side of a spawn: wait for the go-ahead on ``go_read``, install
    ``filter_`` and exec; never returns (a failure goes to ``error_write``, then exit 127)."""
    try:
        for target, source in enumerate(stdio):
            if source is not None and source != target:
                os.dup2(source, target)
        for name in _RESTORED_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        if os.read(go_read, 1) != b"x":  # the parent died before it could seize us
            os._exit(127)
        if cwd is not None:
            os.chdir(cwd)
        if personality:
            _add_personality(personality)
        handoff = None
        if listener_socket is not None:
            # The fd number the filter lets sendmsg through on (see LISTENER_SOCKET_FD).
            os.dup2(listener_socket, LISTENER_SOCKET_FD, inheritable=False)
            handoff = _ListenerHandoff()
        if filter_ is not None:
            listener = filter_.install(no_new_privs=os.geteuid() != 0, flags=filter_flags)
            if handoff is not None:
                handoff.send(listener)
        os.execve(path, list(argv), dict(env))
    except BaseException as error:
        code = getattr(error, "errno", None) or 0
        # In plain words ("Exec format error"), not an OSError's repr with the path in it.
        text = os.strerror(code) if code else str(error)
        message = f"{code}:{text}".encode(errors="replace")
        try:
            os.write(error_write, message)
        finally:
            os._exit(127)


_QUERY_PERSONALITY = 0xFFFFFFFF  # personality(2): this value reads without changing


def _add_personality(flags: int) -> None:
    """Set ``flags`` in this process's personality (exec keeps them: ADDR_NO_RANDOMIZE then
    lays the new image out without randomization, unprivileged)."""
    from sysemu.kernel.raw import SYS_PERSONALITY, check, syscall  # noqa: PLC0415 (when asked)

    current = check(syscall(SYS_PERSONALITY, _QUERY_PERSONALITY), "personality")
    check(syscall(SYS_PERSONALITY, (current & 0xFFFFFFFF) | flags), "personality")


class _ListenerHandoff:
    """Sends the child's listener fd to the supervisor with nothing but one ``sendmsg``
    after the filter is in place: until the supervisor has the listener, any call the filter
    sends to it blocks for ever, and a filter may send every call (a ``getsockname`` to
    learn the socket's family, an import's file reads, a ``close``, a fresh heap page).
    Everything is built before the filter is installed; the fd goes into a ready array."""

    def __init__(self) -> None:
        import _socket  # noqa: PLC0415 (only this backend's child needs it)

        self._socket = _socket.socket(fileno=LISTENER_SOCKET_FD)
        data = bytearray(4)  # one int, as SCM_RIGHTS carries it
        self._fds = memoryview(data).cast("i")  # written in place: no import of array
        self._control = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, data)]
        self._buffers = [b"L"]

    def send(self, listener: int) -> None:
        """Send ``listener``. Both fds are close-on-exec (the kernel made the listener so):
        exec closes them, without a ``close`` that a handler could trap."""
        self._fds[0] = listener
        self._socket.sendmsg(self._buffers, self._control)


class Spawned:
    """A started child: its pid, and the pipe that reports a failure before exec."""

    def __init__(self, pid: int, error_read: int) -> None:
        self.pid = pid
        self._error_read = error_read
        self.exec_errno = 0
        """The errno of the failure :meth:`exec_error` read (0: none, or not an OSError)."""

    def exec_error(self) -> str | None:
        """The child's error message if it failed before exec (read after it exited)."""
        try:
            data = os.read(self._error_read, 4096)
        except BlockingIOError:
            return None
        finally:
            os.close(self._error_read)
        if not data:
            return None
        code, _, message = data.decode(errors="replace").partition(":")
        self.exec_errno = int(code) if code.isdigit() else 0
        return message


def spawn(
    argv: Sequence[str],
    *,
    path: str,
    env: Mapping[str, str],
    cwd: str | None,
    filter_: PreparedFilter | None,
    options: int,
    stdio: Sequence[int | None] = (None, None, None),
    interrupt: bool = False,
    seize: bool = True,
    listener_socket: int | None = None,
    filter_flags: int = 0,
    personality: int = 0,
) -> Spawned:
    """Fork and seize a child that will install ``filter_`` and exec ``path`` with ``argv``.

    ``stdio`` gives file descriptors for the child's 0, 1 and 2 (``None``: inherit ours).
    The child runs only once it is seized with ``options``; the caller's wait loop then sees
    its stops (the exec event first, unless the filter traps ``execve`` itself).
    ``personality``: ``personality(2)`` bits the child sets before it execs.
    """
    go_read, go_write = os.pipe2(os.O_CLOEXEC)
    error_read, error_write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        os.close(go_write)
        os.close(error_read)
        exec_child(
            path=path,
            argv=argv,
            env=env,
            cwd=cwd,
            filter_=filter_,
            go_read=go_read,
            error_write=error_write,
            stdio=stdio,
            listener_socket=listener_socket,
            filter_flags=filter_flags,
            personality=personality,
        )
    os.close(go_read)
    os.close(error_write)
    try:
        if seize:
            ptrace.seize(pid, options)
    except OSError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(go_write)
        os.close(error_read)
        raise
    if interrupt:
        # A ptrace-only tracer gets syscall stops only after a PTRACE_SYSCALL resume, which
        # needs a stop first: this one comes before the child execs.
        ptrace.interrupt(pid)
    os.set_blocking(error_read, False)
    os.write(go_write, b"x")
    os.close(go_write)
    return Spawned(pid, error_read)
