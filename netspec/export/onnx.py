"""ONNX export: a checked model as an ONNX graph, built with the onnx package's own helpers.

``to_onnx`` walks the checked IR in order and lowers each node through ``LOWERINGS``
(``netspec.export._onnx_ops``, one function per op kind): node and tensor names are the
IR's, each parameter and state array is an initializer under its IR name, and every
node's ``doc_string`` is its spec line. The graph is the model in inference form
(batchnorm with its running statistics, dropout gone) in the model's dtype. Neither
torch nor jax is imported. ``export_onnx`` writes the file atomically, with what a csv
training run learnt besides the weights (its columns, categories and class names) in the
model's metadata and in a JSON file beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from netspec._validate import check_choice, check_int, check_seed, check_str, found
from netspec.errors import NetspecError, UnsupportedOpError
from netspec.export._onnx_graph import ONNX_DTYPES, GraphBuilder
from netspec.export._onnx_lowering import DEFAULT_OPSET, MIN_OPSET
from netspec.export._onnx_ops import LOWERINGS
from netspec.ir import CheckedModel, Input, Program, Span
from netspec.ir.graph import INDEX_DTYPES

# The newest opset the installed onnx package defines.
MAX_OPSET = onnx.defs.onnx_opset_version()
METADATA_PREFIX = "netspec."
PREPROCESSING_SUFFIX = ".preprocessing.json"

BELOW_MINIMUM = (
    "{where}{kind} (node '{node}') needs ONNX opset {minimum} or newer; the export asks "
    "for opset {opset}"
)
NO_LOWERING = "{where}op '{kind}' (node '{node}') has no ONNX lowering in this netspec"


@dataclass(frozen=True)
class ExportResult:
    """What ``export_onnx`` wrote: the ONNX file, and the preprocessing JSON beside it
    (None when the weights carry no learnt preprocessing)."""

    path: Path
    preprocessing: Path | None
    model: onnx.ModelProto


def model_inputs(model: CheckedModel) -> tuple[Input, ...]:
    """The model's inputs, in the order the spec names them: the graph's inputs."""
    return tuple(model.inputs)


def _program_and_model(spec: Any, name: str | None) -> tuple[Program | None, CheckedModel]:
    if isinstance(spec, CheckedModel):
        if name is not None and name != spec.name:
            raise NetspecError(
                f"model={name!r} was asked for, but the model given is {spec.name!r}"
            )
        return None, spec
    if not isinstance(spec, Program):
        if not isinstance(spec, str | os.PathLike):
            raise NetspecError(
                f"export takes a path, spec text, a Program or a CheckedModel, found {found(spec)}"
            )
        from netspec.frontend import load

        spec = load(spec)
    return spec, spec.model(name)


class _SpecLines:
    """Spans as ``file:line:col text``, reading each spec file once."""

    def __init__(self, program: Program | None, text: str | None) -> None:
        self._spans = program.source_map if program is not None else {}
        self._text = text
        self._files: dict[str, list[str]] = {}

    def span(self, model: str, node: str) -> Span | None:
        return self._spans.get(f"{model}/{node}")

    def lines(self, file: str) -> list[str]:
        if file not in self._files:
            if file == "<string>":
                text = self._text or ""
            else:
                try:
                    text = Path(file).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    text = ""
            self._files[file] = text.splitlines()
        return self._files[file]

    def where(self, model: str, node: str) -> str:
        """``file:line:col: `` of the node's span, or "" without one."""
        span = self.span(model, node)
        return "" if span is None else f"{span.file}:{span.line}:{span.column}: "

    def doc(self, model: str, node: str) -> str:
        """``file:line:col`` and the spec text that made the node."""
        span = self.span(model, node)
        if span is None:
            return ""
        lines = self.lines(span.file)
        text = ""
        if 1 <= span.line <= len(lines):
            line = lines[span.line - 1]
            end = span.end_column - 1 if span.end_line == span.line else len(line)
            text = " ".join(line[span.column - 1 : end].split())
        return f"{span.file}:{span.line}:{span.column} {text}".rstrip()


def check_opset(opset: object) -> int:
    """``opset`` as an int within what the exporter writes, else a NetspecError."""
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer):
        raise NetspecError(f"opset must be an integer, found {found(opset)}")
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise NetspecError(
            f"ONNX opset {opset} is out of range: netspec writes opsets {MIN_OPSET} to "
            f"{MAX_OPSET} (the installed onnx {onnx.__version__} knows up to {MAX_OPSET})",
            help=f"use --opset {DEFAULT_OPSET} (the default)",
        )
    return int(opset)


def check_lowerings(model: CheckedModel, opset: int, lines: _SpecLines) -> None:
    """Every node's op kind has a lowering valid at ``opset``; else the error names the
    op, its node and its spec line (the first such node)."""
    for node in model.nodes:
        kind = node.op.kind
        where = lines.where(model.name, node.name)
        entry = LOWERINGS.get(kind)
        if entry is None:
            raise UnsupportedOpError(
                NO_LOWERING.format(where=where, kind=kind, node=node.name),
                target="onnx exporter",
                kind=kind,
            )
        if opset < entry.minimum:
            raise UnsupportedOpError(
                BELOW_MINIMUM.format(
                    where=where, kind=kind, node=node.name, minimum=entry.minimum, opset=opset
                )
                + f"\n  help: export with --opset {entry.minimum} or newer (the default is "
                f"{DEFAULT_OPSET})",
                target=f"onnx opset {opset}",
                kind=kind,
            )


def _weights(
    model: CheckedModel, weights: Any, dtype: str, seed: int
) -> tuple[dict[str, np.ndarray], Path | None]:
    """Every parameter and state array (from ``weights``, or netspec's initializer with
    ``seed``) cast to ``dtype``, and the weight file they came from."""
    from netspec.weights import load_weights, resolve_weights_path, validate_weights

    if weights is None:
        from netspec.initializers import initial_params

        return initial_params(model, seed, dtype), None
    if isinstance(weights, str | os.PathLike):
        path = resolve_weights_path(weights)
        values = load_weights(path)
        return validate_weights(model, values, dtype=dtype, source=str(path), require="all"), path
    return validate_weights(model, weights, dtype=dtype, source="weights", require="all"), None


def _value_info(
    name: str, shape: tuple[int, ...], elem: int, batch: int | str
) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, [batch, *shape])


def build_graph(
    model: CheckedModel,
    values: dict[str, np.ndarray],
    *,
    opset: int,
    dtype: str,
    batch: int | str,
    lines: _SpecLines,
) -> onnx.GraphProto:
    """The ONNX graph of ``model`` with ``values`` as initializers."""
    g = GraphBuilder(dtype, opset)
    shapes: dict[str, tuple[int, ...]] = {}
    inputs = []
    for given in model_inputs(model):
        g.reserve(given.name)
        shapes[given.name] = tuple(given.shape)
        # Integer inputs (indices for embedding) keep their dtype; float ones take the
        # graph's, as the backends cast a float batch to the model's dtype.
        elem = ONNX_DTYPES[given.dtype] if given.dtype in INDEX_DTYPES else g.onnx_dtype
        inputs.append(_value_info(given.name, tuple(given.shape), elem, batch))
    for spec in (*model.params, *model.state):
        g.weight(spec.name, values[spec.name])
    attrs = {p.name: p.attr for p in model.params} | {s.name: s.attr for s in model.state}
    for node in model.nodes:
        g.enter(node, lines.doc(model.name, node.name))
        params = {attrs[name]: name for name in (*node.params, *node.state)}
        LOWERINGS[node.op.kind].fn(
            g, node, [g.tensor(i) for i in node.inputs], [shapes[i] for i in node.inputs], params
        )
        shapes[node.name] = tuple(node.output.shape)
    output = model.output
    if g.tensor(output) != output:
        # The model ends in an identity at inference (dropout, identity): name the output.
        g.enter(model.node(output), lines.doc(model.name, output))
        g.op("Identity", [g.tensor(output)], output)
    out_type = model.output_type
    outputs = [_value_info(output, tuple(out_type.shape), g.onnx_dtype, batch)]
    return helper.make_graph(g.nodes, model.name, inputs, outputs, initializer=g.initializers)


def to_onnx(
    spec: str | os.PathLike[str] | Program | CheckedModel,
    *,
    model: str | None = None,
    weights: Any = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    batch: int = 1,
    dtype: str = "float32",
    seed: int = 0,
    spec_text: str | None = None,
) -> onnx.ModelProto:
    """The ONNX model of one model of ``spec`` (a path, spec text, a Program or a
    CheckedModel; ``model`` picks one of several).

    ``weights``: a netspec weight file or run directory, or a dict of arrays by IR name;
    it must hold every parameter and state array (batchnorm's running statistics
    included). Without it, netspec's initial weights drawn with ``seed``. ``dtype``
    (float32 or float64) is the graph's. The batch axis is ``batch`` samples, or a
    symbolic ``batch`` dimension with ``dynamic_batch``. Raises NetspecError for a bad
    argument, weights that do not fit, or an op without a lowering at ``opset``
    (naming the op, its node and its spec line).
    """
    check_choice(dtype, "dtype", ("float32", "float64"))
    opset = check_opset(opset)
    seed = check_seed(seed)
    batch = check_int(batch, "batch")
    if not isinstance(dynamic_batch, bool):
        raise NetspecError(f"dynamic_batch must be True or False, found {found(dynamic_batch)}")
    check_str(model, "model", optional=True)
    program, checked = _program_and_model(spec, model)
    if spec_text is None and isinstance(spec, str) and "\n" in spec:
        spec_text = spec
    lines = _SpecLines(program, spec_text)
    check_lowerings(checked, opset, lines)
    values, weight_file = _weights(checked, weights, dtype, seed)
    graph = build_graph(
        checked,
        values,
        opset=opset,
        dtype=dtype,
        batch="batch" if dynamic_batch else batch,
        lines=lines,
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="netspec",
        producer_version=_version(),
        # The oldest IR version the opset allows: older runtimes refuse newer files.
        ir_version=helper.find_min_ir_version_for(list(opsets)),
        doc_string=f"model {checked.name}, exported by netspec from its checked IR",
    )
    metadata = {"model": checked.name, "dtype": dtype}
    if weight_file is not None:
        # The file's name and digest say which weights these are, without a local path.
        metadata["weights"] = weight_file.name
        metadata["weights_sha256"] = _sha256(weight_file)
        preprocessing = _preprocessing(weight_file)
        if preprocessing is not None:
            metadata["preprocessing"] = json.dumps(preprocessing, sort_keys=True)
    helper.set_model_props(proto, {METADATA_PREFIX + k: v for k, v in metadata.items()})
    return proto


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version() -> str:
    from netspec import __version__

    return __version__


def _preprocessing(weight_file: Path) -> dict[str, Any] | None:
    """What a training run learnt besides the weights, for inputs given raw: the csv
    encoding (feature columns, one-hot categories, class names) and a text source's
    vocabulary (the characters in index order), read from the weight file's run
    directory (beside it, or one up for a checkpoint). The statistics of a standardised
    source are not here: they are the graph's standardize node."""
    from netspec.data import read_encoding
    from netspec.sampling import VOCABULARY_FILE, read_vocabulary

    found: dict[str, Any] = {}
    encoding = read_encoding(weight_file)
    if encoding is not None:
        found["csv_encoding"] = encoding.to_json()
    for run in (weight_file.parent, weight_file.parent.parent):
        if (run / VOCABULARY_FILE).is_file():
            found["vocabulary"] = list(read_vocabulary(run))
            break
    return found or None


def preprocessing_path(output: str | os.PathLike[str]) -> Path:
    """The JSON beside an ONNX file: ``model.onnx`` -> ``model.preprocessing.json``."""
    path = Path(output)
    return path.with_name(path.stem + PREPROCESSING_SUFFIX)


def export_onnx(
    spec: str | os.PathLike[str] | Program | CheckedModel,
    output: str | os.PathLike[str],
    **options: Any,
) -> ExportResult:
    """Write ``to_onnx(spec, **options)`` to ``output`` atomically (never a partial file),
    after ``onnx.checker`` has passed it; the learnt preprocessing, when the weights
    carry some, goes to a JSON file beside it too."""
    from netspec.weights import atomic_write_bytes

    proto = to_onnx(spec, **options)
    onnx.checker.check_model(proto, full_check=True)
    path = Path(output)
    atomic_write_bytes(path, proto.SerializeToString())
    sidecar = None
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_PREFIX + "preprocessing" in props:
        sidecar = preprocessing_path(path)
        record = json.loads(props[METADATA_PREFIX + "preprocessing"])
        text = json.dumps({"model": props[METADATA_PREFIX + "model"], **record}, indent=2)
        atomic_write_bytes(sidecar, (text + "\n").encode("utf-8"))
    return ExportResult(path=path, preprocessing=sidecar, model=proto)
