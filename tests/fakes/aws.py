"""moto's real HTTP server standing in for S3 and CloudFront, and helpers to fill it.

The code under test talks to it over real HTTP through aioboto3, exactly as it would to AWS;
only `endpoint_url` and fake credentials in the environment differ.

    with moto_server() as url:        # e.g. "http://127.0.0.1:41234"
        reset(url)                    # fresh state for one test
        await seed_updates(url, "factsway-updates")
        distribution_id = await create_distribution(url, "factsway-updates")
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aioboto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
YAML_CONTENT_TYPE = "application/x-yaml"
# What a developer's shell may hold that would send the tests to a real account.
_AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_CLOUDFRONT",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, and nothing from ~/.aws: no test can reach a real account."""
    for name in _AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # Without this, a missing credential would send botocore to the instance metadata service.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@contextmanager
def moto_server() -> Iterator[str]:
    """Starts moto's server on a free port (port=0 is bound by the OS) and yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(url: str) -> None:
    """Drops every bucket, distribution and invalidation (moto's own reset endpoint)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def update_yaml(version: str, platform: str = "win") -> bytes:
    """A latest*.yml as electron-builder writes it."""
    name = {
        "win": f"FactsWay-Setup-{version}.exe",
        "mac": f"FactsWay-{version}-mac.zip",
        "linux": f"FactsWay-{version}.AppImage",
    }[platform]
    return (
        f"version: {version}\n"
        "files:\n"
        f"  - url: {name}\n"
        f"    sha512: fake-sha512-{version}-{platform}\n"
        "    size: 123456\n"
        f"path: {name}\n"
        f"sha512: fake-sha512-{version}-{platform}\n"
        "releaseDate: '2024-01-01T00:00:00.000Z'\n"
    ).encode()


DEFAULT_RELEASES: Mapping[str, Mapping[str, str]] = {
    # version -> {file name -> platform}
    "1.2.2": {"latest.yml": "win", "latest-mac.yml": "mac"},
    "1.2.3": {"latest.yml": "win", "latest-mac.yml": "mac"},
}


def session() -> Any:
    return aioboto3.Session(region_name=REGION)


async def seed_updates(
    url: str,
    bucket: str,
    *,
    releases: Mapping[str, Mapping[str, str]] = DEFAULT_RELEASES,
    root_version: str | None = "1.2.3",
    extra: Mapping[str, bytes] | None = None,
) -> None:
    """Creates the bucket with v<version>/latest*.yml and an installer per release, and the
    root latest*.yml files of `root_version` (what users get today)."""
    async with session().client("s3", endpoint_url=url) as s3:
        await s3.create_bucket(Bucket=bucket)
        objects: dict[str, bytes] = dict(extra or {})
        for version, files in releases.items():
            for name, platform in files.items():
                objects[f"v{version}/{name}"] = update_yaml(version, platform)
            objects[f"v{version}/FactsWay-Setup-{version}.exe"] = b"MZ fake installer"
        if root_version is not None:
            for name, platform in releases[root_version].items():
                objects[name] = update_yaml(root_version, platform)
        for key, body in objects.items():
            content_type = YAML_CONTENT_TYPE if key.endswith(".yml") else "application/octet-stream"
            await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


async def read_object(url: str, bucket: str, key: str) -> tuple[bytes, str]:
    """(body, content type) of one object."""
    async with session().client("s3", endpoint_url=url) as s3:
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data, str(response.get("ContentType", ""))


async def create_distribution(url: str, bucket: str) -> str:
    """A CloudFront distribution with the bucket as origin; returns its id.

    The smallest config botocore's validation and moto both accept: moto insists that an
    S3 origin's domain ends in amazonaws.com and that the default behaviour targets an origin.
    """
    origin_id = f"s3-{bucket}"
    config = {
        "CallerReference": uuid.uuid4().hex,
        "Comment": "desktop updates",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": origin_id,
                    "DomainName": f"{bucket}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": origin_id,
            "ViewerProtocolPolicy": "redirect-to-https",
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "MinTTL": 0,
        },
    }
    async with session().client("cloudfront", endpoint_url=url) as cloudfront:
        response = await cloudfront.create_distribution(DistributionConfig=config)
        return str(response["Distribution"]["Id"])


async def list_invalidations(url: str, distribution_id: str) -> list[dict[str, Any]]:
    """Each invalidation on the distribution, with its paths and status."""
    async with session().client("cloudfront", endpoint_url=url) as cloudfront:
        listing = await cloudfront.list_invalidations(DistributionId=distribution_id)
        found: list[dict[str, Any]] = []
        for item in listing["InvalidationList"].get("Items", []):
            detail = await cloudfront.get_invalidation(
                DistributionId=distribution_id, Id=item["Id"]
            )
            found.append(detail["Invalidation"])
        return found
