-- Several nodes (haven_core::cluster::NodeRecord): where each node answers the other nodes, so
-- that a request for a session reaches the node that runs it, and the SHA-256 of the TLS
-- certificate it serves, which the others pin (no CA to share between nodes).
CREATE TABLE cluster_nodes (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    sessions_url TEXT NOT NULL,
    cert_sha256 TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);
