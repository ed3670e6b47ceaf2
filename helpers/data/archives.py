"""Archive safety: refuse a zip or tar entry that would land outside the extraction folder."""

from __future__ import annotations

import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from helpers import config
from helpers.data.common import DataError


def _check_archive_member(archive: str, name: str, link: str | None, hard_link: bool) -> None:
    """Refuse an entry that would land outside the extraction folder (Keras would only warn)."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    escapes = posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in path.parts
    if not escapes and link is not None:
        # Symlinks resolve from their own folder, hard links from the archive's root.
        base = "" if hard_link else str(path.parent)
        resolved = posixpath.normpath(posixpath.join(base, link.replace("\\", "/")))
        escapes = link.startswith("/") or resolved == ".." or resolved.startswith("../")
    if escapes:
        target = f" -> {link!r}" if link is not None else ""
        raise DataError(
            f"The archive {archive} holds the entry {name!r}{target}, which points outside the "
            "folder it is extracted into. Refusing to extract it (nothing was installed): use an "
            "archive from a source you trust, with only 'alpaca/' and 'not alpaca/' inside."
        )


def _safe_extract(archive: Path, target: Path, label: str) -> None:
    """Check every member of a zip/tar archive, then let the standard library extract it."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                link = bundle.read(info).decode("utf-8", "replace") if is_link else None
                _check_archive_member(label, info.filename, link, hard_link=False)
        archive_format = "zip"
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise DataError(
                        f"The archive {label} holds {member.name!r}, which is not a file or folder "
                        "(a device or pipe). Refusing to extract it; nothing was installed."
                    )
                link = member.linkname if (member.issym() or member.islnk()) else None
                _check_archive_member(label, member.name, link, hard_link=member.islnk())
        archive_format = "tar"  # tarfile detects gzip/bz2/xz compression by itself
    else:
        raise DataError(
            f"The download {label} is not a .zip or .tar(.gz) archive (an error page?). "
            f"Check the address in --url or {config.ENV_DATASET_URL}."
        )
    # tarfile's "data" filter (Python >= 3.11.4) is a second line of defence; zipfile has no such option.
    options = (
        {"filter": "data"} if archive_format == "tar" and hasattr(tarfile, "data_filter") else {}
    )
    try:
        shutil.unpack_archive(archive, target, archive_format, **options)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(
            f"The archive {label} cannot be extracted ({exc}); it may be truncated. Nothing was "
            "installed; run the command again."
        ) from exc
