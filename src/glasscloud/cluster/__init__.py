"""Cluster mode (`glasscloud serve --redis URL`): several nodes share one database and use
Redis to agree on who owns each user's session (docs/cluster.md).

- `leases`: one owner per user, a lease the owner renews and a fencing epoch;
- `directory`: which nodes are alive, their URLs, users and sessions (for the admin view);
- `bus`: control messages between nodes (pub/sub): "let this user go", "ask this App
  again", App record changes, key rotations, App server restarts;
- `node`: the node's side of it all, wired into the server (`ClusterNode`);
- `forwarding`: a REST call for a user owned by another node is answered by that node.

Nothing here is on the per-frame path, and nothing here is imported without `--redis`.
"""
