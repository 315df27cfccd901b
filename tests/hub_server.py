"""A small Hub-API-compatible server for tests, on 127.0.0.1, standard library only.

It implements the endpoints the real `huggingface_hub` 2.4 client uses to create a repo, upload files (regular
and LFS), commit, list and download them, so tests drive the real client end to end with
`HF_ENDPOINT=http://127.0.0.1:<port>` (set before huggingface_hub is imported) and `HF_HUB_DISABLE_XET=1`.
Repositories live in memory: `(repo_type, repo_id) -> {path: bytes}` plus a commit sha. Not covered: auth (any
token is accepted), branches and pull requests (every revision is the latest), pagination, Xet storage.

    with FakeHub() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "test", "HF_HUB_DISABLE_XET": "1"}
"""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".parquet", ".pth", ".pt", ".npy")


class _Repo:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.sha = "0" * 40
        self.commits = 0

    def commit(self) -> str:
        self.commits += 1
        self.sha = hashlib.sha1(f"{self.commits}:{sorted(self.files)}".encode()).hexdigest()
        return self.sha


class FakeHub:
    """Start with `with FakeHub() as hub:` (or `start()` / `stop()`); `hub.url` is the endpoint."""

    def __init__(self):
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[str] = []
        hub = self

        class Handler(_Handler):
            server_state = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeHub":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_folder(self, repo_id: str, folder, repo_type: str = "model") -> None:
        """Put every file under `folder` into a repository (created or replaced) in one commit, without the upload
        protocol: for tests about downloading, where pushing is not what is checked."""
        from pathlib import Path

        repo = self.repos[(repo_type, repo_id)] = _Repo()
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                repo.files[path.relative_to(folder).as_posix()] = path.read_bytes()
        repo.commit()


_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    # ---- helpers
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None, head=False):
        data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _not_found(self, code: str = "RepoNotFound", head=False, commit: str | None = None):
        headers = {"X-Error-Code": code, "X-Error-Message": code}
        if commit is not None:  # as the Hub does for a missing file, so the client records it in `.no_exist`
            headers["X-Repo-Commit"] = commit
        self._send(404, {"error": code}, headers, head=head)

    def _repo(self, repo_type: str, repo_id: str) -> _Repo | None:
        return self.server_state.repos.get((repo_type, repo_id))

    # ---- routing
    def do_GET(self):
        self._route("GET")

    def do_HEAD(self):
        self._route("HEAD")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def _route(self, method: str):
        path = unquote(urlparse(self.path).path)
        self.server_state.requests.append(f"{method} {path}")
        head = method == "HEAD"
        if method == "GET" and path == "/api/whoami-v2":
            return self._send(
                200, {"type": "user", "name": "tester", "orgs": [], "auth": {"accessToken": {"role": "write"}}}
            )
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(self._body() or b"{}"))
        if method == "POST" and path == "/api/validate-yaml":
            self._body()
            return self._send(200, {"errors": [], "warnings": []})
        if method == "PUT" and path.startswith("/_lfs/"):
            data = self._body()
            oid = path.rsplit("/", 1)[1]
            if hashlib.sha256(data).hexdigest() != oid:
                return self._send(400, {"error": "sha256 mismatch"})
            self.server_state.lfs[oid] = data
            return self._send(200, {})
        if match := re.fullmatch(r"/(?:(datasets|spaces)/)?(.+?)\.git/info/lfs/objects/batch", path):
            return self._lfs_batch(json.loads(self._body()))
        if match := re.fullmatch(r"/api/(models|datasets|spaces)/(.+)/preupload/([^/]+)", path):
            return self._preupload(json.loads(self._body()))
        if match := re.fullmatch(r"/api/(models|datasets|spaces)/(.+)/commit/([^/]+)", path):
            return self._commit(_TYPES[match.group(1)], match.group(2), self._body())
        if match := re.fullmatch(r"/api/(models|datasets|spaces)/(.+)/paths-info/([^/]+)", path):
            return self._paths_info(_TYPES[match.group(1)], match.group(2), self._body())
        if match := re.fullmatch(r"/api/(models|datasets|spaces)/(.+)/tree/([^/]+)(?:/(.*))?", path):
            return self._tree(_TYPES[match.group(1)], match.group(2), match.group(4) or "")
        if match := re.fullmatch(r"/api/(models|datasets|spaces)/(.+?)(?:/revision/([^/]+))?", path):
            return self._info(_TYPES[match.group(1)], match.group(2), head)
        if match := re.fullmatch(r"/(?:(datasets|spaces)/)?(.+?)/resolve/([^/]+)/(.+)", path):
            repo_type = _TYPES.get(f"{match.group(1)}", "model") if match.group(1) else "model"
            return self._resolve(repo_type, match.group(2), match.group(4), head)
        return self._not_found("EntryNotFound", head)

    # ---- endpoints
    def _create_repo(self, payload: dict):
        name = payload.get("name", "")
        organization = payload.get("organization") or "tester"
        repo_id = name if "/" in name else f"{organization}/{name}"
        key = (payload.get("type") or "model", repo_id)
        if key in self.server_state.repos:
            return self._send(
                409, {"error": "You already created this repo", "url": f"{self.server_state.url}/{repo_id}"}
            )
        self.server_state.repos[key] = _Repo()
        return self._send(200, {"url": f"{self.server_state.url}/{repo_id}", "name": repo_id})

    def _preupload(self, payload: dict):
        files = []
        for entry in payload.get("files", []):
            lfs = entry["path"].endswith(LFS_SUFFIXES) or entry.get("size", 0) > 1_000_000
            files.append({"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False})
        return self._send(200, {"files": files})

    def _lfs_batch(self, payload: dict):
        objects = []
        for entry in payload.get("objects", []):
            action = {"upload": {"href": f"{self.server_state.url}/_lfs/{entry['oid']}"}}
            objects.append(
                {
                    "oid": entry["oid"],
                    "size": entry["size"],
                    "actions": {} if entry["oid"] in self.server_state.lfs else action,
                }
            )
        return self._send(
            200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"}
        )

    def _commit(self, repo_type: str, repo_id: str, body: bytes):
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._not_found()
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                repo.files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in self.server_state.lfs:
                    return self._send(400, {"error": f"LFS object {value['oid']} was not uploaded"})
                repo.files[value["path"]] = self.server_state.lfs[value["oid"]]
            elif key == "deletedFile":
                repo.files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                repo.files = {p: d for p, d in repo.files.items() if not p.startswith(prefix)}
        sha = repo.commit()
        url = f"{self.server_state.url}/{repo_id}/commit/{sha}"
        return self._send(200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None})

    def _entry(self, path: str, data: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
        return entry

    def _paths_info(self, repo_type: str, repo_id: str, body: bytes):
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._not_found()
        text = body.decode()
        try:
            paths = json.loads(text).get("paths", [])
        except json.JSONDecodeError:  # form-encoded
            from urllib.parse import parse_qs

            paths = parse_qs(text).get("paths", [])
        return self._send(200, [self._entry(p, repo.files[p]) for p in paths if p in repo.files])

    def _tree(self, repo_type: str, repo_id: str, prefix: str):
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._not_found()
        prefix = prefix.strip("/")
        recursive = "recursive=true" in self.path.lower() or "recursive=1" in self.path
        entries, folders = [], set()
        for path, data in sorted(repo.files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            if "/" in rest and not recursive:
                folders.add(((prefix + "/") if prefix else "") + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    folders.add(((prefix + "/") if prefix else "") + "/".join(parts[:depth]))
            entries.append(self._entry(path, data))
        if prefix and not entries and not folders:
            return self._not_found("EntryNotFound")
        entries += [
            {"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0}
            for f in sorted(folders)
        ]
        return self._send(200, entries)

    def _info(self, repo_type: str, repo_id: str, head: bool):
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._not_found(head=head)
        info = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": repo.sha,
            "private": False,
            "siblings": [{"rfilename": path} for path in sorted(repo.files)],
            "tags": [],
        }
        return self._send(200, info, head=head)

    def _resolve(self, repo_type: str, repo_id: str, path: str, head: bool):
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._not_found(head=head)
        if path not in repo.files:
            return self._not_found("EntryNotFound", head, commit=repo.sha)
        data = repo.files[path]
        etag = hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES) else hashlib.sha1(data).hexdigest()
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{etag}"'}
        if path.endswith(LFS_SUFFIXES):
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        return self._send(200, raw=data, headers=headers, head=head)
