/* dfstore
# A run after the first rebuilds only the tickets that changed.
materialized = "incremental_by_key"
description = "Ticket headers, current version, with business date and the first rule each fails."
source = "ventas"
unique_key = ["id_venta"]
partition_by = "periodo"
# Matches raw rows on the key only: on a cluster, one task per key range.
cluster_key = "id_venta"
*/
-- staging.ventas: the current version of every ticket header (rule 3.1),
-- normalised, with its business date (rule 3.2) and the first rule it fails
-- (rule 3.4, NULL when it passes). trusted.ventas and rejected.ventas split it.
-- Rule 3.1 without sorting every row: later extractions carry only what
-- changed, so only the keys present in an extraction after the first can
-- have more than one version. Only the rows of those few keys are ranked
-- by (actualizado_en, extraido) descending, and the first kept (ranking
-- sorts 1 M rows at scale 100 in about a second; eight FIRST_VALUEs per key
-- took 5 s and spilled); every other row passes straight through. (A lake
-- holding two full extractions resolves every key, which is still
-- correct.) The repeated keys come first in each join: that side becomes
-- the hash table, and raw streams past it. The ranking partitions by the
-- key of `repeated`, not of raw, so that the planner sorts the joined rows:
-- by raw's key it would sort every raw row below the join, which only the
-- embedded engine's dynamic filters shrink (a cluster has none).
WITH repeated AS (
    SELECT DISTINCT id_venta
    FROM raw.ventas
    WHERE extraido > (SELECT MIN(extraido) FROM raw.ventas)
),
latest AS (
    SELECT id_venta, id_tienda, id_cliente, fecha_venta, canal, medio_pago, estado, actualizado_en, extraido
    FROM repeated AS k
    RIGHT ANTI JOIN raw.ventas AS r ON k.id_venta = r.id_venta
    UNION ALL
    -- the newest version of each key that may repeat: only the rows of
    -- those keys are ranked
    SELECT id_venta, id_tienda, id_cliente, fecha_venta, canal, medio_pago, estado, actualizado_en, extraido
    FROM (
        SELECT
            r.*,
            ROW_NUMBER() OVER (
                PARTITION BY k.id_venta
                ORDER BY r.actualizado_en DESC, r.extraido DESC
            ) AS version
        FROM repeated AS k
        JOIN raw.ventas AS r ON k.id_venta = r.id_venta
    ) AS ranked
    WHERE version = 1
),
normalised AS (
    SELECT
        id_venta,
        id_tienda,
        id_cliente,
        fecha_venta,
        UPPER(TRIM(canal))      AS canal,
        UPPER(TRIM(medio_pago)) AS medio_pago,
        UPPER(TRIM(estado))     AS estado,
        actualizado_en,
        extraido,
        -- Peru is UTC-05:00 all year: 2025-03-01T03:30Z is 2025-02-28 in Lima.
        CAST(fecha_venta AT TIME ZONE 'America/Lima' AS DATE) AS fecha
    FROM latest
)
SELECT
    v.id_venta,
    v.id_tienda,
    v.id_cliente,
    v.fecha_venta,
    v.canal,
    v.medio_pago,
    v.estado,
    v.actualizado_en,
    v.extraido,
    v.fecha,
    to_char(v.fecha, '%Y-%m') AS periodo,
    CASE
        WHEN t.id_tienda IS NULL THEN 'tienda_desconocida'
        WHEN v.fecha_venta > v.extraido THEN 'fecha_futura'
        WHEN v.estado NOT IN ('COMPLETADA', 'ANULADA') THEN 'estado_invalido'
    END AS regla
-- The stores first: that side is the hash table, the headers stream past it
-- (on a cluster each key range runs with its joins as written).
FROM trusted.tiendas AS t
RIGHT JOIN normalised AS v ON t.id_tienda = v.id_tienda
