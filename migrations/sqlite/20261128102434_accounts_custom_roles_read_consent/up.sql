-- Reading consents now takes `consent:read` (before, any role read its own consent history
-- without it). Custom roles that give consent keep reading their own: they gain the permission.
UPDATE roles
   SET permissions = json_insert(permissions, '$[#]', 'consent:read')
 WHERE built_in = 0
   AND EXISTS (SELECT 1 FROM json_each(roles.permissions) WHERE value = 'consent:write')
   AND NOT EXISTS (SELECT 1 FROM json_each(roles.permissions) WHERE value = 'consent:read');
