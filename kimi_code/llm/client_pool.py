"""A few SDK clients with small connection pools, leased per request.

A swarm streams dozens of requests at once through one provider. httpcore scans every pooled
connection for each request, so one client with 64 connections spends a quarter of the CPU there
(measured); a few clients with small pools keep that linear. Clients are made lazily, when every
existing one has `per_client` requests in flight.

All clients of a process share one TLS context: building one loads the CA bundle, about 40 ms of
CPU (measured), which a swarm's burst of new clients would otherwise pay on its critical path.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import httpx2


class AsyncClosable(Protocol):
    """What the pool needs of an SDK client: both SDKs' async clients have `close()`."""

    async def close(self) -> None: ...


Client = TypeVar("Client", bound=AsyncClosable)

REQUESTS_PER_CLIENT = 8
MAX_CLIENTS = 16


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context the SDKs would build by default (system CA store, SSL_CERT_FILE and
    SSL_CERT_DIR honoured), built once per process."""
    import httpx2  # the HTTP client both SDKs are built on (pyproject pins those releases)

    return httpx2.create_ssl_context()


def http_response_class() -> type[httpx2.Response]:
    """The HTTP client's Response class: as an SDK `cast_to` it returns the raw response."""
    import httpx2

    return httpx2.Response


class ClientPool(Generic[Client]):
    """Lazily made SDK clients; `lease()` picks the least loaded one for one request.

    `make()` builds one SDK client; give it the SDK's default HTTP client class with
    `verify=shared_ssl_context()`.
    """

    def __init__(self, make: Callable[[], Client], *, per_client: int = REQUESTS_PER_CLIENT,
                 max_clients: int = MAX_CLIENTS) -> None:
        self._make = make
        self.per_client = per_client
        self.max_clients = max_clients
        self.clients: list[Client] = [make()]
        self.in_flight: list[int] = [0]

    @property
    def first(self) -> Client:
        """The first client (non-streaming requests and anything that needs just one)."""
        return self.clients[0]

    def _pick(self) -> int:
        index = min(range(len(self.clients)), key=self.in_flight.__getitem__)
        if self.in_flight[index] >= self.per_client and len(self.clients) < self.max_clients:
            self.clients.append(self._make())
            self.in_flight.append(0)
            index = len(self.clients) - 1
        return index

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Client]:
        """One client for the duration of one request; the lease is returned however it ends."""
        index = self._pick()
        self.in_flight[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.in_flight[index] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.close()
