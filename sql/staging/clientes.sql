/* dfstore
# A run after the first rebuilds only the customers that changed.
materialized = "incremental_by_key"
description = "Customers, current version, personal data hashed, with the first rule each fails."
source = "clientes"
unique_key = ["id_cliente"]
# Matches raw rows on the key only: on a cluster, one task per key range.
cluster_key = "id_cliente"
*/
-- staging.clientes: the current version of every customer (rule 3.1).
-- Rule 3.5: documento, nombre and email leave this step only as a keyed
-- HMAC-SHA-256 (hex) of their trimmed value; pii_hash reads its key from a
-- secret, never from this file. NULL stays NULL.
-- Rule 3.1 as in staging.ventas: only customers present in a later
-- extraction are resolved; the rest pass straight through.
WITH repeated AS (
    SELECT DISTINCT id_cliente
    FROM raw.clientes
    WHERE extraido > (SELECT MIN(extraido) FROM raw.clientes)
),
latest AS (
    SELECT id_cliente, documento, nombre, email, segmento, ciudad, fecha_registro, actualizado_en, extraido
    FROM repeated AS k
    RIGHT ANTI JOIN raw.clientes AS r ON k.id_cliente = r.id_cliente
    UNION ALL
    -- the newest version of each key that may repeat: only those keys' rows
    -- are ranked
    SELECT id_cliente, documento, nombre, email, segmento, ciudad, fecha_registro, actualizado_en, extraido
    FROM (
        SELECT
            r.*,
            ROW_NUMBER() OVER (
                PARTITION BY k.id_cliente
                ORDER BY r.actualizado_en DESC, r.extraido DESC
            ) AS version
        FROM repeated AS k
        JOIN raw.clientes AS r ON k.id_cliente = r.id_cliente
    ) AS ranked
    WHERE version = 1
)
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
FROM latest
