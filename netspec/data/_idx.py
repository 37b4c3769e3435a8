"""The IDX file format of MNIST and Fashion-MNIST: read (gzip or raw) and write.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values, big-endian, in C
order. MNIST images are ``0x00000803`` (uint8, 3 dimensions), labels ``0x00000801``.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from netspec.errors import NetspecError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}

CORRUPT_IDX = (
    "{path}: not a valid IDX file: {problem}\n"
    "  help: the file is damaged or incomplete; delete it and download it again (or let "
    "netspec download it into its cache)"
)


WRONG_MAGIC = (
    "{path}: magic number 0x{found:08x} ({found_text}), expected 0x{expected:08x} "
    "({expected_text})\n"
    "  help: the file is not {what}: check that it is the file of that name (were two "
    "files swapped or renamed?), or delete it and download it again"
)


def _fail(path: Path | str, problem: str) -> NetspecError:
    return NetspecError(CORRUPT_IDX.format(path=path, problem=problem))


def describe_magic(magic: int) -> str:
    """What an IDX magic number declares: '0x00000803' -> 'uint8, 3 dimensions'."""
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16:
        return "not an IDX magic number: it does not start with two zero bytes"
    kind = np.dtype(IDX_DTYPES[code]).name if code in IDX_DTYPES else f"unknown type 0x{code:02x}"
    return f"{kind}, {ndim} dimension{'' if ndim == 1 else 's'}"


def read_bytes(path: Path | str) -> bytes:
    """The content of ``path``, decompressed when it is gzip (by magic bytes, not name)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NetspecError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise _fail(path, "the gzip stream is truncated (the download was cut short?)") from exc
    except (OSError, zlib.error) as exc:
        raise _fail(path, f"the gzip data is corrupt ({exc})") from exc


def parse_idx(
    data: bytes, path: Path | str = "<bytes>", *, magic: int | None = None, what: str = ""
) -> np.ndarray:
    """Parse IDX bytes into an array with the file's dimensions, in native byte order.

    Every structural problem (magic number, type code, header length, a data length
    that does not match the dimensions) is a NetspecError naming ``path``. With
    ``magic`` (e.g. 0x00000803 for MNIST images), a file declaring anything else is
    refused before its header is read, saying what it declares and what ``what`` (a
    description of the expected content) needs.
    """
    if len(data) < 4:
        raise _fail(path, f"{len(data)} bytes, too short for the 4-byte magic number")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        # Read with the wrong dimension count, the header would swallow data bytes as
        # sizes (or data as header), and the error would speak of nonsense dimensions.
        raise NetspecError(
            WRONG_MAGIC.format(
                path=path,
                found=found,
                found_text=describe_magic(found),
                expected=magic,
                expected_text=describe_magic(magic) + (f": {what}" if what else ""),
                what=what or f"an IDX file with magic 0x{magic:08x}",
            )
        )
    magic = found
    if data[0] != 0 or data[1] != 0:
        raise _fail(path, f"magic number 0x{magic:08x} does not start with two zero bytes")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise _fail(path, f"unknown type code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise _fail(path, "the magic number declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _fail(
            path,
            f"truncated header: {ndim} dimensions need {header} bytes, the file has {len(data)}",
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise _fail(
            path,
            f"truncated: dimensions {dims} need {expected} bytes of data, the file has {found}",
        )
    if found > expected:
        raise _fail(
            path,
            f"{found - expected} unexpected bytes after the {expected} bytes of data that "
            f"dimensions {dims} describe",
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_idx(path: Path | str, *, magic: int | None = None, what: str = "") -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw. Single-byte arrays are read-only views.

    ``magic`` and ``what``: the magic number the file must have, as for :func:`parse_idx`.
    """
    return parse_idx(read_bytes(path), path, magic=magic, what=what)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES or array.ndim == 0 or array.ndim > 255:
        raise NetspecError(
            f"cannot write an IDX file of dtype {array.dtype} with {array.ndim} dimensions"
        )
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=np.dtype(IDX_DTYPES[code])).tobytes()
    return header + body


def write_idx(path: Path | str, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends .gz)."""
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
