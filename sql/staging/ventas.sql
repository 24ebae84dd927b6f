-- staging.ventas: the current version of every ticket header (rule 3.1),
-- normalised, with its business date (rule 3.2) and the first rule it fails
-- (rule 3.4, NULL when it passes). trusted.ventas and rejected.ventas split it.
WITH latest AS (
    SELECT
        id_venta,
        id_tienda,
        id_cliente,
        fecha_venta,
        UPPER(TRIM(canal))      AS canal,
        UPPER(TRIM(medio_pago)) AS medio_pago,
        UPPER(TRIM(estado))     AS estado,
        actualizado_en,
        extraido
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (PARTITION BY id_venta ORDER BY actualizado_en DESC, extraido DESC) AS version
        FROM raw.ventas
    ) AS versions
    WHERE version = 1
),
dated AS (
    SELECT
        *,
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
FROM dated AS v
LEFT JOIN trusted.tiendas AS t ON t.id_tienda = v.id_tienda
