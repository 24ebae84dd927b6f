/* dfstore
description = "Returned lines, the latest version of each, with the business month of the return."
source = "devoluciones"
unique_key = ["id_devolucion"]

[[tests]]
unique = ["id_devolucion"]

[[tests]]
relationships = { column = "id_venta", to = "trusted.ventas", field = "id_venta" }
severity = "warn"
*/
-- A return extracted again (a later version) replaces the earlier one, as
-- the retail tables' rule 3.1 does: the latest change, then the latest
-- extraction. Every extracted return lands here, so reconciliation holds
-- raw's distinct keys equal to this table's rows.
SELECT
    id_devolucion,
    id_venta,
    linea,
    cantidad,
    monto,
    motivo,
    fecha_devolucion,
    to_char(CAST(fecha_devolucion AT TIME ZONE 'America/Lima' AS DATE), '%Y-%m') AS periodo
FROM (
    SELECT
        r.*,
        ROW_NUMBER() OVER (
            PARTITION BY id_devolucion
            ORDER BY actualizado_en DESC, extraido DESC
        ) AS version
    FROM raw.devoluciones AS r
) AS versions
WHERE version = 1
