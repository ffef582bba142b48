"""The egress rules MCP tool URLs and ``http_get`` share, decided without the network.

``EgressRule.admit`` checks a URL's shape, the platform's ``egressAllow`` list and what its host
is when the host spells an address or a known name (metadata services, ``localhost``): enough for
admission, which never resolves names. ``EgressRule.check_address`` judges each address a name
resolves to; the tools' egress guard calls it on every connection, redirects included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_runtime.policy.addresses import AddressClass, IPAddress, classify, classify_name
from agent_runtime.policy.addresses import parse_host as _parse_host
from agent_runtime.policy.model import ToolPolicy
from agent_runtime.policy.prefixes import parse_url, url_shape_problem

if TYPE_CHECKING:
    import httpx

_SWITCH = {
    AddressClass.LOOPBACK: "allowLoopback",
    AddressClass.PRIVATE: "allowPrivate",
}


class EgressRefusal(ValueError):
    """A URL or address the platform policy refuses; the message is one line naming the rule."""


@dataclass(frozen=True)
class Admitted:
    """A URL the allow-list admits, with what its host is when that is known without DNS."""

    url: httpx.URL
    host: str  # the normalised name or address text, as given to the resolver
    address: IPAddress | None  # when the host spells one
    #: Whether an entry naming this host (not ``*``) admitted it: then loopback and private
    #: addresses are allowed for it.
    trusted: bool


class EgressRule:
    """The platform's egress policy, compiled once."""

    def __init__(self, policy: ToolPolicy) -> None:
        self.policy = policy

    def admit(self, target: str | httpx.URL) -> Admitted:
        """The URL when the policy may allow it; EgressRefusal naming the rule otherwise."""
        try:
            url = parse_url(target)
        except ValueError as exc:
            raise EgressRefusal(str(exc)) from None
        problem = url_shape_problem(url)
        if problem is not None:
            raise EgressRefusal(problem)
        try:
            parsed = _parse_host(url.raw_host.decode("ascii"))
        except ValueError as exc:
            raise EgressRefusal(str(exc)) from None
        trusted = any(prefix.admits(url) for prefix in self.policy.egress_prefixes)
        if not trusted and not self.policy.any_url:
            allowed = ", ".join(self.policy.egress_allow) or "nothing"
            raise EgressRefusal(
                f"not under the platform's egress allow-list (egressAllow: {allowed})"
            )
        if isinstance(parsed, str):
            admitted = Admitted(url=url, host=parsed, address=None, trusted=trusted)
            named = classify_name(parsed)
            if named is not None:
                self._judge(f"{parsed} is {named.value}", named, admitted)
            return admitted
        admitted = Admitted(url=url, host=str(parsed), address=parsed, trusted=trusted)
        self.check_address(parsed, admitted)
        return admitted

    def check_address(self, address: IPAddress, admitted: Admitted) -> None:
        """EgressRefusal when the policy refuses to connect to ``address`` for this URL."""
        kind = classify(address)
        if admitted.address is None:
            self._judge(f"{admitted.host} resolves to {address}, {kind.value}", kind, admitted)
        else:
            self._judge(f"{address} is {kind.value}", kind, admitted)

    def _judge(self, said: str, kind: AddressClass, admitted: Admitted) -> None:
        if kind.always_refused:
            raise EgressRefusal(f"{said}: always refused")
        if kind is AddressClass.PUBLIC or admitted.trusted:
            return
        if kind is AddressClass.LOOPBACK and self.policy.allow_loopback:
            return
        if kind is AddressClass.PRIVATE and self.policy.allow_private:
            return
        raise EgressRefusal(
            f"{said}: refused unless the platform tool policy sets {_SWITCH[kind]} "
            "or names this URL's prefix in egressAllow"
        )
