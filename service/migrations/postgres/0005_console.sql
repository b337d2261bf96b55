-- The console shows each profile's last test outcome, and when an EC2 nonce was last used.
ALTER TABLE profiles ADD COLUMN last_test_ok BIGINT;
ALTER TABLE profiles ADD COLUMN last_test_at TEXT;
ALTER TABLE ec2_nonces ADD COLUMN last_used_at TEXT;
