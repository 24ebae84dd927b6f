-- staging.ventas: the current version of every ticket header (rule 3.1),
-- normalised, with its business date (rule 3.2) and the first rule it fails
-- (rule 3.4, NULL when it passes). trusted.ventas and rejected.ventas split it.
-- Rule 3.1 without sorting every row: later extractions carry only what
-- changed, so only the keys present in an extraction after the first can
-- have more than one version. Those few keys are resolved with FIRST_VALUE
-- by (actualizado_en, extraido) descending; every other row passes straight
-- through. (A lake holding two full extractions resolves every key, which is
-- still correct.) The repeated keys come first in each join: that side
-- becomes the hash table, and raw streams past it.
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
    -- the newest version of each key that may repeat: no sort needed
    SELECT
        r.id_venta,
        FIRST_VALUE(r.id_tienda      ORDER BY r.actualizado_en DESC, r.extraido DESC) AS id_tienda,
        FIRST_VALUE(r.id_cliente     ORDER BY r.actualizado_en DESC, r.extraido DESC) AS id_cliente,
        FIRST_VALUE(r.fecha_venta    ORDER BY r.actualizado_en DESC, r.extraido DESC) AS fecha_venta,
        FIRST_VALUE(r.canal          ORDER BY r.actualizado_en DESC, r.extraido DESC) AS canal,
        FIRST_VALUE(r.medio_pago     ORDER BY r.actualizado_en DESC, r.extraido DESC) AS medio_pago,
        FIRST_VALUE(r.estado         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS estado,
        FIRST_VALUE(r.actualizado_en ORDER BY r.actualizado_en DESC, r.extraido DESC) AS actualizado_en,
        FIRST_VALUE(r.extraido       ORDER BY r.actualizado_en DESC, r.extraido DESC) AS extraido
    FROM repeated AS k
    RIGHT SEMI JOIN raw.ventas AS r ON k.id_venta = r.id_venta
    GROUP BY r.id_venta
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
FROM normalised AS v
LEFT JOIN trusted.tiendas AS t ON t.id_tienda = v.id_tienda
