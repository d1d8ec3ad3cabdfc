"""Air-gapped sites: build a bundle where a registry is in reach, load it on hosts that reach none.

`build` saves the node image and the pod images from this host's engine (pulling the pod images it
lacks) and exports the images the node image preloads (the control plane's) into one file
(u7s/render/bundle.py). `load_on` gives one host the node image (`<engine> load`, skipped when the engine
has that image ID) and keeps the image archives in the host's working directory, which the node sees at
/usernetes: `import_kept` imports them into the node's containerd now when the node runs, and again
whenever `up` made the node anew (its /var volume keeps an older image's store across an upgrade).
"""

from __future__ import annotations

import json
import os
import tempfile

from u7s.render import bundle, engine
from u7s.config.settings import Settings
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.steps import images

KEPT = "bundle-images.tar"  # in the working directory: the node reads it at /usernetes/KEPT
KEPT_PRELOADED = "bundle-preloaded.tar"  # the node image's own preloaded store, when the bundle has it
KEPT_INDEX = "bundle-images.json"  # the kept archives' images and sha256, for skipping
OUT = "/u7s-out"
# Run in a throw-away container of the node image: its containerd, started on the image's own /var,
# exports every named image of the k8s.io namespace (kindest/node preloads the control plane's there).
EXPORT_PRELOADED = (
    "set -eu; containerd >/tmp/u7s-containerd.log 2>&1 & i=0; "
    "until ctr version >/dev/null 2>&1; do i=$((i+1)); "
    "if [ $i -gt 300 ]; then tail -n 3 /tmp/u7s-containerd.log >&2; exit 1; fi; sleep 0.1; done; "
    "refs=$(ctr -n k8s.io images ls -q | grep -v '^sha256:' || true); "
    f'if [ -n "$refs" ]; then ctr -n k8s.io images export {OUT}/{bundle.PRELOADED} $refs; fi')

def _image_id(host, s: Settings, ref: str) -> str | None:
    r = host.run(engine.engine_cmd(s, "image", "inspect", "--format", "{{.Id}}", "--", ref), check=False)
    return r.stdout.strip() if r.ok and r.stdout.strip() else None


def _saved(host, s: Settings, refs: list[str], path: str) -> None:
    r = host.run(images.save_argv(s, refs, path), check=False)
    if not r.ok:
        tail = r.stderr_tail()
        raise U7sError(f"{host.name}: {s.container_engine} save failed: {tail}")


def build(host, s: Settings, node_image: str, pod_images: list[str], output: str, report) -> bundle.Manifest:
    """Write the bundle from this host's engine; the pod images it lacks are pulled first."""
    image_id = _image_id(host, s, node_image)
    if image_id is None:
        raise U7sError(f"{host.name}: the node image {node_image} is not in {s.container_engine}; build or pull "
                       "it first (`u7s up` builds it; or set NODE_IMAGE to one you have)")
    for ref in pod_images:
        if ref.startswith("-") or not ref.isprintable():
            raise U7sError(f"--image {ref!r}: not an image name")
        if _image_id(host, s, ref) is None:
            with report.step(f"pulling {ref}"):
                r = host.run(engine.engine_cmd(s, "pull", "--", ref), check=False)
            if not r.ok:
                tail = r.stderr_tail()
                raise U7sError(f"{host.name}: {s.container_engine} pull {ref} failed: {tail}; `u7s bundle` "
                               "runs where a registry is in reach")
    with tempfile.TemporaryDirectory(prefix="u7s-bundle-") as tmp:  # 0700: private to this user
        files = {name: os.path.join(tmp, name) for name in (bundle.NODE_IMAGE, bundle.IMAGES)}
        with report.step(f"saving {node_image}"):
            _saved(host, s, [node_image], files[bundle.NODE_IMAGE])
        with report.step(f"saving {len(pod_images)} pod image(s)"):
            _saved(host, s, pod_images, files[bundle.IMAGES])
        found = images.archive_images(files[bundle.IMAGES])
        with report.step(f"exporting the images {node_image} preloads"):
            preloaded = _export_preloaded(host, s, node_image, tmp, report)
        if preloaded is not None:
            files[bundle.PRELOADED] = preloaded
            found += images.archive_images(preloaded)
        return bundle.write(output, node_image, [(i.ref, i.image_id) for i in found], files, image_id)


def _export_preloaded(host, s: Settings, node_image: str, tmp: str, report) -> str | None:
    """The node image's preloaded store as an archive in tmp; None when it preloads nothing (or cannot say)."""
    argv = engine.engine_cmd(s, "run", "--rm", "--privileged", "--entrypoint", "sh", "-v", f"{tmp}:{OUT}",
                             node_image, "-c", EXPORT_PRELOADED)
    r = host.run(argv, check=False)
    path = os.path.join(tmp, bundle.PRELOADED)
    if not r.ok:
        tail = r.stderr_tail()
        report.warn(f"the images {node_image} preloads could not be exported ({tail}): an upgrade to it needs "
                    "them from a registry")
        return None
    return path if os.path.isfile(path) else None


def load_node_image(node: Node, path: str, manifest: bundle.Manifest) -> str:
    """The node image into the host's engine, unless it has that image ID already."""
    s, host = node.s, node.host
    if manifest.node_image_id and _image_id(host, s, manifest.node_image) == manifest.node_image_id:
        return f"{manifest.node_image} already in {s.container_engine}"
    with bundle.Member(path, bundle.NODE_IMAGE) as source:
        r = host.run_streaming(engine.engine_cmd(s, "load"), source)
    if not r.ok:
        tail = r.stderr_tail()
        raise U7sError(f"{host.name}: {s.container_engine} load of {manifest.node_image} failed: {tail}")
    return f"{manifest.node_image} loaded into {s.container_engine}"


def _kept(manifest: bundle.Manifest) -> dict[str, str]:
    """The bundle's members a host keeps, by the name kept under."""
    return {KEPT: bundle.IMAGES, **({KEPT_PRELOADED: bundle.PRELOADED} if bundle.PRELOADED in manifest.members
                                   else {})}


def _copy(node: Node, path: str, member: str, kept: str) -> None:
    s, host = node.s, node.host
    partial = s.path(kept + ".partial")
    with bundle.Member(path, member) as source:
        r = host.run_streaming(["dd", f"of={partial}", "bs=1M", "status=none"], source)
    if not r.ok:
        tail = r.stderr_tail()
        raise U7sError(f"{host.name}: could not write {partial}: {tail}")
    host.run(["mv", "-f", "--", partial, s.path(kept)])


def keep_pod_images(node: Node, path: str, manifest: bundle.Manifest) -> bool:
    """Copy the image archives into the working directory (unless the same ones are there); True when copied."""
    s, host = node.s, node.host
    kept = _kept(manifest)
    want = "+".join(manifest.members[member]["sha256"] for member in kept.values())
    index = _kept_index(node)
    if index and index.get("sha256") == want:
        return False
    host.makedirs(s.workdir, 0o700)
    for name, member in kept.items():
        _copy(node, path, member, name)
    if KEPT_PRELOADED not in kept:
        host.remove(s.path(KEPT_PRELOADED))
    entries = [{"ref": ref, "image_id": image_id} for ref, image_id in manifest.images]
    index = {"sha256": want, "images": entries, "archives": sorted(kept)}
    host.write_file(s.path(KEPT_INDEX), json.dumps(index) + "\n", 0o644)
    return True


def _kept_index(node: Node) -> dict | None:
    text = node.host.read_text(node.s.path(KEPT_INDEX))
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("images"), list) else None


def import_kept(node: Node) -> str | None:
    """Import the kept images into the running node's containerd where any is missing; None: none kept."""
    index = _kept_index(node)
    if index is None:
        return None
    kept = [images.ArchiveImage(e["ref"], e["image_id"]) for e in index["images"]
            if isinstance(e, dict) and isinstance(e.get("ref"), str) and isinstance(e.get("image_id"), str)]
    lacking = images.missing(node, kept)
    if kept and not lacking:
        return f"the bundle's {len(kept)} image(s) already in {node.s.node_name}"
    facts = node.host.run(engine.node_exec(node.s, ["sh", "-c", images.FACTS], env=False)).stdout
    platform, snapshotter = images.node_platform_and_snapshotter(facts)
    archives = [a for a in index.get("archives", [KEPT]) if a in (KEPT, KEPT_PRELOADED)]
    for archive in archives:
        argv = images.ctr(node.s, "import", "--platform", platform, "--snapshotter", snapshotter,
                          f"/usernetes/{archive}")
        r = node.host.run(argv, check=False)
        if not r.ok:
            tail = r.stderr_tail()
            raise U7sError(f"{node.host.name}: ctr images import of the bundle's {archive} failed: {tail}")
    for image in kept:
        node.host.run(images.ctr(node.s, "label", image.ref, f"{images.ID_LABEL}={image.image_id}"))
    return f"imported the bundle's {len(lacking)} missing image(s) into {node.s.node_name}"


def load_on(node: Node, path: str, manifest: bundle.Manifest) -> str:
    """One host: the node image into its engine, the pod images kept, and imported when the node runs."""
    done = [load_node_image(node, path, manifest)]
    done.append("images kept" if keep_pod_images(node, path, manifest) else "images already kept")
    if node.running():
        done.append(import_kept(node) or "")
    return "; ".join(d for d in done if d)
