"""The suite's goals, each with its figure and whether it is met."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks._timing import table


@dataclass
class Goals:
    rows: list[list[str]] = field(default_factory=list)

    def add(self, goal: str, figure: str, met: bool | None) -> None:
        verdict = "skipped" if met is None else ("met" if met else "NOT met")
        self.rows.append([goal, figure, verdict])

    def train_step(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.train_step import NUMPY_SPEEDUP_GOAL, TITLES, ratio_goal

        for case in result.cases:
            ratio = case.step.ratio
            name = f"{case.framework} {TITLES[case.net]} step"
            if case.compile_s is not None:  # a variant row: its own goal
                goal_text, met = case.goal()
                self.add(
                    f"{case.framework} {case.label} {TITLES[case.net]} step: netspec / "
                    f"hand-written {goal_text.removeprefix('ratio ')}",
                    f"{ratio.median:.3f} (IQR {ratio.q1:.3f}-{ratio.q3:.3f})",
                    met,
                )
                continue
            if case.framework == "numpy":
                self.add(
                    f"{name}: >= {NUMPY_SPEEDUP_GOAL:g}x faster than the textbook",
                    f"{1 / ratio.median:.2f}x (IQR {1 / ratio.q3:.2f}-{1 / ratio.q1:.2f})",
                    1 / ratio.median >= NUMPY_SPEEDUP_GOAL,
                )
            else:
                goal = ratio_goal(case.net)
                self.add(
                    f"{name}: netspec / hand-written <= {goal}",
                    f"{ratio.median:.3f} (IQR {ratio.q1:.3f}-{ratio.q3:.3f})",
                    ratio.median <= goal,
                )

    def recurrent(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.recurrent import NUMPY_SPEEDUP_GOAL, RATIO_GOAL

        for case in result.cases:
            ratio = case.step.ratio
            name = f"{case.framework} LSTM step"
            if case.framework == "numpy-float32":
                continue
            if case.framework == "numpy":
                self.add(
                    f"{name}: >= {NUMPY_SPEEDUP_GOAL:g}x faster than the textbook",
                    f"{1 / ratio.median:.2f}x (IQR {1 / ratio.q3:.2f}-{1 / ratio.q1:.2f})",
                    1 / ratio.median >= NUMPY_SPEEDUP_GOAL,
                )
            else:
                self.add(
                    f"{name}: netspec / hand-written <= {RATIO_GOAL}",
                    f"{ratio.median:.3f} (IQR {ratio.q1:.3f}-{ratio.q3:.3f})",
                    ratio.median <= RATIO_GOAL,
                )

    def limit(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.limit import BOUND_GOAL

        if not result.steps:
            self.add(f"best MLP step within {BOUND_GOAL}x the bare-GEMM bound", "-", None)
            return
        best, multiple = result.best()
        self.add(
            f"best MLP step within {BOUND_GOAL}x the bare-GEMM bound",
            f"{best}: {multiple:.2f}x ({result.fastest} GEMMs "
            f"{result.bare[result.fastest].median * 1e3:.3f} ms)",
            multiple <= BOUND_GOAL,
        )

    def frontend(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.frontend import DEEP_GOAL, RESNET_GOAL

        if result.resnet:
            self.add(
                f"netspec check ResNet-18 < {RESNET_GOAL} s",
                f"{result.resnet.median * 1e3:.0f} ms",
                result.resnet.median < RESNET_GOAL,
            )
        if 10000 in result.deep:
            deep = result.deep[10000].median
            self.add(
                f"netspec check 10000 layers < {DEEP_GOAL:g} s", f"{deep:.2f} s", deep < DEEP_GOAL
            )
        linear = result.linear()
        if linear:
            self.add("front end time grows linearly with layers", linear[1], linear[0])
        if result.lsp:
            from benchmarks.lsp_edit import GOAL

            self.add(
                f"netspec lsp: diagnostics < {GOAL * 1e3:.0f} ms after an edit of ResNet-18",
                f"{result.lsp.median * 1e3:.1f} ms",
                result.lsp.median < GOAL,
            )

    def loop(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.loop import OVERHEAD_GOAL

        if result.skipped:
            self.add(f"loop overhead < {OVERHEAD_GOAL:.0%}", result.skipped, None)
            return
        for row in result.rows:
            self.add(
                f"loop overhead < {OVERHEAD_GOAL:.0%} ({row.backend}, {row.train_samples} "
                "training images)",
                f"{row.overhead:+.1%} (training phase {row.train_overhead:+.1%})",
                row.overhead < OVERHEAD_GOAL,
            )

    def loop_pipeline(self, result) -> None:  # type: ignore[no-untyped-def]
        for row in result.prefetch:
            # fit's own choice should be the faster of the two.
            chosen = "thread" if row.auto else "main thread"
            ratio = row.ratio.median
            self.add(
                f"prefetch: fit's choice ({chosen}) is the faster ({row.case}, {row.backend})",
                f"thread / main thread {ratio:.3f} [{row.ratio.q1:.3f}, {row.ratio.q3:.3f}]",
                ratio <= 1.0 if row.auto else ratio >= 1.0,
            )
        for evaluation in result.evaluation:
            self.add(
                f"--eval-every 3 --test-at-end faster than every epoch ({evaluation.backend})",
                f"{evaluation.ratio.median:.3f}",
                evaluation.ratio.median < 1.0,
            )

    def gpu(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.train_step import TITLES

        for case in result.steps.cases:
            goal, met = case.goal()
            self.add(
                f"{case.framework} {TITLES[case.net]} step on {case.label}: {goal}",
                f"{case.step.ratio.median:.3f} (IQR {case.step.ratio.q1:.3f}-"
                f"{case.step.ratio.q3:.3f})",
                met,
            )
        for line in result.skipped:
            self.add("GPU rows", line, None)

    def load(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.load import SLOWDOWN_GOAL, TITLES

        for row in result.rows:
            if not row.is_goal:
                continue
            self.add(
                f"{row.framework} {TITLES[row.net]} epoch beside a CPU-bound process, "
                f"{row.setting}: slowdown <= {SLOWDOWN_GOAL:g}x",
                f"{row.slowdown.median:.2f}x (IQR {row.slowdown.q1:.2f}-{row.slowdown.q3:.2f})",
                row.slowdown.median <= SLOWDOWN_GOAL,
            )

    def process(self, result) -> None:  # type: ignore[no-untyped-def]
        from benchmarks.process import RATIO_GOALS

        done = {row.backend: row for row in result.rows}
        for backend, goal in RATIO_GOALS.items():
            name = f"netspec train ({backend}) / hand-written script, whole process <= {goal:.2f}"
            row = done.get(backend)
            if row is None:
                self.add(name, "; ".join(result.skipped) or "-", None)
                continue
            ratio = row.ratio
            self.add(
                name,
                f"{ratio.median:.3f} (IQR {ratio.q1:.3f}-{ratio.q3:.3f})",
                ratio.median <= goal,
            )

    def render(self) -> str:
        return "### goals\n\n" + table(["goal", "figure", "verdict"], self.rows)
