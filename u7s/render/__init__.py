"""What u7s runs and writes, made but not used: argument lists (engine.py), rendered templates
(templates.py), the working directory's files (workdir.py), kubeconfigs, the bundle's format.

No command runs here: argument lists run through u7s/run, and u7s/node/staging.py writes the
working directory on a host. The only file access is reading u7s's own templates and, for a
bundle, the archive the user names."""
