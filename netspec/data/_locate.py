"""Where the MNIST-style files are looked for: argument, environment, cache."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netspec.errors import NetspecError

DATA_DIR_ENV = "NETSPEC_DATA_DIR"

# The four standard files, as (role, file name without .gz).
IDX_FILES: tuple[tuple[str, str], ...] = (
    ("train_images", "train-images-idx3-ubyte"),
    ("train_labels", "train-labels-idx1-ubyte"),
    ("test_images", "t10k-images-idx3-ubyte"),
    ("test_labels", "t10k-labels-idx1-ubyte"),
)
FILE_NAMES: tuple[str, ...] = tuple(name for _, name in IDX_FILES)

PARTIAL_DIR = (
    "{source}: {directory} has {found} but not {missing}\n"
    "  help: put all four files ({names}, each raw or .gz) in one directory"
)


def cache_dir() -> Path:
    """netspec's download cache: $XDG_CACHE_HOME/netspec/data, else ~/.cache/netspec/data."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netspec" / "data"


def search_roots(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The data directories in search order: the argument, $NETSPEC_DATA_DIR, the cache."""
    roots: list[Path] = []
    for root in (data_dir, os.environ.get(DATA_DIR_ENV), cache_dir()):
        if root:
            path = Path(root).expanduser()
            if path not in roots:
                roots.append(path)
    return roots


def candidate_dirs(source: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Every directory searched, in order: ``<root>/<source>/`` then ``<root>/``."""
    return [d for root in search_roots(data_dir) for d in (root / source, root)]


def find_file(directory: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in ``directory`` (the uncompressed file first)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Located:
    """The four files of one source, found in ``directory`` (each raw or gzip)."""

    directory: Path
    files: dict[str, Path]


def files_in(source: str, directory: Path) -> Located | None:
    """The four files in ``directory``; None if there are none of them.

    A directory that holds some but not all of them is an error rather than skipped:
    a half-copied data directory should not silently fall through to a download.
    """
    found = {role: find_file(directory, name) for role, name in IDX_FILES}
    present = {role: path for role, path in found.items() if path is not None}
    if not present:
        return None
    if len(present) < len(IDX_FILES):
        missing = [name for role, name in IDX_FILES if found[role] is None]
        raise NetspecError(
            PARTIAL_DIR.format(
                source=source,
                directory=directory,
                found=", ".join(p.name for p in present.values()),
                missing=", ".join(missing),
                names=", ".join(FILE_NAMES),
            )
        )
    return Located(directory, present)


def locate(source: str, data_dir: str | os.PathLike[str] | None) -> Located | None:
    """The first directory that holds the four files of ``source``; None if none does."""
    cache = cache_dir()
    for directory in candidate_dirs(source, data_dir):
        try:
            located = files_in(source, directory)
        except NetspecError:
            if directory.is_relative_to(cache):
                continue  # a download cut short; the downloader completes it
            raise
        if located is not None:
            return located
    return None


NOT_FOUND = (
    "data {source}: file {path!r} not found\n"
    "  searched:\n{searched}\n"
    "  help: give an absolute path, or a path relative to the spec file, the working "
    "directory or the data directory"
)


def resolve_path(
    path: str, source: str, *, base_dir: str | os.PathLike[str] | None, data_dir: str | None
) -> Path:
    """An absolute path as is; a relative one against the spec's directory (base_dir),
    the working directory, then the data directories, first existing wins."""
    given = Path(path).expanduser()
    if given.is_absolute():
        candidates = [given]
    else:
        bases = [Path(base_dir)] if base_dir else []
        bases.append(Path.cwd())
        bases.extend(root for root in search_roots(data_dir) if root not in bases)
        candidates = [base / given for base in bases]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise NetspecError(
        NOT_FOUND.format(
            source=source,
            path=path,
            searched="\n".join(f"    {c}" for c in candidates),
        )
    )


def did_you_mean(name: str, options: Sequence[str]) -> str:
    """A help line naming the closest of ``options`` to ``name``, or nothing."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"\n  help: did you mean {close[0]!r}?" if close else ""
