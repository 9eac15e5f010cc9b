"""Dataset formats of the worker: bytes -> validated float64 arrays.

Every problem a user can cause raises `InvalidInput` (the worker's "invalid input" exit
code: the Job fails that index at once instead of retrying it). Messages name the dataset,
the position (line and field, byte offset or array index) and the fix, and never quote
the data: a dataset may be anything the pod can read, so its content must not reach a
status, an Event or a log.
"""

from __future__ import annotations

import io
import re
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import numpy as np

FORMATS = ("npy", "csv", "txt", "distance-matrix", "lower-distance-matrix", "image-npy")
Kind = Literal["points", "distance", "image"]

# The suffix decides the encoding; `format` (when given) decides the meaning.
_SUFFIX_FORMATS = {".npy": "npy", ".csv": "csv", ".txt": "txt", ".tsv": "txt", ".dat": "txt", ".xyz": "txt"}


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


def resolve_format(name: str, declared: str | None, complex_: str = "rips", label: str | None = None
                   ) -> tuple[str, str]:
    """(encoding, kind) for a dataset, from the declared `input.format` or else the extension of
    ``name`` (a URL or object name); messages call the dataset ``label``."""
    if declared is not None and declared not in FORMATS:
        raise InvalidInput(f"spec.input.format must be one of {', '.join(FORMATS)}")
    encoding = encoding_from_name(name)
    if declared in (None, "npy", "csv", "txt"):
        fmt = declared or encoding
        if fmt is None:
            raise InvalidInput(
                f"{label or name}: cannot tell the format from the name's extension; "
                f"set spec.input.format to one of {', '.join(FORMATS)}"
            )
        # A plain array fed to a cubical complex is an image (or volume) of filtration values.
        return fmt, ("image" if complex_ == "cubical" else "points")
    if declared == "image-npy":
        return "npy", "image"
    # Distance matrices may be stored in any of the encodings; default to text like ripser's files.
    return encoding or "txt", "distance" if declared == "distance-matrix" else "lower-distance"


# --------------------------------------------------------------------------- parsing

_NUMBER_SPLIT = re.compile(r"[,\s;]+")


#: Largest decompressed dataset (a gzip bomb must not exhaust the pod's memory).
MAX_DECOMPRESSED_BYTES = 4 * 1024**3


def _decompress(data: bytes, name: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput(f"{name}: the gzip data is corrupt; re-compress the file") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise InvalidInput(f"{name}: decompresses to more than {limit} bytes; split the dataset")
    if not inflater.eof:
        raise InvalidInput(f"{name}: the gzip data is truncated; re-upload the file")
    return out


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text (byte offset {exc.start}); save it as UTF-8") from None


def _load_npy(data: bytes, name: str) -> np.ndarray:
    try:
        # allow_pickle=False: a dataset must never be able to run code in the worker.
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # numpy raises ValueError/OSError/EOFError depending on the damage
        raise InvalidInput(
            f"{name}: not a readable .npy array (damaged header or truncated data); write it with numpy.save"
        ) from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise InvalidInput(f"{name}: is an .npz archive; store one array per dataset as .npy")
    return arr


def _load_table(data: bytes, name: str, delimiter: str | None) -> np.ndarray:
    text = _utf8(data, name)
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
            column = next(k for k, c in enumerate(cells, start=1) if not _is_number(c))
            raise InvalidInput(
                f"{name}: line {lineno}, field {column} is not a number; every field must be a decimal number"
            ) from None
    if not rows:
        raise InvalidInput(f"{name}: contains no numeric rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InvalidInput(
            f"{name}: rows have different numbers of columns ({sorted(widths)}); every point needs the same dimension"
        )
    return np.asarray(rows, dtype=np.float64)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _first_content_line(text: str) -> int:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if raw.split("#", 1)[0].strip():
            return lineno
    return 0


def _load_numbers(data: bytes, name: str) -> np.ndarray:
    """All numbers of a text file in order, whatever the separators (ripser's lower-distance format)."""
    values: list[float] = []
    for lineno, line in enumerate(_utf8(data, name).splitlines(), start=1):
        for column, token in enumerate((t for t in _NUMBER_SPLIT.split(line.split("#", 1)[0]) if t), start=1):
            try:
                values.append(float(token))
            except ValueError:
                raise InvalidInput(
                    f"{name}: line {lineno}, field {column} is not a number; a distance list holds numbers only"
                ) from None
    return np.asarray(values, dtype=np.float64)


def _decode(data: bytes, encoding: str, name: str) -> np.ndarray:
    if encoding == "npy":
        return _load_npy(data, name)
    if encoding == "csv":
        return _load_table(data, name, ",")
    return _load_table(data, name, None)


def _require_finite(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InvalidInput(f"{name}: is not a numeric array (dtype kind {arr.dtype.kind!r}); store numbers")
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
            f"{name}: the distance matrix is not symmetric (d[{i},{j}] differs from d[{j},{i}]); "
            "use spec.input.format lower-distance-matrix to read only the lower triangle"
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
    data = _decompress(data, name)
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
        raise InvalidInput(f"{name}: inline data needs exactly one of points, distanceMatrix, image")
    key = keys[0]
    field = f"{name}.{key}"
    if format == "lower-distance-matrix" and key == "points":
        rows = inline[key]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise InvalidInput(f"{field}: must be a list of rows of the lower triangle")
        try:
            flat = np.asarray([v for r in rows for v in r], dtype=np.float64)
        except (ValueError, TypeError):
            raise InvalidInput(f"{field}: must contain numbers only") from None
        return Dataset(name, "distance", _as_lower_distance(flat, field))
    try:
        arr = np.asarray(inline[key], dtype=np.float64)
    except (ValueError, TypeError):
        raise InvalidInput(f"{field}: must be a rectangular array of numbers (every row the same length)") from None
    if key == "distanceMatrix" or format == "distance-matrix":
        if complex_ == "cubical":
            raise InvalidInput(f"{name}: a cubical complex needs an image, not a distance matrix")
        return Dataset(name, "distance", _as_distance(arr, field))
    if key == "image" or format == "image-npy" or complex_ == "cubical":
        if complex_ != "cubical":
            raise InvalidInput(f"{name}: an image needs spec.computation.complex cubical")
        return Dataset(name, "image", _as_image(arr, field))
    return Dataset(name, "points", _as_points(arr, field))


