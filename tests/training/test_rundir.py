"""The run directory: reuse of a run that never committed, the lock, and one-line errors
for paths and disks that cannot hold a run, found before an epoch is spent."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netspec.cli import main
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.training import epochs, fit, hooks, rundir
from tests.training.conftest import LOCK_FILE, Killed, assert_same_weights


def _killed_in_first_epoch(program: Program, run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that dies while writing its first checkpoint (before state.json is committed)."""
    with monkeypatch.context() as patch:

        def die(*args: object, **kwargs: object) -> None:
            raise Killed

        patch.setattr(epochs, "save_checkpoint", die)
        with pytest.raises(Killed):
            fit(program, out=run, progress=False)
    assert (run / "checkpoints").is_dir() and not (run / "checkpoints" / "state.json").exists()


@pytest.mark.parametrize("how", ["resume", "out"])
def test_a_run_killed_before_its_first_checkpoint_starts_again_and_says_so(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    whole = fit(tiny, out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    _killed_in_first_epoch(tiny, run, monkeypatch)
    place = {"resume": run} if how == "resume" else {"out": run}
    result = fit(tiny, progress=False, **place)  # type: ignore[arg-type]
    expected = "starting it from epoch 1" if how == "resume" else "starting a new run in it"
    assert any(expected in note for note in result.notes), result.notes
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")


def test_resume_of_a_directory_that_is_not_a_run_is_refused(tiny: Program, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NetspecError, match="is not a training run"):
        fit(tiny, resume=tmp_path, progress=False)
    with pytest.raises(NetspecError, match="does not exist"):
        fit(tiny, resume=tmp_path / "missing", progress=False)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the lock of a run directory until its stdin closes."""
    run = tmp_path / "run"
    run.mkdir()
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(run / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    yield run, process
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.parametrize("how", ["out", "resume"])
def test_a_second_run_in_a_locked_directory_names_the_holder(
    tiny: Program, holder: tuple[Path, subprocess.Popen[str]], how: str
) -> None:
    run, process = holder
    place = {"resume": run} if how == "resume" else {"out": run}
    with pytest.raises(
        NetspecError, match=rf"in use by another netspec run \(process {process.pid}"
    ):
        fit(tiny, progress=False, **place)  # type: ignore[arg-type]
    assert not (run / "run.json").exists()
    process.communicate("")  # the holder exits; its lock file stays, naming a dead process
    result = fit(tiny, progress=False, **place)  # type: ignore[arg-type]
    assert any(
        f"process {process.pid}" in note and "no longer running" in note for note in result.notes
    )
    assert (run / LOCK_FILE).read_text() == ""  # released at the end


def test_the_lock_is_held_for_the_whole_run(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []
    real = hooks.learning_rate

    def in_epoch_two(schedule: object, lr: float, epoch: int, **step: object) -> float:
        if epoch == 1:
            with pytest.raises(NetspecError, match=f"process {os.getpid()}") as busy:
                fit(tiny, resume=tmp_path / "run", progress=False)
            attempts.append(str(busy.value))
        return real(schedule, lr, epoch, **step)  # type: ignore[arg-type]

    monkeypatch.setattr(hooks, "learning_rate", in_epoch_two)
    fit(tiny, out=tmp_path / "run", progress=False)
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("", "--out must name a run directory, found an empty path"),
        (
            "/dev/null",
            "--out /dev/null must be a directory, but it is a device or other special file",
        ),
        ("{tmp}/file", "--out {tmp}/file must be a directory, but it is a file"),
        ("{tmp}/file/run", "--out {tmp}/file/run cannot be created: {tmp}/file is a file"),
    ],
    ids=["empty", "dev-null", "a-file", "below-a-file"],
)
def test_an_out_that_cannot_be_a_directory_is_one_line(
    tiny_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, expected: str
) -> None:
    (tmp_path / "file").write_text("not a directory")
    code = main(["train", tiny_file, "--quiet", "--out", target.format(tmp=tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"netspec train: error: {expected.format(tmp=tmp_path)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "tiny.net"]


def test_resume_of_an_empty_path_is_refused(tiny: Program) -> None:
    with pytest.raises(NetspecError, match="--resume must name a run directory"):
        fit(tiny, resume="", progress=False)


def _read_only(monkeypatch: pytest.MonkeyPatch, directory: Path, code: int) -> None:
    """Make every write under ``directory`` fail as on a read-only disk (or without
    permission): opening for writing and creating directories."""
    real_open, real_mkdir = os.open, os.mkdir
    inside = str(directory.resolve())

    def refuse(path: object) -> None:
        if os.path.abspath(os.fspath(path)).startswith(inside):  # type: ignore[arg-type]
            raise OSError(code, os.strerror(code), os.fspath(path))  # type: ignore[arg-type]

    def guarded_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def guarded_mkdir(path: object, *args: object, **kwargs: object) -> None:
        refuse(path)
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


@pytest.mark.parametrize(
    ("code", "words"), [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")]
)
def test_resume_into_an_unwritable_directory_fails_before_an_epoch(
    tiny: Program,
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    words: str,
) -> None:
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False, stop_after=1)
    _read_only(monkeypatch, run, code)
    monkeypatch.setattr(
        epochs.EpochLoop, "_epoch", lambda self, epoch: pytest.fail("trained an epoch")
    )
    assert main(["train", tiny_file, "--quiet", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(run) in err and words in err and "cannot" in err


def test_a_new_run_below_an_unwritable_directory_is_one_line(
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _read_only(monkeypatch, tmp_path / "ro", errno.EACCES)
    assert main(["train", tiny_file, "--quiet", "--out", str(tmp_path / "ro" / "run")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"netspec train: error: cannot create the run directory {tmp_path / 'ro' / 'run'}: "
        "Permission denied\n"
    )


def test_a_full_disk_is_found_before_an_epoch(
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(rundir.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    monkeypatch.setattr(
        epochs.EpochLoop, "_epoch", lambda self, epoch: pytest.fail("trained an epoch")
    )
    assert main(["train", tiny_file, "--quiet", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"netspec train: error: not enough free space in {tmp_path / 'run'}")
    assert err.count("\n") == 1


def test_a_disk_that_fills_during_the_run_is_one_line_and_keeps_the_last_checkpoint(
    tiny: Program,
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    whole = fit(tiny, out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    real = os.replace
    commits: list[str] = []

    def replace(source: str, target: str) -> None:
        if os.path.basename(target) == "state.json":
            commits.append(target)
            if len(commits) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), source)
        real(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        assert main(["train", tiny_file, "--quiet", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    state = run / "checkpoints" / "state.json"
    assert err == f"netspec train: error: cannot write {state}: No space left on device\n"
    assert [p.name for p in state.parent.glob(".*")] == []  # its temporary file was removed
    result = fit(tiny, resume=run, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")


def test_an_unreadable_state_is_one_line(
    tiny: Program,
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False, stop_after=1)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "state.json":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert main(["train", tiny_file, "--quiet", "--resume", str(run)]) == 1
    state = run / "checkpoints" / "state.json"
    assert (
        capsys.readouterr().err == f"netspec train: error: cannot read {state}: Permission denied\n"
    )


def test_out_never_overwrites_a_users_files(tiny: Program, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "weights.safetensors").write_bytes(b"my weights")
    (mine / "run.json").write_text('{"my": "run"}')
    (mine / "notes.txt").write_text("unrelated, and no problem")
    with pytest.raises(
        NetspecError, match=r"already contains run.json, weights.safetensors, which"
    ):
        fit(tiny, out=mine, progress=False)
    assert (mine / "weights.safetensors").read_bytes() == b"my weights"
    assert (mine / "run.json").read_text() == '{"my": "run"}'
    assert sorted(p.name for p in mine.iterdir()) == [
        "notes.txt",
        "run.json",
        "weights.safetensors",
    ]
    # Files a run does not write are no obstacle.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    fit(tiny, out=other, progress=False, epochs=1)
    assert (other / "notes.txt").read_text() == "mine"
