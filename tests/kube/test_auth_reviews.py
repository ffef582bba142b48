"""TokenReview and SubjectAccessReview as the API server receives them, against a scripted server."""

from __future__ import annotations

import pytest

from agent_runtime.auth.errors import AuthUnavailable
from agent_runtime.auth.identity import Identity
from agent_runtime.auth.kubernetes import AccessReviewer, TokenReviewer
from agent_runtime.kube import KubeClient
from tests.kube.fake_api import FakeApi, status

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def token_review(**status: object) -> dict[str, object]:
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": "t"},
        "status": status,
    }


async def test_a_token_the_api_server_accepts_is_its_user(api: FakeApi, client: KubeClient) -> None:
    user = {"username": "alice", "uid": "u1", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}}
    api.answer(
        "POST", TOKEN_REVIEWS, 201, token_review(authenticated=True, user=user, audiences=["gw"])
    )
    identity = await TokenReviewer(client, audiences=("gw",)).authenticate("secret")
    assert identity == Identity(
        username="alice", uid="u1", groups=("dev",), extra={"scopes": ("a", "b")}
    )
    [seen] = api.requests("POST", TOKEN_REVIEWS)
    assert seen.body["spec"] == {"token": "secret", "audiences": ["gw"]}
    assert seen.body["kind"] == "TokenReview"


async def test_a_token_refused_or_meant_for_others_is_nobody(
    api: FakeApi, client: KubeClient
) -> None:
    api.answer("POST", TOKEN_REVIEWS, 201, token_review(authenticated=False))
    assert await TokenReviewer(client).authenticate("bad") is None
    # an API server that ignores audiences answers without them: not accepted for ours
    api.answer("POST", TOKEN_REVIEWS, 201, token_review(authenticated=True, user={"username": "x"}))
    assert await TokenReviewer(client, audiences=("gw",)).authenticate("other") is None
    first, _ = api.requests("POST", TOKEN_REVIEWS)
    assert first.body["spec"] == {"token": "bad"}, "no audiences: the API server's own"


async def test_rbac_is_asked_about_workflows_runs(api: FakeApi, client: KubeClient) -> None:
    answer = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview"}
    api.answer("POST", ACCESS_REVIEWS, 201, {**answer, "spec": {}, "status": {"allowed": True}})
    api.answer("POST", ACCESS_REVIEWS, 201, {**answer, "spec": {}, "status": {"allowed": False}})
    reviewer = AccessReviewer(client)
    alice = Identity(username="alice", uid="u1", groups=("dev",), extra={"k": ("v",)})
    assert await reviewer.allowed(alice, "create", namespace="team-a") is True
    assert await reviewer.allowed(alice, "list") is False
    first, second = (r.body["spec"] for r in api.requests("POST", ACCESS_REVIEWS))
    assert first == {
        "user": "alice",
        "uid": "u1",
        "groups": ["dev"],
        "extra": {"k": ["v"]},
        "resourceAttributes": {
            "group": "configurable-agents.io",
            "resource": "workflows",
            "subresource": "runs",
            "verb": "create",
            "namespace": "team-a",
        },
    }
    assert "namespace" not in second["resourceAttributes"], "cluster-wide: no namespace"


async def test_an_api_server_that_cannot_answer_makes_auth_unavailable(
    api: FakeApi, client: KubeClient
) -> None:
    with pytest.raises(AuthUnavailable, match="does not serve TokenReviews"):
        await TokenReviewer(client).authenticate("t1")
    api.answer("POST", ACCESS_REVIEWS, 500, status(500, "etcd is down"))
    with pytest.raises(AuthUnavailable, match="could not answer a SubjectAccessReview"):
        await AccessReviewer(client).allowed(Identity(username="a"), "get", namespace="n")
