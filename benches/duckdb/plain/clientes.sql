-- clientes (customers), plain DuckDB: the current version of every customer
-- (rule 3.1), every raw row ranked. Rule 3.5: documento, nombre and email
-- leave this step only as HMAC-SHA-256 (hex) of their trimmed value; run.py
-- defines pii_hash from the key file.
CREATE TABLE trusted.clientes AS
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
FROM raw.clientes
QUALIFY row_number() OVER (PARTITION BY id_cliente ORDER BY actualizado_en DESC, extraido DESC) = 1;
