"""The command line: `python -m helpers.data fetch|verify|info`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers import config
from helpers.data.common import DataError, _show, log
from helpers.data.dataset import _inspect, verify_dataset
from helpers.data.fetch import fetch_dataset
from helpers.data.weights import (
    _file_provenance,
    _weight_file_problem,
    _weight_files,
    fetch_weights,
)


def _cmd_fetch(args: argparse.Namespace) -> int:
    """`fetch`: the dataset, then the weights."""
    fetch_dataset(
        args.source,
        args.url,
        args.force,
        allow_different=args.accept_different,
        directory=args.dir,
        manifest=args.manifest,
    )
    fetch_weights(args.weights_source, args.weights_url)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    """`verify`: the full check, every image decoded."""
    report = verify_dataset(args.dir, manifest=args.manifest)
    if report.ok:
        print(report.summary())
        return 0
    print(
        f"error: the dataset in {_show(args.dir)} has problems:\n{report.summary()}",
        file=sys.stderr,
    )
    return 1


def _size(path: Path) -> str:
    """A file size for people."""
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def _cmd_info(args: argparse.Namespace) -> int:
    """`info`: where everything is and what state it is in; never fails."""
    report = _inspect(args.dir, args.manifest, decode_all=False)
    print(f"Dataset folder  {_show(args.dir)}")
    for name in config.CLASS_NAMES:
        count = report.counts.get(name)
        expected = report.expected_counts.get(name, 0)
        print(
            f"  {name:<12}  "
            + (f"{count} images (manifest: {expected})" if count is not None else "missing")
        )
    print(
        "  status        " + (report.summary() if report.ok else "problems:\n" + report.summary())
    )
    models = config.keras_models_dir()
    origin = "$KERAS_HOME" if "KERAS_HOME" in os.environ else "default"
    print(f"Keras cache     {_show(models)} ({origin})")
    for name in _weight_files():
        path = models / name
        if not path.is_file():
            state = "missing"
        elif name == config.CLASS_INDEX_FILE:
            state = f"{_size(path)}  " + (_weight_file_problem(path) or "md5 OK")
        else:
            state = f"{_size(path)}  " + (_weight_file_problem(path) or _file_provenance(path))
        print(f"  {name:<66}  {state}")
    print("Sources (environment)")
    defaults = {config.ENV_WEIGHTS_BASE_URL: config.KERAS_WEIGHTS_BASE_URL}
    for variable in (
        config.ENV_DATASET_SOURCE,
        config.ENV_DATASET_URL,
        config.ENV_WEIGHTS_SOURCE,
        config.ENV_WEIGHTS_BASE_URL,
    ):
        value = os.environ.get(variable)
        fallback = f"(not set: {defaults[variable]})" if variable in defaults else "(not set)"
        print(f"  {variable:<24}  {value or fallback}")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The `python -m helpers.data` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data", description="Fetch, verify and describe the course's data."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=config.DATASET_DIR, help="dataset folder (default: dataset/)"
    )
    common.add_argument(
        "--manifest", type=Path, default=config.DATASET_MANIFEST, help=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch",
        parents=[common],
        help="get the dataset and the weights (skipped when already there)",
    )
    fetch.add_argument(
        "--source", type=Path, help=f"a folder holding the images (or ${config.ENV_DATASET_SOURCE})"
    )
    fetch.add_argument("--url", help=f"a .zip/.tar.gz of the images (or ${config.ENV_DATASET_URL})")
    fetch.add_argument(
        "--weights-source",
        type=Path,
        help=f"a folder holding the weight files (or ${config.ENV_WEIGHTS_SOURCE})",
    )
    fetch.add_argument(
        "--weights-url",
        help=f"where to download the weight files from (or ${config.ENV_WEIGHTS_BASE_URL})",
    )
    fetch.add_argument(
        "--force", action="store_true", help="fetch the dataset again even if dataset/ is fine"
    )
    fetch.add_argument(
        "--accept-different",
        action="store_true",
        help="install a source whose images differ from the manifest",
    )
    fetch.set_defaults(func=_cmd_fetch)
    commands.add_parser(
        "verify", parents=[common], help="check and decode every image"
    ).set_defaults(func=_cmd_verify)
    commands.add_parser(
        "info", parents=[common], help="where the data and the weights are"
    ).set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a DataError becomes its message and exit status 1, never a traceback."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)  # the current stdout, so tests can capture it
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    previous_level = log.level
    log.setLevel(logging.INFO)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "Interrupted. Nothing half-done was left behind; run the command again.",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # the reader stopped early (`... info | head`): not an error of ours
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)
    finally:
        log.removeHandler(handler)
        log.setLevel(previous_level)
