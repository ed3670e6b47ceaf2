"""The ImageNet weights in Keras' cache: fetching them, checking them, and telling which they are."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from helpers import config
from helpers.data.common import (
    DataError,
    _download_failure,
    _file_digest,
    _keras_get_file,
    _listing,
    _sha256,
    _show,
    _temporary_dir,
    git_blob_sha1,
    log,
)

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# git blob sha1 (`git hash-object`) of the official Keras files, as distributed
# with the original assignment (see ../shared/data/SOURCES.md, section 3).
OFFICIAL_WEIGHTS_GIT_SHA1: dict[str, str] = {
    config.WEIGHT_FILES["with_top"]: "d1d3b6107ff66816e04221a899d71cd2fc3fb8a4",
    config.WEIGHT_FILES["no_top"]: "cdb94f326acb4f24c2d181da1b5608b163e1ff49",
}
# sha256 of the rebuilt stand-ins used by tests and CI (keras-standin/README.md).
STANDIN_WEIGHTS_SHA256: dict[str, str] = {
    config.WEIGHT_FILES[
        "with_top"
    ]: "1b72ce56804bcb0b68c48d9c9b89b60280f44d7b1965a4b0e3900f8786b2800a",
    config.WEIGHT_FILES[
        "no_top"
    ]: "71e4c4ec4aa24c9c951b9265d6de42e1336dcf614c2214fa6a989208615e232c",
}
PROVENANCE_OFFICIAL = "official Keras weights"
PROVENANCE_STANDIN = "stand-in weights (rebuilt, not the official files)"
PROVENANCE_UNKNOWN = "unknown weights"


def _weight_files() -> list[str]:
    """The files `fetch_weights` puts in Keras' cache."""
    return list(config.KERAS_CACHE_FILES)


def _weight_file_problem(path: Path) -> str | None:
    """Why a cached weight/class-index file would not work, or None when it looks right."""
    if not path.is_file():
        return "missing"
    if path.name == config.CLASS_INDEX_FILE:
        md5 = _file_digest(path, "md5")
        if md5 != config.CLASS_INDEX_MD5:
            return f"its md5 is {md5}, not {config.CLASS_INDEX_MD5} (the file Keras checks for)"
        return None
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return "not an HDF5 weight file (an error page, or a truncated download?)"
    return None


def _weights_offline_fix(models: Path, names: Sequence[str]) -> str:
    """What to do about the weights without a network."""
    return (
        f"Without a network: copy {_listing(list(names), 3)} from the Keras cache of a machine where "
        f"`make data` worked (~/.keras/models) into {_show(models)}, or set "
        f"{config.ENV_WEIGHTS_SOURCE} to a folder that holds them (or pass --weights-source DIR), "
        "then run `make data` (or `python -m helpers.data fetch`) again."
    )


def _weight_url(name: str, base_url: str, mirror: bool) -> str:
    """Where one file comes from: a mirror holds all three; Keras' own index lives elsewhere."""
    if name == config.CLASS_INDEX_FILE and not mirror:
        return config.CLASS_INDEX_URL
    return base_url.rstrip("/") + "/" + name


def _stage_weight(
    name: str, folder: Path | None, base_url: str, mirror: bool, scratch: Path, models: Path
) -> str:
    """Copy or download one file into scratch; return where it came from."""
    if folder is not None and (folder / name).is_file():
        shutil.copyfile(folder / name, scratch / name)
        return _show(folder / name)
    url = _weight_url(name, base_url, mirror)
    md5 = config.CLASS_INDEX_MD5 if name == config.CLASS_INDEX_FILE else None
    log.info("Weights: downloading %s", url)
    try:
        _keras_get_file()(
            fname=name, origin=url, file_hash=md5, cache_dir=str(scratch), cache_subdir=""
        )
    except Exception as exc:  # get_file raises a bare Exception for every URL error
        fix = _weights_offline_fix(models, _weight_files())
        if mirror:
            fix = f"Check --weights-url / {config.ENV_WEIGHTS_BASE_URL}. " + fix
        raise _download_failure(url, exc, name, fix) from exc
    return url


def fetch_weights(source: Path | str | None = None, base_url: str | None = None) -> Path:
    """Put the 160-px MobileNetV2 weights and the ImageNet class index in Keras' cache.

    Files already there (and sound) are kept. The others come from `source` or
    $ALPACA_WEIGHTS_SOURCE when that folder has them, else are downloaded from
    `base_url`, $ALPACA_WEIGHTS_BASE_URL or Keras' own address. All new files are
    staged and checked in a scratch folder inside the cache, then renamed into
    place, so a failure leaves the cache as it was. Returns the cache folder.
    """
    models = config.keras_models_dir()
    todo = [name for name in _weight_files() if _weight_file_problem(models / name) is not None]
    if not todo:
        log.info(
            "Weights: already in %s: %s. Nothing downloaded.",
            _show(models),
            weights_provenance(models),
        )
        return models
    folder_text = source or os.environ.get(config.ENV_WEIGHTS_SOURCE)
    folder = Path(folder_text).expanduser() if folder_text else None
    if folder is not None and not folder.is_dir():
        named = "--weights-source" if source else f"${config.ENV_WEIGHTS_SOURCE}"
        raise DataError(
            f"The weights source {_show(folder)} (from {named}) is not a folder. Point it at a folder "
            f"holding {_listing(_weight_files(), 3)}, or unset it to download them."
        )
    chosen_base = base_url or os.environ.get(config.ENV_WEIGHTS_BASE_URL)
    with _temporary_dir(models, prefix=".alpaca-download-") as scratch:
        origins = {
            name: _stage_weight(
                name,
                folder,
                chosen_base or config.KERAS_WEIGHTS_BASE_URL,
                bool(chosen_base),
                scratch,
                models,
            )
            for name in todo
        }
        for name in todo:
            problem = _weight_file_problem(scratch / name)
            if problem is not None:
                raise DataError(
                    f"{name} from {origins[name]} is not usable: {problem}. Nothing was changed in "
                    f"{_show(models)}. " + _weights_offline_fix(models, [name])
                )
        for name in todo:  # only now that every file is sound
            os.replace(scratch / name, models / name)
            log.info("Weights: %s <- %s", name, origins[name])
    log.info("Weights: ready in %s: %s.", _show(models), weights_provenance(models))
    return models


def _file_provenance(path: Path) -> str:
    """Which weights one file holds, judged by its checksums."""
    if git_blob_sha1(path) in OFFICIAL_WEIGHTS_GIT_SHA1.values():
        return PROVENANCE_OFFICIAL
    if _sha256(path) in STANDIN_WEIGHTS_SHA256.values():
        return PROVENANCE_STANDIN
    return PROVENANCE_UNKNOWN


def weights_provenance(path: Path | str | None = None) -> str:
    """'official Keras weights', 'stand-in weights (...)' or 'unknown weights'.

    `path` is a weight file, or a folder holding the course's two weight files
    (default: Keras' cache). A folder with files of different kinds gets one
    phrase per file.
    """
    target = Path(path) if path is not None else config.keras_models_dir()
    if target.is_file():
        return _file_provenance(target)
    present = [target / name for name in config.WEIGHT_FILES.values() if (target / name).is_file()]
    if not present:
        return f"no MobileNetV2 weights in {_show(target)}"
    kinds = {file.name: _file_provenance(file) for file in present}
    if len(set(kinds.values())) == 1 and len(present) == len(config.WEIGHT_FILES):
        return next(iter(kinds.values()))
    missing = [name for name in config.WEIGHT_FILES.values() if name not in kinds]
    return "; ".join(
        [f"{name}: {kind}" for name, kind in kinds.items()]
        + [f"{name}: missing" for name in missing]
    )
