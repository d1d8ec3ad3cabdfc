"""Read and change the stand-in's nodes and namespaces for kubectl (u7s TEST STAND-IN, never ships).

Objects live in /var/lib/u7s-standin/nodes.json and namespaces.json as
{name: object}; every change happens under the state lock, and every error is
worded like the real API server's.
"""

import datetime
import http.client
import json
import re
import socket
import sys
import urllib.parse

from u7s_standin_common import (
    StandinError, ToolError, kubeconfig_server, load_state, new_namespace, resolve_from_hosts,
    save_state, state_lock)

KINDS = {"node": "nodes", "nodes": "nodes", "no": "nodes",
         "namespace": "namespaces", "namespaces": "namespaces", "ns": "namespaces"}
SINGULAR = {"nodes": "node", "namespaces": "namespace"}
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
ADDRESS_TYPES = ("Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def kind_of(word):
    """Map a resource word (`node`, `no`, `ns`, ...) to the state file it lives in."""
    if "/" in word:
        raise StandinError(f"TYPE/NAME arguments ({word}) are unsupported by the stand-in")
    if word not in KINDS:
        raise StandinError(f"resource type {word!r} is unsupported by the stand-in")
    return KINDS[word]


def one_object(args, verb):
    """Return (kind, name) from exactly `TYPE NAME`."""
    if len(args) != 2:
        raise StandinError(f"the stand-in's kubectl {verb} takes exactly TYPE NAME, got {args}")
    return kind_of(args[0]), args[1]


def require(kind, store, name):
    """Return STORE[NAME] or fail with the real NotFound message."""
    if name not in store:
        raise ToolError(f'Error from server (NotFound): {kind} "{name}" not found')
    return store[name]


# ---------------------------------------------------------------- reading

def get_raw(path, config):
    """GET PATH from the API stand-in named by the kubeconfig's server (over plain HTTP)."""
    server = urllib.parse.urlsplit(kubeconfig_server(config))
    host, port = server.hostname, server.port or 443
    address = resolve_from_hosts(host)
    if address is None:
        try:
            address = socket.gethostbyname(host)
        except OSError:
            raise ToolError(f"Unable to connect to the server: dial tcp: lookup {host}: no such host") from None
    try:
        conn = http.client.HTTPConnection(address, port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    except ConnectionRefusedError:
        raise ToolError(f"The connection to the server {host}:{port} was refused - "
                        "did you specify the right host or port?") from None
    except OSError as e:
        raise ToolError(f"Unable to connect to the server: dial tcp {address}:{port}: {e}") from None
    if response.status == 404:
        raise ToolError("Error from server (NotFound): the server could not find the requested resource")
    if response.status != 200:
        raise ToolError(f"Error from server: {body.strip()}")
    return body.rstrip("\n")


def _age(timestamp):
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def table(kind, items):
    """Render the default `kubectl get` table."""
    if kind == "nodes":
        rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION")]
        for node in items:
            labels = node["metadata"].get("labels", {})
            roles = ",".join(sorted(k.split("/", 1)[1] for k in labels
                                    if k.startswith("node-role.kubernetes.io/"))) or "<none>"
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in node.get("status", {}).get("conditions", []))
            rows.append((node["metadata"]["name"], "Ready" if ready else "NotReady", roles,
                         _age(node["metadata"].get("creationTimestamp")),
                         node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")))
    else:
        rows = [("NAME", "STATUS", "AGE")]
        rows += [(ns["metadata"]["name"], ns.get("status", {}).get("phase", "Active"),
                  _age(ns["metadata"].get("creationTimestamp"))) for ns in items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in rows)


# ---------------------------------------------------------------- changing

def merge_patch(target, patch):
    """Apply an RFC 7386 JSON merge patch: maps merge, null deletes, lists are replaced."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _check_addresses(name, status):
    for i, address in enumerate(status.get("addresses") or []):
        if not (isinstance(address, dict) and address.get("type") in ADDRESS_TYPES
                and isinstance(address.get("address"), str) and address["address"]):
            raise ToolError(f'The Node "{name}" is invalid: status.addresses[{i}]: Invalid value: '
                            f"{json.dumps(address)}: want {{type: one of {', '.join(ADDRESS_TYPES)}, address}}")


def patch_node(name, text, subresource):
    """Merge-patch node NAME with the JSON TEXT; return whether anything changed."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolError(f'error: unable to parse "{text}": {e}') from None
    if not isinstance(doc, dict):
        raise ToolError(f'error: unable to parse "{text}": not a JSON object')
    with state_lock():
        nodes = load_state("nodes", {})
        node = require("nodes", nodes, name)
        merged = merge_patch(node, doc)
        if subresource == "status":
            # The status subresource ignores everything but status, like the real one.
            new = dict(node, status=merged.get("status", {}))
        else:
            new = dict(merged, status=node.get("status", {}))
            if new.get("metadata", {}).get("name") != name:
                raise ToolError(f'The Node "{name}" is invalid: metadata.name: Invalid value: cannot change')
        _check_addresses(name, new.get("status", {}))
        nodes[name] = new
        save_state("nodes", nodes)
    return new != node


def parse_pairs(field, words):
    """Parse `KEY=VALUE` and `KEY-` words into [(key, value or None)]."""
    if not words:
        raise ToolError(f"error: at least one {field[:-1]} update is required")
    changes = []
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
        elif word.endswith("-"):
            key, value = word[:-1], None
        else:
            raise ToolError(f"error: invalid {field[:-1]} format: {word}")
        if not key:
            raise ToolError(f"error: invalid {field[:-1]} format: {word}")
        changes.append((key, value))
    return changes


def set_metadata(kind, name, field, changes, overwrite):
    """Apply label/annotation CHANGES to one object; return whether anything changed."""
    with state_lock():
        store = load_state(kind, {})
        obj = require(kind, store, name)
        values = obj["metadata"].setdefault(field, {})
        before = dict(values)
        for key, value in changes:
            if value is None:
                if key not in values:
                    print(f'{field[:-1]} "{key}" not found.', file=sys.stderr)
                values.pop(key, None)
            elif key in values and values[key] != value and not overwrite:
                if field == "labels":
                    raise ToolError(f"error: '{key}' already has a value ({values[key]}), "
                                    "and --overwrite is false")
                raise ToolError("error: --overwrite is false but found the following declared annotation(s): "
                                f"'{key}' already has a value ({values[key]})")
            else:
                values[key] = value
        save_state(kind, store)
    return values != before


def parse_taint(spec):
    """Parse `KEY[=VALUE]:EFFECT` (add) or `KEY[:EFFECT]-` (remove) into a dict."""
    remove = spec.endswith("-")
    body = spec[:-1] if remove else spec
    key_value, _, effect = body.partition(":")
    key, _, value = key_value.partition("=")
    if not key or (effect and effect not in EFFECTS) or (not remove and not effect) or (remove and value):
        raise ToolError(f'error: invalid taint spec: {spec}')
    return {"spec": spec, "remove": remove, "key": key, "value": value, "effect": effect}


def taint_nodes(names, changes, overwrite):
    """Apply taint CHANGES to nodes NAMES (None: all); return (result lines, error lines)."""
    results, errors = [], []
    with state_lock():
        nodes = load_state("nodes", {})
        for name in sorted(nodes) if names is None else names:
            node = require("nodes", nodes, name)
            taints = list(node.setdefault("spec", {}).get("taints") or [])
            added = removed = False
            for change in changes:
                def matches(t, c=change):
                    return t.get("key") == c["key"] and (not c["effect"] or t.get("effect") == c["effect"])
                if change["remove"]:
                    if not any(matches(t) for t in taints):
                        shown = change["key"] + (f":{change['effect']}" if change["effect"] else "")
                        errors.append(f'error: taint "{shown}" not found')
                        continue
                    taints = [t for t in taints if not matches(t)]
                    removed = True
                else:
                    if any(matches(t) for t in taints) and not overwrite:
                        errors.append(f"error: node {name} already has {change['key']} taint(s) with same "
                                      "effect(s) and --overwrite is false")
                        continue
                    taints = [t for t in taints if not matches(t)]
                    new = {"key": change["key"], "effect": change["effect"]}
                    if change["value"]:
                        new["value"] = change["value"]
                    taints.append(new)
                    added = True
            if added or removed:
                node["spec"]["taints"] = taints
                results.append(f"node/{name} " + ("modified" if added and removed else
                                                   "tainted" if added else "untainted"))
        save_state("nodes", nodes)
    return results, errors


def create_namespace(name):
    """Create namespace NAME, failing like the API server if it exists or is malformed."""
    if not DNS_LABEL.fullmatch(name):
        raise ToolError(f'The Namespace "{name}" is invalid: metadata.name: Invalid value: "{name}": '
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")
    with state_lock():
        namespaces = load_state("namespaces", {})
        if name in namespaces:
            raise ToolError(f'Error from server (AlreadyExists): namespaces "{name}" already exists')
        namespaces[name] = new_namespace(name)
        save_state("namespaces", namespaces)


def delete(kind, name):
    """Delete one node or namespace."""
    with state_lock():
        store = load_state(kind, {})
        require(kind, store, name)
        del store[name]
        save_state(kind, store)
