-- ventas (ticket headers), plain DuckDB: the current version of every ticket
-- (rule 3.1), normalised, with its business date in Lima (rule 3.2) and the
-- first rule it fails (rule 3.4, NULL when it passes). Voided tickets stay in
-- trusted (rule 3.6).
CREATE TABLE staging.ventas AS
WITH latest AS (
    SELECT
        id_venta,
        id_tienda,
        id_cliente,
        fecha_venta,
        upper(trim(canal))      AS canal,
        upper(trim(medio_pago)) AS medio_pago,
        upper(trim(estado))     AS estado,
        actualizado_en,
        -- rule fecha_futura compares with the extraction that brought this version
        extraido,
        -- Peru is UTC-05:00 all year: 2025-03-01T03:30Z is 2025-02-28 in Lima.
        CAST(fecha_venta AT TIME ZONE 'America/Lima' AS DATE) AS fecha
    FROM raw.ventas
    QUALIFY row_number() OVER (PARTITION BY id_venta ORDER BY actualizado_en DESC, extraido DESC) = 1
)
SELECT
    v.*,
    strftime(v.fecha, '%Y-%m') AS periodo,
    CASE
        WHEN t.id_tienda IS NULL THEN 'tienda_desconocida'
        WHEN v.fecha_venta > v.extraido THEN 'fecha_futura'
        WHEN v.estado NOT IN ('COMPLETADA', 'ANULADA') THEN 'estado_invalido'
    END AS regla
FROM latest AS v
LEFT JOIN trusted.tiendas AS t ON t.id_tienda = v.id_tienda;

CREATE VIEW trusted.ventas AS SELECT * EXCLUDE (regla) FROM staging.ventas WHERE regla IS NULL;
CREATE VIEW rejected.ventas AS SELECT * FROM staging.ventas WHERE regla IS NOT NULL;
