"""Everything Ray: device nodes, measurement actors, the distributed builder and runner. Knows nothing of projects or users."""
