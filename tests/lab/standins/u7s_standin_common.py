"""Share plumbing between the u7s TEST STAND-INS (kubeadm, helm, the API server, the kubelet, flannel).

These programs are test scaffolding for the u7s lab node image only; they never ship
and are not Kubernetes. kubectl in the lab is the real one; these stand in for what
cannot run here, behave like the real components towards u7s and kubectl, and check
that u7s drives them the way the reference implementation does.

Path override: when U7S_STANDIN_ROOT is set (unit tests only), every absolute path
the stand-ins read or write is taken relative to that directory instead of `/`.

State, in /var/lib/u7s-standin (the node's persistent /var; tests may read it):
  calls.jsonl     one line per kubeadm/helm invocation: {prog, argv, env, time, rc};
                  secrets (tokens, CA pins) in argv are replaced by <redacted>
  audit.jsonl     one line per API request: {time, user, verb, uri, code, agent}
  objects.json    the API server's objects (its etcd), 0600
  *.pid / *.log   the API server and kubelet when they run without systemd (unit tests)

Failure switches (see tests/lab/README.md) are files named after the switch in
/etc/u7s-standin/ (persistent) or /usernetes/.u7s-standin/ (the host's working
directory, read-only in the node), holding a value or nothing.
"""

import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import shlex
import socket
import sys
import tempfile

ROOT_ENV = "U7S_STANDIN_ROOT"
SWITCH_DIRS = ("/etc/u7s-standin", "/usernetes/.u7s-standin")
STATE_DIR = "/var/lib/u7s-standin"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
KUBELET_DEFAULTS = "/etc/default/kubelet"
HOST_IP_LABEL = "usernetes/host-ip"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
CNI_DIR = "/etc/cni/net.d"
# The Kubernetes version the node image carries (kubeadm's and the kubelet's): a second lab
# image for upgrade tests writes another one into VERSION_FILE.
VERSION_FILE = "/usr/local/share/u7s-standin/kube-version"
DEFAULT_KUBE_VERSION = "v1.35.0"
SECRET_FLAGS = ("--token", "--discovery-token-ca-cert-hash", "--certificate-key", "--tls-bootstrap-token",
                "--discovery-token")

# The variables u7s passes to every command run inside the node (reference: "Commands run
# inside the node are given HOST_IP, NODE_NAME, ..."), plus KUBECONFIG from the node service.
LOGGED_ENV = ("HOST_IP", "NODE_NAME", "NODE_SUBNET", "NODE_IP", "PORT_ETCD",
              "PORT_KUBELET", "PORT_FLANNEL", "PORT_KUBE_APISERVER", "KUBECONFIG")


class StandinError(Exception):
    """Report a failure the stand-in itself detected (printed with the `u7s-standin PROG:` prefix)."""


class ToolError(Exception):
    """Report a failure with the real tool's own wording (printed verbatim)."""


# ---------------------------------------------------------------- paths

def host_path(path):
    """Return where PATH lives, honouring the unit-test root override."""
    root = os.environ.get(ROOT_ENV, "").rstrip("/")
    if not root or not os.path.isabs(path) or path == root or path.startswith(root + "/"):
        return path
    return root + path


def image_kube_version():
    """Return the Kubernetes version this node image carries."""
    try:
        with open(host_path(VERSION_FILE)) as f:
            return f.read().strip() or DEFAULT_KUBE_VERSION
    except FileNotFoundError:
        return DEFAULT_KUBE_VERSION


KUBE_VERSION = image_kube_version()


def under_test():
    """Tell whether the unit-test root override is active."""
    return bool(os.environ.get(ROOT_ENV))


def state_path(name):
    """Return the path of a state file in /var/lib/u7s-standin."""
    return host_path(f"{STATE_DIR}/{name}")


def now_iso():
    """Return the current UTC time as RFC 3339 with a `Z`, as Kubernetes prints it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- state files

def read_json(path, default):
    """Load a JSON file, or return DEFAULT when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def write_atomic(path, text, mode=0o644):
    """Replace PATH with TEXT in one rename, so readers never see half a file."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path, data, mode=0o644):
    """Write DATA as indented JSON, atomically."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


@contextlib.contextmanager
def state_lock():
    """Serialise read-modify-write of state files between kubectl, helm and the API stand-in."""
    path = state_path(".lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_state(name, default):
    """Load /var/lib/u7s-standin/NAME.json."""
    return read_json(state_path(f"{name}.json"), default)


def save_state(name, data, mode=0o644):
    """Store /var/lib/u7s-standin/NAME.json atomically."""
    write_json(state_path(f"{name}.json"), data, mode)


def append_jsonl(name, record):
    """Append one JSON line to /var/lib/u7s-standin/NAME (0600: lines may hold tokens)."""
    path = state_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(record, sort_keys=True) + "\n")


# ---------------------------------------------------------------- command lines

def scan_args(argv, value_flags, bool_flags=None, repeatable=(), lenient=False):
    """Split ARGV into ({key: value}, positionals) the way Go's pflag reads flags.

    VALUE_FLAGS and BOOL_FLAGS map a spelling (`-o`, `--output`) to a key. Values come as
    `--flag v`, `--flag=v`, or `-ov` for one-letter flags; booleans take `=true/false`.
    Keys in REPEATABLE collect lists. Unknown flags are an error unless LENIENT, which
    keeps them under the key "_unknown".
    """
    bool_flags = bool_flags or {}
    opts, positionals = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if not eq and not name.startswith("--") and len(name) > 2 and name[:2] in value_flags:
            name, eq, value = name[:2], "=", name[2:]
        if name in value_flags:
            if not eq:
                if i + 1 >= len(argv):
                    raise StandinError(f"flag needs an argument: {name}")
                i += 1
                value = argv[i]
            key = value_flags[name]
            if key in repeatable:
                opts.setdefault(key, []).append(value)
            else:
                opts[key] = value
        elif name in bool_flags:
            if eq and value.lower() not in ("true", "false"):
                raise StandinError(f"flag {name} takes true or false, got {value!r}")
            opts[bool_flags[name]] = not (eq and value.lower() == "false")
        elif lenient:
            opts.setdefault("_unknown", []).append(arg)
        else:
            raise StandinError(f"flag {name} is not supported by the stand-in")
        i += 1
    return opts, positionals


# ---------------------------------------------------------------- node facts

def hostname():
    """Return this node's hostname (under test: the override root's /etc/hostname)."""
    if under_test():
        with contextlib.suppress(FileNotFoundError):
            with open(host_path("/etc/hostname"), encoding="utf-8") as f:
                return f.read().strip()
    return socket.gethostname()


def read_hosts():
    """Parse /etc/hosts into (address, [names]) pairs, in file order."""
    entries = []
    try:
        with open(host_path("/etc/hosts"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return entries
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1:]))
    return entries


def resolve_from_hosts(name):
    """Resolve NAME with /etc/hosts only, first match wins like glibc; IP literals pass through."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    for address, names in read_hosts():
        if name in names:
            return address
    return None


def kubelet_extra_args():
    """Return KUBELET_EXTRA_ARGS from /etc/default/kubelet as a list, or None if unset."""
    try:
        with open(host_path(KUBELET_DEFAULTS), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    value = None
    for line in lines:  # an EnvironmentFile: the last assignment wins
        if line.strip().startswith("KUBELET_EXTRA_ARGS="):
            value = line.strip()[len("KUBELET_EXTRA_ARGS="):]
    if value is None:
        return None
    try:
        words = shlex.split(value)
    except ValueError:
        return value.split()
    # `KUBELET_EXTRA_ARGS="a b"` unquotes to one word holding every flag.
    return [w for word in words for w in word.split()]


def kubelet_node_labels(args):
    """Collect the --node-labels values of kubelet ARGS into a dict."""
    labels = {}
    values = []
    for i, arg in enumerate(args):
        if arg.startswith("--node-labels="):
            values.append(arg.split("=", 1)[1])
        elif arg == "--node-labels" and i + 1 < len(args):
            values.append(args[i + 1])
    for value in values:
        for pair in value.split(","):
            if "=" in pair:
                key, val = pair.split("=", 1)
                labels[key] = val
    return labels


def check_kubelet_defaults(host_ip):
    """List what the node entrypoint should have put in /etc/default/kubelet but did not."""
    args = kubelet_extra_args()
    if args is None:
        return [f"{KUBELET_DEFAULTS}: KUBELET_EXTRA_ARGS is not set (the node entrypoint adds it at boot)"]
    problems = []
    if "--cloud-provider=external" not in args:
        problems.append(f"{KUBELET_DEFAULTS}: KUBELET_EXTRA_ARGS lacks --cloud-provider=external")
    label = kubelet_node_labels(args).get(HOST_IP_LABEL)
    if label is None:
        problems.append(f"{KUBELET_DEFAULTS}: KUBELET_EXTRA_ARGS lacks --node-labels={HOST_IP_LABEL}=<HOST_IP>")
    elif host_ip and label != host_ip:
        problems.append(f"{KUBELET_DEFAULTS}: node label {HOST_IP_LABEL}={label} differs from HOST_IP={host_ip}")
    return problems


# ---------------------------------------------------------------- entry point

def redact(argv):
    """Return ARGV with the values of secret flags (join tokens, CA pins) replaced by <redacted>."""
    out, hide = [], False
    for arg in argv:
        name, eq, _ = arg.partition("=")
        if hide:
            out.append("<redacted>")
            hide = False
        elif name in SECRET_FLAGS and eq:
            out.append(f"{name}=<redacted>")
        else:
            out.append(arg)
            hide = arg in SECRET_FLAGS
    return out


def switch(name):
    """Return a failure switch's value (the file's stripped text, maybe ""), or None when it is off."""
    found = switch_file(name)
    return found[1] if found else None


def switch_file(name):
    """Return (the switch file's identity: path and mtime, its stripped text), or None when it is off."""
    for directory in SWITCH_DIRS:
        path = host_path(f"{directory}/{name}")
        try:
            with open(path, encoding="utf-8") as f:
                return f"{path}@{os.fstat(f.fileno()).st_mtime_ns}", f.read().strip()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return None


def switch_seconds(name, default):
    """Return a switch's value as seconds: DEFAULT when off, None for `never`, else a float."""
    value = switch(name)
    if value is None or value == "":
        return default
    if value == "never":
        return None
    try:
        return float(value)
    except ValueError:
        raise StandinError(f"switch {name}: {value!r} is not a number of seconds or `never`") from None


def record_call(prog, argv, rc):
    """Append this invocation to /var/lib/u7s-standin/calls.jsonl, secrets redacted."""
    record = {
        "prog": prog,
        "argv": redact(argv),
        "env": {k: os.environ[k] for k in LOGGED_ENV if k in os.environ},
        "time": now_iso(),
        "rc": rc,
    }
    try:
        append_jsonl("calls.jsonl", record)
    except OSError as e:
        print(f"u7s-standin {prog}: cannot record the call: {e}", file=sys.stderr)


def run_main(prog, main):
    """Run MAIN(argv), print errors the way the tool would, record the call, and exit."""
    argv = sys.argv[1:]
    rc = 1
    try:
        rc = main(argv) or 0
    except StandinError as e:
        for line in str(e).splitlines() or [""]:
            print(f"u7s-standin {prog}: {line}", file=sys.stderr)
    except ToolError as e:
        print(str(e), file=sys.stderr)
    finally:
        record_call(prog, argv, rc)
    sys.exit(rc)
