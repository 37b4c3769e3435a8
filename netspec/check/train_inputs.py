"""A train section of a model of several inputs, checked against its data source (part of
:class:`netspec.check.train.TrainChecker`).

Only two sources can feed several inputs: an npz file with one array per input, named
after it, and a csv file whose ``inputs`` give each input its columns. The built-in
sources make one array per sample, and ``target input`` needs the one input to copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.diagnostics import Label
from netspec.ir.graph import CheckedModel
from netspec.ir.train import CsvData, NpzData

if TYPE_CHECKING:
    from netspec.check.train import TrainChecker

SEVERAL_INPUTS_HELP = (
    'read an npz file with one array per input, named after it: npz("data.npz") with '
    "arrays {names} and y_train; or a csv file with a column group per input: "
    'csv("data.csv", target = "y", standardize = false, inputs = [{groups}])'
)


def check_several_inputs(checker: TrainChecker, model: CheckedModel) -> None:
    """Report a source that cannot feed every input of ``model`` by name."""
    names = [spec.name for spec in model.inputs]
    listed = ", ".join(names)
    labels = [
        Label.model_construct(span=span, message=f"input '{name}'")
        for name, span in checker.input_spans.items()
    ]
    fix = SEVERAL_INPUTS_HELP.format(
        names=listed, groups=", ".join(f'{name}("...")' for name in names)
    )
    if checker.spec.target == "input":
        checker.error(
            "target",
            f"target input makes each sample its own target, which needs a model of one "
            f"input, but model '{model.name}' has {len(names)} ({listed})",
            labels=labels,
            help=["use data targets, or a model of one input"],
        )
    data = checker.spec.data
    if isinstance(data, NpzData):
        return
    if not isinstance(data, CsvData):
        checker.error(
            "data",
            f"data {data.source} makes one input array per sample, but model '{model.name}' "
            f"has {len(names)} inputs ({listed})",
            labels=labels,
            help=[fix],
        )
        return
    if not data.inputs:
        checker.error(
            "data",
            f"csv without column groups makes every column but the target one input, but "
            f"model '{model.name}' has {len(names)} inputs ({listed})",
            labels=labels,
            help=[fix],
        )
    check_csv_groups(checker, model)


def check_csv_groups(checker: TrainChecker, model: CheckedModel) -> None:
    """A csv source's column groups against the model's inputs: one group per input,
    no column in two groups nor the target in any, and the csv options they support."""
    data = checker.spec.data
    if not isinstance(data, CsvData) or not data.inputs:
        return
    names = [spec.name for spec in model.inputs]
    groups = [group.name for group in data.inputs]
    for group in groups:
        if group not in names or groups.count(group) > 1:
            problem = "is given twice" if group in names else "is not an input of the model"
            checker.error(
                "data",
                f"csv column group '{group}' {problem}; model '{model.name}' has inputs "
                f"{', '.join(names)}",
                help=["give each input one group, named after it"],
            )
    missing = [name for name in names if name not in groups]
    if missing:
        checker.error(
            "data",
            f"csv column groups give no columns for input {', '.join(map(repr, missing))} of "
            f"model '{model.name}'",
            help=[f'add a group for it: inputs = [..., {missing[0]}("column", ...)]'],
        )
    seen: dict[str, str] = {}
    for group in data.inputs:
        for column in group.columns:
            if column == data.target:
                checker.error(
                    "data",
                    f"csv column '{column}' is the target and cannot be in input group "
                    f"'{group.name}' too",
                )
            elif column in seen:
                checker.error(
                    "data",
                    f"csv column '{column}' is in the groups of both '{seen[column]}' and "
                    f"'{group.name}'",
                    help=["give each column to one input"],
                )
            seen.setdefault(column, group.name)
    if data.standardize:
        checker.error(
            "data",
            "csv column groups are read as they are: standardize = true is not supported with them",
            help=["add standardize = false, and scale the columns in the file if needed"],
        )
    if data.categorical:
        checker.error(
            "data",
            "csv column groups take numeric columns only: categorical is not supported with them",
            help=["one-hot encode the categories as numeric columns in the file"],
        )
