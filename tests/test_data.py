"""Unit tests of helpers.data without a network: checking, layouts, installing, CLI, provenance.

Each test builds a tiny dataset (a few 8x8 JPEGs) and its own manifest in a temp
folder; only the tests marked "real data" read dataset/ or ../shared/data.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.data_factory import image_set, snapshot, tiny_image, write_manifest, write_tree
from PIL import Image

from helpers import config, data
from helpers.data import DataError
from helpers.data import common as data_common
from helpers.data import dataset as data_dataset

ENV_VARS = (
    config.ENV_DATASET_SOURCE,
    config.ENV_DATASET_URL,
    config.ENV_WEIGHTS_SOURCE,
    config.ENV_WEIGHTS_BASE_URL,
)


def _shared(subpath: str, variable: str) -> Path | None:
    """A folder of ../shared/data: from its environment variable, else beside the clone."""
    value = os.environ.get(variable)
    candidate = Path(value) if value else config.PROJECT_ROOT.parent / "shared" / "data" / subpath
    return candidate if candidate.is_dir() else None


# Read before the autouse fixture below clears the variables.
SHARED_IMAGES = _shared("alpaca", config.ENV_DATASET_SOURCE)
SHARED_WEIGHTS = _shared("keras-standin/models", config.ENV_WEIGHTS_SOURCE)


@pytest.fixture(autouse=True)
def _no_source_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI sets the source variables; tests choose their sources explicitly."""
    for variable in ENV_VARS:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def dataset(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """An installed, intact copy of `files`."""
    return write_tree(tmp_path / "dataset", files)


def _problem(directory: Path, manifest: Path) -> str:
    """The DataError message require_dataset gives for this folder."""
    with pytest.raises(DataError) as caught:
        data.require_dataset(directory, manifest=manifest)
    return str(caught.value)


# --------------------------------------------------------------------------- manifest


def test_course_manifest_lists_the_expected_images() -> None:
    entries = data.read_manifest()
    assert len(entries) == config.EXPECTED_TOTAL_IMAGES
    assert data_dataset._class_counts(entries) == config.EXPECTED_CLASS_COUNTS
    assert all(len(digest) == 64 for digest in entries.values())


def test_malformed_manifest_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sha256"
    bad.write_text("0123  alpaca/x.jpg\n")
    with pytest.raises(DataError, match=r"Line 1 of the manifest .*bad\.sha256"):
        data.read_manifest(bad)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alpaca", "alpaca"),
        ("not alpaca", "not alpaca"),
        ("not_alpaca", "not alpaca"),
        ("Not-Alpaca", "not alpaca"),
        ("notalpaca", "not alpaca"),
        ("train", None),
        ("alpaca_dataset_small", None),
    ],
)
def test_class_folder_names_are_normalised(name: str, expected: str | None) -> None:
    assert data.class_for_folder(name) == expected


# --------------------------------------------------------------------------- checking


def test_intact_dataset_passes(dataset: Path, manifest: Path) -> None:
    assert data.require_dataset(dataset, manifest=manifest) == dataset
    report = data.verify_dataset(dataset, manifest=manifest)
    assert report.ok and report.decoded_all
    assert report.counts == {"alpaca": 3, "not alpaca": 4}
    assert report.summary().startswith("7 images OK (alpaca 3, not alpaca 4)")


def test_missing_dataset_says_what_to_run(tmp_path: Path, manifest: Path) -> None:
    message = _problem(tmp_path / "nowhere", manifest)
    assert message.startswith("The dataset is missing")
    assert (
        "nowhere" in message
        and f"python -m helpers.data fetch --dir '{tmp_path / 'nowhere'}'" in message
    )
    assert config.ENV_DATASET_SOURCE in message


def test_fixes_for_the_course_folder_say_make_data(tmp_path: Path) -> None:
    assert "`make data`" in data_common._fetch_hint(config.DATASET_DIR)
    assert (
        data_common._fetch_hint(tmp_path)
        == f"run `python -m helpers.data fetch --dir '{tmp_path}/'`"
    )


def test_misspelt_class_folder_gets_a_rename_hint(dataset: Path, manifest: Path) -> None:
    (dataset / "not alpaca").rename(dataset / "not_alpaca")
    message = _problem(dataset, manifest)
    assert "missing the folder" in message and "not alpaca" in message
    assert "Rename" in message and "not_alpaca" in message


def test_empty_class_folder_is_named(dataset: Path, manifest: Path) -> None:
    for image in (dataset / "alpaca").iterdir():
        image.unlink()
    message = _problem(dataset, manifest)
    assert "dataset/alpaca/' has no images" in message
    assert "python -m helpers.data fetch" in message


def _cut_after_header(image: bytes) -> bytes:
    """The image with its last third missing: headers intact, so only a full decode notices."""
    assert Image.open(io.BytesIO(image[: len(image) * 2 // 3])).size  # the header still parses
    return image[: len(image) * 2 // 3]


def test_truncated_course_image_is_named(tmp_path: Path) -> None:
    files = {"alpaca/a.jpg": tiny_image(1, side=64), "not alpaca/b.jpg": tiny_image(2, side=64)}
    manifest = write_manifest(tmp_path / "m.sha256", files)
    folder = write_tree(tmp_path / "ds", files)
    (folder / "not alpaca" / "b.jpg").write_bytes(_cut_after_header(files["not alpaca/b.jpg"]))
    message = _problem(folder, manifest)
    assert "not alpaca/b.jpg' cannot be used as an image: corrupt or truncated image" in message
    assert "restore the course's copy" in message and "python -m helpers.data fetch" in message


def test_corrupt_own_image_is_named_with_delete_fix(dataset: Path, manifest: Path) -> None:
    (dataset / "alpaca" / "mine.jpg").write_bytes(_cut_after_header(tiny_image(99, side=64)))
    message = _problem(dataset, manifest)
    assert "alpaca/mine.jpg' cannot be used as an image: corrupt or truncated image" in message
    assert "delete it" in message and "restore" not in message


def test_text_file_with_image_name_is_not_an_image(dataset: Path, manifest: Path) -> None:
    (dataset / "not alpaca" / "notes.jpg").write_text("my notes")
    message = _problem(dataset, manifest)
    assert "not alpaca/notes.jpg" in message and "not an image file" in message


def test_image_tensorflow_cannot_decode_is_named(dataset: Path, manifest: Path) -> None:
    (dataset / "alpaca" / "photo.jpg").write_bytes(tiny_image(98, "WEBP"))
    message = _problem(dataset, manifest)
    assert (
        "alpaca/photo.jpg" in message
        and "WEBP" in message
        and "TensorFlow cannot decode" in message
    )


def test_other_files_are_ignored_and_listed(dataset: Path, manifest: Path) -> None:
    (dataset / "alpaca" / "readme.txt").write_text("not an image")
    (dataset / "alpaca" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    data.require_dataset(dataset, manifest=manifest)
    report = data.verify_dataset(dataset, manifest=manifest)
    assert report.ok and report.ignored == ["alpaca/readme.txt"]
    assert "Ignored 1 non-image file(s): 'alpaca/readme.txt'" in report.summary()


def test_learners_own_images_are_allowed(dataset: Path, manifest: Path) -> None:
    (dataset / "alpaca" / "mine.png").write_bytes(tiny_image(97, "PNG"))
    report = data.verify_dataset(dataset, manifest=manifest)
    assert report.ok and report.extra == ["alpaca/mine.png"] and report.total == 8
    assert "not in the manifest" in report.summary()


def test_edited_and_missing_course_images_are_listed(dataset: Path, manifest: Path) -> None:
    (dataset / "alpaca" / "img00.jpg").write_bytes(tiny_image(50))  # another valid image
    (dataset / "not alpaca" / "img03.jpg").unlink()
    report = data.verify_dataset(dataset, manifest=manifest)
    assert not report.ok
    assert report.differ == ["alpaca/img00.jpg"] and report.missing == ["not alpaca/img03.jpg"]
    message = _problem(dataset, manifest)
    assert "1 file(s) differ" in message and "'alpaca/img00.jpg'" in message
    assert "1 image(s) of the course are missing" in message and "'not alpaca/img03.jpg'" in message


def test_full_verify_decodes_files_the_quick_check_trusts(tmp_path: Path) -> None:
    files = {**image_set({"alpaca": 1, "not alpaca": 1}), "alpaca/broken.jpg": b"garbage"}
    manifest = write_manifest(tmp_path / "m.sha256", files)  # the manifest vouches for the garbage
    folder = write_tree(tmp_path / "ds", files)
    data.require_dataset(folder, manifest=manifest)
    report = data.verify_dataset(folder, manifest=manifest)
    assert report.undecodable == {"alpaca/broken.jpg": "not an image file"}


# --------------------------------------------------------------------------- fetching from a folder


def _layout(files: dict[str, bytes], kind: str) -> dict[str, bytes]:
    """The same images laid out the way various sources ship them."""
    if kind == "plain":
        return dict(files)
    if kind == "underscore":
        return {
            name.replace("not alpaca/", "not_alpaca/"): content for name, content in files.items()
        }
    if kind == "top folder":
        return {f"alpaca-dataset-small/{name}": content for name, content in files.items()}
    if kind == "top folder named alpaca":
        return {f"alpaca/{name}": content for name, content in files.items()}
    if kind == "train/test":
        split = {}
        for index, (name, content) in enumerate(sorted(files.items())):
            part = "test" if index % 3 == 0 else "train"
            split[f"data/{part}/{name.replace('not alpaca/', 'not_alpaca/')}"] = content
        return split
    if kind == "junk":
        junk = {
            ".DS_Store": b"x",
            "alpaca/.DS_Store": b"x",
            "__MACOSX/alpaca/._img00.jpg": b"x",
            "LICENSE.txt": b"x",
        }
        return {**files, **junk}
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind", ["plain", "underscore", "top folder", "top folder named alpaca", "train/test", "junk"]
)
def test_layouts_are_normalised(
    tmp_path: Path, files: dict[str, bytes], manifest: Path, kind: str
) -> None:
    source = write_tree(tmp_path / "source", _layout(files, kind))
    target = tmp_path / "course" / "dataset"
    data.fetch_dataset(source, directory=target, manifest=manifest)
    assert snapshot(target) == {
        name: hashlib.sha256(content).hexdigest() for name, content in files.items()
    }
    assert sorted(p.name for p in target.parent.iterdir()) == ["dataset"]  # no scratch folder left


def test_same_name_in_train_and_test_keeps_both(
    tmp_path: Path, files: dict[str, bytes], manifest: Path
) -> None:
    split = {f"train/{name}": content for name, content in files.items()}
    split["test/alpaca/img00.jpg"] = tiny_image(77)  # same name, other picture
    split["test/alpaca/img01.jpg"] = files["alpaca/img01.jpg"]  # same picture twice
    target = tmp_path / "dataset"
    data.fetch_dataset(
        write_tree(tmp_path / "src", split),
        directory=target,
        manifest=manifest,
        allow_different=True,
    )
    assert sorted(p.name for p in (target / "alpaca").iterdir()) == [
        "img00.jpg",
        "img01.jpg",
        "img02.jpg",
        "train_img00.jpg",
    ]


def test_source_without_a_class_folder_is_refused(
    tmp_path: Path, files: dict[str, bytes], manifest: Path
) -> None:
    only_alpaca = {name: content for name, content in files.items() if name.startswith("alpaca/")}
    with pytest.raises(DataError, match="has no folder for 'not alpaca'"):
        data.fetch_dataset(
            write_tree(tmp_path / "src", only_alpaca), directory=tmp_path / "ds", manifest=manifest
        )
    assert not (tmp_path / "ds").exists()


def test_source_that_is_not_a_folder_names_where_it_came_from(
    tmp_path: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match=r"nope.*from --source"):
        data.fetch_dataset(tmp_path / "nope", directory=tmp_path / "ds", manifest=manifest)
    monkeypatch.setenv(config.ENV_DATASET_SOURCE, str(tmp_path / "nope"))
    with pytest.raises(DataError, match=rf"nope.*from \${config.ENV_DATASET_SOURCE}"):
        data.fetch_dataset(directory=tmp_path / "ds", manifest=manifest)


def test_different_source_is_refused_then_accepted_on_request(
    tmp_path: Path, files: dict[str, bytes], manifest: Path
) -> None:
    changed = dict(files)
    changed["alpaca/img00.jpg"] = tiny_image(60)
    del changed["not alpaca/img03.jpg"]
    source = write_tree(tmp_path / "src", changed)
    target = tmp_path / "dataset"
    with pytest.raises(DataError) as caught:
        data.fetch_dataset(source, directory=target, manifest=manifest)
    message = str(caught.value)
    assert (
        "1 differ, 1 missing, 0 not in the manifest" in message and "--accept-different" in message
    )
    assert "Nothing was installed" in message and not target.exists()

    data.fetch_dataset(source, directory=target, manifest=manifest, allow_different=True)
    assert (target / data.ACCEPTED_MANIFEST_NAME).is_file()
    report = data.verify_dataset(target, manifest=manifest)
    assert report.ok and report.total == 6 and report.manifest.name == data.ACCEPTED_MANIFEST_NAME

    # Back to the course's images: the record of the accepted difference goes away.
    data.fetch_dataset(
        write_tree(tmp_path / "good", files), force=True, directory=target, manifest=manifest
    )
    assert not (target / data.ACCEPTED_MANIFEST_NAME).exists()


def test_intact_dataset_is_not_fetched_again(
    dataset: Path, manifest: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = {path: path.stat().st_mtime_ns for path in dataset.rglob("*")}
    with caplog.at_level(logging.INFO, logger="helpers.data"):
        data.fetch_dataset(tmp_path / "not-needed", directory=dataset, manifest=manifest)
    assert "Nothing downloaded or copied" in caplog.text
    assert {path: path.stat().st_mtime_ns for path in dataset.rglob("*")} == before


def test_broken_dataset_is_replaced_and_readme_kept(
    dataset: Path, files: dict[str, bytes], manifest: Path, tmp_path: Path
) -> None:
    (dataset / "README.md").write_text("tracked by git")
    (dataset / "alpaca" / "img00.jpg").write_bytes(b"oops")
    data.fetch_dataset(write_tree(tmp_path / "src", files), directory=dataset, manifest=manifest)
    assert (dataset / "README.md").read_text() == "tracked by git"
    data.require_dataset(dataset, manifest=manifest)


def test_failed_swap_puts_the_old_folders_back(
    dataset: Path,
    files: dict[str, bytes],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (dataset / "alpaca" / "mine.png").write_bytes(tiny_image(40, "PNG"))
    before = snapshot(dataset)
    real_replace = os.replace
    calls = []

    def failing_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        calls.append(src)
        if len(calls) == 4:  # the second class folder's move into place
            raise PermissionError("simulated")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(DataError, match="old folders were put back"):
        data.fetch_dataset(
            write_tree(tmp_path / "src", files), force=True, directory=dataset, manifest=manifest
        )
    monkeypatch.undo()
    assert snapshot(dataset) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------- command line


def test_cli_verify_and_info_on_a_small_dataset(
    dataset: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert data.main(["verify", "--dir", str(dataset), "--manifest", str(manifest)]) == 0
    assert capsys.readouterr().out.startswith("7 images OK")
    assert data.main(["info", "--dir", str(dataset), "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert str(dataset) in out and "3 images (manifest: 3)" in out
    assert str(config.keras_models_dir()) in out and config.ENV_WEIGHTS_BASE_URL in out


def test_cli_fetch_on_a_ready_machine_downloads_nothing(
    dataset: Path,
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = b'{"0": ["n01440764", "tench"]}'
    monkeypatch.setattr(config, "CLASS_INDEX_MD5", hashlib.md5(index).hexdigest())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    models = write_tree(config.keras_models_dir(), {config.CLASS_INDEX_FILE: index})
    for name in config.WEIGHT_FILES.values():
        (models / name).write_bytes(data.HDF5_SIGNATURE + name.encode())
    monkeypatch.setenv(config.ENV_WEIGHTS_BASE_URL, "http://127.0.0.1:9/")  # would fail if used
    assert data.main(["fetch", "--dir", str(dataset), "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert (
        "Nothing downloaded or copied" in out
        and "Weights: already in" in out
        and "unknown weights" in out
    )


def test_cli_failure_is_one_message_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.data",
            "fetch",
            "--dir",
            str(tmp_path / "ds"),
            "--source",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr.startswith("error: The dataset source") and "Traceback" not in result.stderr
    )


def test_cli_output_into_a_closed_pipe_ends_quietly(dataset: Path, manifest: Path) -> None:
    """`python -m helpers.data info | head -1`: the reader has gone; no traceback, status 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails, as after `head` has exited
    try:
        result = subprocess.run(
            [sys.executable, "-m", "helpers.data", "info", "--dir", str(dataset)]
            + ["--manifest", str(manifest)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=config.PROJECT_ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_importing_the_module_does_not_start_tensorflow() -> None:
    code = "import sys, helpers.data; sys.exit(int('keras' in sys.modules or 'tensorflow' in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], cwd=config.PROJECT_ROOT, timeout=60).returncode
        == 0
    )


# --------------------------------------------------------------------------- weights provenance


def test_git_blob_sha1_matches_git_hash_object(tmp_path: Path) -> None:
    sample = tmp_path / "hello.txt"
    sample.write_bytes(b"hello\n")
    assert (
        data.git_blob_sha1(sample) == "ce013625030ba8dba906f756967f9e9ca394464a"
    )  # git hash-object


def test_provenance_tells_official_standin_and_unknown_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_top, no_top = (tmp_path / name for name in config.WEIGHT_FILES.values())
    with_top.write_bytes(b"pretend official")
    no_top.write_bytes(b"pretend stand-in")
    monkeypatch.setitem(data.OFFICIAL_WEIGHTS_GIT_SHA1, with_top.name, data.git_blob_sha1(with_top))
    monkeypatch.setitem(
        data.STANDIN_WEIGHTS_SHA256, no_top.name, hashlib.sha256(b"pretend stand-in").hexdigest()
    )
    assert data.weights_provenance(with_top) == data.PROVENANCE_OFFICIAL
    assert data.weights_provenance(no_top) == data.PROVENANCE_STANDIN
    assert data.weights_provenance(tmp_path) == (
        f"{with_top.name}: {data.PROVENANCE_OFFICIAL}; {no_top.name}: {data.PROVENANCE_STANDIN}"
    )
    no_top.write_bytes(b"something else")
    assert data.weights_provenance(no_top) == data.PROVENANCE_UNKNOWN
    assert data.weights_provenance(tmp_path / "empty").startswith("no MobileNetV2 weights")


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(
    SHARED_WEIGHTS is None, reason="no stand-in weights ($ALPACA_WEIGHTS_SOURCE or ../shared/data)"
)
def test_standin_weights_are_called_standin() -> None:
    assert SHARED_WEIGHTS is not None
    assert data.weights_provenance(SHARED_WEIGHTS) == data.PROVENANCE_STANDIN
    for name in config.WEIGHT_FILES.values():
        assert data.weights_provenance(SHARED_WEIGHTS / name) == data.PROVENANCE_STANDIN


@pytest.mark.skipif(
    not (config.DATASET_DIR / "alpaca").is_dir(), reason="dataset/ not fetched yet (make data)"
)
def test_real_dataset_quick_check_decodes_nothing_and_full_check_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes the quick check quick (every notebook runs it): checksums only, no image is
    decoded. Its speed itself is no unit-test matter: wall time depends on the machine's load."""
    import PIL.Image

    opened: list[object] = []
    real_open = PIL.Image.open

    def counting_open(*args: object, **kwargs: object) -> object:
        opened.append(args[0] if args else kwargs)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    assert data.require_dataset() == config.DATASET_DIR
    assert opened == []
    assert data.main(["verify"]) == 0
    assert len(opened) == config.EXPECTED_TOTAL_IMAGES  # control: the full check does decode
    assert capsys.readouterr().out.startswith(
        f"{config.EXPECTED_TOTAL_IMAGES} images OK (alpaca 142, not alpaca 185)"
    )


@pytest.mark.skipif(
    SHARED_IMAGES is None, reason="no local copy ($ALPACA_DATASET_SOURCE or ../shared/data/alpaca)"
)
def test_fetch_from_local_copy_then_nothing_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "dataset"
    data.fetch_dataset(SHARED_IMAGES, directory=target)
    report = data_dataset._inspect(target, config.DATASET_MANIFEST, decode_all=False)
    assert report.ok and report.counts == config.EXPECTED_CLASS_COUNTS and not report.extra
    stamp = {path: path.stat().st_mtime_ns for path in target.rglob("*")}
    with caplog.at_level(logging.INFO, logger="helpers.data"):
        data.fetch_dataset(SHARED_IMAGES, directory=target)
    assert "Nothing downloaded or copied" in caplog.text
    assert {path: path.stat().st_mtime_ns for path in target.rglob("*")} == stamp
