"""Load YAML that a user wrote, bounded in size, depth, expansion and types.

yaml.safe_load trusts its input's shape: a kilobyte of nested aliases expands
into gigabytes once anything walks it, a duplicated key silently keeps the last
value, and YAML 1.1 reads `0o17`, `1_000`, `017` or `1:30` as integers. This
loader refuses all of that while composing, before any Python object is built:
- input larger than MAX_BYTES, strings longer than MAX_SCALAR, nesting deeper than MAX_DEPTH;
- aliases whose expansion would make the document larger than MAX_NODES nodes;
- a key given twice in one mapping (naming the key and both lines);
- explicit tags other than the standard scalar and collection ones.
Integers are only plain decimals (`-`? digits); any other form stays a string,
which the settings and inventory checks then refuse with a message.
"""

from __future__ import annotations

import re

from u7s.errors import U7sError
from u7s.config.values import shown

MAX_BYTES = 256 * 1024
MAX_SCALAR = 4096
MAX_DEPTH = 32
MAX_NODES = 20000
TAG = "tag:yaml.org,2002:"
ALLOWED_TAGS = {TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}


class YamlError(U7sError):
    """The text is not YAML u7s accepts; the message names the file and line."""


def load_text(text: str, path: str):
    """Parse one YAML document of `path` (used in messages); raise YamlError on anything refused."""
    return _load(text, path)[0]


def load_file(path: str):
    """Read and parse `path`, reading at most MAX_BYTES + 1 bytes of it."""
    return _load(_read(path), path)[0]


def load_file_with_lines(path: str):
    """`load_file`, and the line (1-based) of each mapping key, by its path of keys: {("u7s", "PORT_ETCD"): 3}."""
    return _load(_read(path), path)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise YamlError(f"{path}: larger than {MAX_BYTES // 1024} KiB; an inventory or config is much smaller")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _load(text: str, path: str):
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(f"{path}: larger than {MAX_BYTES // 1024} KiB; an inventory or config is much smaller")
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict = {}
        _key_lines(node, (), lines)
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        raise YamlError(_describe(exc, path)) from None
    except RecursionError:
        raise YamlError(f"{path}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


def _key_lines(node, where: tuple, lines: dict, depth: int = 0) -> None:
    """Record the line of every plain mapping key of the top two levels (what messages about config name)."""
    from yaml.nodes import MappingNode, ScalarNode

    if not isinstance(node, MappingNode) or depth > 1:
        return
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode):
            key = (*where, key_node.value)
            lines.setdefault(key, key_node.start_mark.line + 1)
            _key_lines(value_node, key, lines, depth + 1)


def _describe(exc, path: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    # The parser's own words can quote the input: keep them to one short line.
    problem = " ".join(str(problem).split())
    if len(problem) > 160:
        problem = problem[:160] + "..."
    if getattr(exc, "refused", False):
        return f"{path}:{where}: {problem}"
    return f"{path}:{where}: not valid YAML ({problem})"


_CLASS = None


def _loader_class():
    global _CLASS
    if _CLASS is None:
        _CLASS = _build()
    return _CLASS


def _build():
    import yaml
    from yaml.constructor import ConstructorError
    from yaml.events import AliasEvent, ScalarEvent
    from yaml.nodes import MappingNode

    class Refused(yaml.YAMLError):
        def __init__(self, problem: str, mark):
            super().__init__(problem)
            self.problem, self.problem_mark, self.refused = problem, mark, True

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self.nodes = 0
            self.depth = 0
            self.sizes: dict[int, int] = {}  # id(node) -> nodes in its expansion

        def count(self, n: int, mark) -> None:
            self.nodes += n
            if self.nodes > MAX_NODES:
                raise Refused(f"expands to more than {MAX_NODES} values (aliases?); write it out plainly", mark)

        def compose_node(self, parent, index):
            if self.check_event(AliasEvent):
                event = self.peek_event()
                target = self.anchors.get(event.anchor)
                if target is not None:  # an unknown alias is the composer's own error
                    self.count(self.sizes.get(id(target), 1), event.start_mark)
                return super().compose_node(parent, index)
            event = self.peek_event()
            if isinstance(event, ScalarEvent) and len(event.value) > MAX_SCALAR:
                raise Refused(f"a value of {len(event.value)} characters ({shown(event.value)}); "
                              f"at most {MAX_SCALAR}", event.start_mark)
            tag = getattr(event, "tag", None)
            if tag not in (None, "!") and self._full_tag(tag) not in ALLOWED_TAGS:
                raise Refused(f"tag {shown(tag)} is not allowed; remove it", event.start_mark)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            before = self.nodes
            self.count(1, event.start_mark)
            node = super().compose_node(parent, index)
            self.depth -= 1
            self.sizes[id(node)] = self.nodes - before
            return node

        @staticmethod
        def _full_tag(tag: str) -> str:
            return TAG + tag[2:] if tag.startswith("!!") else tag

        def construct_mapping(self, node, deep=False):
            if isinstance(node, MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == TAG + "merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        hash(key)
                    except TypeError:
                        raise ConstructorError(None, None, "a mapping key must be a single value",
                                               key_node.start_mark) from None
                    if key in seen:
                        raise Refused(f"key {shown(key)} given twice (first on line {seen[key] + 1}); "
                                      "keep one", key_node.start_mark)
                    seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    # Integers: plain decimal only. YAML 1.1 also reads 0x.., 0o.., 017 (octal), 1_000 and 1:30 (base 60).
    resolvers = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries if tag != TAG + "int"]
        resolvers[first] = kept
    decimal = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
    for first in "-0123456789":
        resolvers.setdefault(first, []).insert(0, (TAG + "int", decimal))
    BoundedLoader.yaml_implicit_resolvers = resolvers
    # Timestamps and the like stay strings (no setting is a date).
    for first, entries in list(resolvers.items()):
        resolvers[first] = [(t, rx) for t, rx in entries if t in ALLOWED_TAGS]
    return BoundedLoader
