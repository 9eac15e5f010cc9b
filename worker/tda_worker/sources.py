"""Where the worker reads datasets from and writes results to: file://, https:// and s3://.

Everything here runs in the TDAJob's own pod with the user's own credentials, and is
bounded by :class:`Limits` (the platform's settings, passed in the pod's environment):

- ``file://`` paths resolve beneath the mounted volume only (``..``, absolute escapes and
  symlinks that leave it are refused; the final open walks the resolved path with
  ``O_NOFOLLOW`` so a symlink swapped in meanwhile is refused too);
- ``https://`` only, unless the platform allows ``http://``; redirects are bounded and
  never downgrade; every body is capped at ``max_bytes``;
- result keys stay beneath the output prefix.

Messages name the dataset and the fix, never a URL's query or a server's reply text.
"""

from __future__ import annotations

import errno
import fnmatch
import http
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tda_contract import (
    DATA_MOUNT_DIR,
    ENV_ALLOW_HTTP,
    ENV_MAX_DOWNLOAD_BYTES,
    ENV_MAX_REDIRECTS,
    OUTPUT_MOUNT_DIR,
)

from .formats import InvalidInput, TransientError

DEFAULT_MAX_DOWNLOAD_BYTES = 1024**3
DEFAULT_MAX_REDIRECTS = 5
HTTP_TIMEOUT_SECONDS = 60.0
INDEX_PAGE_MAX_BYTES = 8 * 1024**2
_CHUNK = 1024**2


@dataclass(frozen=True)
class Limits:
    """What a dataset may be and where it may come from."""

    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    allow_http: bool = False
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    #: file:// inputs must resolve beneath this directory; None: anywhere (a local run).
    data_root: str | None = DATA_MOUNT_DIR
    #: file:// outputs must resolve beneath this directory; None: anywhere (a local run).
    output_root: str | None = OUTPUT_MOUNT_DIR

    @classmethod
    def from_env(cls) -> Limits:
        env = os.environ.get
        return cls(
            max_bytes=int(env(ENV_MAX_DOWNLOAD_BYTES) or DEFAULT_MAX_DOWNLOAD_BYTES),
            allow_http=(env(ENV_ALLOW_HTTP) or "").lower() in ("1", "true", "yes"),
            max_redirects=int(env(ENV_MAX_REDIRECTS) or DEFAULT_MAX_REDIRECTS),
        )

    @classmethod
    def unconfined(cls) -> Limits:
        """`tda-compute local`: the caller's own files and network."""
        return cls(allow_http=True, data_root=None, output_root=None)


@dataclass
class S3Credentials:
    """The keys of ``spec.input.credentialsSecret`` (empty: the pod's own identity, if any)."""

    values: dict[str, str] = field(default_factory=dict)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        endpoint = self.values.get("AWS_ENDPOINT_URL") or None
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=HTTP_TIMEOUT_SECONDS,
            # Custom endpoints (MinIO, SeaweedFS, a loopback server) rarely have wildcard DNS.
            s3={"addressing_style": "path"} if endpoint else {},
        )
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=self.values.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=self.values.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=self.values.get("AWS_SESSION_TOKEN") or None,
            region_name=self.values.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=config,
        )


class Sources:
    """Reads, lists and writes under one set of limits and credentials."""

    def __init__(self, limits: Limits, credentials: S3Credentials | None = None) -> None:
        self.limits = limits
        self.credentials = credentials or S3Credentials()
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:  # one client per process: many objects from the same endpoint
            self._s3 = self.credentials.client()
        return self._s3

    # ------------------------------------------------------------------ reading

    def fetch(self, url: str, name: str) -> bytes:
        """The bytes at ``url``; ``name`` is how messages refer to the dataset."""
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme == "s3":
            return self._fetch_s3(url, name)
        if scheme in ("http", "https"):
            return self._fetch_http(url, name, self.limits.max_bytes)
        if scheme == "file" or (scheme == "" and self.limits.data_root is None):
            return self._fetch_file(url, name)
        raise InvalidInput(f"{name}: unsupported URL scheme; use s3://, https:// or file://")

    def _fetch_file(self, url: str, name: str) -> bytes:
        path = _file_path(url, name)
        root = self.limits.data_root
        try:
            fd = open_beneath(root, path) if root is not None else os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            hint = "; is spec.input.volume set?" if root is not None else ""
            raise InvalidInput(f"{name}: no such file{hint}") from None
        except Escape:
            raise InvalidInput(
                f"{name}: the path leaves the input volume ({root}); file:// inputs must lie on spec.input.volume"
            ) from None
        except PermissionError:
            raise InvalidInput(f"{name}: permission denied") from None
        except OSError as exc:
            raise InvalidInput(f"{name}: cannot open the file ({errno.errorcode.get(exc.errno or 0, 'error')})") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise InvalidInput(f"{name}: is a directory, not a dataset file")
            if not stat.S_ISREG(info.st_mode):
                raise InvalidInput(f"{name}: is not a regular file")
            if info.st_size > self.limits.max_bytes:
                raise _too_large(name, self.limits.max_bytes)
            return _read_capped(handle.read, name, self.limits.max_bytes)

    def _fetch_http(self, url: str, name: str, cap: int) -> bytes:
        self._check_http(url, name)
        opener = urllib.request.build_opener(_BoundedRedirects(self.limits, name))
        request = urllib.request.Request(url, headers={"User-Agent": "tda-compute"})
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > cap:
                    raise _too_large(name, cap)
                return _read_capped(response.read, name, cap)
        except urllib.error.HTTPError as exc:
            phrase = _status_phrase(exc.code)
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientError(f"{name}: HTTP {exc.code} {phrase}") from None
            raise InvalidInput(f"{name}: HTTP {exc.code} {phrase}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException):
            raise TransientError(f"{name}: the server could not be reached or closed the connection") from None

    def _check_http(self, url: str, name: str) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme == "http" and not self.limits.allow_http:
            raise InvalidInput(f"{name}: http:// is not allowed on this platform; use https://")
        if scheme not in ("http", "https"):
            raise InvalidInput(f"{name}: unsupported URL scheme; use https://")

    def _fetch_s3(self, url: str, name: str) -> bytes:
        bucket, key = split_s3_url(url, name)
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
            length = int(response.get("ContentLength") or 0)
            if length > self.limits.max_bytes:
                raise _too_large(name, self.limits.max_bytes)
            return _read_capped(response["Body"].read, name, self.limits.max_bytes)
        except (InvalidInput, TransientError):
            raise
        except Exception as exc:
            raise s3_error(exc, name) from None

    # ------------------------------------------------------------------ listing

    def list_prefix(self, url_prefix: str, pattern: str, limit: int | None) -> list[str]:
        """Sorted object names (relative to the prefix) matching ``pattern``, at most ``limit``."""
        field_name = "spec.input.datasets.urlPrefix"
        scheme = urllib.parse.urlsplit(url_prefix).scheme
        if scheme == "s3":
            names: Iterator[str] = self._list_s3(url_prefix)
        elif scheme in ("http", "https"):
            names = iter(self._list_http_index(url_prefix))
        elif scheme == "file":
            names = self._list_file(url_prefix)
        else:
            raise InvalidInput(f"{field_name}: unsupported URL scheme; use s3://, https:// or file://")
        keys = sorted({n for n in names if n and fnmatch.fnmatchcase(n, pattern) and safe_key(n)})
        return keys[:limit] if limit is not None else keys

    def _list_s3(self, url_prefix: str) -> Iterator[str]:
        bucket, prefix = split_s3_url(url_prefix, "spec.input.datasets.urlPrefix")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents") or []:
                    yield item["Key"][len(prefix):]
        except Exception as exc:
            raise s3_error(exc, "spec.input.datasets.urlPrefix") from None

    def _list_http_index(self, url_prefix: str) -> list[str]:
        """Links of an index page (a web server's directory listing)."""
        page = self._fetch_http(url_prefix, "spec.input.datasets.urlPrefix", INDEX_PAGE_MAX_BYTES)
        links = re.findall(r'href="([^"?#]+)"', page.decode("utf-8", errors="replace"))
        return [urllib.parse.unquote(link) for link in links if "/" not in link.rstrip("/") and ":" not in link]

    def _list_file(self, url_prefix: str) -> Iterator[str]:
        field_name = "spec.input.datasets.urlPrefix"
        root = _file_path(url_prefix, field_name)
        base = self.limits.data_root
        try:
            fd = open_beneath(base, root, directory=True) if base is not None else os.open(root, os.O_RDONLY)
        except Escape:
            raise InvalidInput(f"{field_name}: the path leaves the input volume ({base})") from None
        except OSError:
            raise InvalidInput(f"{field_name}: no such directory; is spec.input.volume set?") from None
        os.close(fd)
        # Symlinks are not followed: a listing never leaves the directory it names.
        for directory, _, files in os.walk(root, followlinks=False):
            for file_name in files:
                full = os.path.join(directory, file_name)
                if os.path.isfile(full) and not os.path.islink(full):
                    yield os.path.relpath(full, root).replace(os.sep, "/")

    # ------------------------------------------------------------------ writing

    def put(self, prefix: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write ``prefix`` + ``key`` (s3:// or file://); ``key`` may not climb out of ``prefix``."""
        if not safe_key(key):
            raise InvalidInput(f"result key {key!r} would leave spec.output.url; rename the dataset")
        scheme = urllib.parse.urlsplit(prefix).scheme
        if scheme == "s3":
            bucket, base = split_s3_url(prefix, "spec.output.url")
            target = (base.rstrip("/") + "/" if base else "") + key
            try:
                self.s3.put_object(Bucket=bucket, Key=target, Body=data, ContentType=content_type)
            except Exception as exc:
                raise s3_error(exc, "spec.output.url") from None
            return
        if scheme == "file" or (scheme == "" and self.limits.output_root is None):
            self._put_file(os.path.join(_file_path(prefix, "spec.output.url"), key), data)
            return
        raise InvalidInput("spec.output.url: unsupported scheme; use s3:// or file://")

    def _put_file(self, path: str, data: bytes) -> None:
        root = self.limits.output_root
        try:
            if root is not None:
                directory_fd = open_beneath(root, os.path.dirname(path), directory=True, create=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                directory_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        except Escape:
            raise InvalidInput(f"spec.output.url: the path leaves the output volume ({root})") from None
        except OSError:
            raise InvalidInput("spec.output.url: cannot create the directory; is spec.output.volume set?") from None
        name = os.path.basename(path)
        temporary = f".{name}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=directory_fd)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)  # no half-written result
        except OSError as exc:
            raise InvalidInput(
                f"spec.output.url: cannot write ({errno.errorcode.get(exc.errno or 0, 'error')}); "
                "the output volume must be writable"
            ) from None
        finally:
            os.close(directory_fd)


# ---------------------------------------------------------------------- helpers


class Escape(Exception):
    """A path that resolves outside its root."""


def open_beneath(root: str, path: str, *, directory: bool = False, create: bool = False) -> int:
    """An fd for ``path``, which must resolve beneath ``root``.

    The real path (symlinks resolved) must lie under the real root; it is then opened one
    component at a time with ``O_NOFOLLOW`` from the root, so nothing can be swapped in
    between the check and the open. ``create`` makes missing directories (outputs).
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise Escape(path)
    parts = [p for p in os.path.relpath(real, real_root).split("/") if p not in ("", ".")]
    fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if directory or not last else 0)
            try:
                next_fd = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Escape(path) from None
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def safe_key(key: str) -> bool:
    """A relative object name with no ``..``, empty or absolute segment."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or len(key) > 1024:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _file_path(url: str, name: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise InvalidInput(f"{name}: a file:// URL has no host; write file:///data/...")
    path = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url
    if "\x00" in path:
        raise InvalidInput(f"{name}: the path contains a NUL byte")
    return path


def split_s3_url(url: str, name: str) -> tuple[str, str]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInput(f"{name}: not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def _read_capped(read: Callable[[int], bytes], name: str, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read(min(_CHUNK, cap + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            raise _too_large(name, cap)


def _too_large(name: str, cap: int) -> InvalidInput:
    return InvalidInput(f"{name}: larger than the platform's download limit of {cap} bytes; split the dataset")


def _status_phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


class _BoundedRedirects(urllib.request.HTTPRedirectHandler):
    """At most ``max_redirects`` hops, to http(s) only, never from https down to http."""

    def __init__(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.hops = 0

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.hops += 1
        if self.hops > self.limits.max_redirects:
            raise InvalidInput(f"{self.name}: more than {self.limits.max_redirects} redirects")
        old, new = urllib.parse.urlsplit(req.full_url).scheme, urllib.parse.urlsplit(newurl).scheme
        if new not in ("http", "https") or (old == "https" and new == "http") or (
            new == "http" and not self.limits.allow_http
        ):
            raise InvalidInput(f"{self.name}: redirected to a URL this platform does not fetch; use https://")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def s3_error(exc: Exception, name: str) -> Exception:
    """A boto error as InvalidInput (no retry helps) or TransientError, without the server's text."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return InvalidInput(f"{name}: no S3 credentials; set spec.input.credentialsSecret")
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"):
            return TransientError(f"{name}: S3 is unavailable (HTTP {status}); the index is retried")
        hint = {
            "NoSuchKey": "the object does not exist",
            "404": "the object does not exist",
            "NoSuchBucket": "the bucket does not exist",
            "AccessDenied": "access denied; check spec.input.credentialsSecret",
            "403": "access denied; check spec.input.credentialsSecret",
            "InvalidAccessKeyId": "the access key is not valid; check spec.input.credentialsSecret",
            "SignatureDoesNotMatch": "the secret key does not match; check spec.input.credentialsSecret",
        }.get(code, f"S3 refused the request (HTTP {status})")
        return InvalidInput(f"{name}: {hint}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{name}: S3 could not be reached; the index is retried")
    return exc
