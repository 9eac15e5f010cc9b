"""Dataset IO of the worker: formats, sources and the errors a user can cause."""

from __future__ import annotations

import gzip
import http.server
import io
import threading

import numpy as np
import pytest
from tda_core import io as tio

pytestmark = pytest.mark.unit

POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.5, 1.25]])


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    return buf.getvalue()


def write(tmp_path, name, data: bytes | str):
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cloud.npy", npy_bytes(POINTS)),
        ("cloud.csv", "x,y\n0,0\n1,0\n0,1\n1.5,1.25\n"),
        ("cloud.csv.gz", gzip.compress(b"0,0\n1,0\n0,1\n1.5,1.25\n")),
        ("cloud.txt", "# a comment\n0 0\n1 0\n\n0 1\n1.5 1.25\n"),
        ("cloud.txt", "0, 0\n1, 0\n0, 1\n1.5, 1.25\n"),
        ("cloud.tsv", "0\t0\n1\t0\n0\t1\n1.5\t1.25\n"),
    ],
)
def test_point_clouds_in_every_encoding(tmp_path, name, content):
    path = write(tmp_path, name, content)
    ds = tio.load(path.as_uri(), id="c")
    assert ds.kind == "points"
    np.testing.assert_array_equal(ds.array, POINTS)
    assert ds.array.dtype == np.float64


def test_plain_path_and_file_url_agree(tmp_path):
    path = write(tmp_path, "a.npy", npy_bytes(POINTS))
    np.testing.assert_array_equal(tio.load(str(path)).array, tio.load(path.as_uri()).array)


def test_one_dimensional_array_is_points_on_a_line(tmp_path):
    path = write(tmp_path, "line.npy", npy_bytes([0.0, 1.0, 3.0]))
    assert tio.load(str(path)).array.shape == (3, 1)


def full_distances(points):
    return np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("encoding", ["npy", "csv", "txt"])
def test_full_distance_matrix(tmp_path, encoding):
    d = full_distances(POINTS)
    if encoding == "npy":
        path = write(tmp_path, "d.npy", npy_bytes(d))
    else:
        sep = "," if encoding == "csv" else " "
        path = write(tmp_path, f"d.{encoding}", "\n".join(sep.join(repr(float(v)) for v in row) for row in d))
    ds = tio.load(str(path), format="distance-matrix")
    assert ds.kind == "distance"
    np.testing.assert_allclose(ds.array, d)


def test_lower_distance_matrix_in_ripsers_text_format(tmp_path):
    d = full_distances(POINTS)
    # ripser's lower-distance format: row i lists d[i,0..i-1]; the first row is empty.
    text = "\n".join(",".join(repr(float(d[i, j])) for j in range(i)) for i in range(len(d)))
    ds = tio.load(str(write(tmp_path, "d.lower_distance_matrix", text)), format="lower-distance-matrix")
    assert ds.kind == "distance"
    np.testing.assert_allclose(ds.array, d)


def test_lower_distance_matrix_from_a_flat_npy_and_from_a_square_one(tmp_path):
    d = full_distances(POINTS)
    flat = d[np.tril_indices(len(d), k=-1)]
    np.testing.assert_allclose(
        tio.load(str(write(tmp_path, "flat.npy", npy_bytes(flat))), format="lower-distance-matrix").array, d
    )
    garbage_upper = np.tril(d) + np.triu(np.full_like(d, 7.0), k=1)
    np.testing.assert_allclose(
        tio.load(str(write(tmp_path, "sq.npy", npy_bytes(garbage_upper))), format="lower-distance-matrix").array, d
    )


def test_lower_triangle_count_must_be_triangular():
    with pytest.raises(tio.InvalidInput, match=r"n\(n-1\)/2"):
        tio.lower_to_full(np.arange(4.0), "x")


@pytest.mark.parametrize("shape", [(8, 9), (4, 5, 6)])
def test_images_for_cubical(tmp_path, shape):
    img = np.random.default_rng(0).normal(size=shape)
    ds = tio.load(str(write(tmp_path, "img.npy", npy_bytes(img))), format="image-npy", complex="cubical")
    assert ds.kind == "image"
    np.testing.assert_array_equal(ds.array, img)
    # A plain .npy given to a cubical complex is an image too.
    assert tio.load(str(tmp_path / "img.npy"), complex="cubical").kind == "image"


def test_integer_arrays_become_float64(tmp_path):
    ds = tio.load(str(write(tmp_path, "i.npy", npy_bytes(np.arange(6).reshape(3, 2)))))
    assert ds.array.dtype == np.float64


def test_inline_points_distance_and_image():
    assert tio.parse_inline({"points": [[0, 0], [1, 1]]}).kind == "points"
    assert tio.parse_inline({"distanceMatrix": [[0, 1], [1, 0]]}).kind == "distance"
    assert tio.parse_inline({"image": [[0, 1], [1, 0]]}, "cubical").kind == "image"


def test_load_entry_uses_id_and_inline():
    ds = tio.load_entry({"id": "inline", "inline": {"points": [[0, 0], [3, 4]]}})
    assert ds.id == "inline" and ds.array.shape == (2, 2)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("nan.npy", npy_bytes([[0.0, 1.0], [np.nan, 2.0]]), None, r"NaN at index \[1, 0\]"),
        ("inf.csv", "0,1\n2,inf\n", None, "infinite"),
        ("ragged.csv", "0,1\n2,3,4\n", None, "different numbers of columns"),
        ("words.txt", "1 2\n3 four\n", None, "line 2 is not numeric"),
        ("empty.csv", "# nothing\n", None, "no numeric rows"),
        ("bad.npy", b"not an npy file", None, "not a readable .npy"),
        ("cube.npy", npy_bytes(np.zeros((2, 2, 2))), None, "2-D array"),
        ("empty.npy", npy_bytes(np.zeros((0, 3))), None, "empty"),
        ("strings.npy", npy_bytes(np.array(["a", "b"])), None, "numeric"),
        ("nosuffix", "0 0\n", None, "set input.format"),
        ("asym.csv", "0,1\n2,0\n", "distance-matrix", "not symmetric"),
        ("rect.csv", "0,1,2\n1,0,3\n", "distance-matrix", "square"),
        ("neg.csv", "0,-1\n-1,0\n", "distance-matrix", "negative"),
        ("diag.csv", "1,1\n1,0\n", "distance-matrix", "diagonal"),
        ("lower.txt", "1\n2 3\n4\n", "lower-distance-matrix", "lower triangle"),
        ("line.npy", npy_bytes([1.0, 2.0]), "image-npy", "2-D, 3-D or 4-D"),
        ("binary.csv", b"\xff\xfe\x00garbage", None, "UTF-8"),
        ("broken.csv.gz", b"\x1f\x8b\x08garbage", None, "gzip"),
    ],
)
def test_bad_datasets_are_invalid_input_with_a_clear_message(tmp_path, name, content, fmt, message):
    path = write(tmp_path, name, content)
    complex_ = "cubical" if fmt == "image-npy" else "rips"
    with pytest.raises(tio.InvalidInput, match=message):
        tio.load(str(path), format=fmt, complex=complex_)


def test_pickled_npy_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(tio.InvalidInput, match="not a readable .npy"):
        tio.load(str(write(tmp_path, "obj.npy", buf.getvalue())))


def test_missing_file_and_unknown_scheme_and_format():
    with pytest.raises(tio.InvalidInput, match="no such file"):
        tio.load("file:///nonexistent/x.npy")
    with pytest.raises(tio.InvalidInput, match="unsupported URL scheme"):
        tio.load("ftp://host/x.npy")
    with pytest.raises(tio.InvalidInput, match="input.format"):
        tio.load("x.npy", format="parquet")


def test_complex_and_kind_must_match(tmp_path):
    path = write(tmp_path, "img.npy", npy_bytes(np.zeros((4, 4))))
    with pytest.raises(tio.InvalidInput, match="needs computation.complex cubical"):
        tio.load(str(path), format="image-npy", complex="rips")
    with pytest.raises(tio.InvalidInput, match="needs an image"):
        tio.load(str(path), format="distance-matrix", complex="cubical")


@pytest.mark.parametrize(
    ("inline", "message"),
    [
        ({"points": [[0, 0], [1]]}, "rectangular"),
        ({"points": [[0, None]]}, "NaN"),
        ({}, "exactly one of"),
        ({"points": [[0]], "image": [[0]]}, "exactly one of"),
        ([[0, 0]], "must be an object"),
    ],
)
def test_bad_inline_data(inline, message):
    with pytest.raises(tio.InvalidInput, match=message):
        tio.parse_inline(inline)


# --------------------------------------------------------------------------- http(s)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):  # noqa: N802 -- the stdlib's name
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(tio.time, "sleep", lambda s: None)  # no back-off waits in tests
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.routes
    server.shutdown()
    _Handler.routes = {}


def test_https_style_fetch(http_server):
    base, routes = http_server
    routes["/clouds/a.npy"] = (200, npy_bytes(POINTS))
    np.testing.assert_array_equal(tio.load(base + "/clouds/a.npy").array, POINTS)


def test_http_404_is_invalid_input_and_5xx_is_transient(http_server):
    base, routes = http_server
    routes["/boom.npy"] = (503, b"busy")
    with pytest.raises(tio.InvalidInput, match="HTTP 404"):
        tio.load(base + "/missing.npy")
    with pytest.raises(tio.TransientError, match="503"):
        tio.load(base + "/boom.npy")


def test_unreachable_host_is_transient(monkeypatch):
    monkeypatch.setattr(tio.time, "sleep", lambda s: None)
    with pytest.raises(tio.TransientError):
        tio.fetch("http://127.0.0.1:9/x.npy")  # the discard port: connection refused


# --------------------------------------------------------------------------- writing


def test_put_file_url_creates_directories(tmp_path):
    url = (tmp_path / "out" / "deep" / "r.json").as_uri()
    tio.put(url, b"{}")
    assert (tmp_path / "out" / "deep" / "r.json").read_bytes() == b"{}"
    assert tio.join_url("s3://b/p/", "/x.json") == "s3://b/p/x.json"


def test_inline_rows_follow_input_format():
    d = [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
    assert tio.parse_inline({"points": d}, format="distance-matrix").kind == "distance"
    lower = tio.parse_inline({"points": [[1], [2, 1]]}, format="lower-distance-matrix")
    np.testing.assert_array_equal(lower.array, d)
    assert tio.parse_inline({"points": [[0, 1], [1, 0]]}, "cubical", format="image-npy").kind == "image"
    with pytest.raises(tio.InvalidInput, match="complex cubical"):
        tio.parse_inline({"image": [[0, 1], [1, 0]]}, "rips")


def test_list_prefix_of_a_directory_is_sorted_filtered_and_limited(tmp_path):
    for name in ("b.npy", "a.npy", "notes.txt"):
        write(tmp_path, name, b"")
    (tmp_path / "sub").mkdir()
    write(tmp_path, "sub/c.npy", b"")
    listed = tio.list_prefix(tmp_path.as_uri(), "*.npy")
    assert [d["id"] for d in listed] == ["a.npy", "b.npy", "sub/c.npy"]
    assert listed[0]["url"] == tmp_path.as_uri() + "/a.npy"
    assert len(tio.list_prefix(tmp_path.as_uri() + "/", "*.npy", limit=2)) == 2
    with pytest.raises(tio.InvalidInput, match="no such directory"):
        tio.list_prefix("file:///nonexistent/", "*")
