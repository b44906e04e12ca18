"""``stickerbot models``: list, download or verify the models of the registry."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from segmentation.cli.arguments import add_cache_arguments, mirror
from segmentation.cli.exits import EXIT_MODEL, EXIT_OK, EXIT_USAGE
from segmentation.cli.opening import say
from segmentation.errors import ModelUnavailable
from segmentation.models.progress import progress_for
from segmentation.models.registry import REGISTRY, lookup
from segmentation.models.store import (
    MIRROR_ENV,
    ensure,
    installed_hash,
    installed_path,
    is_installed,
    verify_file,
)


def add_models_command(commands: Any) -> None:
    models = commands.add_parser(
        "models",
        help="list, download or verify the models stickerbot can fetch",
        description="Without an action: list every registry model, installed or not. Models "
        f"download on first use; ${MIRROR_ENV} (a base URL or folder) replaces their URLs.",
    )
    add_cache_arguments(models)
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(handler=_run_list)
    actions = models.add_subparsers(title="actions", metavar="ACTION")
    download = actions.add_parser("download", help="download and install models by name")
    download.add_argument("names", nargs="+", metavar="NAME")
    add_cache_arguments(download, inherited=True)
    download.set_defaults(handler=_run_download)
    verify = actions.add_parser(
        "verify", help="check every installed model against its sha256 (exit 5 on a mismatch)"
    )
    add_cache_arguments(verify, inherited=True)
    verify.set_defaults(handler=_run_verify)


def _run_list(args: argparse.Namespace) -> int:
    rows = []
    for entry in REGISTRY:
        installed = is_installed(entry, args.cache_dir)
        rows.append(
            {
                "name": entry.name,
                "backend": entry.backend,
                "size": entry.size_text,
                "licence": entry.licence,
                "voc_miou": entry.published_miou,
                "installed": str(installed_path(entry, args.cache_dir)) if installed else None,
                "sha256": entry.sha256,
                "urls": list(entry.urls),
                "input": entry.input_spec,
                "description": entry.description,
            }
        )
    if args.json:
        print(json.dumps({"models": rows}))
        return EXIT_OK
    header = f"{'NAME':<30} {'BACKEND':<16} {'SIZE':>9}  {'VOC mIoU':>8}  {'LICENCE':<32} INSTALLED"
    print(header)
    for row in rows:
        miou = f"{row['voc_miou']:.1f}" if row["voc_miou"] is not None else "-"
        print(
            f"{row['name']:<30} {row['backend']:<16} {row['size']:>9}  {miou:>8}  "
            f"{row['licence']:<32} {'yes' if row['installed'] else 'no'}"
        )
    print()
    for row in rows:
        print(f"{row['name']}: {row['description']}; input {row['input']}")
    print("\nVOC mIoU: the authors' figure on PASCAL VOC 2012 val.")
    return EXIT_OK


def _run_download(args: argparse.Namespace) -> int:
    entries = []
    for name in args.names:
        entry = lookup(name)
        if entry is None:
            names = ", ".join(e.name for e in REGISTRY)
            print(
                f"stickerbot models: error: unknown model {name!r}; choose from: {names}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        entries.append(entry)
    for entry in entries:
        path = ensure(
            entry,
            cache_dir=args.cache_dir,
            mirror=mirror(args),
            progress=progress_for(sys.stderr),
            emit=say,
        )
        print(f"installed: {entry.name} {path}")
    return EXIT_OK


def _run_verify(args: argparse.Namespace) -> int:
    failed = 0
    for entry in REGISTRY:
        path = installed_path(entry, args.cache_dir)
        if not path.is_file():
            print(f"{entry.name:<30} not installed")
            continue
        try:
            digest = verify_file(
                path, installed_hash(entry), args.cache_dir, say, entry.name, fresh=True
            )
        except ModelUnavailable as exc:
            failed += 1
            print(f"{entry.name:<30} FAILED: {exc}")
        else:
            print(f"{entry.name:<30} ok  sha256 {digest}")
    return EXIT_MODEL if failed else EXIT_OK
