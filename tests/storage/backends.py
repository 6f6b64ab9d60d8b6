"""One `Backend` per remote type, for the shared behaviour suite: how to point a project's DVC
remote at it (with `dvc remote add/modify`, secrets in .dvc/config.local), and how a test
reaches the stored objects directly (to tamper with or delete one)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from storage.servers import AZURITE_KEY, Proxy, unique

KINDS = ("local", "s3", "gs", "azure", "ssh", "http")
NETWORK = tuple(k for k in KINDS if k != "local")


@dataclass
class Backend:
    kind: str
    url: str                                   # the DVC remote URL
    options: dict = field(default_factory=dict)        # `dvc remote modify`
    secrets: dict = field(default_factory=dict)        # `dvc remote modify --local`
    proxy: Proxy | None = None
    writable: bool = True                      # `dvc push` can write to it
    root: Path | None = None                   # the objects on this machine's disk (local, ssh, http)
    extra: dict = field(default_factory=dict)

    def configure(self, project, name: str = "cloud", default: bool = True) -> None:
        project.dvc("remote", "add", *(["-d"] if default else []), "-f", name, self.url)
        for key, value in self.options.items():
            project.dvc("remote", "modify", name, key, str(value))
        for key, value in self.secrets.items():
            project.dvc("remote", "modify", "--local", name, key, str(value))
        project.git("add", ".dvc/config")
        project.git("commit", "-qm", f"{self.kind} remote {name}")

    def publish(self, project) -> None:
        """Make the project's cached objects available: `dvc push`, or a copy for read-only HTTP."""
        if self.writable:
            project.dvc("push", "-q", "-r", "cloud")
            return
        src = project.root / ".dvc" / "cache"
        shutil.copytree(src, self.root, dirs_exist_ok=True)

    # ------------------------------------------------------------ direct object access
    def put(self, rel: str, data: bytes) -> None:
        if self.root is not None:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                os.chmod(path, 0o644)
            path.write_bytes(data)
        elif self.kind == "s3":
            self.extra["bucket"].put(f"{self.extra['prefix']}/{rel}", data)
        elif self.kind == "gs":
            name = urllib.request.quote(f"{self.extra['prefix']}/{rel}", safe="")
            req = urllib.request.Request(f"{self.extra['endpoint']}/upload/storage/v1/b/{self.extra['bucket']}/o"
                                         f"?uploadType=media&name={name}", data=data, method="POST")
            urllib.request.urlopen(req).read()
        elif self.kind == "azure":
            self.extra["container"].get_blob_client(f"{self.extra['prefix']}/{rel}").upload_blob(data, overwrite=True)

    def delete(self, rel: str) -> None:
        if self.root is not None:
            (self.root / rel).unlink()
        elif self.kind == "s3":
            self.extra["bucket"].delete(f"{self.extra['prefix']}/{rel}")
        elif self.kind == "gs":
            name = urllib.request.quote(f"{self.extra['prefix']}/{rel}", safe="")
            req = urllib.request.Request(f"{self.extra['endpoint']}/storage/v1/b/{self.extra['bucket']}/o/{name}",
                                         method="DELETE")
            urllib.request.urlopen(req).read()
        elif self.kind == "azure":
            self.extra["container"].get_blob_client(f"{self.extra['prefix']}/{rel}").delete_blob()

    def object_url(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"


def make_backend(kind: str, servers: dict, tmp: Path, home: Path) -> Backend:
    """A fresh, empty remote of `kind` on the session's server, behind its own proxy."""
    tmp.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        root = tmp / "localremote"
        root.mkdir()
        return Backend("local", str(root), root=root)
    server = servers[kind]
    proxy = Proxy(server.port)
    endpoint = f"http://127.0.0.1:{proxy.port}"
    prefix = unique("store")
    if kind == "s3":
        from deploy.s3env import KEY_ID, SECRET, Bucket
        bucket = Bucket(server.extra["endpoint"], unique())
        bucket._request("PUT")
        return Backend("s3", f"s3://{bucket.name}/{prefix}", {"endpointurl": endpoint},
                       {"access_key_id": KEY_ID, "secret_access_key": SECRET}, proxy,
                       extra={"bucket": bucket, "prefix": prefix})
    if kind == "gs":
        bucket = unique()
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/storage/v1/b?project=test",
                                     data=json.dumps({"name": bucket}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req).read()
        return Backend("gs", f"gs://{bucket}/{prefix}", {"endpointurl": endpoint, "allow_anonymous_login": "true"},
                       {}, proxy, extra={"bucket": bucket, "prefix": prefix,
                                         "endpoint": f"http://127.0.0.1:{server.port}"})
    if kind == "azure":
        from azure.storage.blob import BlobServiceClient
        account = "devstoreaccount1"
        direct = (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={AZURITE_KEY};"
                  f"BlobEndpoint=http://127.0.0.1:{server.port}/{account};")
        container = unique()
        client = BlobServiceClient.from_connection_string(direct).create_container(container)
        secret = direct.replace(f":{server.port}/", f":{proxy.port}/")
        return Backend("azure", f"azure://{container}/{prefix}", {}, {"connection_string": secret}, proxy,
                       extra={"container": client, "prefix": prefix})
    if kind == "ssh":
        root = tmp / "sshremote"
        root.mkdir()
        (home / ".ssh").mkdir(exist_ok=True)
        with open(home / ".ssh" / "known_hosts", "a") as f:
            f.write(f"[127.0.0.1]:{proxy.port} {server.extra['host_key']}\n")
        return Backend("ssh", f"ssh://{server.extra['user']}@127.0.0.1:{proxy.port}{root}", {},
                       {"keyfile": server.extra["key"]}, proxy, root=root)
    if kind == "http":
        name = unique("site")
        root = server.extra["dir"] / name
        root.mkdir()
        return Backend("http", f"{endpoint}/{name}", {}, {}, proxy, writable=False, root=root)
    raise ValueError(kind)
