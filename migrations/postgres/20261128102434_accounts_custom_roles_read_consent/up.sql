-- Reading consents now takes `consent:read` (before, any role read its own consent history
-- without it). Custom roles that give consent keep reading their own: they gain the permission.
UPDATE roles
   SET permissions = (permissions::jsonb || '["consent:read"]'::jsonb)::text
 WHERE NOT built_in
   AND permissions::jsonb ? 'consent:write'
   AND NOT permissions::jsonb ? 'consent:read';
