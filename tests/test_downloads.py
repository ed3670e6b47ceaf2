"""Downloads against a real HTTP server on 127.0.0.1, and the Kaggle fallback (kagglehub stubbed).

The server serves archives and fake weight files built in a temp folder; it can
answer 404 or cut a transfer short after sending its Content-Length.
"""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.data_factory import (
    add_tar_symlink,
    make_archive,
    snapshot,
    tiny_image,
    write_tree,
)

from helpers import config, data
from helpers.data import DataError

ENV_VARS = (
    config.ENV_DATASET_SOURCE,
    config.ENV_DATASET_URL,
    config.ENV_WEIGHTS_SOURCE,
    config.ENV_WEIGHTS_BASE_URL,
)


@dataclass
class Server:
    """What the test HTTP server serves, and what it was asked for."""

    base: str = ""
    routes: dict[str, bytes] = field(default_factory=dict)
    cut_short: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        """The full address of a served path."""
        return self.base + path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No source variables from CI, no proxy for 127.0.0.1, a private Keras cache per test."""
    for variable in ENV_VARS:
        monkeypatch.delenv(variable, raising=False)
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


@pytest.fixture
def server() -> Iterator[Server]:
    """A real HTTP server on a free port of 127.0.0.1, in a thread, shut down afterwards."""
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the method name http.server calls
            state.requests.append(self.path)
            body = state.routes.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # A cut-short transfer promises the whole body and closes after half of it.
            self.wfile.write(body[: len(body) // 2] if self.path in state.cut_short else body)

        def log_message(self, *args: object) -> None:
            """Keep the test output clean."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course folder; datasets are installed into its dataset/."""
    folder = tmp_path / "course"
    folder.mkdir()
    return folder


def _serve_archive(
    server: Server, tmp_path: Path, members: dict[str, bytes], name: str = "alpaca.tar.gz"
) -> str:
    """Build an archive from members and serve it; returns its URL."""
    archive = make_archive(tmp_path / name, members)
    server.routes["/" + name] = archive.read_bytes()
    return server.url("/" + name)


# --------------------------------------------------------------------------- dataset archives


def test_archive_download_installs_the_images_once(
    server: Server, tmp_path: Path, course: Path, files: dict[str, bytes], manifest: Path
) -> None:
    members = {
        f"alpaca-dataset-small/{name.replace('not alpaca', 'not_alpaca')}": body
        for name, body in files.items()
    }
    url = _serve_archive(server, tmp_path, members)
    target = course / "dataset"
    data.fetch_dataset(url=url, directory=target, manifest=manifest)
    assert snapshot(target) == {
        name: hashlib.sha256(body).hexdigest() for name, body in files.items()
    }
    assert [p.name for p in course.iterdir()] == [
        "dataset"
    ]  # the scratch folder and archive are gone
    data.fetch_dataset(url=url, directory=target, manifest=manifest)
    assert server.requests == ["/alpaca.tar.gz"]  # the second fetch did not download


def test_zip_from_the_environment_variable(
    server: Server,
    tmp_path: Path,
    course: Path,
    files: dict[str, bytes],
    manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = {
        f"{'test' if i % 2 else 'train'}/{name}": body
        for i, (name, body) in enumerate(files.items())
    }
    monkeypatch.setenv(
        config.ENV_DATASET_URL, _serve_archive(server, tmp_path, split, "images.zip")
    )
    data.fetch_dataset(directory=course / "dataset", manifest=manifest)
    assert data.verify_dataset(course / "dataset", manifest=manifest).ok


def test_archive_that_differs_is_reported_with_counts(
    server: Server, tmp_path: Path, course: Path, files: dict[str, bytes], manifest: Path
) -> None:
    changed = {**files, "alpaca/img01.jpg": tiny_image(70), "not alpaca/img00.jpg": tiny_image(71)}
    del changed["alpaca/img02.jpg"]
    url = _serve_archive(server, tmp_path, changed)
    with pytest.raises(
        DataError, match=r"2 differ, 1 missing, 0 not in the manifest.*--accept-different"
    ):
        data.fetch_dataset(url=url, directory=course / "dataset", manifest=manifest)
    assert list(course.iterdir()) == []


def test_interrupted_transfer_leaves_the_old_state(
    server: Server, tmp_path: Path, course: Path, files: dict[str, bytes], manifest: Path
) -> None:
    target = write_tree(course / "dataset", {**files, "README.md": b"kept"})
    before = snapshot(course)
    url = _serve_archive(server, tmp_path, files)
    server.cut_short.add("/alpaca.tar.gz")
    with pytest.raises(DataError) as caught:
        data.fetch_dataset(url=url, force=True, directory=target, manifest=manifest)
    message = str(caught.value)
    assert "interrupted" in message and url in message and "Nothing was changed" in message
    assert snapshot(course) == before  # no partial archive, no scratch folder, old images intact
    assert not (tmp_path / "keras-home").exists()  # nor anything in Keras' cache


@pytest.mark.parametrize(
    ("member", "archive_name"),
    [
        ("../evil.jpg", "up.tar.gz"),
        ("/tmp/alpaca-evil.jpg", "absolute.tar.gz"),
        ("../evil.jpg", "up.zip"),
    ],
)
def test_archive_entries_outside_the_folder_are_rejected(
    server: Server,
    tmp_path: Path,
    course: Path,
    files: dict[str, bytes],
    manifest: Path,
    member: str,
    archive_name: str,
) -> None:
    url = _serve_archive(server, tmp_path, {**files, member: tiny_image(80)}, archive_name)
    with pytest.raises(DataError, match=rf"holds the entry '{member}'.*Refusing to extract"):
        data.fetch_dataset(url=url, directory=course / "dataset", manifest=manifest)
    assert list(course.iterdir()) == [] and not Path("/tmp/alpaca-evil.jpg").exists()
    assert not (tmp_path / "evil.jpg").exists() and not (course.parent / "evil.jpg").exists()


def test_archive_symlink_pointing_outside_is_rejected(
    server: Server, tmp_path: Path, course: Path, files: dict[str, bytes], manifest: Path
) -> None:
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as bundle:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            bundle.addfile(info, io.BytesIO(body))
    add_tar_symlink(archive, "alpaca/link.jpg", "../../../etc/passwd")
    server.routes["/link.tar"] = archive.read_bytes()
    with pytest.raises(DataError, match=r"'alpaca/link.jpg' -> '../../../etc/passwd'"):
        data.fetch_dataset(
            url=server.url("/link.tar"), directory=course / "dataset", manifest=manifest
        )
    assert list(course.iterdir()) == []


def test_not_an_archive_is_reported(server: Server, course: Path, manifest: Path) -> None:
    server.routes["/page.zip"] = b"<html>Please log in</html>"
    with pytest.raises(DataError, match=r"is not a \.zip or \.tar\(\.gz\) archive"):
        data.fetch_dataset(
            url=server.url("/page.zip"), directory=course / "dataset", manifest=manifest
        )


def test_404_names_the_address_and_the_variable(
    server: Server, course: Path, manifest: Path
) -> None:
    url = server.url("/moved.tar.gz")
    with pytest.raises(DataError) as caught:
        data.fetch_dataset(url=url, directory=course / "dataset", manifest=manifest)
    message = str(caught.value)
    assert "404" in message and url in message and config.ENV_DATASET_URL in message
    assert list(course.iterdir()) == []


def test_no_server_says_how_to_work_offline(
    closed_port_url: str, course: Path, manifest: Path
) -> None:
    with pytest.raises(DataError) as caught:
        data.fetch_dataset(
            url=closed_port_url + "a.zip", directory=course / "dataset", manifest=manifest
        )
    message = str(caught.value)
    assert "no connection" in message and "Connection refused" in message
    assert "course/dataset" in message and "'alpaca' and 'not alpaca'" in message
    assert config.ENV_DATASET_SOURCE in message and "python -m helpers.data fetch" in message


# --------------------------------------------------------------------------- Kaggle fallback


def test_kaggle_is_the_last_resort(
    tmp_path: Path,
    course: Path,
    files: dict[str, bytes],
    manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kagglehub

    kaggle_copy = write_tree(
        tmp_path / "kaggle", {f"dataset/{name}": body for name, body in files.items()}
    )
    asked = []
    monkeypatch.setattr(
        kagglehub, "dataset_download", lambda handle: asked.append(handle) or str(kaggle_copy)
    )
    data.fetch_dataset(directory=course / "dataset", manifest=manifest)
    assert asked == [config.KAGGLE_DATASET]
    assert snapshot(kaggle_copy)  # copied, not moved out of kagglehub's cache
    assert data.verify_dataset(course / "dataset", manifest=manifest).ok


def test_kaggle_failure_says_what_to_do(
    course: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kagglehub

    def offline(handle: str) -> str:
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(kagglehub, "dataset_download", offline)
    with pytest.raises(DataError) as caught:
        data.fetch_dataset(directory=course / "dataset", manifest=manifest)
    message = str(caught.value)
    assert config.KAGGLE_DATASET in message and "api.kaggle.com" in message
    assert (
        config.ENV_DATASET_SOURCE in message
        and config.ENV_DATASET_URL in message
        and "course/dataset" in message
    )


# --------------------------------------------------------------------------- weights


FAKE_INDEX = b'{"0": ["n01440764", "tench"]}'


@pytest.fixture
def weights(server: Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Fake weight files (an HDF5 signature, then filler) and class index, served under /mirror/."""
    monkeypatch.setattr(config, "CLASS_INDEX_MD5", hashlib.md5(FAKE_INDEX).hexdigest())
    served = {
        name: data.HDF5_SIGNATURE + name.encode() * 50 for name in config.WEIGHT_FILES.values()
    }
    served[config.CLASS_INDEX_FILE] = FAKE_INDEX
    server.routes.update({f"/mirror/{name}": body for name, body in served.items()})
    return served


def test_weights_download_from_the_environment_base_url(
    server: Server, weights: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_WEIGHTS_BASE_URL, server.url("/mirror"))
    models = data.fetch_weights()
    assert models == config.keras_models_dir()
    assert snapshot(models) == {
        name: hashlib.sha256(body).hexdigest() for name, body in weights.items()
    }
    assert sorted(server.requests) == sorted(f"/mirror/{name}" for name in weights)
    data.fetch_weights()
    assert len(server.requests) == len(weights)  # already cached: nothing downloaded


def test_interrupted_weights_download_changes_nothing(
    server: Server, weights: dict[str, bytes]
) -> None:
    server.cut_short.add(f"/mirror/{config.WEIGHT_FILES['no_top']}")
    with pytest.raises(DataError, match=rf"{config.WEIGHT_FILES['no_top']}.*interrupted") as caught:
        data.fetch_weights(base_url=server.url("/mirror/"))
    assert config.ENV_WEIGHTS_SOURCE in str(caught.value) and "make data" in str(caught.value)
    assert (
        snapshot(config.keras_models_dir()) == {}
    )  # no partial file, no scratch folder, nothing half-installed


def test_wrong_class_index_is_refused(server: Server, weights: dict[str, bytes]) -> None:
    server.routes[f"/mirror/{config.CLASS_INDEX_FILE}"] = b'{"0": ["n0", "other"]}'
    with pytest.raises(DataError, match=rf"{config.CLASS_INDEX_FILE}.*checksum is wrong"):
        data.fetch_weights(base_url=server.url("/mirror"))
    assert snapshot(config.keras_models_dir()) == {}


def test_error_page_instead_of_weights_is_refused(
    server: Server, weights: dict[str, bytes]
) -> None:
    server.routes[f"/mirror/{config.WEIGHT_FILES['with_top']}"] = b"<html>quota exceeded</html>"
    with pytest.raises(
        DataError, match=rf"{config.WEIGHT_FILES['with_top']} from .*not an HDF5 weight file"
    ):
        data.fetch_weights(base_url=server.url("/mirror"))
    assert snapshot(config.keras_models_dir()) == {}


def test_weights_404_and_no_server(
    server: Server, weights: dict[str, bytes], closed_port_url: str
) -> None:
    with pytest.raises(DataError, match=r"404.*ALPACA_WEIGHTS_BASE_URL"):
        data.fetch_weights(base_url=server.url("/elsewhere"))
    with pytest.raises(DataError) as caught:
        data.fetch_weights(base_url=closed_port_url)
    message = str(caught.value)
    assert "no connection" in message and config.ENV_WEIGHTS_SOURCE in message
    assert str(config.keras_models_dir()) in message and "make data" in message


def test_weights_from_a_local_folder_need_no_network(
    tmp_path: Path, weights: dict[str, bytes], closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_tree(tmp_path / "usb-stick", weights)
    monkeypatch.setenv(config.ENV_WEIGHTS_SOURCE, str(folder))
    data.fetch_weights(base_url=closed_port_url)
    assert snapshot(config.keras_models_dir()) == snapshot(folder)
