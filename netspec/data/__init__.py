"""Training data: the sources a train section names, split, shaped and checked.

from netspec.data import load_dataset, batches
data = load_dataset(train.data, input_shape=(784,), output_shape=(10,),
                    loss_kind="softmax_cross_entropy", seed=0)
for x, y in batches(data.train, 128, shuffle=True, seed=0, epoch=3):
    ...
"""

from netspec.data._augment import augment
from netspec.data._batches import batch_order, batches, num_batches
from netspec.data._download import download, verify_mnist
from netspec.data._encoding import CsvEncoding, read_encoding
from netspec.data._idx import parse_idx, read_idx, write_idx
from netspec.data._load import load_dataset
from netspec.data._locate import DATA_DIR_ENV, cache_dir
from netspec.data._types import Dataset, Split

__all__ = [
    "DATA_DIR_ENV",
    "CsvEncoding",
    "Dataset",
    "Split",
    "augment",
    "batch_order",
    "batches",
    "cache_dir",
    "download",
    "load_dataset",
    "num_batches",
    "parse_idx",
    "read_encoding",
    "read_idx",
    "verify_mnist",
    "write_idx",
]
