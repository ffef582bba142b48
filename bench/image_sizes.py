"""The installed size of each image's Python environment, built from its lock file.

    python bench/image_sizes.py [--ref HEAD~3] [--top 10]

The images (Dockerfile.agent, Dockerfile.operator, Dockerfile.ui) cannot be built here (no
Docker), so this builds what their build stage builds: a venv (``python -m venv``, so pip and
setuptools as the image's venv has them unless the Dockerfile removes them), the lock installed
with ``--require-hashes`` and byte-compiled (as pip does in the image), then the project with
``--no-deps``, then whatever the Dockerfile's build stage deletes (``hack/prune-venv.sh``, with
the flags that Dockerfile gives it). Prints each image's package count, its site-packages in MB
(apparent file sizes, bytecode included) and its largest packages. With ``--ref``, the locks,
pruning and Dockerfiles of that git revision are built too and shown beside the working tree's.
Environments are cached by all three under ``~/.cache/configurable-agents/image-sizes``, so a
second run only measures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = (
    Path(os.environ.get("CONFIGURABLE_AGENTS_CACHE", "~/.cache/configurable-agents")).expanduser()
    / "image-sizes"
)
IMAGES = {"agent/gateway": "agent", "operator": "operator", "ui": "ui"}
PRUNE = REPO / "hack" / "prune-venv.sh"


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        sys.exit("uv is needed: pip install uv")
    return found


def lock_text(lock: str, ref: str | None) -> str:
    if ref is None:
        return (REPO / "requirements" / f"{lock}.lock").read_text()
    return subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:requirements/{lock}.lock"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def prune_script(ref: str | None) -> str:
    """The pruning the Dockerfiles of ``ref`` run (empty before there was any)."""
    if ref is None:
        return PRUNE.read_text() if PRUNE.exists() else ""
    shown = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:hack/prune-venv.sh"],
        capture_output=True,
        text=True,
    )
    return shown.stdout if shown.returncode == 0 else ""


def prune_flags(lock: str, ref: str | None) -> list[str]:
    """The flags ``Dockerfile.<lock>`` of ``ref`` runs the pruning script with (``--sourceless``)."""
    if ref is None:
        dockerfile = (REPO / f"Dockerfile.{lock}").read_text()
    else:
        dockerfile = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{ref}:Dockerfile.{lock}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    for line in dockerfile.splitlines():
        if line.startswith("RUN sh prune-venv.sh "):
            return line.split()[3:-1]
    return []


def build(lock: str, ref: str | None) -> Path:
    """A venv as the image's build stage makes it; cached by lock, pruning script and flags."""
    text, prune, flags = lock_text(lock, ref), prune_script(ref), prune_flags(lock, ref)
    key = hashlib.sha256("\0".join([text, prune, *flags]).encode()).hexdigest()[:12]
    venv = CACHE / f"{lock}-{key}"
    if (venv / ".built").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.mkdir(parents=True)
    (venv.parent / f"{lock}-{key}.lock").write_text(text)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [uv(), "pip", "install", "-q", "--python", python, "--compile-bytecode"]
    subprocess.run(
        [*install, "--no-deps", "--require-hashes", "-r", str(venv.parent / f"{lock}-{key}.lock")],
        check=True,
    )
    subprocess.run([*install, "--no-deps", str(REPO)], check=True)
    if prune:
        script = venv.parent / f"{lock}-{key}.prune.sh"
        script.write_text(prune)
        subprocess.run(["sh", str(script), *flags, str(venv)], check=True)
    (venv / ".built").touch()
    return venv


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def sizes(venv: Path) -> dict[str, int]:
    """Bytes per distribution: its RECORD's files, plus the bytecode of its sources (in
    ``__pycache__``, or where the source was when the image ships bytecode only)."""
    site = site_packages(venv)
    owner: dict[Path, str] = {}
    for dist in metadata.distributions(path=[str(site)]):
        for file in dist.files or ():
            owner[(site / file).resolve()] = dist.metadata["Name"].lower()
    totals: dict[str, int] = defaultdict(int)
    for path in site.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        resolved = path.resolve()
        name = owner.get(resolved)
        if name is None and path.parent.name == "__pycache__":
            source = path.parent.parent / (path.name.split(".")[0] + ".py")
            name = owner.get(source.resolve())
        elif name is None and path.suffix == ".pyc":
            name = owner.get(path.with_suffix(".py").resolve())
        totals[name or "(unowned)"] += path.stat().st_size
    return dict(totals)


def report(label: str, venv: Path, top: int) -> None:
    totals = sizes(venv)
    packages = len([name for name in totals if name != "(unowned)"])
    mb = sum(totals.values()) / 1e6
    largest = sorted(totals.items(), key=lambda item: -item[1])[:top]
    listed = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in largest)
    print(f"| {label} | {packages} | {mb:.1f} | {listed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="also measure the locks of this git revision")
    parser.add_argument("--top", type=int, default=10, help="how many largest packages to list")
    args = parser.parse_args()
    print(f"environments under {CACHE}; MB of site-packages (.pyc included)")
    print(f"| image | packages | MB | {args.top} largest packages, MB |")
    print("| --- | --- | --- | --- |")
    measured: set[Path] = set()
    for image, lock in IMAGES.items():
        if args.ref:
            measured.add(build(lock, args.ref))
            report(f"{image} ({args.ref})", build(lock, args.ref), args.top)
        measured.add(build(lock, None))
        report(image, build(lock, None), args.top)
    forget_others(measured)


def forget_others(measured: set[Path]) -> None:
    """Environments of locks not measured this time (earlier edits of them) take 100-400 MB each."""
    for path in CACHE.iterdir():
        if path.is_dir() and path not in measured:
            shutil.rmtree(path, ignore_errors=True)
            for sibling in CACHE.glob(path.name + ".*"):
                sibling.unlink()


if __name__ == "__main__":
    main()
