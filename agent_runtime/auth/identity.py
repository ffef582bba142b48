"""An authenticated caller, as Kubernetes describes users."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class Identity(BaseModel):
    """A user as TokenReview answers it (``username``, ``uid``, ``groups``, ``extra``)."""

    model_config = ConfigDict(frozen=True)

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[object, ...]:
        """Hashable and complete: what cached decisions about this identity are keyed by."""
        return (self.username, self.uid, self.groups, tuple(sorted(self.extra.items())))

    @property
    def service_account_namespace(self) -> str | None:
        """For a ServiceAccount (``system:serviceaccount:NS:NAME``), its namespace."""
        if not self.username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return namespace if namespace and name else None


#: Who calls a gateway that checks no credentials (a loopback ``serve``, or ``--insecure-no-auth``).
ANONYMOUS = Identity(username="system:anonymous", groups=("system:unauthenticated",))
