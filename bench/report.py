"""What a run hands back: markdown tables on stdout, and ``latest.json`` with every raw
round, the medians, the ratios and a description of the machine and the software."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from bench import loadgen, servers
from bench.run import REPO, Run
from bench.workloads import Table, WorkloadResult


def _command(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False,
                             cwd=REPO)
    except OSError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine(run: Run) -> dict[str, Any]:
    server = run.pg_server()
    git_dirty = _command(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "load_average_start": run.load_at_start,
        "load_average_end": os.getloadavg(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "postgresql": {"version": server.version, "kind": server.kind},
        "node": _command(["node", "--version"]) if shutil.which("node") else None,
        "postgraphile": servers.postgraphile_version(),
        "load_generator": loadgen.describe(run.loadgen),
        "git_commit": _command(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(git_dirty),
        # what was measured when the app is being edited: changed or new files outside bench/
        "app_changes": [line for line in (_command(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)bench"]) or "").splitlines()
            if line.strip()],
    }


def redacted(options: dict[str, Any]) -> dict[str, Any]:
    """The options without the password a DATABASE_URL may carry."""
    url = options.get("database_url")
    if url:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            options = options | {"database_url": urlunsplit(parts._replace(netloc=netloc))}
    return options


def markdown(table: Table) -> str:
    lines = [f"### {table.title}", "",
             "| " + " | ".join(table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    if table.notes:
        lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def render(results: list[WorkloadResult], meta: dict[str, Any]) -> str:
    pg = meta["postgresql"]
    head = (f"## StudyPilot bench ({meta['at']}, {meta['git_commit']}"
            f"{' + local changes' if meta['git_dirty'] else ''})\n\n"
            f"{meta['cores']} cores, Python {meta['python']}, PostgreSQL {pg['version']} "
            f"({pg['kind']}), load generator: {meta['load_generator']}, "
            f"PostGraphile {meta['postgraphile'] or 'not installed'} "
            f"(node {meta['node'] or 'missing'})\n")
    if meta.get("app_changes"):
        head += ("\napp files changed since that commit (measured as they were): "
                 + ", ".join(f"`{line.strip()}`" for line in meta["app_changes"]) + "\n")
    body = [markdown(table) for result in results for table in result.tables]
    return "\n".join([head, *body])


def write_json(path: Path, results: list[WorkloadResult], meta: dict[str, Any],
               errors: dict[str, str]) -> None:
    document = {
        "meta": meta,
        "workloads": {r.name: {"title": r.title, **r.data} for r in results},
        "errors": errors,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(document, default=_default,
                                 option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    tmp.replace(path)


def _default(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path | tuple):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
