/* dfstore
materialized = "table"
description = "Stores, current version, normalised, with the first rule each fails."
source = "tiendas"
*/
-- staging.tiendas: the current version of every store.
-- Rule 3.1: one row per id_tienda, the greatest actualizado_en winning and,
-- on a tie, the latest extraction. Codes and enumerations are trimmed and
-- upper-cased, other text trimmed (spec section 1).
-- Deduplicated with ROW_NUMBER, not with staging.ventas's anti-join: for a
-- dimension this small the sort costs nothing, and the anti-join's plan (14
-- stages) left a cluster run hanging when an executor died mid-job
-- (jobs/tests/cluster.rs, Ballista 55).
SELECT
    id_tienda,
    UPPER(TRIM(codigo))  AS codigo,
    TRIM(nombre)         AS nombre,
    TRIM(ciudad)         AS ciudad,
    UPPER(TRIM(region))  AS region,
    UPPER(TRIM(formato)) AS formato,
    fecha_apertura,
    activa,
    actualizado_en,
    extraido
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY id_tienda ORDER BY actualizado_en DESC, extraido DESC) AS version
    FROM raw.tiendas
) AS versions
WHERE version = 1
