"""The tool interface: how a tool plugs into sysemu's runs, results and command line.

A tool is a package under ``sysemu/tools/`` made of handlers and observers (tracing, fault
injection, the virtual filesystem). It has two faces:

- a :class:`Tool`, the object an :class:`~sysemu.Emulator` uses (``emu.use(tool)``): it
  installs its handlers and observers on the handler set of every run (:meth:`Tool.install`),
  may say where the program is and where it starts (:meth:`Tool.find_program`,
  :attr:`Tool.start_cwd`), and hands its results over when a run ends
  (:meth:`Tool.run_finished`), which the run's :class:`~sysemu.RunResult` keeps under the
  tool's :attr:`~Tool.name`: ``result.tools["inject"]``, or typed,
  ``result.tool("inject", list)``;
- a :class:`ToolOptions`, its command line: an argparse group (:meth:`ToolOptions.add_arguments`),
  a function that turns the parsed options into the tool's configuration, or a one-line
  ``ValueError`` for bad input (:meth:`ToolOptions.configure`), and one that puts that
  configuration on the emulator (:meth:`ToolOptions.apply`). Everything that can be wrong
  is found by ``configure`` and ``apply``, before the program starts.

``sysemu.tools.registry`` lists the tools the command line offers: adding a tool is a package
plus one line there. The module named in that line must be cheap to import (the command line
imports it at every start): it defines ``OPTIONS``, the :class:`ToolOptions`, and imports the
tool's machinery only inside ``configure``/``apply``.

What a tool must not touch: the engine (backends, wait loops) and the handler API's internals.
A tool reaches the program only through handlers and observers; an observer may offer the
engine a C line writer through the documented hook of :mod:`sysemu.engine.accelerated` (the
trace's does). The API layer knows no tool by name (``RunResult.injections`` is kept as the
``"inject"`` entry's alias).
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from sysemu.api.handlers import HandlerSet
    from sysemu.api.results import RunResult


class Tool:
    """A tool in use by an emulator; every method does nothing unless overridden.

    The emulator calls, for each run: :meth:`find_program` and :attr:`start_cwd` (before the
    program starts), :meth:`run_started`, :meth:`install` (on that run's handler set), and
    :meth:`run_finished` once the run is over (also when a handler error killed it).
    """

    name: str = ""
    """The tool's name: its key in ``Emulator.tools`` and ``RunResult.tools``."""

    stats_first: bool = False
    """Whether :meth:`stats_table` is printed before the handlers' table with ``--stats``
    (the trace's, which counts every traced call) rather than after it."""

    def install(self, handlers: HandlerSet) -> None:
        """Add the tool's handlers and observers to the handler set of a run that starts now.

        They come after the emulator's own handlers (first decision wins), so a tool whose
        handlers must keep their place among the user's registers them on
        ``Emulator.handlers`` itself instead, when it is configured.
        """

    def find_program(self, program: str, env: Mapping[str, str]) -> str | None:
        """The host path of ``program`` (``argv[0]``) as the program will see it, or None to
        let the next tool or the ``PATH`` lookup find it."""
        return None

    @property
    def start_cwd(self) -> str | None:
        """The host directory a run without ``cwd=`` starts in, or None for no opinion."""
        return None

    def run_started(self) -> None:
        """A run is about to start: forget what the previous one left (records, counters)."""

    def run_finished(self, result: RunResult) -> object | None:
        """The run is over: return the tool's results, kept as ``result.tools[name]``, or
        None to keep nothing."""
        return None

    def stats_table(self, result: RunResult) -> str | None:
        """The tool's part of ``--stats``, from ``result`` (its own entry included), or None."""
        return None

    def close(self) -> str | None:
        """Release what the tool holds (an output file) once its emulator is done; returns a
        one-line problem to report (the last lines of a trace could not be written), or None.
        """
        return None


class Invocation(NamedTuple):
    """What a tool's options are parsed for: the subcommand (``run``, ``attach``, ``doctor``)
    and the backend it will run on."""

    command: str
    backend: str


class OptionalValue(NamedTuple):
    """An option whose value is optional (``--trace[=SET]``): given as ``--trace ls`` without
    ``--``, it took the command (or the PID) as its value. The command line then says so, and
    for ``attach`` takes a value of digits as the PID, leaving the option at ``const``."""

    option: str
    dest: str
    const: str
    meaning: str  # what the value is, for the message: "its set of calls"
    metavar: str


class ToolHost(Protocol):
    """What :meth:`ToolOptions.apply` may use of the emulator it configures."""

    @property
    def handlers(self) -> HandlerSet:
        """The emulator's own handler set (registrations there keep their order)."""
        ...

    @property
    def tools(self) -> Mapping[str, Tool]:
        """The tools in use, by name."""
        ...

    def use(self, tool: Tool) -> Tool:
        """Put ``tool`` in front of every later run (in place of one of the same name)."""
        ...


class ToolOptions:
    """A tool's command line: its options, and how they become a configured tool."""

    name: str = ""
    """The tool's name (the same as its :attr:`Tool.name`)."""

    commands: tuple[str, ...] = ("run", "attach")
    """The subcommands that offer the tool's options. The options of tools that ``run`` and
    ``attach`` share come with the handler options; those of ``run`` alone after them."""

    optional_values: tuple[OptionalValue, ...] = ()
    """The tool's options whose value is optional (see :class:`OptionalValue`)."""

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add the tool's options for ``command`` to ``parser`` (an argument group of their
        own, or among the handler options)."""

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> object | None:
        """The tool's configuration from the parsed options, or None when none was given.

        Raises ``ValueError`` with a one-line message (naming the option) for bad input.
        """
        return None

    def configure_counting(self, args: argparse.Namespace, invocation: Invocation) -> object | None:
        """The configuration that counts every call, for ``--stats`` given with no rule and
        no tool (strace ``-c``), or None for a tool that counts nothing (the default)."""
        return None

    def apply(self, config: object, host: ToolHost) -> None:
        """Put ``config`` (what :meth:`configure` returned) on the emulator: ``host.use`` a
        tool, or add to the one in use. May raise ``ValueError`` (one line), still before
        the program starts."""
