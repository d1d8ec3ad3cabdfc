"""Air-gapped sites (`bundle`, `load-bundle`, `cluster.load-bundle`): one file carries what a registry would.

`bundle` runs where a registry is in reach; `load-bundle` on the site, on this host or every host of the
inventory. Each is a thin adapter over u7s/steps/airgap.py and u7s/render/bundle.py.
"""

from __future__ import annotations

from u7s.tasks._common import SET_HELP, clean_errors, local, out, task, this_host

ITER = ["set_", "image"]


@task(iterable=ITER, help={
    "set": SET_HELP, "output": "the bundle to write (default: ./u7s-bundle.tar)",
    "image": "one more image the cluster's pods need (repeatable; pulled when the engine lacks it)",
    "node-image": "the node image to carry (default: NODE_IMAGE)"})
@clean_errors
def bundle(c, set_=None, output="u7s-bundle.tar", image=None, node_image=None):
    """Write one file with the node image and the pod images (Flannel, Calico's with CNI=calico, smoke test)."""
    from u7s.render import bundle as _bundle
    from u7s.errors import SettingsError
    from u7s.node import metricsserver
    from u7s.steps import airgap

    host, s, report = local(c, set_)
    ref = node_image or s.node_image
    if not ref:
        raise SettingsError("bundle: NODE_IMAGE is empty (the node is built by compose): build it where a registry "
                            "is in reach, tag it, and give it: `u7s bundle --node-image NAME` or --set NODE_IMAGE=NAME")
    extra = metricsserver.IMAGES if s.metrics_server else ()  # what the settings switch on
    pods = list(dict.fromkeys([*_bundle.pod_images(s.cni), *extra, *(image or [])]))
    manifest = airgap.build(host, s, ref, pods, output, report)
    report.done(f"bundle written: {output} (node image {ref}, {len(manifest.images)} pod image(s)); "
                f"on the air-gapped side: `u7s load-bundle --input FILE` or `u7s cluster.load-bundle --input FILE`")
    out(output)
    return output


def _verified(path):
    from u7s.render import bundle as _bundle
    from u7s.errors import U7sError

    if not path:
        raise U7sError("load-bundle: give --input FILE (a bundle from `u7s bundle --output FILE`)")
    return _bundle.verify(path)


def _node_image_advice(s, manifest) -> str:
    if s.node_image == manifest.node_image:
        return ""
    return f"; set NODE_IMAGE={manifest.node_image} (inventory settings or --set) so that create uses it"


@task(iterable=["set_"], help={"set": SET_HELP, "input": "the bundle (from `u7s bundle --output FILE`)"})
@clean_errors
def load_bundle(c, set_=None, input=None):
    """Load a bundle on this host: the node image into the engine, the pod images kept for the node."""
    from u7s.steps import airgap

    manifest = _verified(input)  # the whole file is checked before the host is touched
    node = this_host(c, set_, lock=True).node
    message = airgap.load_on(node, input, manifest)
    node.report.done(message + _node_image_advice(node.s, manifest))
    return message


CLUSTER_HELP = {
    "inventory": "the inventory file (default: u7s.inventory in the config, else hosts.yaml)",
    "set": SET_HELP + " (on every host)",
    "accept-unknown-host-keys": "accept SSH host keys not in known_hosts (default: u7s.accept_unknown_host_keys, "
                                "else refuse)",
    "input": "the bundle (from `u7s bundle --output FILE`)",
}


@task(name="load-bundle", iterable=["set_"], help=CLUSTER_HELP)
@clean_errors
def cluster_load_bundle(c, inventory=None, set_=None, accept_unknown_host_keys=False, input=None):
    """Load a bundle on every host in parallel: the node image into each engine, the pod images kept."""
    import contextlib

    from u7s.steps import airgap
    from u7s.steps.step import Step, execute
    from u7s.tasks.cluster import _open

    manifest = _verified(input)  # the whole file is checked before any host is touched
    run = _open(c, inventory, set_, accept_unknown_host_keys, lock=True)

    def action(_run, m) -> str:
        return airgap.load_on(m.node, input, manifest) + _node_image_advice(m.settings, manifest)

    step = Step("load-bundle", action, lambda m: [f"load {input} on {m.host.name}"])
    with run.board or contextlib.nullcontext():
        execute(run, [step])
    return manifest

