"""Air-gapped sites: build a bundle where a registry is in reach, load it on hosts that reach none.

`build` saves the node image and the pod images from the controller's engine (pulling the pod images it
lacks) into one file (u7s/build/bundle.py). `load_on` gives one host the node image (`<engine> load`,
skipped when the engine has that image ID) and keeps the pod images in the host's working directory,
which the node sees at /usernetes: `import_kept` imports them into the node's containerd now when the
node runs, and again whenever `up` made the node anew (a recreated node keeps its /var volume, but an
upgrade's new image or a `down-v` may leave its store without them).
"""

from __future__ import annotations

import json
import os
import tempfile

from u7s.build import bundle, engine
from u7s.config.settings import Settings
from u7s.errors import U7sError
from u7s.node.container import Node
from u7s.steps import images

KEPT = "bundle-images.tar"  # in the working directory: the node reads it at /usernetes/KEPT
KEPT_INDEX = "bundle-images.json"  # the kept archive's images and sha256, for skipping

def _image_id(host, s: Settings, ref: str) -> str | None:
    r = host.run(engine.engine_cmd(s, "image", "inspect", "--format", "{{.Id}}", "--", ref), check=False)
    return r.stdout.strip() if r.ok and r.stdout.strip() else None


def _saved(host, s: Settings, refs: list[str], path: str) -> None:
    r = host.run(images.save_argv(s, refs, path), check=False)
    if not r.ok:
        tail = (r.stderr.strip().splitlines() or [f"exit {r.exited}"])[-1]
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
                tail = (r.stderr.strip().splitlines() or [f"exit {r.exited}"])[-1]
                raise U7sError(f"{host.name}: {s.container_engine} pull {ref} failed: {tail}; `u7s bundle` "
                               "runs where a registry is in reach")
    with tempfile.TemporaryDirectory(prefix="u7s-bundle-") as tmp:  # 0700: private to this user
        files = {bundle.NODE_IMAGE: os.path.join(tmp, bundle.NODE_IMAGE), bundle.IMAGES: os.path.join(tmp, bundle.IMAGES)}
        with report.step(f"saving {node_image}"):
            _saved(host, s, [node_image], files[bundle.NODE_IMAGE])
        with report.step(f"saving {len(pod_images)} pod image(s)"):
            _saved(host, s, pod_images, files[bundle.IMAGES])
        found = [(i.ref, i.image_id) for i in images.archive_images(files[bundle.IMAGES])]
        return bundle.write(output, node_image, found, files, image_id)


def load_node_image(node: Node, path: str, manifest: bundle.Manifest) -> str:
    """The node image into the host's engine, unless it has that image ID already."""
    s, host = node.s, node.host
    if manifest.node_image_id and _image_id(host, s, manifest.node_image) == manifest.node_image_id:
        return f"{manifest.node_image} already in {s.container_engine}"
    with bundle.Member(path, bundle.NODE_IMAGE) as source:
        r = host.run_streaming(engine.engine_cmd(s, "load"), source)
    if not r.ok:
        tail = (r.stderr.strip().splitlines() or [f"exit {r.exited}"])[-1]
        raise U7sError(f"{host.name}: {s.container_engine} load of {manifest.node_image} failed: {tail}")
    return f"{manifest.node_image} loaded into {s.container_engine}"


def keep_pod_images(node: Node, path: str, manifest: bundle.Manifest) -> bool:
    """Copy images.tar into the working directory (unless the same one is there); True when copied."""
    s, host = node.s, node.host
    want = manifest.members[bundle.IMAGES]["sha256"]
    index = _kept_index(node)
    if index and index.get("sha256") == want:
        return False
    host.makedirs(s.workdir, 0o700)
    partial = s.path(KEPT + ".partial")
    with bundle.Member(path, bundle.IMAGES) as source:
        r = host.run_streaming(["dd", f"of={partial}", "bs=1M", "status=none"], source)
    if not r.ok:
        tail = (r.stderr.strip().splitlines() or [f"exit {r.exited}"])[-1]
        raise U7sError(f"{host.name}: could not write {partial}: {tail}")
    host.run(["mv", "-f", "--", partial, s.path(KEPT)])
    entries = [{"ref": ref, "image_id": image_id} for ref, image_id in manifest.images]
    host.write_file(s.path(KEPT_INDEX), json.dumps({"sha256": want, "images": entries}) + "\n", 0o644)
    return True


def _kept_index(node: Node) -> dict | None:
    text = node.host.read_text(node.s.path(KEPT_INDEX))
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("images"), list) else None


def import_kept(node: Node) -> str | None:
    """Import the kept pod images into the running node's containerd where any is missing; None: none kept."""
    index = _kept_index(node)
    if index is None:
        return None
    kept = [images.ArchiveImage(e["ref"], e["image_id"]) for e in index["images"]
            if isinstance(e, dict) and isinstance(e.get("ref"), str) and isinstance(e.get("image_id"), str)]
    lacking = images.missing(node, kept)
    if kept and not lacking:
        return f"the bundle's {len(kept)} pod image(s) already in {node.s.node_name}"
    facts = node.host.run(engine.node_exec(node.s, ["sh", "-c", images.FACTS], env=False)).stdout
    platform, snapshotter = images.node_platform_and_snapshotter(facts)
    argv = images.ctr(node.s, "import", "--platform", platform, "--snapshotter", snapshotter,
                      f"/usernetes/{KEPT}")
    r = node.host.run(argv, check=False)
    if not r.ok:
        tail = (r.stderr.strip().splitlines() or [f"exit {r.exited}"])[-1]
        raise U7sError(f"{node.host.name}: ctr images import of the bundle's pod images failed: {tail}")
    for image in kept:
        node.host.run(images.ctr(node.s, "label", image.ref, f"{images.ID_LABEL}={image.image_id}"))
    return f"imported the bundle's {len(lacking)} missing pod image(s) into {node.s.node_name}"


def load_on(node: Node, path: str, manifest: bundle.Manifest) -> str:
    """One host: the node image into its engine, the pod images kept, and imported when the node runs."""
    done = [load_node_image(node, path, manifest)]
    done.append("pod images kept" if keep_pod_images(node, path, manifest) else "pod images already kept")
    if node.running():
        done.append(import_kept(node) or "")
    return "; ".join(d for d in done if d)
