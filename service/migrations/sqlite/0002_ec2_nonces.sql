-- One EC2 client nonce per (Vault address, namespace, mount path, instance id),
-- shared by every profile and tenant that logs in there from that instance.
CREATE TABLE ec2_nonces (
    vault_address TEXT NOT NULL,
    namespace TEXT NOT NULL,
    mount_path TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reset_count BIGINT NOT NULL,
    PRIMARY KEY (vault_address, namespace, mount_path, instance_id)
);
