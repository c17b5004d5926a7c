"""A STAND-IN for Meilisearch, for tests only: Meilisearch itself cannot run here.

It is a real HTTP server on 127.0.0.1 (Starlette + uvicorn in a thread) answering exactly
the endpoints ``jmap.store.meili`` uses, in Meilisearch's JSON shapes, so the SDK talks
to it as to Meilisearch:

- ``PATCH /indexes/{uid}/settings`` (creates the index), ``POST /indexes/{uid}/documents``
  (add or replace), ``POST …/documents/delete-batch``, ``POST …/documents/delete`` (by
  filter), ``POST …/documents/fetch`` (by filter), ``POST /multi-search``, ``GET
  /tasks/{uid}``; writes are tasks, applied in order by a separate thread, so a client
  that does not wait for its task may not see its write yet;
- ``filter``: ``ATTR = "…"`` and ``ATTR IN ["…", …]`` joined by ``AND``, strings with
  backslash escapes; an attribute that is not filterable is ``invalid_search_filter``;
- ``q``: words are folded (case, accents) and split at anything not a letter or digit;
  every word must match with ``matchingStrategy: all``, the last one as a prefix, the
  others whole; ``"…"`` is a phrase (consecutive words); ``attributesToSearchOn``;
  ``pagination.maxTotalHits`` caps the hits (default 1000);
- the ``Authorization: Bearer KEY`` header when started with a key.

Its matching is good enough to test the contract (word prefixes, phrases, the account
filter), not a search engine: no ranking, typos, stop words or segmentation of scripts
written without spaces.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.processes import free_port

DEFAULT_MAX_TOTAL_HITS = 1000
_WORD = re.compile(r"[^\W_]+")
_FILTER_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:\\.|[^"\\])*")|(?P<op>=|\[|\]|,)|(?P<word>[\w.]+))')


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def parse_filter(expression: str, filterable: set[str]) -> list[tuple[str, set[str]]]:
    """``[(attribute, allowed values)]``, all of which must hold."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expression):
        match = _FILTER_TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            if expression[pos:].strip() == "":
                break
            raise ApiError("invalid_search_filter", f"bad filter at {pos}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    clauses: list[tuple[str, set[str]]] = []
    i = 0

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind or (value and tokens[i][1] != value):
            raise ApiError("invalid_search_filter", f"expected {value or kind} in filter")
        i += 1
        return tokens[i - 1][1]

    while True:
        attribute = expect("word")
        if attribute not in filterable:
            raise ApiError("invalid_search_filter", f"attribute {attribute} is not filterable")
        if i < len(tokens) and tokens[i] == ("op", "="):
            i += 1
            clauses.append((attribute, {expect("str")}))
        else:
            expect("word", "IN")
            expect("op", "[")
            values = {expect("str")}
            while i < len(tokens) and tokens[i] == ("op", ","):
                i += 1
                values.add(expect("str"))
            expect("op", "]")
            clauses.append((attribute, values))
        if i == len(tokens):
            return clauses
        expect("word", "AND")


def parse_query(q: str) -> tuple[list[list[str]], list[str]]:
    """Phrases (lists of words) and the words outside quotes, in order."""
    phrases = [words(p) for p in re.findall(r'"([^"]*)"', q)]
    rest = words(re.sub(r'"[^"]*"?', " ", q))
    return [p for p in phrases if p], rest


def field_matches(tokens: list[str], phrases: list[list[str]], plain: list[str]) -> set[int]:
    """Which terms one field satisfies: indexes into phrases + plain words."""
    hit = set()
    for n, phrase in enumerate(phrases):
        width = len(phrase)
        if any(tokens[k : k + width] == phrase for k in range(len(tokens) - width + 1)):
            hit.add(n)
    for n, word in enumerate(plain):
        last = n == len(plain) - 1
        if any(t.startswith(word) if last else t == word for t in tokens):
            hit.add(len(phrases) + n)
    return hit


class Index:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {}

    @property
    def filterable(self) -> set[str]:
        return set(self.settings.get("filterableAttributes") or [])

    def select(self, expression: str | None) -> list[dict[str, Any]]:
        docs = sorted(self.documents.values(), key=lambda d: str(d.get("id")))
        if not expression:
            return docs
        clauses = parse_filter(expression, self.filterable)
        return [d for d in docs if all(str(d.get(a)) in values for a, values in clauses)]

    def search(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        searchable = self.settings.get("searchableAttributes") or ["*"]
        on = query.get("attributesToSearchOn") or searchable
        if searchable != ["*"] and set(on) - set(searchable):
            raise ApiError("invalid_search_attributes_to_search_on", "not searchable")
        phrases, plain = parse_query(query.get("q") or "")
        wanted = len(phrases) + len(plain)
        found = []
        for doc in self.select(query.get("filter")):
            fields = [k for k in doc if k != "id"] if on == ["*"] else on
            satisfied: set[int] = set()
            for name in fields:
                value = doc.get(name)
                if isinstance(value, str):
                    satisfied |= field_matches(words(value), phrases, plain)
            if len(satisfied) == wanted:
                found.append(doc)
        cap = (self.settings.get("pagination") or {}).get("maxTotalHits", DEFAULT_MAX_TOTAL_HITS)
        return found[:cap]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class StandInState:
    """Indexes and tasks; writes are applied in order on their own thread."""

    def __init__(self) -> None:
        self.indexes: dict[str, Index] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, Any] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._apply, daemon=True)
        self._worker.start()

    def enqueue(self, uid: str, kind: str, work: Any) -> dict[str, Any]:
        with self.lock:
            task_uid = len(self.tasks)
            task = {
                "uid": task_uid,
                "indexUid": uid,
                "status": "enqueued",
                "type": kind,
                "details": {},
                "error": None,
                "canceledBy": None,
                "duration": None,
                "enqueuedAt": _now(),
                "startedAt": None,
                "finishedAt": None,
            }
            self.tasks[task_uid] = task
        self._queue.put((task_uid, work))
        info = {k: task[k] for k in ("indexUid", "status", "type", "enqueuedAt")}
        return {"taskUid": task_uid, **info}

    def _apply(self) -> None:
        while (item := self._queue.get()) is not None:
            task_uid, work = item
            with self.lock:
                task = self.tasks[task_uid]
                task["startedAt"] = _now()
                try:
                    work(self.indexes.setdefault(task["indexUid"], Index()))
                    task["status"] = "succeeded"
                except ApiError as exc:
                    task["status"] = "failed"
                    task["error"] = {"message": exc.message, "code": exc.code, "type": "invalid"}
                task["finishedAt"] = _now()
                task["duration"] = "PT0S"

    def index(self, uid: str) -> Index:
        index = self.indexes.get(uid)
        if index is None:
            raise ApiError("index_not_found", f"Index `{uid}` not found.", 404)
        return index

    def close(self) -> None:
        self._queue.put(None)


def build_app(state: StandInState, key: str | None) -> Starlette:
    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            if key is not None:
                auth = request.headers.get("authorization", "")
                if not auth.startswith("Bearer "):
                    return _error(ApiError("missing_authorization_header", "no key", 401))
                if auth.removeprefix("Bearer ") != key:
                    return _error(ApiError("invalid_api_key", "bad key", 403))
            try:
                body = await request.json() if await request.body() else None
                result = await handler(request, body)
            except ApiError as exc:
                return _error(exc)
            return JSONResponse(result, status_code=202 if "taskUid" in result else 200)

        return endpoint

    async def settings(request: Request, body: Any) -> Any:
        uid = request.path_params["uid"]
        return state.enqueue(uid, "settingsUpdate", lambda index: index.settings.update(body))

    async def add(request: Request, body: Any) -> Any:
        uid = request.path_params["uid"]
        primary = request.query_params.get("primaryKey", "id")

        def work(index: Index) -> None:
            for doc in body:
                if not re.fullmatch(r"[A-Za-z0-9_-]{1,511}", str(doc.get(primary, ""))):
                    raise ApiError("invalid_document_id", f"bad id {doc.get(primary)!r}")
            for doc in body:
                index.documents[doc[primary]] = doc

        return state.enqueue(uid, "documentAdditionOrUpdate", work)

    async def delete_batch(request: Request, body: Any) -> Any:
        uid = request.path_params["uid"]

        def work(index: Index) -> None:
            for doc_id in body:
                index.documents.pop(doc_id, None)

        return state.enqueue(uid, "documentDeletion", work)

    async def delete_by_filter(request: Request, body: Any) -> Any:
        uid = request.path_params["uid"]
        with state.lock:
            parse_filter(body["filter"], state.index(uid).filterable)  # checked on enqueue

        def work(index: Index) -> None:
            for doc in index.select(body["filter"]):
                index.documents.pop(doc["id"], None)

        return state.enqueue(uid, "documentDeletion", work)

    async def fetch(request: Request, body: Any) -> Any:
        with state.lock:
            docs = state.index(request.path_params["uid"]).select(body.get("filter"))
        offset, limit = body.get("offset", 0), body.get("limit", 20)
        fields = body.get("fields")
        page = [
            {k: v for k, v in d.items() if fields is None or k in fields}
            for d in docs[offset : offset + limit]
        ]
        return {"results": page, "offset": offset, "limit": limit, "total": len(docs)}

    async def multi_search(request: Request, body: Any) -> Any:
        results = []
        with state.lock:
            for query in body["queries"]:
                found = state.index(query["indexUid"]).search(query)
                offset, limit = query.get("offset", 0), query.get("limit", 20)
                keep = query.get("attributesToRetrieve") or ["*"]
                hits = [
                    {k: v for k, v in d.items() if keep == ["*"] or k in keep}
                    for d in found[offset : offset + limit]
                ]
                results.append(
                    {
                        "indexUid": query["indexUid"],
                        "hits": hits,
                        "query": query.get("q") or "",
                        "processingTimeMs": 0,
                        "limit": limit,
                        "offset": offset,
                        "estimatedTotalHits": len(found),
                    }
                )
        return {"results": results}

    async def task(request: Request, body: Any) -> Any:
        with state.lock:
            found = state.tasks.get(int(request.path_params["task_uid"]))
            if found is None:
                raise ApiError("task_not_found", "no such task", 404)
            return dict(found)

    routes = [
        Route("/indexes/{uid}/settings", guarded(settings), methods=["PATCH"]),
        Route("/indexes/{uid}/documents", guarded(add), methods=["POST"]),
        Route("/indexes/{uid}/documents/delete-batch", guarded(delete_batch), methods=["POST"]),
        Route("/indexes/{uid}/documents/delete", guarded(delete_by_filter), methods=["POST"]),
        Route("/indexes/{uid}/documents/fetch", guarded(fetch), methods=["POST"]),
        Route("/multi-search", guarded(multi_search), methods=["POST"]),
        Route("/tasks/{task_uid:int}", guarded(task), methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _error(exc: ApiError) -> JSONResponse:
    body = {"message": exc.message, "code": exc.code, "type": "invalid_request", "link": ""}
    return JSONResponse(body, status_code=exc.status)


class MeiliStandIn:
    """The stand-in server on 127.0.0.1; ``stop`` then ``start`` keeps its data (as a
    restarted Meilisearch keeps its database) and its port."""

    def __init__(self, key: str | None = None, port: int | None = None) -> None:
        self.key = key
        self.port = port or free_port()
        self.state = StandInState()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MeiliStandIn:
        config = uvicorn.Config(
            build_app(self.state, self.key),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Meilisearch stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
            self._server = self._thread = None

    def close(self) -> None:
        self.stop()
        self.state.close()

    def documents(self, uid: str) -> dict[str, dict[str, Any]]:
        with self.state.lock:
            index = self.state.indexes.get(uid)
            return dict(index.documents) if index else {}


if __name__ == "__main__":  # python -m tests.meili_standin PORT [KEY]: for benchmarks
    import sys

    standin = MeiliStandIn(
        key=sys.argv[2] if len(sys.argv) > 2 else None, port=int(sys.argv[1])
    ).start()
    print(f"Meilisearch STAND-IN on {standin.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.close()
