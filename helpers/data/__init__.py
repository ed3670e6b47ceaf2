"""Find, fetch and verify the Alpaca / Not Alpaca images and the ImageNet weights.

Command line (run from the course folder)::

    python -m helpers.data fetch [--source DIR] [--url URL] [--weights-source DIR]
                                 [--weights-url URL] [--force] [--accept-different]
    python -m helpers.data verify [--dir DIR]
    python -m helpers.data info

`make data` runs `fetch`. The dataset comes from, in order: what is already in
`dataset/`, a local folder (`--source` or $ALPACA_DATASET_SOURCE), an archive
URL (`--url` or $ALPACA_DATASET_URL), the public Kaggle dataset. The weights go
into Keras' own cache from a local folder (`--weights-source` or
$ALPACA_WEIGHTS_SOURCE) or Keras' download address ($ALPACA_WEIGHTS_BASE_URL
overrides it). Every failure raises `DataError`, whose message names the file
or folder at fault and the command that fixes it.

Importing this package is cheap: Keras (and so TensorFlow) is imported only
inside the functions that download, so `verify` and `info` start quickly.

The package, one module per concern (names with a leading underscore are
private to the package):

    common     DataError, paths in messages, hashing, scratch folders, download errors
    dataset    the manifest and the checks of a dataset folder (verify / require)
    archives   archive safety: no entry may land outside the extraction folder
    fetch      getting the dataset from a folder, an archive URL or Kaggle
    weights    the ImageNet weights in Keras' cache and which files they are
    cli        `python -m helpers.data fetch|verify|info` (run by __main__)
"""

from __future__ import annotations

from helpers.data.cli import main
from helpers.data.common import FETCH_HINT, DataError, git_blob_sha1
from helpers.data.dataset import (
    ACCEPTED_MANIFEST_NAME,
    TF_DECODABLE_FORMATS,
    VerifyReport,
    class_for_folder,
    read_manifest,
    require_dataset,
    verify_dataset,
)
from helpers.data.fetch import fetch_dataset
from helpers.data.weights import (
    HDF5_SIGNATURE,
    OFFICIAL_WEIGHTS_GIT_SHA1,
    PROVENANCE_OFFICIAL,
    PROVENANCE_STANDIN,
    PROVENANCE_UNKNOWN,
    STANDIN_WEIGHTS_SHA256,
    fetch_weights,
    weights_provenance,
)

__all__ = [
    "ACCEPTED_MANIFEST_NAME",
    "FETCH_HINT",
    "HDF5_SIGNATURE",
    "OFFICIAL_WEIGHTS_GIT_SHA1",
    "PROVENANCE_OFFICIAL",
    "PROVENANCE_STANDIN",
    "PROVENANCE_UNKNOWN",
    "STANDIN_WEIGHTS_SHA256",
    "TF_DECODABLE_FORMATS",
    "DataError",
    "VerifyReport",
    "class_for_folder",
    "fetch_dataset",
    "fetch_weights",
    "git_blob_sha1",
    "main",
    "read_manifest",
    "require_dataset",
    "verify_dataset",
    "weights_provenance",
]
