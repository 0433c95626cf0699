"""Where an Azure blob URL points, and a client for it: the Azure side of `model/captures.py`.

Accepted forms (what the Azure CLI, adlfs/fsspec and the portal print):

- `https://<account>.blob.core.windows.net/<container>/<prefix>[?<sas>]` (and the sovereign clouds'
  `.blob.core.chinacloudapi.cn`, `.blob.core.usgovcloudapi.net`);
- `http://127.0.0.1:<port>/<account>/<container>/<prefix>`: a path-style emulator (Azurite) URL;
- `wasbs://<container>@<account>.blob.core.windows.net/<prefix>`, `abfss://<container>@<account>.dfs.core.windows.net/<prefix>`;
- `az://<container>/<prefix>` (or `abfs://`): the account from `AZURE_STORAGE_CONNECTION_STRING`, else
  `AZURE_STORAGE_ACCOUNT`.

Credentials, first found: a SAS in the URL, `AZURE_STORAGE_SAS_TOKEN`, `AZURE_STORAGE_KEY`, the key of
`AZURE_STORAGE_CONNECTION_STRING` when it names the same account, an Azure login (azure-identity's
DefaultAzureCredential, when that package is installed), else none (a public container). These are the
Azure CLI's variable names. `azureml://` datastore URIs need the workspace to resolve and are refused with
the blob URL to use instead. azure-storage-blob is imported only when an Azure source is read.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from model.errors import ModelstageError

_BLOB_HOSTS = (".blob.core.windows.net", ".blob.core.chinacloudapi.cn", ".blob.core.usgovcloudapi.net")
_AT_SCHEMES = ("wasb://", "wasbs://", "abfs://", "abfss://")
_SHORT_SCHEMES = ("az://", "abfs://")
# Container names: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or
# digit; or one of the special containers (learn.microsoft.com "Naming and referencing containers").
_CONTAINER = re.compile(r"^(?:\$root|\$web|\$logs|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
# The SDK's default (3 retries from 15 s, base 3) keeps a wrong URL waiting for most of a minute
RETRIES = 2
RETRY_BACKOFF_S = 1
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60


class AzureSourceError(ModelstageError):
    exit_code = 2


@dataclass(frozen=True)
class AzureLocation:
    """`account_url` is None when the account comes from the connection string (`az://`)."""

    account_url: str | None
    account: str | None
    container: str
    prefix: str
    sas: str | None = None

    def name(self, key: str) -> str:
        """How a blob is named in counts and messages (never with the SAS)."""
        base = self.account_url or "az:/"
        return f"{base}/{self.container}/{key}"


def is_azure(source: str) -> bool:
    lowered = source.lower()
    if lowered.startswith(("azureml://", *_AT_SCHEMES, *_SHORT_SCHEMES)):
        return True
    if not lowered.startswith(("https://", "http://")):
        return False
    host = (urlsplit(lowered).hostname or "")
    return host.endswith(_BLOB_HOSTS) or _is_local(host)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _container(value: str, source: str) -> str:
    if not _CONTAINER.match(value):
        raise AzureSourceError(f"{source}: {value!r} is not a container name (expected 3-63 lower-case letters, "
                               "digits and single hyphens)")
    return value


def parse(source: str) -> AzureLocation:
    lowered = source.lower()
    if lowered.startswith("azureml://"):
        raise AzureSourceError(f"{source}: azureml:// datastore paths are resolved by the workspace; give the "
                               "blob URL instead: https://<account>.blob.core.windows.net/<container>/<path> "
                               "(the datastore's account and container are shown by `az ml datastore show`)")
    for scheme in _AT_SCHEMES:
        if lowered.startswith(scheme) and "@" in source.split("/", 3)[2]:
            where, _, prefix = source[len(scheme):].partition("/")
            container, _, host = where.partition("@")
            account, _, domain = host.lower().partition(".")
            service, _, suffix = domain.partition(".")  # blob|dfs . core.windows.net
            if service not in ("blob", "dfs") or "." + service + "." + suffix not in _BLOB_HOSTS + tuple(
                    h.replace(".blob.", ".dfs.") for h in _BLOB_HOSTS):
                raise AzureSourceError(f"{source}: expected {scheme}<container>@<account>.blob.core.windows.net"
                                       "/<prefix> (or .dfs.core.windows.net)")
            url = f"{'https' if scheme.endswith('s://') else 'http'}://{account}.blob.{suffix}"
            return AzureLocation(url, account, _container(container, source), prefix)
    for scheme in _SHORT_SCHEMES:
        if lowered.startswith(scheme):
            container, _, prefix = source[len(scheme):].partition("/")
            return AzureLocation(None, None, _container(container, source), prefix)
    parts = urlsplit(source)
    host = parts.hostname or ""
    segments = parts.path.lstrip("/").split("/")
    if _is_local(host.lower()):  # path-style: /<account>/<container>/<prefix>
        if len(segments) < 2 or not segments[0]:
            raise AzureSourceError(f"{source}: expected http://{parts.netloc}/<account>/<container>/<prefix>")
        account, container, prefix = segments[0], segments[1], "/".join(segments[2:])
        url = f"{parts.scheme}://{parts.netloc}/{account}"
    else:
        account = host.split(".", 1)[0]
        container, prefix = segments[0], "/".join(segments[1:])
        url = f"{parts.scheme}://{parts.netloc}"
    if not container:
        raise AzureSourceError(f"{source}: no container in the URL (expected {url}/<container>/<prefix>)")
    return AzureLocation(url, account, _container(container, source), prefix, parts.query or None)


def _connection_string_account(connection_string: str) -> tuple[str | None, str | None]:
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return fields.get("AccountName"), fields.get("AccountKey")


def _credential(location: AzureLocation) -> Any:
    if location.sas:
        return location.sas
    sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    if sas:
        return sas.lstrip("?")
    key = os.environ.get("AZURE_STORAGE_KEY")
    if not key:
        account, key = _connection_string_account(os.environ.get("AZURE_STORAGE_CONNECTION_STRING", ""))
        key = key if account == location.account else None
    if key:
        return {"account_name": location.account, "account_key": key}
    try:
        from azure.identity import DefaultAzureCredential  # type: ignore[import-not-found]
    except ImportError:
        return None
    return DefaultAzureCredential()


def container_client(location: AzureLocation, source: str) -> Any:
    """An azure-storage-blob ContainerClient for `location`, with short retries and timeouts."""
    from azure.storage.blob import BlobServiceClient, ExponentialRetry

    retry = ExponentialRetry(initial_backoff=RETRY_BACKOFF_S, increment_base=2, retry_total=RETRIES,
                             random_jitter_range=1)
    options: dict[str, Any] = {"retry_policy": retry, "connection_timeout": CONNECT_TIMEOUT_S,
                               "read_timeout": READ_TIMEOUT_S}
    try:
        if location.account_url is None:
            connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
            account = os.environ.get("AZURE_STORAGE_ACCOUNT")
            if connection_string:
                service = BlobServiceClient.from_connection_string(connection_string, **options)
            elif account and _ACCOUNT.match(account):
                url = f"https://{account}.blob.core.windows.net"
                service = BlobServiceClient(url, credential=_credential(
                    AzureLocation(url, account, location.container, location.prefix)), **options)
            else:
                raise AzureSourceError(
                    f"{source}: az:// needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (a 3-24 "
                    "character storage account name) with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Azure "
                    "login; or give https://<account>.blob.core.windows.net/<container>/<prefix>")
        else:
            service = BlobServiceClient(location.account_url, credential=_credential(location), **options)
    except ValueError as exc:  # a malformed connection string or account URL
        raise AzureSourceError(f"{source}: {exc}") from None
    return service.get_container_client(location.container)
