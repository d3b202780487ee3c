"""download(): resume with Range, servers that ignore Range, checksums; only 127.0.0.1 is used."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from genrec.data import download, download_amazon2014
from genrec.errors import DataError

PAYLOAD = bytes(range(256)) * 200  # 51,200 bytes


@dataclass
class Server:
    url: str
    files: dict[str, bytes]
    requests: list[dict[str, object]] = field(default_factory=list)
    ignore_range: bool = False
    drop_after: int | None = None  # close the connection after this many body bytes


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            data = state.files.get(self.path.lstrip("/"))
            rng = self.headers.get("Range")
            entry: dict[str, object] = {"path": self.path, "range": rng}
            state.requests.append(entry)
            if data is None:
                entry["status"] = 404
                self.send_error(404)
                return
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not state.ignore_range:
                start = int(m.group(1))
                if start >= len(data):
                    entry["status"] = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.drop_after is not None:
                body = body[: state.drop_after]
            # record before writing: the client may finish reading before this thread resumes
            entry["status"], entry["sent"] = (206 if start else 200), len(body)
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="", files={"data.bin": PAYLOAD})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_fresh_download_with_checksum(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "data.bin"
    assert download(server.url + "data.bin", dest, SHA, quiet=True) == dest
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "sub" / "data.bin.part").exists()
    assert server.requests == [{"path": "/data.bin", "range": None, "status": 200,
                                "sent": len(PAYLOAD)}]
    # already there with the right checksum: no request at all
    download(server.url + "data.bin", dest, SHA.upper(), quiet=True)
    assert len(server.requests) == 1


def test_checksum_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    with pytest.raises(DataError) as e:
        download(server.url + "data.bin", dest, "0" * 64, quiet=True)
    assert f"expected {'0' * 64}" in str(e.value) and f"got {SHA}" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_resume_requests_only_the_rest(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    download(server.url + "data.bin", dest, SHA, quiet=True)
    assert server.requests == [{"path": "/data.bin", "range": "bytes=1000-", "status": 206,
                                "sent": len(PAYLOAD) - 1000}]
    assert dest.read_bytes() == PAYLOAD and list(tmp_path.iterdir()) == [dest]


def test_server_ignoring_range_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    server.ignore_range = True
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"\xff" * 1000)  # wrong bytes: must not survive
    download(server.url + "data.bin", dest, SHA, quiet=True)
    assert server.requests[0]["range"] == "bytes=1000-" and server.requests[0]["status"] == 200
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_then_resumed(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    server.drop_after = 5000
    with pytest.raises(DataError, match="run again to resume"):
        download(server.url + "data.bin", dest, SHA, quiet=True)
    assert not dest.exists() and (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:5000]
    server.drop_after = None
    download(server.url + "data.bin", dest, SHA, quiet=True)
    assert server.requests[-1]["range"] == "bytes=5000-" and dest.read_bytes() == PAYLOAD


def test_complete_part_and_stale_dest(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)  # killed just before the rename
    download(server.url + "data.bin", dest, SHA, quiet=True)
    assert server.requests[-1]["status"] == 416 and dest.read_bytes() == PAYLOAD
    dest.write_bytes(b"stale")  # wrong checksum: fetched again
    download(server.url + "data.bin", dest, SHA, quiet=True)
    assert dest.read_bytes() == PAYLOAD and server.requests[-1]["range"] is None


def test_http_errors(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        download(server.url + "missing.bin", tmp_path / "m.bin", quiet=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="only http"):
        download("file:///etc/passwd", tmp_path / "p", quiet=True)


def test_download_amazon2014_aliases(server: Server, tmp_path: Path) -> None:
    server.files.update({"reviews_Toys_and_Games_5.json.gz": b"r" * 10,
                         "meta_Toys_and_Games.json.gz": b"m" * 20})
    reviews, meta = download_amazon2014("toys", tmp_path, quiet=True, base_url=server.url)
    assert reviews.name == "reviews_Toys_and_Games_5.json.gz" and reviews.read_bytes() == b"r" * 10
    assert meta.read_bytes() == b"m" * 20
    assert [r["path"] for r in server.requests] == [
        "/reviews_Toys_and_Games_5.json.gz", "/meta_Toys_and_Games.json.gz"]
    with pytest.raises(DataError, match="unknown Amazon 2014 category 'Shoes'.*beauty"):
        download_amazon2014("Shoes", tmp_path, base_url=server.url)
