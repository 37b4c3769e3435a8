"""Data-parallel training on the JAX backend: the same spec, seed and global batch train
the same weights on one device, on two, and in two processes.

JAX fixes its device count when it starts, and this process has started it with one
CPU device, so the several-device runs happen in a subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=2``; one subprocess runs every check
and prints JSON, which the tests below read (each JAX start costs seconds). The
several-process runs are two ``netspec train`` processes joined by jax.distributed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")

import netspec  # noqa: E402
from netspec.cli import main  # noqa: E402
from netspec.errors import NetspecError  # noqa: E402
from netspec.weights import load_weights  # noqa: E402

# Its tests share an expensive fixture, built once per session: one test worker runs them
# all (`pytest -n 2 --dist loadgroup`), so that it is built once.
pytestmark = pytest.mark.xdist_group("jax_devices")

# Dropout (masks drawn for the global batch) is where splitting a batch could change
# the result. 171 digits leave 137 to train on: batches of 16, the last of 9, which does
# not split over 2 devices.
SPEC = """netspec 1
model net(x: [64]) {
    dense(32) -> relu -> dropout(0.2)
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 171, validation = 0.2)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 16
    epochs     2
    seed       3
    metrics    loss, accuracy
}
"""
# Batchnorm takes its statistics over the global batch. On batches of 16 it divides by
# the spread of a few samples, which magnifies float32 rounding step after step (1.6e-5
# after two epochs here), so its equality is checked in float64, where it is exact to
# about 1e-14.
BATCHNORM_SPEC = SPEC.replace("relu -> dropout", "relu -> batchnorm -> dropout").replace(
    "adam(lr = 0.01)", "sgd(lr = 0.1, momentum = 0.9)"
)
# The tolerance of "the same training" by precision: sums over a split batch are added
# in another order, so float32 results may differ in their last bits.
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
ROOT = Path(__file__).resolve().parents[2]

# Run in the two-device subprocess; prints one JSON object.
SCRIPT = r"""
import json, sys
from pathlib import Path
import jax, numpy as np
import netspec
from netspec.backends.jax import BACKEND
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.weights import load_weights

spec, batchnorm, out = sys.argv[1], sys.argv[2], sys.argv[3]
report = {"devices": jax.local_device_count()}

def run(source, devices, dtype, tag):
    result = netspec.train(source, backend="jax", devices=devices, dtype=dtype,
                           out=f"{out}/{tag}-{devices}", progress=False)
    model = result.model
    arrays = {k: v.tolist() for k, v in {**model.parameters(), **model.state()}.items()}
    return {"arrays": arrays, "state": list(model.state()), "history": result.history,
            "final": result.final}

def run_cli(source, devices, tag):
    # The same run through `netspec train --devices`, read back from its run directory.
    path = Path(f"{out}/{tag}-{devices}")
    code = main(["train", source, "--backend", "jax", "--devices", str(devices),
                 "--out", str(path), "--quiet"])
    assert code == 0, code
    arrays = {k: v.tolist() for k, v in load_weights(path / "weights.safetensors").items()}
    history = [json.loads(line) for line in (path / "metrics.jsonl").open()]
    return {"arrays": arrays, "history": history,
            "final": json.loads((path / "final.json").read_text())}

report["float32"] = [run(spec, 1, "float32", "float32"), run_cli(spec, 2, "float32")]
report["float64"] = [run(spec, n, "float64", "float64") for n in (1, 2)]
report["batchnorm"] = [run(batchnorm, n, "float64", "batchnorm") for n in (1, 2)]

# A run stopped after its first epoch on one device and resumed on two.
from netspec.training import fit
program = netspec.load(spec)
fit(program, backend="jax", devices=1, out=f"{out}/resumed", progress=False, stop_after=1)
resumed = fit(program, backend="jax", devices=2, resume=f"{out}/resumed", progress=False)
report["resumed"] = {k: v.tolist() for k, v in resumed.model.parameters().items()}

# Where a batch goes: split when it divides by the devices, whole on each otherwise.
model = BACKEND.compile(netspec.load(spec).model(), devices=2)
report["shards"] = {
    str(rows): [s.data.shape[0] for s in
                model._mesh.batch_array(np.zeros((rows, 64), np.float32)).addressable_shards]
    for rows in (4, 5)
}
try:
    netspec.train(spec, backend="jax", devices=3, progress=False, out=f"{out}/three")
except NetspecError as error:
    report["too_many"] = str(error)
print("REPORT " + json.dumps(report))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_"))}
    return {**env, **extra}


@pytest.fixture(scope="session")
def two_devices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the subprocess with two host CPU devices reports (see SCRIPT)."""
    tmp = tmp_path_factory.mktemp("devices")
    spec, batchnorm = tmp / "net.net", tmp / "batchnorm.net"
    spec.write_text(SPEC)
    batchnorm.write_text(BATCHNORM_SPEC)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(spec), str(batchnorm), str(tmp)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("REPORT "))
    report["tmp"] = str(tmp)
    return report


def _assert_same_run(one: dict[str, Any], two: dict[str, Any], tolerance: float) -> None:
    assert one["arrays"].keys() == two["arrays"].keys()
    for name, values in one["arrays"].items():
        np.testing.assert_allclose(
            np.array(two["arrays"][name]), np.array(values), rtol=0, atol=tolerance, err_msg=name
        )
    for row_one, row_two in zip(one["history"], two["history"], strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss"):
            if row_one.get(key) is not None:
                assert row_two[key] == pytest.approx(row_one[key], rel=tolerance, abs=tolerance)
        assert row_two["step"] == row_one["step"]
    assert one["final"].keys() == two["final"].keys()
    for key, value in one["final"].items():
        assert two["final"][key] == pytest.approx(value, rel=tolerance, abs=tolerance)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_devices_train_as_one(two_devices: dict[str, Any], dtype: str) -> None:
    assert two_devices["devices"] == 2
    # In float32 the two-device run is `netspec train --devices 2`, read from its run dir.
    one, two = two_devices[dtype]
    _assert_same_run(one, two, TOLERANCE[dtype])
    # Every epoch ends on a batch of 9, which runs whole on each device.
    assert one["history"][-1]["step"] == 2 * 9


def test_two_devices_train_batchnorm_as_one(two_devices: dict[str, Any]) -> None:
    one, two = two_devices["batchnorm"]
    _assert_same_run(one, two, TOLERANCE["float64"])
    assert one["state"]  # the running statistics were compared too


def test_a_run_resumes_on_another_device_count(two_devices: dict[str, Any]) -> None:
    one = two_devices["float32"][0]["arrays"]
    for name, values in two_devices["resumed"].items():
        np.testing.assert_allclose(values, one[name], rtol=0, atol=1e-5, err_msg=name)


def test_a_batch_is_split_only_when_it_divides(two_devices: dict[str, Any]) -> None:
    assert two_devices["shards"] == {"4": [2, 2], "5": [5, 5]}


def test_more_devices_than_jax_sees_is_an_error(two_devices: dict[str, Any]) -> None:
    message = two_devices["too_many"]
    assert "--devices 3 asks for 3 cpu devices, but JAX sees 2 in this process" in message
    assert "XLA_FLAGS=--xla_force_host_platform_device_count=3" in message


# -- in this process (one JAX device) ------------------------------------------------------


def test_too_many_devices_names_what_there_is(tmp_path: Path) -> None:
    count = jax.local_device_count()
    with pytest.raises(NetspecError, match=f"but JAX sees {count} in this process") as caught:
        netspec.train(SPEC, backend="jax", devices=count + 1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert caught.value.help[0] == f"use --devices {count} or fewer"


def test_one_named_device_with_several_is_an_error() -> None:
    from netspec.backends.jax import BACKEND

    with pytest.raises(NetspecError, match="--device cpu:0 names one device"):
        BACKEND.compile(netspec.load(SPEC).model(), device="cpu:0", devices=2)


@pytest.mark.parametrize(
    ("backend", "fix"),
    [("numpy", "--backend jax --devices 2"), ("torch", "--nproc 2")],
)
def test_other_backends_refuse_several_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, fix: str
) -> None:
    message = f"the {backend} backend trains on one device per process"
    with pytest.raises(NetspecError, match=message) as caught:
        netspec.train(SPEC, backend=backend, devices=2, out=tmp_path / "api")
    assert fix in caught.value.help[0]
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    code = main(["train", str(spec), "--backend", backend, "--devices", "2", "--out",
                 str(tmp_path / "cli")])  # fmt: skip
    assert code != 0 and message in capsys.readouterr().err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


@pytest.mark.parametrize("devices", [0, 1.5, "2", True])
def test_devices_must_be_a_positive_integer(devices: object) -> None:
    with pytest.raises(NetspecError, match="devices must be an integer >= 1"):
        netspec.train(SPEC, backend="jax", devices=devices)


def test_an_incomplete_launch_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
    monkeypatch.delenv("JAX_NUM_PROCESSES", raising=False)
    monkeypatch.delenv("JAX_PROCESS_ID", raising=False)
    with pytest.raises(NetspecError, match="found only JAX_COORDINATOR_ADDRESS"):
        netspec.train(SPEC, backend="jax")


def test_several_processes_need_a_fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    jax.devices()  # JAX has started here, so jax.distributed can no longer begin
    for name, value in [("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1"), ("JAX_NUM_PROCESSES", "2"),
                        ("JAX_PROCESS_ID", "0")]:  # fmt: skip
        monkeypatch.setenv(name, value)
    with pytest.raises(NetspecError, match="JAX had already started in this one"):
        netspec.train(SPEC, backend="jax")


# -- two processes -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(spec: Path, outs: list[Path], tmpdir: Path) -> list[tuple[int, str]]:
    """Two `netspec train` processes joined by jax.distributed: exit codes and outputs."""
    address = f"127.0.0.1:{_free_port()}"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netspec",
                "train",
                str(spec),
                "--backend",
                "jax",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=_env(
                JAX_COORDINATOR_ADDRESS=address,
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(rank),
                TMPDIR=str(tmpdir),
            ),
        )
        for rank, out in enumerate(outs)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    return [(p.returncode, output) for p, output in zip(processes, outputs, strict=True)]


def test_two_processes_train_as_one(tmp_path: Path) -> None:
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    single = netspec.train(spec, backend="jax", epochs=1, out=tmp_path / "one", progress=False)
    private = tmp_path / "private"  # where the second process keeps its own run directory
    private.mkdir()
    results = _launch(spec, [tmp_path / "rank0", tmp_path / "rank1"], private)
    for code, output in results:
        assert code == 0, output[-3000:]
    # Both print rank 0's run directory; only rank 0 wrote one, rank 1's is gone.
    assert all(f"run directory: {tmp_path / 'rank0'}" in output for _, output in results)
    assert not (tmp_path / "rank1").exists() and list(private.iterdir()) == []
    trained = load_weights(tmp_path / "rank0" / "weights.safetensors")
    for name, values in single.model.parameters().items():
        np.testing.assert_allclose(trained[name], values, rtol=0, atol=1e-5, err_msg=name)
    history = [json.loads(line) for line in (tmp_path / "rank0" / "metrics.jsonl").open()]
    assert history[-1]["val_loss"] == pytest.approx(single.history[-1]["val_loss"], rel=1e-5)


def test_a_bad_run_directory_stops_every_process(tmp_path: Path) -> None:
    # Only rank 0 uses --out; the others must not wait for it in a collective.
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    (tmp_path / "file").write_text("")
    results = _launch(spec, [tmp_path / "file" / "run", tmp_path / "rank1"], tmp_path)
    for code, output in results:
        assert code == 1, output[-3000:]
        assert "cannot be created" in output and "file is a file" in output
