-- clientes (customers): the current version of every customer (rule 3.1).
-- Rule 3.5: documento, nombre and email leave this step only as HMAC-SHA-256
-- (hex) of their trimmed value; the runner defines pii_hash from the key file.
-- Rule 3.1 without ranking every row, as in dfstore's sql/staging/: a later
-- extraction carries only what changed, so only its keys can have more than
-- one version; the rest of the first extraction passes straight through.
CREATE TABLE staging.clientes AS
WITH repeated AS (
    SELECT DISTINCT id_cliente FROM raw.clientes WHERE extraido > getvariable('first_extraction')
),
latest AS (
    SELECT r.* FROM raw.clientes AS r ANTI JOIN repeated AS k USING (id_cliente)
    UNION ALL
    SELECT r.* FROM raw.clientes AS r SEMI JOIN repeated AS k USING (id_cliente)
    QUALIFY row_number() OVER (PARTITION BY id_cliente ORDER BY actualizado_en DESC, extraido DESC) = 1
)
SELECT
    id_cliente,
    pii_hash(trim(documento)) AS documento,
    pii_hash(trim(nombre))    AS nombre,
    pii_hash(trim(email))     AS email,
    upper(trim(segmento))     AS segmento,
    trim(ciudad)              AS ciudad,
    fecha_registro,
    actualizado_en,
    extraido
FROM latest;

CREATE VIEW trusted.clientes AS SELECT * FROM staging.clientes;
