-- staging.clientes: the current version of every customer (rule 3.1).
-- Rule 3.5: documento, nombre and email leave this step only as a keyed
-- HMAC-SHA-256 (hex) of their trimmed value; pii_hash reads its key from a
-- secret, never from this file. NULL stays NULL.
SELECT
    id_cliente,
    pii_hash(TRIM(documento)) AS documento,
    pii_hash(TRIM(nombre))    AS nombre,
    pii_hash(TRIM(email))     AS email,
    UPPER(TRIM(segmento))     AS segmento,
    TRIM(ciudad)              AS ciudad,
    fecha_registro,
    actualizado_en,
    extraido
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY id_cliente ORDER BY actualizado_en DESC, extraido DESC) AS version
    FROM raw.clientes
) AS versions
WHERE version = 1
