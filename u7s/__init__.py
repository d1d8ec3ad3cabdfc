"""u7s: rootless Kubernetes on many hosts, in the way of Usernetes Gen2."""

__version__ = "0.1.0"
