"""git plumbing: paths, revisions, pointer changes, remotes."""
