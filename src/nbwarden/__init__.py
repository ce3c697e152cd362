"""nbwarden: open usage-policy enforcement for shared notebook compute.

The engine (``nbwarden.engine``) reads code and command lines and returns findings with
evidence; the policy (``nbwarden.policy``) turns findings into actions; the enforcement
points (Jupyter server, kernel, watcher, policy service) call both.
"""
__version__ = "0.1.0"
