"""Dataset IO of the worker: formats, sources and the errors a user can cause."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import threading

import numpy as np
import pytest
from tda_worker import formats as tio
from tda_worker import sources as src
from tda_worker.compute import Entry, load_entry

pytestmark = pytest.mark.unit

LOCAL = src.Sources(src.Limits.unconfined())


def load(url, *, id=None, format=None, complex="rips", sources=LOCAL):
    """One dataset as the worker loads it (dataset position 0)."""
    return load_entry(sources, Entry(id or os.path.basename(url), url=url), 0, format, complex)

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
        ("cloud.csv.gz", gzip.compress(b"0,0\n1,0\n0,1\n1.5,1.25\n", mtime=0)),
        ("cloud.txt", "# a comment\n0 0\n1 0\n\n0 1\n1.5 1.25\n"),
        ("cloud.txt", "0, 0\n1, 0\n0, 1\n1.5, 1.25\n"),
        ("cloud.tsv", "0\t0\n1\t0\n0\t1\n1.5\t1.25\n"),
    ],
)
def test_point_clouds_in_every_encoding(tmp_path, name, content):
    path = write(tmp_path, name, content)
    ds = load(path.as_uri(), id="c")
    assert ds.kind == "points"
    np.testing.assert_array_equal(ds.array, POINTS)
    assert ds.array.dtype == np.float64


def test_plain_path_and_file_url_agree(tmp_path):
    path = write(tmp_path, "a.npy", npy_bytes(POINTS))
    np.testing.assert_array_equal(load(str(path)).array, load(path.as_uri()).array)


def test_one_dimensional_array_is_points_on_a_line(tmp_path):
    path = write(tmp_path, "line.npy", npy_bytes([0.0, 1.0, 3.0]))
    assert load(str(path)).array.shape == (3, 1)


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
    ds = load(str(path), format="distance-matrix")
    assert ds.kind == "distance"
    np.testing.assert_allclose(ds.array, d)


def test_lower_distance_matrix_in_ripsers_text_format(tmp_path):
    d = full_distances(POINTS)
    # ripser's lower-distance format: row i lists d[i,0..i-1]; the first row is empty.
    text = "\n".join(",".join(repr(float(d[i, j])) for j in range(i)) for i in range(len(d)))
    ds = load(str(write(tmp_path, "d.lower_distance_matrix", text)), format="lower-distance-matrix")
    assert ds.kind == "distance"
    np.testing.assert_allclose(ds.array, d)


def test_lower_distance_matrix_from_a_flat_npy_and_from_a_square_one(tmp_path):
    d = full_distances(POINTS)
    flat = d[np.tril_indices(len(d), k=-1)]
    np.testing.assert_allclose(
        load(str(write(tmp_path, "flat.npy", npy_bytes(flat))), format="lower-distance-matrix").array, d
    )
    garbage_upper = np.tril(d) + np.triu(np.full_like(d, 7.0), k=1)
    np.testing.assert_allclose(
        load(str(write(tmp_path, "sq.npy", npy_bytes(garbage_upper))), format="lower-distance-matrix").array, d
    )


def test_lower_triangle_count_must_be_triangular():
    with pytest.raises(tio.InvalidInput, match=r"n\(n-1\)/2"):
        tio.lower_to_full(np.arange(4.0), "x")


@pytest.mark.parametrize("shape", [(8, 9), (4, 5, 6)])
def test_images_for_cubical(tmp_path, shape):
    img = np.random.default_rng(0).normal(size=shape)
    ds = load(str(write(tmp_path, "img.npy", npy_bytes(img))), format="image-npy", complex="cubical")
    assert ds.kind == "image"
    np.testing.assert_array_equal(ds.array, img)
    # A plain .npy given to a cubical complex is an image too.
    assert load(str(tmp_path / "img.npy"), complex="cubical").kind == "image"


def test_integer_arrays_become_float64(tmp_path):
    ds = load(str(write(tmp_path, "i.npy", npy_bytes(np.arange(6).reshape(3, 2)))))
    assert ds.array.dtype == np.float64


def test_inline_points_distance_and_image():
    assert tio.parse_inline({"points": [[0, 0], [1, 1]]}).kind == "points"
    assert tio.parse_inline({"distanceMatrix": [[0, 1], [1, 0]]}).kind == "distance"
    assert tio.parse_inline({"image": [[0, 1], [1, 0]]}, "cubical").kind == "image"


def test_load_entry_uses_inline():
    ds = load_entry(LOCAL, Entry("inline", inline={"points": [[0, 0], [3, 4]]}), 0, None, "rips")
    assert ds.id == "inline" and ds.array.shape == (2, 2)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("nan.npy", npy_bytes([[0.0, 1.0], [np.nan, 2.0]]), None, r"NaN at index \[1, 0\]"),
        ("inf.csv", "0,1\n2,inf\n", None, "infinite"),
        ("ragged.csv", "0,1\n2,3,4\n", None, "different numbers of columns"),
        ("words.txt", "1 2\n3 four\n", None, "line 2, field 2 is not a number"),
        ("empty.csv", "# nothing\n", None, "no numeric rows"),
        ("bad.npy", b"not an npy file", None, "not a readable .npy"),
        ("cube.npy", npy_bytes(np.zeros((2, 2, 2))), None, "2-D array"),
        ("empty.npy", npy_bytes(np.zeros((0, 3))), None, "empty"),
        ("strings.npy", npy_bytes(np.array(["a", "b"])), None, "numeric"),
        ("nosuffix", "0 0\n", None, "set spec.input.format"),
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
        load(str(path), format=fmt, complex=complex_)


def test_pickled_npy_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(tio.InvalidInput, match="not a readable .npy"):
        load(str(write(tmp_path, "obj.npy", buf.getvalue())))


def test_missing_file_and_unknown_scheme_and_format():
    with pytest.raises(tio.InvalidInput, match="no such file"):
        load("file:///nonexistent/x.npy")
    with pytest.raises(tio.InvalidInput, match="unsupported URL scheme"):
        load("ftp://host/x.npy")
    with pytest.raises(tio.InvalidInput, match="spec.input.format"):
        load("x.npy", format="parquet")


def test_complex_and_kind_must_match(tmp_path):
    path = write(tmp_path, "img.npy", npy_bytes(np.zeros((4, 4))))
    with pytest.raises(tio.InvalidInput, match="needs spec.computation.complex cubical"):
        load(str(path), format="image-npy", complex="rips")
    with pytest.raises(tio.InvalidInput, match="needs an image"):
        load(str(path), format="distance-matrix", complex="cubical")


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
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.routes
    server.shutdown()
    _Handler.routes = {}


def test_https_style_fetch(http_server):
    base, routes = http_server
    routes["/clouds/a.npy"] = (200, npy_bytes(POINTS))
    np.testing.assert_array_equal(load(base + "/clouds/a.npy").array, POINTS)


def test_http_404_is_invalid_input_and_5xx_is_transient(http_server):
    base, routes = http_server
    routes["/boom.npy"] = (503, b"busy")
    with pytest.raises(tio.InvalidInput, match="HTTP 404"):
        load(base + "/missing.npy")
    with pytest.raises(tio.TransientError, match="503"):
        load(base + "/boom.npy")


def test_unreachable_host_is_transient():
    with pytest.raises(tio.TransientError):
        LOCAL.fetch("http://127.0.0.1:9/x.npy", "dataset 0")  # the discard port: connection refused


# --------------------------------------------------------------------------- writing


def test_put_file_url_creates_directories(tmp_path):
    LOCAL.put((tmp_path / "out").as_uri(), "deep/r.json", b"{}")
    assert (tmp_path / "out" / "deep" / "r.json").read_bytes() == b"{}"


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
    assert LOCAL.list_prefix(tmp_path.as_uri(), "*.npy", None) == ["a.npy", "b.npy", "sub/c.npy"]
    assert len(LOCAL.list_prefix(tmp_path.as_uri() + "/", "*.npy", 2)) == 2
    with pytest.raises(tio.InvalidInput, match="no such directory"):
        LOCAL.list_prefix("file:///nonexistent/", "*", None)


# --------------------------------------------------------------------------- confinement and limits


@pytest.fixture
def volume(tmp_path):
    """A pretend input volume with one dataset, and a secret file beside it (outside)."""
    root = tmp_path / "data"
    root.mkdir()
    write(root, "a.npy", npy_bytes(POINTS))
    write(tmp_path, "secret.txt", "AWS_SECRET_ACCESS_KEY=hunter2\n")
    return root


def confined(root, **limits):
    return src.Sources(src.Limits(data_root=str(root), output_root=str(root.parent / "out"), **limits))


def test_file_inside_the_volume_is_read(volume):
    ds = load("file://" + str(volume / "a.npy"), sources=confined(volume))
    np.testing.assert_array_equal(ds.array, POINTS)


@pytest.mark.parametrize("path", ["/proc/self/environ", "/var/run/secrets/kubernetes.io/serviceaccount/token",
                                  "{root}/../secret.txt", "{root}/./../secret.txt", "/etc/passwd"])
def test_files_outside_the_volume_are_refused(volume, path):
    url = "file://" + path.format(root=volume)
    with pytest.raises(tio.InvalidInput, match="leaves the input volume") as refused:
        load(url, format="txt", sources=confined(volume))
    assert "hunter2" not in str(refused.value) and "AWS_" not in str(refused.value)


def test_a_symlink_out_of_the_volume_is_refused_and_one_inside_is_followed(volume):
    os.symlink(volume.parent / "secret.txt", volume / "escape.txt")
    os.symlink(volume / "a.npy", volume / "alias.npy")
    with pytest.raises(tio.InvalidInput, match="leaves the input volume"):
        load("file://" + str(volume / "escape.txt"), sources=confined(volume))
    np.testing.assert_array_equal(load("file://" + str(volume / "alias.npy"), sources=confined(volume)).array, POINTS)


def test_a_symlinked_directory_out_of_the_volume_is_refused(volume):
    os.symlink(volume.parent, volume / "up")
    with pytest.raises(tio.InvalidInput, match="leaves the input volume"):
        load("file://" + str(volume / "up" / "secret.txt"), format="txt", sources=confined(volume))


def test_open_beneath_refuses_a_symlink_swapped_in_after_the_check(volume, monkeypatch):
    # realpath() sees a plain file; by the time of the open, the name is a symlink out.
    monkeypatch.setattr(src.os.path, "realpath", lambda p: str(p))
    os.symlink(volume.parent / "secret.txt", volume / "swapped.txt")
    with pytest.raises(src.Escape):
        src.open_beneath(str(volume), str(volume / "swapped.txt"))


def test_listing_a_volume_skips_symlinks_and_refuses_escapes(volume):
    os.symlink(volume.parent / "secret.txt", volume / "escape.npy")
    assert confined(volume).list_prefix("file://" + str(volume) + "/", "*", None) == ["a.npy"]
    with pytest.raises(tio.InvalidInput, match="leaves the input volume"):
        confined(volume).list_prefix("file://" + str(volume.parent) + "/", "*", None)


def test_file_larger_than_the_cap_is_refused(volume):
    with pytest.raises(tio.InvalidInput, match="download limit of 10 bytes"):
        load("file://" + str(volume / "a.npy"), sources=confined(volume, max_bytes=10))


def test_parse_errors_never_quote_the_data(tmp_path):
    path = write(tmp_path, "cloud.csv", "0,1\n2,AWS_SECRET_ACCESS_KEY=hunter2\n")
    with pytest.raises(tio.InvalidInput) as refused:
        load(str(path))
    assert "hunter2" not in str(refused.value)
    assert "line 2, field 2" in str(refused.value)
    lower = write(tmp_path, "d.txt", "1\n2 3 hunter2\n")
    with pytest.raises(tio.InvalidInput) as refused:
        load(str(lower), format="lower-distance-matrix")
    assert "hunter2" not in str(refused.value) and "line 2, field 3" in str(refused.value)
    with pytest.raises(tio.InvalidInput) as refused:
        tio.parse_inline({"points": [[0, "hunter2"]]})
    assert "hunter2" not in str(refused.value)


def test_a_gzip_bomb_is_refused_before_it_is_inflated():
    bomb = gzip.compress(b"0" * (2 * 1024**2))
    with pytest.raises(tio.InvalidInput, match="decompresses to more than"):
        tio._decompress(bomb, "dataset 0", limit=1024**2)


def test_http_is_refused_unless_allowed(http_server):
    base, routes = http_server
    routes["/a.npy"] = (200, npy_bytes(POINTS))
    strict = src.Sources(src.Limits())
    with pytest.raises(tio.InvalidInput, match="http:// is not allowed"):
        strict.fetch(base + "/a.npy", "dataset 0")
    assert src.Sources(src.Limits(allow_http=True)).fetch(base + "/a.npy", "dataset 0") == npy_bytes(POINTS)


def test_http_body_over_the_cap_is_refused(http_server):
    base, routes = http_server
    routes["/big.npy"] = (200, b"x" * 5000)
    with pytest.raises(tio.InvalidInput, match="download limit of 100 bytes"):
        src.Sources(src.Limits(allow_http=True, max_bytes=100)).fetch(base + "/big.npy", "dataset 0")


class _Redirects(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 -- the stdlib's name
        hop = int(self.path.strip("/") or 0)
        self.send_response(302)
        self.send_header("Location", f"/{hop + 1}" if hop < 100 else "ftp://127.0.0.1/x.npy")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_redirects_are_bounded_and_never_leave_http():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(tio.InvalidInput, match="more than 3 redirects"):
            src.Sources(src.Limits(allow_http=True, max_redirects=3)).fetch(base + "/0", "dataset 0")
        with pytest.raises(tio.InvalidInput, match="does not fetch"):
            src.Sources(src.Limits(allow_http=True, max_redirects=500)).fetch(base + "/99", "dataset 0")
    finally:
        server.shutdown()


@pytest.mark.parametrize("key", ["../x.json", "a/../../x.json", "/abs.json", "a//b.json", "", "a\\b.json"])
def test_result_keys_cannot_leave_the_output_prefix(tmp_path, key):
    assert not src.safe_key(key)
    out = tmp_path / "out"
    sources = src.Sources(src.Limits(data_root=str(tmp_path), output_root=str(out)))
    with pytest.raises(tio.InvalidInput, match="would leave spec.output.url"):
        sources.put("file://" + str(out) + "/results/", key, b"{}")


def test_file_output_is_confined_to_the_output_volume(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sources = src.Sources(src.Limits(data_root=str(tmp_path), output_root=str(out)))
    sources.put("file://" + str(out) + "/results/", "sub/a.json", b"{}")
    assert (out / "results" / "sub" / "a.json").read_bytes() == b"{}"
    with pytest.raises(tio.InvalidInput, match="leaves the output volume"):
        sources.put("file://" + str(tmp_path) + "/elsewhere/", "a.json", b"{}")
    os.symlink(tmp_path, out / "up")
    with pytest.raises(tio.InvalidInput, match="leaves the output volume"):
        sources.put("file://" + str(out) + "/up/", "a.json", b"{}")
