-- Tenant trust boundary: each tenant's AWS external id (assigned by the
-- service), the operator's per-tenant narrowing of Vault origins and method
-- types (JSON arrays; NULL = the global settings), and a profile's AWS role.
ALTER TABLE tenants ADD COLUMN aws_external_id TEXT;
ALTER TABLE tenants ADD COLUMN vault_addresses TEXT;
ALTER TABLE tenants ADD COLUMN methods TEXT;
UPDATE tenants SET aws_external_id = replace(gen_random_uuid()::text, '-', '') WHERE aws_external_id IS NULL;
ALTER TABLE profiles ADD COLUMN aws_role_arn TEXT;
