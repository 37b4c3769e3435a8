"""Download MNIST and Fashion-MNIST into the cache, verified, atomically; verify_mnist.

MNIST is checked by the sha256 of each decompressed IDX file (the content, so a
recompressed copy passes). Fashion-MNIST is checked by the md5 of each .gz file as its
authors (Zalando Research) publish them; torchvision uses the same sums.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable
from pathlib import Path

from netspec.data._idx import GZIP_MAGIC
from netspec.data._locate import (
    DATA_DIR_ENV,
    FILE_NAMES,
    Located,
    cache_dir,
    candidate_dirs,
    files_in,
    find_file,
)
from netspec.errors import NetspecError
from netspec.weights import new_file_mode

log = logging.getLogger("netspec.data")

MIRRORS: dict[str, str] = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

# sha256 of the decompressed IDX files (/work/shared/data/README.md and the originals).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# md5 of the published .gz files (github.com/zalandoresearch/fashion-mnist README).
FASHION_MNIST_GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}

TIMEOUT_S = 60.0
_CHUNK = 1 << 20

OFFLINE = (
    "{source}: the data files are not on this machine and the download failed\n"
    "  download: {url}: {reason}\n"
    "  searched:\n{searched}\n"
    "  help: put the four files {names} (each raw or .gz) in one of the directories "
    "above, for example {suggest}; or point netspec at a directory that has them with "
    "the {env} environment variable or the --data-dir option (a <dir>/{source}/ "
    "subdirectory is looked in first)"
)

CHECKSUM_MISMATCH = (
    "{source}: {what} of {name} is {found}, expected {expected}\n"
    "  the download from {url} is corrupt or not the dataset's file; it was discarded\n"
    "  help: try again later, or download the files yourself into {directory}"
)

VERIFY_MISMATCH = (
    "{path}: the sha256 of the decompressed content is {found}, expected {expected} "
    "(the real MNIST file)"
)


def content_sha256(path: Path) -> str:
    """sha256 of a file's content, decompressing it first when it is gzip."""
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise NetspecError(f"{path}: cannot decompress: {exc}") from exc
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_mnist(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Check the four MNIST files in ``directory`` (or ``directory/mnist``) by content.

    Returns {file name: sha256}. Raises NetspecError naming every file that is missing
    or differs from the real MNIST. Hashes about 55 MB: use it once, not on every load.
    """
    base = Path(directory)
    located = files_in("mnist", base / "mnist") or files_in("mnist", base)
    if located is None:
        raise NetspecError(
            f"mnist: none of {', '.join(FILE_NAMES)} (raw or .gz) in {base} or {base / 'mnist'}"
        )
    found: dict[str, str] = {}
    problems: list[str] = []
    for name in FILE_NAMES:
        path = find_file(located.directory, name)
        assert path is not None  # files_in checked that all four are there
        digest = content_sha256(path)
        found[name] = digest
        if digest != MNIST_SHA256[name]:
            problems.append(
                VERIFY_MISMATCH.format(path=path, found=digest, expected=MNIST_SHA256[name])
            )
    if problems:
        raise NetspecError("mnist: verification failed\n  " + "\n  ".join(problems))
    return found


def _check(source: str, name: str, tmp: Path) -> tuple[str, str, str] | None:
    """None when the downloaded ``tmp`` is right, else (what, found, expected)."""
    if source == "mnist":
        try:
            found = content_sha256(tmp)
        except NetspecError:
            found = "not readable as gzip"
        expected = MNIST_SHA256[name]
        what = "the sha256 of the decompressed content"
    else:
        found = file_md5(tmp)
        expected = FASHION_MNIST_GZ_MD5[name]
        what = "the md5"
    return None if found == expected else (what, found, expected)


def _fetch(url: str, destination: Path) -> None:
    """Stream ``url`` into ``destination`` (an open temporary file's path)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, destination.open("wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)


def _offline(source: str, url: str, reason: object, data_dir: str | None) -> NetspecError:
    searched = candidate_dirs(source, data_dir)
    return NetspecError(
        OFFLINE.format(
            source=source,
            url=url,
            reason=reason,
            searched="\n".join(f"    {d}" for d in searched),
            names=", ".join(FILE_NAMES),
            suggest=cache_dir() / source,
            env=DATA_DIR_ENV,
        )
    )


def download(
    source: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    names: Iterable[str] = FILE_NAMES,
) -> Located:
    """Download the missing files of ``source`` into ``<cache>/<source>/``.

    Each file goes to a temporary file in the same directory, is verified, and is then
    renamed into place, so an interrupted download never leaves a half file under the
    real name. Network failures become the NetspecError that says where to put the files.
    """
    directory = cache_dir() / source
    base = MIRRORS[source]
    for name in names:
        if find_file(directory, name) is not None:
            continue
        url = f"{base}{name}.gz"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _offline(source, url, f"cannot create {directory}: {exc}", data_dir) from exc
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        os.fchmod(fd, new_file_mode())  # mkstemp's 0600 would make the cache private
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            log.info("downloading %s", url)
            try:
                _fetch(url, tmp)
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise _offline(source, url, reason, data_dir) from exc
            mismatch = _check(source, name, tmp)
            if mismatch is not None:
                what, found, expected = mismatch
                raise NetspecError(
                    CHECKSUM_MISMATCH.format(
                        source=source,
                        what=what,
                        name=f"{name}.gz",
                        found=found,
                        expected=expected,
                        url=url,
                        directory=directory,
                    )
                )
            os.replace(tmp, directory / f"{name}.gz")
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    located = files_in(source, directory)
    assert located is not None
    return located
