/* dfstore
# Rebuilt for the tickets that changed, merged by key.
materialized = "incremental_by_key"
description = "Sales lines that fail a rule, with the rule (regla)."
source = "detalle_ventas"
partition_by = "periodo"
unique_key = ["id_venta", "linea"]
*/
-- rejected.detalle_ventas: sales lines that fail a rule, with the first rule failed.
SELECT
    id_venta, linea, id_producto, cantidad, precio_unitario, descuento,
    actualizado_en, extraido, fecha, periodo, regla
FROM staging.detalle_ventas
WHERE regla IS NOT NULL
