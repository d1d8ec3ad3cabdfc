"""Serve the part of OpenAPI v3 that kubectl reads before `apply` and `create` (u7s TEST STAND-IN, lab only).

kubectl validates what it sends: it asks `/openapi/v3` whether the server checks
fields itself (a PATCH operation for the kind with the `fieldValidation` query
parameter); if so it leaves validation to the server and sends
`fieldValidation=Strict`, else it validates on its side against the full
OpenAPI v2 schema, which this stand-in does not have ("failed to download
openapi"). The documents here carry what that question needs and no schemas:
kubectl then builds its patches from its built-in types, as it does for any
kind without a schema. The stand-in accepts the parameter and checks no fields.
"""

import hashlib
import json

import u7s_standin_resources as resources


def _api_path(r):
    return f"api/{r.version}" if not r.group else f"apis/{r.group}/{r.version}"


def _doc(api_path):
    """One group-version's document: a PATCH operation per kind, with its kind and the fieldValidation parameter."""
    paths = {}
    for r in resources.RESOURCES:
        if _api_path(r) != api_path:
            continue
        where = f"/{api_path}/namespaces/{{namespace}}/{r.name}/{{name}}" if r.namespaced \
            else f"/{api_path}/{r.name}/{{name}}"
        paths[where] = {"patch": {
            "operationId": f"patch{r.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")]}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths}


def _paths():
    return sorted({_api_path(r) for r in resources.RESOURCES})


def handle(path):
    """Return (code, body) for GET PATH under /openapi/v3, or None when PATH is not there."""
    if path == "/openapi/v3":
        out = {}
        for api_path in _paths():
            digest = hashlib.sha512(json.dumps(_doc(api_path), sort_keys=True).encode()).hexdigest().upper()
            out[api_path] = {"serverRelativeURL": f"/openapi/v3/{api_path}?hash={digest}"}
        return 200, {"paths": out}
    api_path = path[len("/openapi/v3/"):] if path.startswith("/openapi/v3/") else None
    if api_path in _paths():
        return 200, _doc(api_path)
    return None
