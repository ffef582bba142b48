"""URL prefixes, as ``httpGet.allow`` and the platform's ``egressAllow`` list them.

A URL is under a prefix when its scheme, host and port equal the prefix's and its path lies under
the prefix's path in whole segments: ``/docs`` admits ``/docs`` and ``/docs/a``, not ``/docsx``.
URLs with user info, dot segments, backslashes, or a scheme other than http(s) are never admitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


def url_shape_problem(url: httpx.URL) -> str | None:
    """Why a URL can never be allowed, whatever a list holds; None when its shape is fine."""
    if url.scheme not in DEFAULT_PORTS:
        return f"scheme {url.scheme or '(none)'!r} is not http or https"
    if not url.host:
        return "it has no host"
    if url.userinfo:
        return "it carries user info (user:password@) before the host"
    # url.path is percent-decoded, so %2e%2e and %2f are caught too.
    if any(segment in (".", "..") for segment in url.path.split("/")):
        return "its path holds '.' or '..' segments"
    if "\\" in url.path:
        return "its path holds a backslash"
    return None


def parse_url(text: str | httpx.URL) -> httpx.URL:
    """``text`` as a URL; ValueError saying why it is none."""
    import httpx  # here: validating a Workflow that names no URL need not load an HTTP client

    if isinstance(text, httpx.URL):
        return text
    try:
        return httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"invalid URL: {exc}") from None


def port_of(url: httpx.URL) -> int:
    return url.port or DEFAULT_PORTS[url.scheme]


@dataclass(frozen=True)
class UrlPrefix:
    scheme: str
    host: str
    port: int
    path: str  # decoded; "/" or a path with no trailing slash

    @classmethod
    def parse(cls, text: str | httpx.URL) -> UrlPrefix:
        """The prefix ``text`` names; ValueError saying what is wrong with it (not naming it)."""
        url = parse_url(text)
        problem = url_shape_problem(url)
        if problem is None and (url.query or url.fragment):
            problem = "a prefix takes no query or fragment"
        if problem is not None:
            raise ValueError(problem)
        return cls(url.scheme, url.host, port_of(url), url.path.rstrip("/") or "/")

    def admits(self, url: httpx.URL) -> bool:
        if url.scheme not in DEFAULT_PORTS:
            return False
        if (url.scheme, url.host, port_of(url)) != (self.scheme, self.host, self.port):
            return False
        return self.covers_path(url.path)

    def covers_path(self, path: str) -> bool:
        if self.path == "/":
            return True
        return path == self.path or path.startswith(self.path + "/")

    def contains(self, other: UrlPrefix) -> bool:
        """Whether every URL under ``other`` is under this prefix too."""
        if (other.scheme, other.host, other.port) != (self.scheme, self.host, self.port):
            return False
        return self.covers_path(other.path)

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if default else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"
