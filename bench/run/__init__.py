"""A run folder on disk: the record store and its schema, the manifest, the lock, shards merged."""
