"""Dataset IO for the worker: fetch bytes from file://, https:// or s3:// and parse them.

Every problem a user can cause (missing object, unparsable file, NaN, wrong shape) raises
`InvalidInput`, which the worker maps to its "invalid input" exit code so the Job fails that
index at once instead of retrying it. Network trouble and server errors raise `TransientError`,
which the worker maps to the exit code the Job retries.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

FORMATS = ("npy", "csv", "txt", "distance-matrix", "lower-distance-matrix", "image-npy")
Kind = Literal["points", "distance", "image"]

# The suffix decides the encoding; `format` (when given) decides the meaning.
_SUFFIX_FORMATS = {".npy": "npy", ".csv": "csv", ".txt": "txt", ".tsv": "txt", ".dat": "txt", ".xyz": "txt"}
_HTTP_TIMEOUT = float(os.environ.get("TDA_HTTP_TIMEOUT", "60"))
_FETCH_ATTEMPTS = 3


class InvalidInput(Exception):
    """A dataset (or the spec describing it) that no retry can fix."""

    reason = "InvalidInput"


class TransientError(Exception):
    """A failure that may go away on retry: network, timeouts, server-side 5xx."""

    reason = "TransientError"


@dataclass(frozen=True)
class Dataset:
    """A parsed dataset: what the array means decides which complex is built from it."""

    id: str
    kind: Kind
    array: np.ndarray

    @property
    def size(self) -> int:
        """Points of a cloud or distance matrix; pixels (voxels) of an image."""
        if self.kind == "image":
            return int(self.array.size)
        return int(self.array.shape[0]) if self.array.ndim else 0

    def describe(self) -> str:
        if self.kind == "image":
            return "x".join(map(str, self.array.shape)) + " image"
        if self.kind == "distance":
            return f"{self.size} points (distance matrix)"
        return f"{self.size} points in R^{self.array.shape[1]}"


# --------------------------------------------------------------------------- formats


def encoding_from_name(name: str) -> str | None:
    """The byte encoding of a file from its name (`npy`, `csv` or `txt`), or None if unknown."""
    base = PurePosixPath(urllib.parse.urlparse(name).path or name).name
    if base.lower().endswith(".gz"):  # gzip is detected from the bytes; the suffix before it decides
        base = base[:-3]
    return _SUFFIX_FORMATS.get(PurePosixPath(base).suffix.lower())


def resolve_format(name: str, declared: str | None, complex_: str = "rips") -> tuple[str, str]:
    """(encoding, kind) for a dataset, from the declared `input.format` or else its extension."""
    if declared is not None and declared not in FORMATS:
        raise InvalidInput(f"input.format {declared!r} is not one of {', '.join(FORMATS)}")
    encoding = encoding_from_name(name)
    if declared in (None, "npy", "csv", "txt"):
        fmt = declared or encoding
        if fmt is None:
            raise InvalidInput(
                f"cannot tell the format of {name!r} from its extension; "
                f"set input.format to one of {', '.join(FORMATS)}"
            )
        # A plain array fed to a cubical complex is an image (or volume) of filtration values.
        return fmt, ("image" if complex_ == "cubical" else "points")
    if declared == "image-npy":
        return "npy", "image"
    # Distance matrices may be stored in any of the encodings; default to text like ripser's files.
    return encoding or "txt", "distance" if declared == "distance-matrix" else "lower-distance"


# --------------------------------------------------------------------------- parsing

_NUMBER_SPLIT = re.compile(r"[,\s;]+")


def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"corrupt gzip data: {exc}") from exc
    return data


def _load_npy(data: bytes, name: str) -> np.ndarray:
    try:
        # allow_pickle=False: a dataset must never be able to run code in the worker.
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError depending on the damage
        raise InvalidInput(f"{name}: not a readable .npy array ({exc})") from exc
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise InvalidInput(f"{name}: is an .npz archive; store one array per dataset as .npy")
    return arr


def _load_table(data: bytes, name: str, delimiter: str | None) -> np.ndarray:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text ({exc})") from exc
    rows: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        # csv: commas only; txt: any mix of whitespace, commas and semicolons (ripser accepts both)
        cells = [c.strip() for c in line.split(delimiter)] if delimiter else [c for c in _NUMBER_SPLIT.split(line) if c]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if not rows and lineno == _first_content_line(text):
                continue  # a header row such as "x,y,z"
            raise InvalidInput(f"{name}: line {lineno} is not numeric: {raw.strip()[:80]!r}") from None
    if not rows:
        raise InvalidInput(f"{name}: contains no numeric rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InvalidInput(
            f"{name}: rows have different numbers of columns ({sorted(widths)}); every point needs the same dimension"
        )
    return np.asarray(rows, dtype=np.float64)


def _first_content_line(text: str) -> int:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if raw.split("#", 1)[0].strip():
            return lineno
    return 0


def _load_numbers(data: bytes, name: str) -> np.ndarray:
    """All numbers of a text file in order, whatever the separators (ripser's lower-distance format)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text ({exc})") from exc
    tokens = [t for line in text.splitlines() for t in _NUMBER_SPLIT.split(line.split("#", 1)[0]) if t]
    try:
        return np.asarray([float(t) for t in tokens], dtype=np.float64)
    except ValueError as exc:
        raise InvalidInput(f"{name}: not a list of numbers ({exc})") from exc


def _decode(data: bytes, encoding: str, name: str) -> np.ndarray:
    if encoding == "npy":
        return _load_npy(data, name)
    if encoding == "csv":
        return _load_table(data, name, ",")
    return _load_table(data, name, None)


def _require_finite(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InvalidInput(f"{name}: has dtype {arr.dtype}; a numeric array is required")
    if np.iscomplexobj(arr):
        raise InvalidInput(f"{name}: has complex values; real numbers are required")
    arr = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(arr[where]) else "an infinite value"
        raise InvalidInput(f"{name}: contains {what} at index {list(where)}; remove or impute it")
    return arr


def _as_points(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)  # a 1-D array is a cloud of points on the line
    if arr.ndim != 2:
        raise InvalidInput(f"{name}: a point cloud must be a 2-D array (points x coordinates), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInput(f"{name}: the point cloud is empty (shape {arr.shape})")
    return _require_finite(arr, name)


def _as_distance(arr: np.ndarray, name: str) -> np.ndarray:
    arr = _require_finite(arr, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InvalidInput(f"{name}: a distance matrix must be square and non-empty, got shape {arr.shape}")
    if np.any(arr < 0):
        raise InvalidInput(f"{name}: a distance matrix cannot have negative entries")
    if not np.allclose(arr, arr.T, rtol=1e-9, atol=1e-12):
        i, j = (int(v) for v in np.argwhere(~np.isclose(arr, arr.T, rtol=1e-9, atol=1e-12))[0])
        raise InvalidInput(
            f"{name}: the distance matrix is not symmetric (d[{i},{j}]={arr[i, j]} but d[{j},{i}]={arr[j, i]}); "
            "use input.format lower-distance-matrix to read only the lower triangle"
        )
    if np.any(np.diag(arr) != 0):
        raise InvalidInput(f"{name}: the diagonal of a distance matrix must be zero")
    return arr


def lower_to_full(values: np.ndarray, name: str = "dataset") -> np.ndarray:
    """Square matrix from the lower triangle listed row by row: d10, d20, d21, d30, ... (ripser's format).

    A leading 0 per row (diagonal included) is not part of the format; only the strict lower
    triangle is, so the count must be n(n-1)/2 for some n.
    """
    m = values.size
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise InvalidInput(
            f"{name}: {m} numbers do not form a strict lower triangle (need n(n-1)/2 values for n points)"
        )
    full = np.zeros((n, n), dtype=np.float64)
    rows, cols = np.tril_indices(n, k=-1)  # row-major order of the strict lower triangle
    full[rows, cols] = values
    full[cols, rows] = values
    return full


def _as_lower_distance(arr: np.ndarray, name: str) -> np.ndarray:
    arr = _require_finite(arr, name)
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        arr = arr[np.tril_indices(arr.shape[0], k=-1)]  # a square array: read its lower triangle
    elif arr.ndim != 1:
        raise InvalidInput(
            f"{name}: a lower distance matrix must be a flat list of the lower triangle or a square array, "
            f"got shape {arr.shape}"
        )
    if np.any(arr < 0):
        raise InvalidInput(f"{name}: a distance matrix cannot have negative entries")
    if arr.size == 0:
        return np.zeros((1, 1))  # one point, no pairs
    return lower_to_full(arr, name)


def _as_image(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim not in (2, 3, 4):
        raise InvalidInput(f"{name}: a cubical complex needs a 2-D, 3-D or 4-D array, got shape {arr.shape}")
    if 0 in arr.shape:
        raise InvalidInput(f"{name}: the image is empty (shape {arr.shape})")
    return _require_finite(arr, name)


def parse(data: bytes, encoding: str, kind: str, name: str = "dataset") -> np.ndarray:
    """Bytes → validated float64 array for `kind` (points, distance, lower-distance or image)."""
    data = _decompress(data)
    if kind == "lower-distance":
        arr = _load_npy(data, name) if encoding == "npy" else _load_numbers(data, name)
        return _as_lower_distance(arr, name)
    arr = _decode(data, encoding, name)
    if kind == "distance":
        return _as_distance(arr, name)
    if kind == "image":
        return _as_image(arr, name)
    return _as_points(arr, name)


def parse_inline(inline: dict[str, Any], complex_: str = "rips", name: str = "inline",
                 format: str | None = None) -> Dataset:
    """An inline dataset from the spec: {"points": [[...]]} (or "distanceMatrix" / "image").

    `points` rows are read as `input.format` says: the rows of a distance matrix for
    distance-matrix, the rows of its lower triangle for lower-distance-matrix, an image for
    image-npy or a cubical complex; else points.
    """
    if not isinstance(inline, dict):
        raise InvalidInput(f"{name}: inline data must be an object such as {{points: [[x, y], ...]}}")
    keys = [k for k in ("points", "distanceMatrix", "image") if inline.get(k) is not None]
    if len(keys) != 1:
        raise InvalidInput(f"{name}: inline data needs exactly one of points, distanceMatrix, image; got {sorted(inline)}")
    key = keys[0]
    field = f"{name}.{key}"
    if format == "lower-distance-matrix" and key == "points":
        rows = inline[key]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise InvalidInput(f"{field}: must be a list of rows of the lower triangle")
        try:
            flat = np.asarray([v for r in rows for v in r], dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{field}: must contain numbers only: {exc}") from exc
        return Dataset(name, "distance", _as_lower_distance(flat, field))
    try:
        arr = np.asarray(inline[key], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{field} must be a rectangular array of numbers (every row the same length): {exc}"
        ) from exc
    if key == "distanceMatrix" or format == "distance-matrix":
        if complex_ == "cubical":
            raise InvalidInput(f"{name}: a cubical complex needs an image, not a distance matrix")
        return Dataset(name, "distance", _as_distance(arr, field))
    if key == "image" or format == "image-npy" or complex_ == "cubical":
        if complex_ != "cubical":
            raise InvalidInput(f"{name}: an image needs computation.complex cubical")
        return Dataset(name, "image", _as_image(arr, field))
    return Dataset(name, "points", _as_points(arr, field))


# --------------------------------------------------------------------------- fetching


def _s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or None
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=_HTTP_TIMEOUT,
        # Custom endpoints (MinIO, SeaweedFS, the local platform's loopback server) rarely have
        # wildcard DNS for virtual-hosted buckets.
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.client("s3", endpoint_url=endpoint, config=config)


_S3 = None


def s3_client():
    """One client per process: the worker fetches many objects from the same endpoint."""
    global _S3
    if _S3 is None:
        _S3 = _s3_client()
    return _S3


def split_s3_url(url: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInput(f"{url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def _s3_error(exc: Exception, url: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return InvalidInput(f"{url}: no S3 credentials; set input.credentialsSecret to a Secret with AWS_ACCESS_KEY_ID")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = err.get("Code", "")
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"):
            return TransientError(f"{url}: S3 {code or status}: {err.get('Message', '')}")
        hint = {
            "NoSuchKey": "the object does not exist",
            "404": "the object does not exist",
            "NoSuchBucket": "the bucket does not exist",
            "AccessDenied": "access denied; check input.credentialsSecret",
            "403": "access denied; check input.credentialsSecret",
        }.get(code, err.get("Message", code))
        return InvalidInput(f"{url}: {hint} (S3 {code or status})")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{url}: {exc}")
    return exc


def _fetch_s3(url: str) -> bytes:
    bucket, key = split_s3_url(url)
    try:
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise _s3_error(exc, url) from exc


def _fetch_http(url: str) -> bytes:
    last: Exception | None = None
    for attempt in range(_FETCH_ATTEMPTS):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "tda-compute"})
            with urllib.request.urlopen(req, timeout=_HTTP_TIMEOUT) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code not in (408, 429):
                raise InvalidInput(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            last = exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
        time.sleep(0.5 * 2**attempt)
    raise TransientError(f"{url}: {last}")


def _fetch_file(url: str) -> bytes:
    parsed = urllib.parse.urlparse(url)
    path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        hint = " (is spec.input.volume set?)" if str(path).startswith("/data/") else ""
        raise InvalidInput(f"{url}: no such file{hint}") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"{url}: is a directory, not a dataset file") from exc
    except PermissionError as exc:
        raise InvalidInput(f"{url}: permission denied") from exc


def fetch(url: str) -> bytes:
    """The bytes at `url` (s3://, https://, http://, file:// or a plain local path)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "s3":
        return _fetch_s3(url)
    if scheme in ("http", "https"):
        return _fetch_http(url)
    if scheme in ("file", ""):
        return _fetch_file(url)
    raise InvalidInput(f"{url!r}: unsupported URL scheme {scheme!r}; use s3://, https:// or file://")


def load(url: str, *, id: str | None = None, format: str | None = None, complex: str = "rips") -> Dataset:
    """Fetch and parse one dataset."""
    name = id or url
    encoding, kind = resolve_format(url, format, complex)
    arr = parse(fetch(url), encoding, kind, name)
    if kind == "lower-distance":
        kind = "distance"
    if complex == "cubical" and kind != "image":
        raise InvalidInput(f"{name}: a cubical complex needs an image (input.format image-npy), not a {kind}")
    if complex == "rips" and kind == "image":
        raise InvalidInput(f"{name}: input.format image-npy needs computation.complex cubical")
    return Dataset(name, kind, arr)  # type: ignore[arg-type]


def load_entry(entry: dict[str, Any], *, format: str | None = None, complex: str = "rips") -> Dataset:
    """One `datasets[]` entry of the spec: {"id", "url"} or {"id", "inline"}."""
    ds_id = str(entry.get("id") or entry.get("url") or "inline")
    if entry.get("inline") is not None:
        return parse_inline(entry["inline"], complex, ds_id, format)
    if not entry.get("url"):
        raise InvalidInput(f"dataset {ds_id!r}: needs a url or inline data")
    return load(entry["url"], id=ds_id, format=format, complex=complex)


def list_prefix(url_prefix: str, pattern: str = "*", limit: int | None = None) -> list[dict[str, str]]:
    """Datasets under a file:// prefix (a directory on the pod's volume), as `datasets[]` entries.

    The operator cannot see a PersistentVolumeClaim, so for file:// prefixes every pod lists the
    directory itself; sorting makes all pods agree on the order and hence on their shares.
    """
    parsed = urllib.parse.urlparse(url_prefix)
    if parsed.scheme != "file":
        raise InvalidInput(f"input.datasets.urlPrefix {url_prefix!r}: only file:// prefixes are listed by the worker")
    root = Path(urllib.parse.unquote(parsed.path))
    if not root.is_dir():
        raise InvalidInput(f"input.datasets.urlPrefix {url_prefix}: no such directory (is spec.input.volume set?)")
    keys = sorted(
        rel for p in root.rglob("*") if p.is_file() and fnmatch.fnmatch(rel := p.relative_to(root).as_posix(), pattern)
    )
    if limit is not None:
        keys = keys[:limit]
    prefix = url_prefix if url_prefix.endswith("/") else url_prefix + "/"
    return [{"id": key, "url": prefix + key} for key in keys]


# --------------------------------------------------------------------------- writing


def put(url: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """Write an object to s3:// or file:// (used for `output.url`)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "s3":
        bucket, key = split_s3_url(url)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:
            raise _s3_error(exc, url) from exc
        return
    if scheme in ("file", ""):
        parsed = urllib.parse.urlparse(url)
        path = Path(urllib.parse.unquote(parsed.path) if scheme == "file" else url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written result
        except OSError as exc:
            raise InvalidInput(f"output.url {url}: cannot write ({exc})") from exc
        return
    raise InvalidInput(f"output.url {url!r}: unsupported scheme {scheme!r}; use s3:// or file://")


def join_url(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name.lstrip("/")
