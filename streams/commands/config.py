"""The configuration: ``config validate``, ``config show``, ``config diff``, ``config reference``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from streams.commands import add_command

if TYPE_CHECKING:
    from streams.commands import Subparsers

__all__ = ["EXIT_DIFFERENT", "EXIT_INVALID", "register"]

EXIT_INVALID = 1  # validate: the config has errors (2: it could not be read at all, like every RouterError)
EXIT_DIFFERENT = 1  # diff: the configs differ (0: the same), as diff(1) does


def _file(args: argparse.Namespace) -> str | None:
    """The FILE argument, else the global ``--config`` (else ``$LLM_ROUTER_CONFIG``, else the default)."""
    return args.file or args.config


def _validate(args: argparse.Namespace) -> int:
    from infra.config_loader import validate_file

    result = validate_file(_file(args), check_env=not args.no_env_check)
    if result.config is None:
        print(result.report())
        return EXIT_INVALID
    cfg = result.config
    checked = "" if args.no_env_check else ", secrets present in this environment"
    print(f"{result.source}: valid ({len(cfg.backends)} backends, {len(cfg.routes)} routes{checked})")
    return 0


def _show(args: argparse.Namespace) -> int:
    import yaml

    from infra.config_loader import ENV_OVERRIDES, config_path, load_config
    from infra.config_mask import mask_config

    config = load_config(_file(args))
    data = mask_config(config.model_dump(mode="json"))
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    overrides = [var for var in ENV_OVERRIDES if os.environ.get(var)]
    print(f"# effective configuration of {config_path(_file(args))} (defaults filled, secrets masked)")
    if overrides:
        print(f"# environment overrides applied: {', '.join(overrides)}")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120), end="")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from infra.config_diff import config_diff, format_changes
    from infra.config_loader import load_config

    changes = config_diff(load_config(args.old), load_config(args.new))
    if args.json:
        rows = [{"path": c.path, "needs_restart": c.needs_restart, "change": c.render()} for c in changes]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(format_changes(changes))
    return EXIT_DIFFERENT if changes else 0


def _reference(args: argparse.Namespace) -> int:
    from infra.config_reference import render_reference

    text = render_reference()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    group = add_command(sub, "config", "check, show and compare configurations", parents)
    commands = group.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    v = add_command(commands, "validate", "list every error of a config, each with its line; exit 1 if any", parents)
    v.set_defaults(handler=_validate)
    v.add_argument("file", nargs="?", metavar="FILE", help="YAML/JSON config (default: --config)")
    v.add_argument(
        "--no-env-check",
        action="store_true",
        help="do not check that the secrets it names (api_key_env, key files, ...) exist here (e.g. in CI)",
    )
    s = add_command(commands, "show", "the effective config: defaults filled, env overrides, secrets masked", parents)
    s.set_defaults(handler=_show)
    s.add_argument("file", nargs="?", metavar="FILE", help="YAML/JSON config (default: --config)")
    s.add_argument("--json", action="store_true", help="JSON instead of YAML")
    d = add_command(commands, "diff", "what changing OLD into NEW changes, and what needs a restart", parents)
    d.set_defaults(handler=_diff)
    d.add_argument("old", metavar="OLD", help="the config in force (YAML/JSON)")
    d.add_argument("new", metavar="NEW", help="the config it would become")
    d.add_argument("--json", action="store_true", help="one JSON object per change")
    r = add_command(commands, "reference", "the configuration reference (markdown) from the models", parents)
    r.set_defaults(handler=_reference)
    r.add_argument("-o", "--output", type=Path, default=None, help="write it here (default: stdout)")
