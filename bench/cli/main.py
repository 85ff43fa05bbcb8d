"""The `bench` command: one argparse tree; `sweep` hands its arguments to Hydra.

bench sweep [hydra overrides...]   run a sweep (Hydra: model=..., suite=..., -m for many)
bench sweep --from-manifest PATH   re-run exactly what a run's manifest.json pinned
bench report RUN_DIR... [--pricing NAME] [--wait]
                                   rebuild records, tables and plots; write RUN_DIR/report/
                                   (index.html, README.md, CSV/Markdown/LaTeX tables, PNG/SVG)
bench compare RUN_DIR... [--out DIR] [--pricing NAME]
                                   one report over several runs on the same problems
bench route RUN_DIR... [--out DIR] [--pricing NAME] [--splits N] [--brief]
                                   routing policies (single, oracle, difficulty, cascades)
                                   scored on held-out problems -> routing.csv, .png, .md
bench view RUN_DIR... [--port N] [--host H] [--export DIR]
                                   every attempt in a browser: where each budget cut the
                                   thinking, the answers, verdicts and why (127.0.0.1:8765)
bench grade RUN_DIR...             re-grade stored generations (after a grader fix), then report
bench merge RUN_DIR... --into DIR  join the shard runs of one sweep (shard=i/n) into one run
bench repair RUN_DIR...            set damaged files aside (RUN/damaged/); a re-run regenerates them
bench runs [RESULTS_DIR] [--json]  the stored runs, one line each (status, records, when)
bench show RUN_DIR [--json]        the results table of one stored run
bench models list|prepare NAME     list model configs; convert/prepare one and print its folder
bench perf [--problems N]          measure speed ratios on the CPU engine -> results/perf/latest.json

Exit codes: 0 done; 2 bad input (config, arguments, data: one line says what);
3 budget adherence failed; 4 disk full (what was stored is intact); 5 served
requests still failing; 6 the run folder is being written by another process;
7 a damaged file in a run folder (bench repair); 130 interrupted (Ctrl-C);
143 terminated (SIGTERM). Both of the last store what finished first.
"""

from __future__ import annotations

import argparse
import sys

from bench.cli.errors import (  # noqa: F401  (the exit codes are part of this module's API)
    EXIT_ADHERENCE,
    EXIT_BAD_INPUT,
    EXIT_DAMAGED,
    EXIT_DISK_FULL,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_REQUESTS,
    EXIT_TERMINATED,
    exit_code,
)
from bench.config.schema import CONFIG_DIR, group_options
from bench.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, with bad arguments raised as one line (exit 2) instead of a usage dump."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}; see {self.prog} --help")


VIEW_FLAGS = (
    ("--port", {"type": int, "default": 8765, "help": "default 8765; 0: any free port"}),
    ("--host", {"default": "127.0.0.1", "help": "default 127.0.0.1 (this machine only)"}),
    ("--export", {"metavar": "DIR", "help": "write a static copy to DIR instead of serving"}),
)


def build_parser() -> Parser:
    parser = Parser(
        prog="bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # -h prints this docstring, the whole command list
    )
    parser.add_argument("-h", "--help", action="store_true")
    commands = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    sweep = commands.add_parser(
        "sweep",
        help="run a sweep; the other arguments are Hydra's (model=..., -m, --cfg job)",
        allow_abbrev=False,
        add_help=False,  # `bench sweep --help` is Hydra's: the config groups and the config
    )
    sweep.add_argument("--from-manifest", metavar="PATH", help="re-run what a manifest pinned")

    def runs_command(name: str, help: str, *flags: tuple[str, dict]) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help, allow_abbrev=False)
        command.add_argument("runs", nargs="+", metavar="RUN_DIR")
        for flag, options in flags:
            command.add_argument(flag, **options)
        return command

    pricing = ("--pricing", {"metavar": "NAME", "help": "configs/pricing/NAME.yaml"})
    out = ("--out", {"metavar": "DIR"})
    runs_command(
        "report",
        "rebuild tables and figures; write RUN_DIR/report/",
        pricing,
        ("--wait", {"action": "store_true", "help": "wait for a sweep holding the run"}),
    )
    runs_command(
        "grade",
        "re-grade stored generations, then report",
        pricing,
        (
            "--unjudged",
            {
                "action": "store_true",
                "help": "only attempts with no verdict on the program "
                "(a sandbox that failed, or graded before statuses were kept)",
            },
        ),
    )
    runs_command("compare", "one report over several runs", out, pricing)
    runs_command(
        "route",
        "routing policies scored on held-out problems",
        out,
        pricing,
        ("--splits", {"type": int, "default": 20, "help": "held-out splits (default 20)"}),
        (
            "--brief",
            {"action": "store_true", "help": "print the verdicts only, not the runs' table"},
        ),
    )
    runs_command("view", "look at every attempt in a browser (or --export DIR)", *VIEW_FLAGS)
    runs_command("merge", "join shard runs into one", ("--into", {"required": True}))
    runs_command("repair", "set damaged files aside")
    listing = commands.add_parser("runs", help="the stored runs, one line each")
    listing.add_argument("results_dir", nargs="?", default="results")
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="the results table of one stored run")
    show.add_argument("run", metavar="RUN_DIR")
    show.add_argument("--json", action="store_true")

    models = commands.add_parser("models", help="list or prepare model configs")
    actions = models.add_subparsers(dest="action", required=True, parser_class=Parser)
    actions.add_parser("list", help="list model configs")
    actions.add_parser("prepare", help="convert/prepare a model, print its folder").add_argument(
        "name"
    )

    from bench.perf import suite as perf

    perf.add_arguments(commands.add_parser("perf", help="measure speed ratios (bench perf)"))
    parser.set_defaults(command_names=tuple(commands.choices))
    return parser


def models(args: argparse.Namespace) -> int:
    names = group_options("model")
    if args.action == "list":
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise UsageError(f"model {args.name!r} is not known; choose one of: {', '.join(names)}")
    from omegaconf import OmegaConf

    from bench.engines import models as models_mod

    print(models_mod.prepare(OmegaConf.load(CONFIG_DIR / "model" / f"{args.name}.yaml").source))
    return 0


def _run(argv: list[str]) -> int:
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] == "--version":
        from bench import __version__

        print(f"thinkbench {__version__}")
        return 0
    names = parser.get_default("command_names")
    if argv[0] not in names:
        raise UsageError(f"unknown command {argv[0]!r}; choose one of: {', '.join(names)}")
    # sweep: Hydra reads the rest (overrides, -m, --cfg ...) exactly as given.
    args, rest = parser.parse_known_args(argv)
    if args.command == "sweep":
        from bench.cli.sweep import sweep

        hydra_args = argv[1:]
        if args.from_manifest is not None:
            hydra_args = rest
        return sweep(hydra_args, args.from_manifest)
    if rest:
        raise UsageError(
            f"bench {args.command}: unrecognized arguments {' '.join(rest)}; "
            f"see bench {args.command} --help"
        )
    if args.command == "models":
        return models(args)
    if args.command == "perf":
        from bench.perf import suite as perf

        return perf.run(args)
    if args.command == "view":
        from bench.view import view

        return view(args)
    from bench.cli import runs as cli_runs

    if args.command in ("report", "grade"):
        return cli_runs.report(args, regrade=args.command == "grade")
    return getattr(cli_runs, args.command)(args)


def main(argv: list[str] | None = None) -> int:
    """Run a command; known failures become one line and their exit code."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except BaseException as exc:  # KeyboardInterrupt too: it has its exit code
        code = exit_code(exc)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
