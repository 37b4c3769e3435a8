"""Elaborate a whole parse tree: constants, defaults, blocks, models and train sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lark import Tree

from netspec.diagnostics import Diagnostics, Label, Use, did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.blocks import BlockDef, BlockEnv
from netspec.elaborate.imports import Importer, Origin
from netspec.elaborate.inputs import ModelInput, read_model_input
from netspec.elaborate.layer_settings import LayerSettings, report_unmatched
from netspec.elaborate.model import ModelElaborator
from netspec.elaborate.overrides import FILE as OVERRIDES_FILE
from netspec.elaborate.overrides import Overrides, one_value
from netspec.elaborate.spaces import SpaceRegistry
from netspec.elaborate.train_section import TrainElaborator
from netspec.elaborate.values import Evaluator, Value
from netspec.ir import init as ir_init
from netspec.ir.graph import Model, Span
from netspec.ir.init import Regularize
from netspec.ir.train import TrainSpec
from netspec.ops import SIGNATURES
from netspec.ops.signature import LayerDefaults

LANGUAGE_VERSION = 1
_DEFAULT_SETTINGS = ("init", "bias_init", "regularize")


@dataclass
class Elaborated:
    """Everything the checker needs: unchecked models, train specs and source spans."""

    models: list[Model] = field(default_factory=list)
    trains: list[TrainSpec] = field(default_factory=list)
    node_spans: dict[str, dict[str, Span]] = field(default_factory=dict)
    model_spans: dict[str, Span] = field(default_factory=dict)
    train_spans: dict[str, Span] = field(default_factory=dict)
    # Per model with a train section: where each of its settings is written.
    train_item_spans: dict[str, dict[str, Span]] = field(default_factory=dict)
    input_names: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # Per model, per node made inside a block: the chain of block uses that made it.
    node_uses: dict[str, dict[str, tuple[Use, ...]]] = field(default_factory=dict)
    # Where each model names each of its inputs (``x`` in ``model m(x: [784])``).
    input_spans: dict[str, dict[str, Span]] = field(default_factory=dict)
    # The blocks and constants the file defines itself: what importing it gives.
    blocks: dict[str, BlockDef] = field(default_factory=dict)
    constants: dict[str, Value] = field(default_factory=dict)
    # The search spaces of the file, by where they are written, with their paths.
    spaces: SpaceRegistry | None = None


def elaborate(
    tree: Tree,
    file: str,
    diagnostics: Diagnostics,
    importer: Importer | None = None,
    *,
    library: bool = False,
    overrides: Overrides | None = None,
) -> Elaborated:
    """Elaborate a parsed file. As a ``library`` (a file being imported) only its imports,
    constants and blocks are read: its defaults, models and train sections are its own.

    ``overrides`` (``--set``) replace values the file writes; each one that finds nothing
    to replace is an error."""
    evaluator = Evaluator(file, diagnostics)
    if importer is None:
        importer = Importer(diagnostics, {}, file)
    items = [item for item in tree.children if isinstance(item, Tree)]
    imported = importer.bind([i for i in items if i.data == "import_def"], file, evaluator)
    return _elaborate(
        items,
        evaluator,
        diagnostics,
        imported.block_origins,
        imported.constant_origins,
        imported.env,
        library,
        overrides if overrides is not None and not library else Overrides(),
    )


def _elaborate(
    items: list[Tree],
    evaluator: Evaluator,
    diagnostics: Diagnostics,
    block_origins: dict[str, Origin],
    constant_origins: dict[str, Origin],
    env: BlockEnv,
    library: bool,
    overrides: Overrides,
) -> Elaborated:
    result = Elaborated()
    registry = SpaceRegistry(evaluator.file)
    result.spaces = registry
    override_evaluator = Evaluator(OVERRIDES_FILE, diagnostics)
    # Imported names first; a local definition of the same name is an error (reported at
    # the import) and then wins, so that the file's own uses mean what they say.
    constants = env.constants
    constant_spans: dict[str, Span] = {}
    defaults: dict[str, Any] = {}
    default_spans: dict[str, Span] = {}
    model_trees: list[Tree] = []
    train_trees: list[Tree] = []

    for item in items:
        kind = item.data
        if library and kind in ("defaults", "model_def", "train_def"):
            continue  # an imported file offers its blocks and constants only
        if kind == "version":
            version = int(str(item.children[0]))
            if version != LANGUAGE_VERSION:
                diagnostics.error(
                    "E023",
                    f"this file is netspec {version}; this netspec reads version "
                    f"{LANGUAGE_VERSION}",
                    evaluator.span(item),
                )
        elif kind == "let_def":
            name_token, expr = item.children
            name = str(name_token)
            span = evaluator.span(name_token)
            if name in constant_origins:
                _clash("constant", name, constant_origins.pop(name), span, diagnostics)
            elif name in constants:
                diagnostics.error(
                    "E003",
                    f"constant '{name}' is already defined",
                    span,
                    labels=[
                        Label.model_construct(
                            span=constant_spans[name], message="first defined here"
                        )
                    ],
                )
                continue
            override = overrides.let(name)
            if override is not None:
                value = one_value(override, override_evaluator, constants)
            else:
                value = evaluator.evaluate(expr, constants)
            if value is not None and not library:
                for problem in registry.place(value, f"let.{name}", direct=True):
                    diagnostics.error(
                        problem.code, problem.message, problem.span, help=problem.help
                    )
            if value is not None:
                constants[name] = value
                constant_spans[name] = span
                result.constants[name] = value
        elif kind == "defaults":
            for setting in item.children:
                key_token, expr = setting.children
                key = str(key_token)
                span = evaluator.span(key_token)
                if key not in _DEFAULT_SETTINGS:
                    diagnostics.error(
                        "E002",
                        f"unknown default '{key}'",
                        span,
                        help=did_you_mean(key, _DEFAULT_SETTINGS)
                        or [f"defaults can set: {', '.join(_DEFAULT_SETTINGS)}"],
                    )
                    continue
                if key in defaults:
                    diagnostics.error(
                        "E003",
                        f"default '{key}' is set twice",
                        span,
                        labels=[
                            Label.model_construct(span=default_spans[key], message="first set here")
                        ],
                    )
                    continue
                value = evaluator.evaluate(expr, constants, scheme=key != "regularize")
                if value is None:
                    continue
                try:
                    converted = c.regularize(value) if key == "regularize" else c.init_scheme(value)
                except c.Invalid as error:
                    for problem in error.each():
                        diagnostics.error(
                            problem.code,
                            problem.message,
                            problem.span,
                            help=problem.help_in(constants),
                        )
                    continue
                if isinstance(converted, ir_init.LiteralValues):
                    diagnostics.error(
                        "E006",
                        "a default init cannot be a literal array",
                        value.span,
                        help=["set hand-made values on the layer: dense(2, weight = [[...]])"],
                    )
                    continue
                defaults[key] = converted
                default_spans[key] = span
        elif kind == "block_def":
            defined = _collect_block(item, env, diagnostics, block_origins)
            if defined is not None:
                result.blocks[defined.name] = defined
        elif kind == "model_def":
            model_trees.append(item)
        elif kind == "train_def":
            train_trees.append(item)

    model_names = [str(tree.children[0]) for tree in model_trees]
    train_elaborator = TrainElaborator(
        evaluator, diagnostics, overrides, model_names, None if library else registry
    )
    train_results = [train_elaborator.elaborate(tree, constants) for tree in train_trees]
    penalties: dict[str, Regularize] = {
        r.model: r.regularize for r in train_results if r.regularize is not None
    }

    if "regularize" in defaults:
        for model_name, span, _, regularize, _, _ in train_results:
            if regularize is not None:
                diagnostics.error(
                    "E003",
                    f"regularisation for '{model_name}' is set both in defaults and in its "
                    "train section",
                    span,
                    labels=[
                        Label.model_construct(
                            span=default_spans["regularize"], message="defaults set it here"
                        )
                    ],
                    help=["keep one: per-layer regularize = ... overrides either"],
                )

    layers = LayerSettings(overrides, model_names, registry, override_evaluator)
    for model_tree in model_trees:
        _elaborate_model(
            model_tree, env, diagnostics, constants, defaults, penalties, result, layers
        )
    if overrides:
        nodes = {m: list(result.node_spans.get(m, {})) for m in model_names}
        report_unmatched(overrides, nodes, list(result.constants), model_names, diagnostics)

    model_names = [m for m in result.model_spans]
    for name, span, found, _, written, item_spans in train_results:
        if name not in result.model_spans:
            diagnostics.error(
                "E002",
                f"train section for unknown model '{name}'",
                span,
                help=did_you_mean(name, model_names)
                or ["define the model first: model " + name + "(x: [...]) { ... }"],
            )
            continue
        if name in result.train_spans:
            diagnostics.error(
                "E003",
                f"model '{name}' has two train sections",
                span,
                labels=[
                    Label.model_construct(span=result.train_spans[name], message="first one here")
                ],
            )
            continue
        result.train_spans[name] = span
        result.train_item_spans[name] = item_spans
        # A setting written but rejected is reported already; only absent ones are missing.
        missing = [key for key in ("data", "loss", "optimizer") if key not in written]
        if not missing and any(key not in found for key in ("data", "loss", "optimizer")):
            continue
        if missing:
            diagnostics.error(
                "E005",
                f"train section for '{name}' has no {', '.join(missing)}",
                span,
                help=[
                    "for example: data mnist  loss softmax_cross_entropy  optimizer sgd(lr = 0.1)"
                ],
            )
            continue
        result.trains.append(TrainSpec.model_construct(model=name, **found))
    return result


def _clash(kind: str, name: str, origin: Origin, span: Span, diagnostics: Diagnostics) -> None:
    """An imported name that the file defines too: reported at the import."""
    diagnostics.error(
        "E003",
        f"{kind} '{name}' imported from {origin.file} is also defined in this file",
        origin.span,
        labels=[Label.model_construct(span=span, message=f"'{name}' is defined here")],
        help=["rename one, or give the import a namespace: import ... as NAME"],
    )


def _collect_block(
    item: Tree, env: BlockEnv, diagnostics: Diagnostics, origins: dict[str, Origin]
) -> BlockDef | None:
    evaluator = env.evaluator
    blocks = env.blocks
    name_token, *rest = item.children
    name = str(name_token)
    span = evaluator.span(name_token)
    params_tree = rest[0] if len(rest) == 2 else None
    body = rest[-1]
    if name in SIGNATURES:
        diagnostics.error(
            "E003",
            f"block '{name}' has the name of a built-in layer",
            span,
            help=[f"rename it, e.g. {name}_block"],
        )
        return None
    if name in origins:
        _clash("block", name, origins.pop(name), span, diagnostics)
    elif name in blocks:
        diagnostics.error(
            "E003",
            f"block '{name}' is already defined",
            span,
            labels=[Label.model_construct(span=blocks[name].span, message="first defined here")],
        )
        return None
    params: list[tuple[str, Tree | None, Span]] = []
    seen: set[str] = set()
    if params_tree is not None:
        for param in params_tree.children:
            if param is None:
                continue
            param_name = str(param.children[0])
            param_span = evaluator.span(param.children[0])
            default = param.children[1] if len(param.children) > 1 else None
            if param_name in seen:
                diagnostics.error("E003", f"parameter '{param_name}' is declared twice", param_span)
                continue
            if default is None and any(p[1] is not None for p in params):
                diagnostics.error(
                    "E004",
                    f"parameter '{param_name}' without a default follows one with a default",
                    param_span,
                    help=["put parameters with defaults last"],
                )
            seen.add(param_name)
            params.append((param_name, default, param_span))
    block = BlockDef(name=name, params=tuple(params), body=body, span=span, env=env)
    blocks[name] = block
    return block


def _elaborate_model(
    tree: Tree,
    env: BlockEnv,
    diagnostics: Diagnostics,
    constants: dict[str, Value],
    defaults: dict[str, Any],
    penalties: dict[str, Regularize],
    result: Elaborated,
    layers: LayerSettings,
) -> None:
    evaluator = env.evaluator
    name_token, *input_trees, body = tree.children
    name = str(name_token)
    span = evaluator.span(name_token)
    if name in result.model_spans:
        diagnostics.error(
            "E003",
            f"model '{name}' is already defined",
            span,
            labels=[
                Label.model_construct(span=result.model_spans[name], message="first defined here")
            ],
        )
        return
    result.model_spans[name] = span
    inputs: list[ModelInput] = []
    failed = False
    for input_tree in input_trees:
        declared = read_model_input(input_tree, evaluator, diagnostics, constants)
        if declared is None:
            failed = True
            continue
        first = next((i for i in inputs if i.name == declared.name), None)
        if first is not None:
            diagnostics.error(
                "E003",
                f"model '{name}' has two inputs named '{declared.name}'",
                declared.span,
                labels=[Label.model_construct(span=first.span, message="first named here")],
                help=["give each input its own name: model m(image: [...], extra: [...])"],
            )
            failed = True
            continue
        inputs.append(declared)
    if failed:
        return
    builtin = LayerDefaults()
    layer_defaults = LayerDefaults(
        init=defaults.get("init", builtin.init),
        bias_init=defaults.get("bias_init", builtin.bias_init),
        regularize=defaults.get("regularize", penalties.get(name, Regularize.model_construct())),
    )
    elaborator = ModelElaborator(
        evaluator, diagnostics, env.blocks, layer_defaults, constants, env.failed_imports
    )
    elaborator.settings = layers.of(name)
    built = elaborator.elaborate(name, inputs, body, constants)
    if built is None:
        return
    model, spans = built
    result.models.append(model)
    result.node_spans[name] = spans
    result.input_names[name] = elaborator.input_names
    result.node_uses[name] = elaborator.uses
    result.input_spans[name] = {i.name: i.span for i in inputs}
