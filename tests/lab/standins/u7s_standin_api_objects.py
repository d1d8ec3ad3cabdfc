"""Apply patches, match selectors and build Status errors like kube-apiserver (u7s TEST STAND-IN).

Pure functions, no I/O: the API stand-in uses them, and unit tests check them.
Patch types are the three kubectl sends: JSON merge patch (RFC 7386; `annotate`,
`label`, `patch --type=merge`), strategic merge patch (`taint`, `patch` without
--type) and JSON patch (RFC 6902, `patch --type=json`).
"""

import copy
import json
import re

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

# Lists of the built-in types that strategic merge patch merges by a key instead of
# replacing (from the Go struct tags of core/v1 and apps/v1), for the fields touched here.
MERGE_KEYS = {
    ("status", "conditions"): "type",
    ("status", "addresses"): "address",
    ("metadata", "ownerReferences"): "uid",
    ("spec", "containers"): "name",
    ("spec", "tolerations"): None,
}


class PatchError(Exception):
    """A patch the API server refuses (422 for a bad JSON patch, 400 for malformed JSON)."""

    def __init__(self, message, code=422):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- Status objects

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "AlreadyExists", 415: "UnsupportedMediaType", 422: "Invalid", 500: "InternalError",
           503: "ServiceUnavailable"}


def status(code, message, reason=None, details=None):
    """Build a metav1.Status failure object, as the API server answers errors."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or REASONS.get(code, "Unknown"), "code": code}
    if details:
        body["details"] = details
    return body


def not_found(resource, name, group=""):
    """404: `nodes "x" not found`."""
    return status(404, f'{resource}{"." + group if group else ""} "{name}" not found', "NotFound",
                  {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource})


def already_exists(resource, name, group=""):
    """409: `namespaces "x" already exists`."""
    return status(409, f'{resource}{"." + group if group else ""} "{name}" already exists', "AlreadyExists",
                  {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource})


def invalid(kind, name, causes, group=""):
    """422: `Node "x" is invalid: field: message` with one cause per (field, message)."""
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    return status(422, f'{kind} "{name}" is invalid: {text}', "Invalid",
                  {"name": name, "group": group, "kind": kind,
                   "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    """Apply an RFC 7386 JSON merge patch: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, path=()):
    """Apply a strategic merge patch for the fields of the built-in types the lab uses.

    Like merge patch, except that lists with a merge key (conditions by type, ...)
    are merged element by element, `$patch: delete/replace` directives are honoured,
    and `$setElementOrder/...` and `$retainKeys` directives are accepted.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and (path[-1:] + (key,)) in MERGE_KEYS and MERGE_KEYS[path[-1:] + (key,)]:
            result[key] = _merge_list(result.get(key) or [], value, MERGE_KEYS[path[-1:] + (key,)], path + (key,))
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current, patch, key, path):
    out = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, old in enumerate(out) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[index] = strategic_merge_patch(out[index], item, path)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"add operation does not apply: doc is missing path: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc, parts, op):
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return node


def json_patch(target, operations):
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    doc = copy.deepcopy(target)
    for op in operations:
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(f"Unexpected kind: {kind}")
        parts = _pointer(op.get("path", ""))
        if kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source, kind))
            if kind == "move":
                doc = _remove(doc, source, kind)
            doc = _add(doc, parts, value, kind)
        elif kind == "test":
            if _get(doc, parts, kind) != op.get("value"):
                raise PatchError(f"testing value /{'/'.join(parts)} failed: test failed")
        elif kind == "remove":
            doc = _remove(doc, parts, kind)
        elif kind == "replace":
            _get(doc, parts, kind)
            doc = _remove(doc, parts, kind)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), kind)
        else:
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), kind)
    return doc


def _get(doc, parts, op):
    if not parts:
        return doc
    parent = _walk(doc, parts, op)
    last = parts[-1]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    raise PatchError(f"{op} operation does not apply: doc is missing key: /{'/'.join(parts)}")


def _remove(doc, parts, op):
    if not parts:
        return None
    parent = _walk(doc, parts, op)
    last = parts[-1]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing key: /{'/'.join(parts)}")
    return doc


def _add(doc, parts, value, op):
    if not parts:
        return value
    parent = _walk(doc, parts, op)
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"{op} operation does not apply: index out of range: /{'/'.join(parts)}")
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return doc


def apply_patch(target, content_type, body):
    """Apply a PATCH request body of CONTENT_TYPE to TARGET and return the new object."""
    content_type = (content_type or "").split(";", 1)[0].strip()
    try:
        patch = json.loads(body or b"null")
    except ValueError as e:
        raise PatchError(f"error decoding patch: {e}", 400) from None
    if content_type == MERGE:
        if not isinstance(patch, dict):
            raise PatchError("merge patch must be a JSON object", 400)
        return merge_patch(target, patch)
    if content_type == STRATEGIC:
        if not isinstance(patch, dict):
            raise PatchError("strategic merge patch must be a JSON object", 400)
        return strategic_merge_patch(target, patch)
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    raise PatchError(f"the server does not support the patch type {content_type!r}", 415)


# ---------------------------------------------------------------- selectors

_REQ = re.compile(r"\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(text):
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def parse_label_selector(text):
    """Parse a label selector into requirements (key, op, values); raise ValueError when malformed."""
    requirements = []
    for part in _split_selector(text or ""):
        m = _REQ.match(part)
        if not m:
            raise ValueError(f"unable to parse requirement: {part.strip()!r}")
        negate, key, eqop, value, setop, values = m.groups()
        if negate:
            if eqop or setop:
                raise ValueError(f"unable to parse requirement: {part.strip()!r}")
            requirements.append((key, "!", []))
        elif eqop:
            requirements.append((key, "!=" if eqop == "!=" else "=", [value]))
        elif setop:
            requirements.append((key, setop, [v.strip() for v in values.split(",") if v.strip()]))
        else:
            requirements.append((key, "exists", []))
    return requirements


def labels_match(requirements, labels):
    """Tell whether LABELS satisfy every parsed requirement."""
    labels = labels or {}
    for key, op, values in requirements:
        have = labels.get(key)
        if op == "=":
            ok = have == values[0]
        elif op == "!=":
            ok = have != values[0]
        elif op == "in":
            ok = have in values
        elif op == "notin":
            ok = have not in values
        else:
            ok = (key in labels) == (op == "exists")
        if not ok:
            return False
    return True


FIELDS = {
    "metadata.name": lambda o: o.get("metadata", {}).get("name"),
    "metadata.namespace": lambda o: o.get("metadata", {}).get("namespace"),
    "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
    "status.phase": lambda o: o.get("status", {}).get("phase", ""),
    "type": lambda o: o.get("type", ""),
}


def parse_field_selector(text):
    """Parse a field selector (`a=b,c!=d`) into (field, negate, value) triples; unknown fields are errors."""
    out = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        m = re.fullmatch(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not m:
            raise ValueError(f"invalid selector: {part!r}; can't understand {part!r}")
        field, op, value = m.groups()
        if field not in FIELDS:
            raise ValueError(f'field label not supported: {field}')
        out.append((field, op == "!=", value))
    return out


def fields_match(requirements, obj):
    """Tell whether OBJ satisfies every parsed field requirement."""
    return all((FIELDS[field](obj) == value) != negate for field, negate, value in requirements)


# ---------------------------------------------------------------- protobuf bodies

PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_MAGIC = b"k8s\x00"


def _varint(data, i):
    value = shift = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def protobuf_fields(data):
    """Split a protobuf message into [(field number, wire type, value)]; bytes for length-delimited fields."""
    fields, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _object_meta(data):
    """Decode the ObjectMeta fields a client sets on create: name, generateName, namespace, labels, annotations."""
    meta = {}
    names = {1: "name", 2: "generateName", 3: "namespace"}
    for number, _, value in protobuf_fields(data):
        if number in names:
            meta[names[number]] = value.decode()
        elif number in (11, 12):
            entry = dict((n, v.decode()) for n, _, v in protobuf_fields(value))
            meta.setdefault("labels" if number == 11 else "annotations", {})[entry.get(1, "")] = entry.get(2, "")
        elif number == 14:
            meta.setdefault("finalizers", []).append(value.decode())
    return meta


def decode_protobuf(body):
    """Decode a Kubernetes protobuf envelope to {apiVersion, kind, metadata} (what `kubectl create NS` sends).

    Only the object's metadata is read: the lab's clients send protobuf only for
    objects whose other fields are defaulted (a Namespace's spec and status).
    """
    if not body.startswith(PROTOBUF_MAGIC):
        raise ValueError("no protobuf magic number")
    type_meta, raw = {}, b""
    for number, _, value in protobuf_fields(body[len(PROTOBUF_MAGIC):]):
        if number == 1:
            type_meta = {n: v.decode() for n, _, v in protobuf_fields(value)}
        elif number == 2:
            raw = value
    obj = {"apiVersion": type_meta.get(1, ""), "kind": type_meta.get(2, "")}
    for number, _, value in protobuf_fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(value)
    return obj


# ---------------------------------------------------------------- bootstrap-token signatures

def _b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_jws(content, token_id, token_secret):
    """Sign CONTENT as the bootstrap signer signs cluster-info: detached JWS, HS256 keyed by the token secret."""
    import hashlib
    import hmac
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    payload = _b64url(content.encode())
    signature = hmac.new(token_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}..{_b64url(signature)}"


def verify_detached_jws(jws, content, token_id, token_secret):
    """Tell whether JWS is the detached signature detached_jws would make for CONTENT with this token."""
    import hmac
    return hmac.compare_digest(jws, detached_jws(content, token_id, token_secret))
