"""Write specs/data/diabetes.csv from scikit-learn's bundled diabetes data (no download).

The data (Efron, Hastie, Johnstone and Tibshirani, "Least Angle Regression", 2004) are
442 patients: age, sex, body mass index, average blood pressure and six blood serum
measurements, and a measure of disease progression one year later (the target). They
are written unscaled (`load_diabetes(scaled=False)`), as the study recorded them; the
spec's `csv` source standardises the features itself.

    python specs/data/make_diabetes_csv.py
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_diabetes

from netspec.weights import atomic_write_bytes

HERE = Path(__file__).resolve().parent
COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def diabetes_csv() -> str:
    """The CSV text: a header, then one row per patient, the target `progression` last."""
    bunch = load_diabetes(scaled=False)
    rows = [",".join([*COLUMNS, "progression"])]
    for features, target in zip(bunch.data, bunch.target, strict=True):
        # Ten significant digits keep every value as the bundled file has it.
        rows.append(",".join(f"{v:.10g}" for v in [*features, target]))
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    atomic_write_bytes(HERE / "diabetes.csv", diabetes_csv().encode())
