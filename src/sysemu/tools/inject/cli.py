"""Command-line options of fault injection: ``--inject SPEC`` (repeatable) and ``--seed N``.

``configure`` parses and checks every spec (one line naming ``--inject`` for a bad one);
``apply`` adds them to the emulator's injector, after the rules files' handlers. Imported at
every start of the command line: the injector itself is loaded only when a spec is given.
"""

from __future__ import annotations

from sysemu._typing import TYPE_CHECKING, NamedTuple
from sysemu.tools.tool import Invocation, ToolHost, ToolOptions

if TYPE_CHECKING:
    import argparse

    from sysemu.tools.inject.spec import InjectSpec


class InjectConfig(NamedTuple):
    """The parsed ``--inject`` specs and ``--seed``."""

    specs: list[InjectSpec]
    seed: int | None


class InjectOptions(ToolOptions):
    """``--inject`` and ``--seed`` (``sysemu doctor`` takes ``--inject`` alone)."""

    name = "inject"
    commands = ("run", "attach", "doctor")

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """Add ``--inject`` (and, but for ``doctor``, ``--seed``) to ``parser``."""
        if command == "doctor":
            parser.add_argument("--inject", action="append", default=[], metavar="SPEC",
                                help="an --inject spec, as for run (repeatable)")  # fmt: skip
            return
        parser.add_argument(
            "--inject",
            action="append",
            default=[],
            metavar="SPEC",
            help="inject a fault: strace's SET:error=ERRNO|retval=N[:signal=SIG][:when=...] "
            "plus :short=N|P%% :path=GLOB :fd=N :fdpath=GLOB :pid=... :probability=P :after "
            "(repeatable; see docs)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            metavar="N",
            help="seed for --inject probability=, to repeat a run (printed with --stats)",
        )

    def configure(self, args: argparse.Namespace, invocation: Invocation) -> InjectConfig | None:
        """The specs, parsed and checked; None when neither ``--inject`` nor ``--seed`` was
        given. Raises ValueError (``--inject: ...``) for a spec that does not parse or that
        no syscall of its set can serve."""
        texts: list[str] = getattr(args, "inject", None) or []
        seed: int | None = getattr(args, "seed", None)
        if not texts and seed is None:
            return None
        from sysemu.tools.inject.injector import check_spec  # noqa: PLC0415 (specs only)
        from sysemu.tools.inject.spec import parse_inject_spec  # noqa: PLC0415

        try:
            specs = [check_spec(parse_inject_spec(text)) for text in texts]
        except ValueError as error:
            raise ValueError(f"--inject: {error}") from None
        return InjectConfig(specs, seed)

    def apply(self, config: object, host: ToolHost) -> None:
        """Add the specs to the injector in use (made now if none is), and give it the
        seed; a ``--seed`` without specs only seeds the rules files' injections."""
        assert isinstance(config, InjectConfig)
        from sysemu.tools.inject.injector import Injector, injector_of  # noqa: PLC0415

        in_use = host.tools.get(Injector.name)
        if not config.specs and not isinstance(in_use, Injector):
            return
        injector = injector_of(host, config.seed)
        if config.seed is not None and injector.seed != config.seed:
            injector.seed = config.seed  # the rules' injector: each run draws from the seed
        for spec in config.specs:
            injector.add(spec, host.handlers)


OPTIONS = InjectOptions()
