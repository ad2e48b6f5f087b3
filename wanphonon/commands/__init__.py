"""Commands beside ``run``: ``check`` (pre-flight), ``plot`` (figures) and k-path evaluation."""
