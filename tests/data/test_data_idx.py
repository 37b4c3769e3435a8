"""The IDX reader on tiny files: raw and gzip, every dtype, and each kind of damage."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from netspec.data import parse_idx, read_idx, write_idx
from netspec.data._idx import idx_bytes
from netspec.errors import NetspecError


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path: Path, dtype: str, name: str) -> None:
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == "uint8":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    got = read_idx(path)
    assert got.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, array)


def test_mnist_header_layout() -> None:
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"  # magic 2051
    assert struct.unpack(">3I", data[4:16]) == (5, 28, 28)
    assert len(data) == 16 + 5 * 28 * 28
    assert idx_bytes(np.zeros(7, np.uint8))[:8] == b"\x00\x00\x08\x01\x00\x00\x00\x07"


def test_big_endian_values() -> None:
    data = b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + struct.pack(">2h", 258, -2)
    np.testing.assert_array_equal(parse_idx(data), [258, -2])


def test_compression_is_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(10, dtype=np.uint8)
    raw_named_gz = tmp_path / "labels.gz"
    raw_named_gz.write_bytes(idx_bytes(array))
    gz_named_raw = tmp_path / "labels"
    gz_named_raw.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


def _error(tmp_path: Path, data: bytes, *, gz: bool = False) -> str:
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(data)
    with pytest.raises(NetspecError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    return message


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x00", "too short for the 4-byte magic number"),
        (b"\x01\x02\x08\x01" + GOOD[4:], "does not start with two zero bytes"),
        (b"\x00\x00\x07\x03" + GOOD[4:], "unknown type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (GOOD[:10], "truncated header: 3 dimensions need 16 bytes, the file has 10"),
        (GOOD[:-5], "truncated: dimensions (2, 3, 4) need 24 bytes of data, the file has 19"),
        (GOOD + b"\x00\x00", "2 unexpected bytes after the 24 bytes of data"),
    ],
)
def test_corrupt_raw_files(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in _error(tmp_path, data)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(GOOD * 50)
    message = _error(tmp_path, data[: len(data) // 2], gz=True)
    assert "gzip stream is truncated" in message


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(GOOD))
    data[-6] ^= 0xFF  # inside the CRC32 trailer
    assert "gzip data is corrupt" in _error(tmp_path, bytes(data), gz=True)


def test_gzip_of_a_truncated_idx(tmp_path: Path) -> None:
    message = _error(tmp_path, gzip.compress(GOOD[:-1]), gz=True)
    assert "truncated: dimensions (2, 3, 4)" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetspecError, match="cannot read the file"):
        read_idx(tmp_path / "nope")


def test_write_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(NetspecError, match="cannot write an IDX file of dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
