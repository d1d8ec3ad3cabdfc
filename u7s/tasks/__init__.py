"""The u7s task collection. Import `ns` to reuse it in another invoke project:

    from invoke import Collection
    import u7s.tasks
    ns = Collection()
    ns.add_collection(Collection.from_module(u7s.tasks), name="u7s")
"""

from invoke import Collection

from u7s.tasks import cluster, single_host

ns = Collection.from_module(single_host)
ns.add_collection(Collection.from_module(cluster), name="cluster")
# Settings live under the `u7s` key; u7s merges its own defaults beneath
# whatever a config file or a parent collection puts there.
ns.configure({"u7s": {}})
