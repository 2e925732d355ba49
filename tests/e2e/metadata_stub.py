"""A loopback stand-in for the cloud metadata services an agent's AWS SDK
falls back to when it finds no credential of its own: the EC2 instance
metadata service (IMDSv2: ``PUT /latest/api/token``, then the role and its
credentials under ``/latest/meta-data/iam/security-credentials/``) and the
container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``, with
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` in ``authorization``).

Point the SDK at it with ``AWS_EC2_METADATA_SERVICE_ENDPOINT=stub.url`` (the
SDK's own setting, which the tests use to simulate the instance) or
``AWS_CONTAINER_CREDENTIALS_FULL_URI=stub.url + "/creds"``. Every request is
recorded; ``served()`` says whether credentials were handed out. Loopback
only, like every stand-in.
"""

from __future__ import annotations

import json
from typing import ClassVar

from stub_server import LoopbackStub, RecordedRequest, StubHandler

ROLE = "platform-instance-role"
TOKEN = "imds-session-token"


class _Handler(StubHandler):
    server_version = "metadata-stub/1"

    def _credentials(self) -> bytes:
        key_id, secret = self.server.metadata_credentials  # type: ignore[attr-defined]
        return json.dumps(
            {
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": key_id,
                "SecretAccessKey": secret,
                "Token": f"session-{secret}",
                "Expiration": "2099-01-01T00:00:00Z",
                "LastUpdated": "2026-01-01T00:00:00Z",
            }
        ).encode()

    def _serve(self, req: RecordedRequest) -> None:
        route = req.route.rstrip("/")
        if self.command == "PUT" and route == "/latest/api/token":
            return self.send_bytes(200, "text/plain", TOKEN.encode())
        if route == "/latest/meta-data/iam/security-credentials":
            return self.send_bytes(200, "text/plain", ROLE.encode())
        if route in (f"/latest/meta-data/iam/security-credentials/{ROLE}", "/creds"):
            return self.send_bytes(200, "application/json", self._credentials())
        if route == "/latest/dynamic/instance-identity/document":
            return self.send_json(200, {"region": "us-east-1"})
        if route == "/latest/meta-data/placement/region":
            return self.send_bytes(200, "text/plain", b"us-east-1")
        return self.not_found()

    def do_GET(self) -> None:
        req = self._record()
        if req.is_egress:
            return self._refuse_egress()
        self._serve(req)

    do_PUT = do_GET  # noqa: N815


class MetadataStub(LoopbackStub):
    """Hands out ``credentials`` (access key id, secret) to whoever asks."""

    handler = _Handler
    credential_headers: ClassVar[tuple[str, ...]] = ("authorization", "x-aws-ec2-metadata-token")

    def __init__(self, credentials: tuple[str, str]) -> None:
        super().__init__()
        self._credentials = credentials

    def start(self) -> MetadataStub:
        super().start()
        assert self._server is not None
        self._server.metadata_credentials = self._credentials  # type: ignore[attr-defined]
        return self

    def served(self) -> bool:
        """Whether any credential was handed out."""
        return any(
            r.route.rstrip("/") in (f"/latest/meta-data/iam/security-credentials/{ROLE}", "/creds")
            for r in self.requests
        )
