"""MNIST and Fashion-MNIST: where the files are looked for, how they load, the download."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netspec.data import _download as dl
from netspec.data import load_dataset, verify_mnist, write_idx
from netspec.data._idx import idx_bytes
from netspec.data._locate import FILE_NAMES as IDX_NAMES
from netspec.data._locate import locate
from netspec.errors import NetspecError
from netspec.ir.train import FashionMnistData, MnistData

CE = "softmax_cross_entropy"
MakeIdxDir = Callable[..., dict[str, np.ndarray]]
Tiny = Callable[..., dict[str, np.ndarray]]


def _load(spec: MnistData | FashionMnistData, data_dir: Path | None = None, **kw: object):
    options = {"input_shape": (1, 28, 28), "output_shape": (10,), "loss_kind": CE, "seed": 0}
    options.update(kw)
    return load_dataset(spec, data_dir=None if data_dir is None else str(data_dir), **options)


# ---------------------------------------------------------------- loading tiny files


@pytest.mark.parametrize("gz", [True, False])
def test_loads_tiny_files(tmp_path: Path, make_idx_dir: MakeIdxDir, gz: bool) -> None:
    arrays = make_idx_dir(tmp_path / "mnist", gz=gz)
    data = _load(MnistData(), tmp_path)
    assert data.train.x.shape == (60, 1, 28, 28) and data.train.x.dtype == np.float32
    assert data.test.x.shape == (20, 1, 28, 28)
    assert data.validation is None and data.num_classes == 10
    assert data.train.y.dtype == np.int64
    np.testing.assert_array_equal(data.train.y, arrays["train-labels-idx1-ubyte"])
    expected = arrays["train-images-idx3-ubyte"].astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(data.train.x[:, 0], expected)
    assert data.train.x.min() >= 0.0 and data.train.x.max() <= 1.0


def test_normalize_false_keeps_pixel_values(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    arrays = make_idx_dir(tmp_path)
    data = _load(MnistData(normalize=False), tmp_path, dtype="float64")
    assert data.train.x.dtype == np.float64
    np.testing.assert_array_equal(data.test.x[:, 0], arrays["t10k-images-idx3-ubyte"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_pixels_become_the_runs_dtype(
    tmp_path: Path, make_idx_dir: MakeIdxDir, dtype: str
) -> None:
    # The pixels are split as bytes and converted per split: every split is contiguous,
    # in the run's dtype, and holds the values astype(dtype) / 255 gives.
    arrays = make_idx_dir(tmp_path)
    data = _load(
        MnistData(validation=0.25, flatten=True), tmp_path, dtype=dtype, input_shape=(784,)
    )
    kind = np.dtype(dtype).type
    pool = arrays["train-images-idx3-ubyte"].astype(dtype).reshape(60, -1) / kind(255)
    for split in (data.train, data.validation, data.test):
        assert split is not None and split.x.dtype == np.dtype(dtype)
        assert split.x.flags.c_contiguous and split.x.shape[1:] == (784,)
    together = np.concatenate([data.train.x, data.validation.x])
    assert sorted(map(bytes, together)) == sorted(map(bytes, pool))
    test = arrays["t10k-images-idx3-ubyte"].astype(dtype).reshape(20, -1) / kind(255)
    np.testing.assert_array_equal(data.test.x, test)


def test_flatten_and_automatic_flatten(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path)
    explicit = _load(MnistData(flatten=True), tmp_path, input_shape=(784,))
    automatic = _load(MnistData(), tmp_path, input_shape=(784,))
    assert explicit.train.x.shape == automatic.train.x.shape == (60, 784)
    np.testing.assert_array_equal(explicit.train.x, automatic.train.x)
    assert explicit.notes == ()
    assert "flattened to (784,)" in automatic.notes[0]
    assert "flattened" in automatic.describe()


def test_flatten_for_an_image_model_is_an_error(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path)
    with pytest.raises(NetspecError) as info:
        _load(MnistData(flatten=True), tmp_path)
    message = str(info.value)
    assert "inputs have shape (784,) per sample, but the model's input is (1, 28, 28)" in message
    assert "remove flatten = true" in message


def test_wrong_model_input(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path)
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), tmp_path, input_shape=(3, 32, 32))
    message = str(info.value)
    assert "(1, 28, 28) per sample, but the model's input is (3, 32, 32)" in message
    assert "x: [1, 28, 28]" in message


def test_fashion_mnist_loads_from_its_own_subdirectory(
    tmp_path: Path, make_idx_dir: MakeIdxDir
) -> None:
    make_idx_dir(tmp_path / "mnist", seed=1)
    fashion = make_idx_dir(tmp_path / "fashion_mnist", seed=2, n_train=30)
    data = _load(FashionMnistData(limit=10), tmp_path)
    assert len(data.train) == 10
    np.testing.assert_array_equal(
        data.train.x[:, 0] * 255, fashion["train-images-idx3-ubyte"][:10].astype(np.float32)
    )


# ---------------------------------------------------------------- search order


def test_search_order(
    tmp_path: Path, make_idx_dir: MakeIdxDir, monkeypatch: pytest.MonkeyPatch, no_network: Path
) -> None:
    arg, env = tmp_path / "arg", tmp_path / "env"
    make_idx_dir(no_network / "mnist", n_train=11)  # the cache
    monkeypatch.delenv("NETSPEC_DATA_DIR", raising=False)
    assert len(_load(MnistData()).train) == 11
    make_idx_dir(env, n_train=12)  # <env>/ itself
    monkeypatch.setenv("NETSPEC_DATA_DIR", str(env))
    assert len(_load(MnistData()).train) == 12
    make_idx_dir(env / "mnist", n_train=13)  # <env>/mnist/ before <env>/
    assert len(_load(MnistData()).train) == 13
    make_idx_dir(arg, n_train=14)  # the argument before the environment
    assert len(_load(MnistData(), arg).train) == 14
    located = locate("mnist", str(arg))
    assert located is not None and located.directory == arg


def test_partial_directory_is_an_error(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), tmp_path)
    message = str(info.value)
    assert "but not t10k-labels-idx1-ubyte" in message
    assert str(tmp_path / "mnist") in message


def test_swapped_files(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    arrays = make_idx_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", arrays["train-labels-idx1-ubyte"])
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert (
        "magic number 0x00000801 (uint8, 1 dimension), expected 0x00000803 "
        "(uint8, 3 dimensions: mnist images)" in message
    )


@pytest.mark.parametrize(
    ("name", "byte", "value", "found"),
    [
        # 4 dimensions declared: the first data bytes (zero pixels) would be read as a
        # fourth dimension of size 0.
        ("train-images-idx3-ubyte", 3, 4, "0x00000804 (uint8, 4 dimensions)"),
        ("train-images-idx3-ubyte", 2, 0x0D, "0x00000d03 (float32, 3 dimensions)"),
        ("t10k-labels-idx1-ubyte", 3, 3, "0x00000803 (uint8, 3 dimensions)"),
    ],
)
def test_wrong_magic_number_is_named(
    tmp_path: Path, make_idx_dir: MakeIdxDir, name: str, byte: int, value: int, found: str
) -> None:
    arrays = make_idx_dir(tmp_path, gz=False)
    data = bytearray(idx_bytes(arrays[name]))
    if name.startswith("train-images"):
        data[16 : 16 + 8] = bytes(8)  # zero pixels right after the header, as in MNIST
    data[byte] = value
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), tmp_path)
    message = str(info.value)
    what = "images" if "images" in name else "labels"
    expected = "0x00000803 (uint8, 3 dimensions" if what == "images" else "0x00000801 (uint8, 1"
    assert f"{tmp_path / name}: magic number {found}, expected {expected}" in message
    assert f"mnist {what})" in message and "dimensions (" not in message


def test_label_count_and_range(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(19, np.uint8))
    with pytest.raises(NetspecError, match="expected 20 labels, one per image, found 19"):
        _load(MnistData(), tmp_path)
    write_idx(labels, np.array([0] * 5 + [12] + [0] * 14, np.uint8))
    with pytest.raises(NetspecError, match=r"expected labels 0\.\.9, found label 12 at index 5"):
        _load(MnistData(), tmp_path)


def test_truncated_file_is_named(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), tmp_path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


# ---------------------------------------------------------------- download (mocked)


class FakeMirror:
    """Stands in for urllib.request.urlopen: serves .gz files by URL, counts requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requested: list[str] = []

    def __call__(self, url: str, timeout: float | None = None) -> io.BytesIO:
        self.requested.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]
        return io.BytesIO(self.files[name])


def _mirror_files(tiny: Tiny, seed: int = 0) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """({name.gz: gzip bytes}, {name: raw IDX bytes}) for a tiny data set."""
    raw = {name: idx_bytes(array) for name, array in tiny(seed=seed).items()}
    return {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in raw.items()}, raw


def test_download_mnist_verifies_content_and_loads(
    monkeypatch: pytest.MonkeyPatch, no_network: Path, no_data_dir: None, tiny: Tiny
) -> None:
    served, raw = _mirror_files(tiny)
    mirror = FakeMirror(served)
    monkeypatch.setattr(urllib.request, "urlopen", mirror)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    monkeypatch.setattr(dl, "MNIST_SHA256", sums)
    data = _load(MnistData())
    assert len(data.train) == 60 and len(data.test) == 20
    assert sorted(mirror.requested) == sorted(
        f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}.gz" for name in IDX_NAMES
    )
    target = no_network / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in IDX_NAMES)
    # A second load finds the cache and downloads nothing.
    _load(MnistData())
    assert len(mirror.requested) == 4


def test_download_completes_a_partial_cache(
    monkeypatch: pytest.MonkeyPatch, no_network: Path, no_data_dir: None, tiny: Tiny
) -> None:
    served, raw = _mirror_files(tiny)
    monkeypatch.setattr(
        dl, "MNIST_SHA256", {n: hashlib.sha256(d).hexdigest() for n, d in raw.items()}
    )
    (no_network / "mnist").mkdir(parents=True)
    first = "train-images-idx3-ubyte.gz"
    (no_network / "mnist" / first).write_bytes(served[first])
    mirror = FakeMirror(served)
    monkeypatch.setattr(urllib.request, "urlopen", mirror)
    _load(MnistData())
    assert len(mirror.requested) == 3 and not any(first in url for url in mirror.requested)


def test_download_fashion_mnist_checks_md5(
    monkeypatch: pytest.MonkeyPatch, no_network: Path, no_data_dir: None, tiny: Tiny
) -> None:
    served, _ = _mirror_files(tiny, seed=3)
    mirror = FakeMirror(served)
    monkeypatch.setattr(urllib.request, "urlopen", mirror)
    sums = {n[:-3]: hashlib.md5(d, usedforsecurity=False).hexdigest() for n, d in served.items()}
    monkeypatch.setattr(dl, "FASHION_MNIST_GZ_MD5", sums)
    data = _load(FashionMnistData())
    assert len(data.train) == 60
    assert mirror.requested[0].startswith(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    )
    assert (no_network / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_hash_mismatch_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, no_network: Path, no_data_dir: None, tiny: Tiny
) -> None:
    served, _ = _mirror_files(tiny)  # not the real MNIST: the real sums do not match
    monkeypatch.setattr(urllib.request, "urlopen", FakeMirror(served))
    with pytest.raises(NetspecError) as info:
        _load(MnistData())
    message = str(info.value)
    assert "the sha256 of the decompressed content of train-images-idx3-ubyte.gz" in message
    assert dl.MNIST_SHA256["train-images-idx3-ubyte"] in message
    assert "discarded" in message
    assert list((no_network / "mnist").iterdir()) == []  # no file, no temporary left


def test_known_checksums() -> None:
    assert dl.MNIST_SHA256["train-images-idx3-ubyte"].startswith("ba891046")
    assert dl.FASHION_MNIST_GZ_MD5["train-images-idx3-ubyte"] == (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    )
    assert set(dl.MNIST_SHA256) == set(dl.FASHION_MNIST_GZ_MD5) == set(IDX_NAMES)


@pytest.mark.parametrize(
    "failure",
    [urllib.error.URLError("[Errno -3] Temporary failure in name resolution"), TimeoutError()],
)
def test_offline_error_says_where_to_put_the_files(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_network: Path,
    no_data_dir: None,
    failure: Exception,
) -> None:
    def offline(url: str, timeout: float | None = None) -> None:
        raise failure

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    given = tmp_path / "given"
    with pytest.raises(NetspecError) as info:
        _load(MnistData(), given)
    message = str(info.value)
    for directory in (given / "mnist", given, no_network / "mnist", no_network):
        assert f"    {directory}\n" in message
    for name in IDX_NAMES:
        assert name in message
    assert "NETSPEC_DATA_DIR" in message and "--data-dir" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert not any(p.is_file() for p in (no_network / "mnist").glob("*"))


# ---------------------------------------------------------------- the real MNIST


def _real_mnist_dir() -> Path:
    root = os.environ.get("NETSPEC_DATA_DIR")
    if not root:
        pytest.skip("NETSPEC_DATA_DIR is not set (CI sets it to the shared data directory)")
    try:
        located = locate("mnist", root)
    except NetspecError as exc:
        pytest.skip(f"the MNIST files under NETSPEC_DATA_DIR={root} are incomplete: {exc}")
    if located is None or not located.directory.is_relative_to(Path(root)):
        pytest.skip(f"no MNIST files under NETSPEC_DATA_DIR={root} or {root}/mnist")
    return located.directory


def test_real_mnist_through_netspec_data_dir() -> None:
    _real_mnist_dir()
    data = load_dataset(
        MnistData(validation=0.1), input_shape=(784,), output_shape=(10,), loss_kind=CE, seed=0
    )
    assert data.train.x.shape == (54000, 784) and data.validation.x.shape == (6000, 784)
    assert data.test.x.shape == (10000, 784)
    for split in data.splits().values():
        assert split.y.min() == 0 and split.y.max() == 9
        assert split.x.min() == 0.0 and split.x.max() == 1.0
    # Stratified: every class keeps its share of the validation split.
    whole = np.bincount(np.concatenate([data.train.y, data.validation.y]), minlength=10)
    held = np.bincount(data.validation.y, minlength=10)
    assert np.all(np.abs(held - whole * 0.1) <= 1)


def test_real_mnist_hashes() -> None:
    directory = _real_mnist_dir()
    sums = verify_mnist(directory)
    assert sums == dl.MNIST_SHA256


def test_verify_mnist_rejects_other_files(tmp_path: Path, make_idx_dir: MakeIdxDir) -> None:
    make_idx_dir(tmp_path / "mnist")
    with pytest.raises(NetspecError) as info:
        verify_mnist(tmp_path)
    message = str(info.value)
    assert message.count("the sha256 of the decompressed content is") == 4
    with pytest.raises(NetspecError, match="none of train-images-idx3-ubyte"):
        verify_mnist(tmp_path / "empty")


def test_downloaded_files_get_the_umask_mode(
    monkeypatch: pytest.MonkeyPatch, no_network: Path, no_data_dir: None, tiny: Tiny
) -> None:
    served, raw = _mirror_files(tiny)
    monkeypatch.setattr(urllib.request, "urlopen", FakeMirror(served))
    monkeypatch.setattr(
        dl, "MNIST_SHA256", {n: hashlib.sha256(d).hexdigest() for n, d in raw.items()}
    )
    old = os.umask(0o022)
    try:
        _load(MnistData())
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (no_network / "mnist").iterdir()}
    assert modes == {f"{name}.gz": 0o644 for name in IDX_NAMES}
