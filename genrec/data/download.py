"""Resumable, checksum-verified downloads (urllib only) and the Amazon 2014 category files.

A download streams into `<dest>.part`; an interrupted one is resumed with an HTTP Range request
next time. `dest` itself only ever appears complete (atomic rename after the checksum passed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from genrec.errors import DataError
from genrec.io import is_quiet

log = logging.getLogger("genrec.data")

AMAZON2014_URL = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
# The 24 categories with 5-core files in the 2014 release.
AMAZON2014_CATEGORIES = (
    "Amazon_Instant_Video", "Apps_for_Android", "Automotive", "Baby", "Beauty", "Books",
    "CDs_and_Vinyl", "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry", "Digital_Music",
    "Electronics", "Grocery_and_Gourmet_Food", "Health_and_Personal_Care", "Home_and_Kitchen",
    "Kindle_Store", "Movies_and_TV", "Musical_Instruments", "Office_Products",
    "Patio_Lawn_and_Garden", "Pet_Supplies", "Sports_and_Outdoors", "Tools_and_Home_Improvement",
    "Toys_and_Games", "Video_Games",
)
AMAZON2014_ALIASES = {"beauty": "Beauty", "toys": "Toys_and_Games", "sports": "Sports_and_Outdoors"}
_CHUNK = 1 << 16


def download(
    url: str, dest: str | Path, sha256: str | None = None, quiet: bool = False,
    *, timeout: float = 60.0,
) -> Path:
    """Fetch `url` to `dest` (resuming `dest.part`), verify `sha256` if given, return `dest`.

    Skips the transfer when `dest` already exists (and matches `sha256`, when given).
    """
    dest = Path(dest)
    if not url.lower().startswith(("http://", "https://")):
        raise DataError("only http:// and https:// URLs can be downloaded", value=url)
    want = sha256.lower() if sha256 else None
    if dest.is_file():
        if want is None or file_sha256(dest) == want:
            log.info("%s exists, not downloading again", dest)
            return dest
        log.warning("%s does not match the expected checksum; downloading again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _fetch(url, part, quiet, timeout)
    if want is not None:
        got = file_sha256(part)
        if got != want:
            part.unlink()  # a corrupt part must not be resumed next time
            raise DataError(f"sha256 mismatch for {url}: expected {want}, got {got}", path=dest)
    os.replace(part, dest)  # atomic: dest is either absent or complete
    return dest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, part: Path, quiet: bool, timeout: float, retry: bool = True) -> None:
    """Stream `url` into `part`, appending when the server honours our Range request."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset and retry:  # the part is complete already, or stale
            if _total_size(e.headers.get("Content-Range")) == offset:
                return
            part.unlink()
            return _fetch(url, part, quiet, timeout, retry=False)
        raise DataError(f"download failed: HTTP {e.code} {e.reason}", value=url) from None
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"download failed: {getattr(e, 'reason', e)}", value=url) from None
    with resp:
        _stream(resp, url, part, offset, quiet)


def _stream(resp: HTTPResponse, url: str, part: Path, offset: int, quiet: bool) -> None:
    resumed = bool(offset) and resp.status == 206 and _range_start(resp) == offset
    if offset and not resumed:
        log.info("server ignored the Range request; restarting %s from zero", url)
        offset = 0  # a 200 carries the whole file: appending it would corrupt the part
    length = resp.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, leave=False,
               desc=part.name.removesuffix(".part"), disable=quiet or is_quiet())
    written = offset
    try:
        with open(part, "ab" if resumed else "wb") as f, bar:
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except (OSError, HTTPException) as e:  # connection dropped: keep the part, resume later
        raise DataError(f"download interrupted after {written} bytes ({e}); run again to "
                        "resume", path=part, value=url) from None
    if total is not None and written != total:
        raise DataError(f"download incomplete: {written} of {total} bytes; run again to resume",
                        path=part, value=url)


def _range_start(resp: HTTPResponse) -> int | None:
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range") or "")
    return int(m.group(1)) if m else None


def _total_size(content_range: str | None) -> int | None:
    m = re.search(r"/(\d+)$", content_range or "")
    return int(m.group(1)) if m else None


def amazon2014_category(category: str) -> str:
    """Official category name from an alias (beauty/toys/sports) or any-case full name."""
    key = category.strip().lower()
    if key in AMAZON2014_ALIASES:
        return AMAZON2014_ALIASES[key]
    for name in AMAZON2014_CATEGORIES:
        if name.lower() == key:
            return name
    raise DataError(
        f"unknown Amazon 2014 category {category!r}; use one of "
        f"{', '.join(AMAZON2014_ALIASES)} or {', '.join(AMAZON2014_CATEGORIES)}"
    )


def download_amazon2014(
    category: str, dest_dir: str | Path, quiet: bool = False, *, base_url: str = AMAZON2014_URL
) -> tuple[Path, Path]:
    """Fetch `reviews_<Category>_5.json.gz` and `meta_<Category>.json.gz` into `dest_dir`."""
    name = amazon2014_category(category)
    base = base_url if base_url.endswith("/") else base_url + "/"
    out = []
    for file in (f"reviews_{name}_5.json.gz", f"meta_{name}.json.gz"):
        out.append(download(base + file, Path(dest_dir) / file, quiet=quiet))
    return out[0], out[1]
