/* dfstore
materialized = "table"
description = "Products, current version, normalised, with the first rule each fails."
source = "productos"
*/
-- staging.productos: the current version of every product (rule 3.1), text
-- normalised; costo_unitario stays numeric(12,4).
-- Deduplicated with ROW_NUMBER, not with staging.ventas's anti-join: for a
-- dimension this small the sort costs nothing, and the anti-join's plan (14
-- stages) left a cluster run hanging when an executor died mid-job
-- (jobs/tests/cluster.rs, Ballista 55).
SELECT
    id_producto,
    UPPER(TRIM(sku))   AS sku,
    TRIM(nombre)       AS nombre,
    TRIM(categoria)    AS categoria,
    TRIM(subcategoria) AS subcategoria,
    TRIM(marca)        AS marca,
    precio_lista,
    costo_unitario,
    activo,
    actualizado_en,
    extraido
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY id_producto ORDER BY actualizado_en DESC, extraido DESC) AS version
    FROM raw.productos
) AS versions
WHERE version = 1
