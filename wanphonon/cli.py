"""Magnetic moments of chiral phonons from Wannier90 and built-in models: run, check, plot, prepare.

A thin layer over :mod:`wanphonon.api`.  Errors in the user's input end the
program with status 2 and one message naming the file, the line and the fix;
no traceback (``--debug`` shows one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from .engine.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
from .errors import WanphononError

log = logging.getLogger("wanphonon")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wanphonon", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"wanphonon {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="compute chi terms, Born charges and the phonon moment")
    r.add_argument("config", help="TOML configuration file")
    r.add_argument("--out", required=True, help="output directory (result.json, plots, checkpoints)")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint (a finished run: report it, exit 0)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an existing result.json or checkpoint and start again")
    r.add_argument("--plot", action="store_true", help="also draw the model's figures (PNG)")
    r.add_argument("--device", choices=("numpy", "gpu", "cuda", "cpu"), default=None,
                   help="where the per-batch work runs: numpy (default), gpu (PyTorch on CUDA), "
                        "cpu (PyTorch on the CPU, for testing); overrides [run] device")
    c = sub.add_parser("check", help="validate inputs and summarise them (no integrals)")
    c.add_argument("config", help="TOML configuration file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    pl = sub.add_parser("plot", help="bands coloured by contribution and every term along a k-path, "
                                     "and the gap map (lattice systems)")
    pl.add_argument("config", help="TOML configuration file")
    pl.add_argument("--out", required=True, help="output directory for the PNG files")
    pl.add_argument("--path", default=None, help="special points, e.g. GKMG (default: ASE's path)")
    pl.add_argument("--npoints", type=int, default=300, help="points along the path")
    pl.add_argument("--run", default=None,
                    help="output directory of a 3D run with [output] k_resolved = true: also draw "
                         "the per-kz contributions")
    pr = sub.add_parser("prepare", help="write the displaced structures, Wannier90 inputs and "
                                        "wanphonon.toml (docs/prepare.md)")
    pr.add_argument("config", help="prepare TOML file")
    pr.add_argument("--out", required=True, help="directory for the run folders and wanphonon.toml")
    pr.add_argument("--overwrite", action="store_true",
                    help="write into a directory that already holds a wanphonon.toml")
    for q in (r, c, pl, pr):
        q.add_argument("-v", "--verbose", action="store_true",
                       help="log details: settings, pre-scan, batch sizes and timings")
        q.add_argument("-q", "--quiet", action="store_true",
                       help="no table, progress or warnings on the terminal (they stay in summary.txt); "
                            "print the result path and errors only")
        q.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _run(args, comm) -> int:
    from .api import AlreadyFinished, as_config, run
    from .engine.signals import terminate_raises
    config = as_config(args.config)
    try:
        with terminate_raises():
            result = run(config, args.out, resume=args.resume, comm=comm,
                         progress=not args.quiet, overwrite=args.overwrite,
                         device=args.device)
    except AlreadyFinished as exc:
        if comm.rank == 0:
            print(f"wanphonon: {exc.problem}: {exc.path}")
        return 0
    if comm.rank == 0:
        if not args.quiet:
            print(result.table())
            for w in result.warnings:
                print(f"WARNING: {w}")
            print(f"\nwrote {os.path.join(args.out, 'summary.txt')}")
        print(f"wrote {os.path.join(args.out, 'result.json')}")
        if args.plot or config.output.plots:
            from .commands.plots import plots_for
            for path in plots_for(config, result, args.out):
                if not args.quiet:
                    print(f"wrote {path}")
    return 0


def _check(args, comm) -> int:
    from .commands.check import check, format_report
    report = check(args.config)
    if comm.rank == 0:
        if report["verdict"] != "PASS":
            print(f"wanphonon: error: {report['reason']}", file=sys.stderr)
        if args.json:
            import json
            print(json.dumps(report, indent=1, default=str))
        else:
            print(format_report(report))
    return 0 if report["verdict"] == "PASS" else 2


def _plot(args, comm) -> int:
    if comm.rank != 0:
        return 0
    from ase.cell import Cell

    from .api import setup
    from .commands.plots import gap_map, path_contributions
    calc = setup(args.config)
    os.makedirs(args.out, exist_ok=True)
    path = args.path
    if path is None and calc.setup.lattice is not None:
        path = Cell(calc.setup.lattice).bandpath(npoints=0, pbc=[True, True, False]).path.split(",")[0]
    written = [path_contributions(calc, path, os.path.join(args.out, "path_contributions.png"),
                                  args.npoints),
               gap_map(calc, os.path.join(args.out, "gap_map.png"), calc.setting.phonon_energy_meV)]
    if args.run is not None:
        from .commands.plots import kz_profile
        written.append(kz_profile(os.path.join(args.run, "k_resolved"),
                                  os.path.join(args.out, "kz_contributions.png")))
    if not args.quiet:
        for w in written:
            print(f"wrote {w}")
    return 0


def _prepare(args, comm) -> int:
    if comm.rank != 0:
        return 0
    from .prepare import prepare as prepare_runs
    result = prepare_runs(args.config, args.out, overwrite=args.overwrite)
    if not args.quiet:
        print(result.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    from .engine.parallel import world
    try:
        comm = world()
    except WanphononError as exc:       # e.g. several MPI tasks but no mpi4py: every task says so
        print(f"wanphonon: error: {exc}", file=sys.stderr)
        return 2
    if comm.rank != 0:
        logging.getLogger("wanphonon").setLevel(logging.WARNING)
    try:
        return {"run": _run, "check": _check, "plot": _plot, "prepare": _prepare}[args.command](args, comm)
    except WanphononError as exc:
        if args.debug:
            raise
        if comm.rank == 0:
            print(f"wanphonon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wanphonon: interrupted; the checkpoint is saved (continue with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("wanphonon: terminated (SIGTERM); the checkpoint is saved (continue with --resume)",
              file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:  # a bug, not a user error: say so, briefly
        if args.debug:
            raise
        print(f"wanphonon: internal error: {type(exc).__name__}: {exc}\n"
              "  rerun with --debug for the traceback and report it", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
