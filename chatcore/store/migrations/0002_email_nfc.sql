-- 0002: e-mails in Unicode NFC.
--
-- The store now stores and looks up e-mails lowercased (as before) and in
-- NFC (store.NormEmail), so "josé@x" typed with a precomposed é and with
-- e + U+0301 are one account. This brings older rows to that form, so they
-- still sign in. When two older rows normalize to the same address (the
-- look-alike pair this fixes), the oldest one that is not already in NFC is
-- converted only if no row holds the NFC form yet; the others are left as
-- they are, cannot sign in any more (a login looks up the NFC form), and are
-- found for the operator by
--   SELECT id, name, email FROM users WHERE email IS NOT NFC NORMALIZED;
-- normalize() needs a UTF8 database; in any other encoding nothing is done.
DO $$
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        UPDATE users u SET email = normalize(u.email, NFC)
        FROM (
            SELECT DISTINCT ON (normalize(email, NFC)) id
            FROM users
            WHERE email IS NOT NFC NORMALIZED
            ORDER BY normalize(email, NFC), id
        ) first
        WHERE u.id = first.id
          AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = normalize(u.email, NFC));
    END IF;
END
$$;
