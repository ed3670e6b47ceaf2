"""Fetching the dataset: from a local folder, an archive URL or Kaggle, checked, then swapped in.

`fetch_dataset` builds the new images in a scratch folder beside `dataset/`,
checks them against the manifest and only then moves them into place, so a
failure leaves the old state as it was.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.parse
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from helpers import config
from helpers.data.archives import _safe_extract
from helpers.data.common import (
    DataError,
    _download_failure,
    _keras_get_file,
    _listing,
    _sha256,
    _show,
    _temporary_dir,
    log,
)
from helpers.data.dataset import (
    ACCEPTED_MANIFEST_NAME,
    VerifyReport,
    _inspect,
    _is_junk,
    _walk_files,
    class_for_folder,
)


def _find_class_folders(root: Path) -> dict[str, list[Path]]:
    """Folders under root named like a class, innermost ones only.

    Innermost, so that a top folder called 'alpaca' holding 'alpaca/' and 'not alpaca/'
    is not itself taken for a class; several per class when the source is split into
    train/ and test/.
    """
    candidates: list[tuple[str, Path]] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not _is_junk(name))
        for name in dirnames:
            class_name = class_for_folder(name)
            if class_name is not None:
                candidates.append((class_name, Path(dirpath) / name))
    found: dict[str, list[Path]] = {}
    for class_name, folder in candidates:
        if not any(folder in other.parents for _, other in candidates):
            found.setdefault(class_name, []).append(folder)
    return found


def _plan_copy(root: Path, origin: str) -> dict[str, dict[str, Path]]:
    """{class: {name in dataset/: source file}}, merging split folders and dropping duplicates."""
    folders = _find_class_folders(root)
    absent = [name for name in config.CLASS_NAMES if name not in folders]
    if absent:
        raise DataError(
            f"{origin} has no folder for {_listing(absent)}. A source must hold the folders "
            f"'alpaca' and 'not alpaca' with the images (also accepted: 'not_alpaca', an extra "
            f"top folder, train/ and test/ splits). Nothing was installed."
        )
    plan: dict[str, dict[str, Path]] = {}
    for class_name in config.CLASS_NAMES:
        chosen: dict[str, Path] = {}
        for folder in folders[class_name]:
            for path in _walk_files(folder)[0]:
                name = path.relative_to(folder).as_posix()
                if name in chosen and _sha256(chosen[name]) == _sha256(path):
                    continue  # the same image in train/ and test/
                while name in chosen:  # same name, other image: keep both
                    name = f"{folder.parent.name}_{name}"
                chosen[name] = path
        plan[class_name] = chosen
    return plan


def _copy_into(plan: Mapping[str, Mapping[str, Path]], target: Path, move: bool) -> None:
    """Lay the planned files out as target/<class>/<name>; move when they are ours to take."""
    for class_name, files in plan.items():
        (target / class_name).mkdir(parents=True)
        for name, source in files.items():
            destination = target / class_name / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(source, destination)
            else:
                shutil.copyfile(source, destination)


def _dataset_offline_fix(directory: Path) -> str:
    """What to do about the dataset without a network."""
    return (
        f"Without a network: copy the folders 'alpaca' and 'not alpaca' (from a machine where "
        f"`make data` worked) into {_show(directory)}, or set {config.ENV_DATASET_SOURCE} to a "
        f"folder that holds them (or pass --source DIR), then run `python -m helpers.data fetch` again."
    )


def _download_archive(url: str, scratch: Path, directory: Path) -> Path:
    """Download an archive with keras.utils.get_file into scratch, check and extract it there."""
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name or "alpaca-dataset-archive"
    log.info("Dataset: downloading %s", url)
    try:
        archive = Path(
            _keras_get_file()(
                fname=name, origin=url, cache_dir=str(scratch), cache_subdir="download"
            )
        )
    except Exception as exc:  # get_file raises a bare Exception for every URL error
        fix = f"Check --url / {config.ENV_DATASET_URL}. " + _dataset_offline_fix(directory)
        raise _download_failure(url, exc, "the dataset", fix) from exc
    extracted = scratch / "extracted"
    _safe_extract(archive, extracted, f"from {url}")
    archive.unlink()  # only the extracted images are needed now
    return extracted


def _download_kaggle(directory: Path) -> Path:
    """The public Kaggle dataset, through kagglehub (which caches it in ~/.cache/kagglehub)."""
    log.info("Dataset: downloading the Kaggle dataset %s", config.KAGGLE_DATASET)
    try:
        import kagglehub

        return Path(kagglehub.dataset_download(config.KAGGLE_DATASET))
    except Exception as exc:  # network, HTTP and credential errors all end the same way
        raise DataError(
            f"Could not download the Kaggle dataset {config.KAGGLE_DATASET} "
            f"({type(exc).__name__}: {exc}). If Kaggle asks for credentials, create an API token "
            "on kaggle.com (Settings) and set KAGGLE_USERNAME and KAGGLE_KEY. Or set "
            f"{config.ENV_DATASET_URL} to an archive of the images. Nothing was changed. "
            + _dataset_offline_fix(directory)
        ) from exc


def _judge_source(
    report: VerifyReport, origin: str, directory: Path, allow_different: bool
) -> bool:
    """Refuse a source that would break training or differs from the manifest; True if it differs."""
    unusable = [f"'{path}': {reason}" for path, reason in list(report.undecodable.items())[:5]]
    unusable += [f"no images for '{name}'" for name in report.empty_classes]
    if unusable:
        raise DataError(
            f"The images from {origin} cannot be used: "
            + "; ".join(unusable)
            + f". Nothing was installed; {_show(directory)} is unchanged. Fix or remove those files "
            "in the source, or use another source."
        )
    if not (report.differ or report.missing or report.extra):
        return False
    facts = (
        f"The images from {origin} do not match the course's manifest "
        f"({report.total} found, {sum(report.expected_counts.values())} expected): "
        f"{len(report.differ)} differ, {len(report.missing)} missing, "
        f"{len(report.extra)} not in the manifest"
        f" (e.g. {_listing(report.differ + report.missing + report.extra, 3)})."
    )
    if not allow_different:
        raise DataError(
            f"{facts} Nothing was installed; {_show(directory)} is unchanged. The course's outputs "
            "and graders expect the manifest's images. If you trust this source anyway, run "
            "`python -m helpers.data fetch --accept-different` with the same source "
            "(allow_different=True in Python)."
        )
    log.warning(
        "%s Installing it anyway (--accept-different); recorded in %s.",
        facts,
        ACCEPTED_MANIFEST_NAME,
    )
    return True


def _install(staged: Path, directory: Path, scratch: Path, accepted: str | None) -> None:
    """Swap the staged class folders into directory; put the old ones back if a move fails.

    Class folders are swapped one by one (not dataset/ as a whole) because dataset/
    also holds README.md, which is tracked by git.
    """
    directory.mkdir(parents=True, exist_ok=True)
    old = scratch / "old"
    old.mkdir()
    moved_away: list[str] = []
    placed: list[str] = []
    try:
        for name in config.CLASS_NAMES:
            target = directory / name
            if target.exists() or target.is_symlink():
                os.replace(target, old / name)
                moved_away.append(name)
            os.replace(staged / name, target)
            placed.append(name)
    except OSError as exc:
        for name in placed:
            os.replace(directory / name, staged / name)
        for name in moved_away:
            os.replace(old / name, directory / name)
        raise DataError(
            f"Could not move the new images into {_show(directory)} ({exc}); the old folders were "
            "put back. Check that the folder is writable and not open elsewhere, then run the "
            "command again."
        ) from exc
    record = directory / ACCEPTED_MANIFEST_NAME
    if accepted is None:
        record.unlink(missing_ok=True)
    else:
        (scratch / ACCEPTED_MANIFEST_NAME).write_text(accepted, encoding="utf-8")
        os.replace(scratch / ACCEPTED_MANIFEST_NAME, record)


def _manifest_text(directory: Path) -> str:
    """The `sha256  class/file` lines of what is in directory's class folders."""
    lines = []
    for name in config.CLASS_NAMES:
        for path in _walk_files(directory / name)[0]:
            lines.append(f"{_sha256(path)}  {path.relative_to(directory).as_posix()}")
    return "\n".join(sorted(lines, key=lambda line: line[66:])) + "\n"


def _pick_dataset_source(
    source: Path | str | None, url: str | None, scratch: Path, directory: Path
) -> tuple[Path, str, bool]:
    """(folder holding the images, description, whether its files may be moved) from the first source set."""
    folder = source or os.environ.get(config.ENV_DATASET_SOURCE)
    if folder:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            named = "--source" if source else f"${config.ENV_DATASET_SOURCE}"
            raise DataError(
                f"The dataset source {_show(folder)} (from {named}) is not a folder. Point it at the "
                "folder that holds 'alpaca/' and 'not alpaca/', or unset it to download the images."
            )
        log.info("Dataset: copying from %s", _show(folder))
        return folder, _show(folder), False
    address = url or os.environ.get(config.ENV_DATASET_URL)
    if address:
        return _download_archive(address, scratch, directory), address, True
    return _download_kaggle(directory), f"the Kaggle dataset {config.KAGGLE_DATASET}", False


def fetch_dataset(
    source: Path | str | None = None,
    url: str | None = None,
    force: bool = False,
    *,
    allow_different: bool = False,
    directory: Path = config.DATASET_DIR,
    manifest: Path = config.DATASET_MANIFEST,
) -> Path:
    """Make sure `directory` holds the verified images; fetch them only when it does not.

    Sources, in order: `directory` itself (unless force); `source` or $ALPACA_DATASET_SOURCE;
    `url` or $ALPACA_DATASET_URL (a .zip/.tar.gz); the Kaggle dataset. The new images are
    built and checked in a scratch folder beside `directory`, then swapped in, so a failure
    leaves the old state as it was. A source that differs from the manifest is refused
    unless allow_different is True.
    """
    directory = Path(directory)
    if not force:
        current = _inspect(directory, Path(manifest), decode_all=False)
        if current.ok:
            log.info("Dataset: %s Nothing downloaded or copied.", current.summary())
            return directory
        if directory.is_dir() and current.missing_classes != list(config.CLASS_NAMES):
            log.info("Dataset: %s has problems; fetching a fresh copy.", _show(directory))
    parent = Path(os.path.abspath(directory)).parent
    with _temporary_dir(parent, prefix=f".{directory.name}-staging-") as scratch:
        root, origin, movable = _pick_dataset_source(source, url, scratch, directory)
        staged = scratch / "new"
        try:
            _copy_into(_plan_copy(root, origin), staged, move=movable)
        except OSError as exc:  # a full disk, an unreadable file in the source
            raise DataError(
                f"Could not copy the images from {origin} ({exc}). Nothing was installed; "
                f"{_show(directory)} is unchanged. Free some disk space or fix the file, then try again."
            ) from exc
        report = _inspect(staged, Path(manifest), decode_all=False)
        differs = _judge_source(report, origin, directory, allow_different)
        _install(staged, directory, scratch, _manifest_text(staged) if differs else None)
    log.info("Dataset: installed %d images in %s from %s.", report.total, _show(directory), origin)
    return directory
