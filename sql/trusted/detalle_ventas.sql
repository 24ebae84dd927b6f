/* dfstore
# Rebuilt for the tickets that changed, merged by key.
materialized = "incremental_by_key"
description = "Sales lines that pass every rule."
source = "detalle_ventas"
partition_by = "periodo"
unique_key = ["id_venta", "linea"]
*/
-- trusted.detalle_ventas: sales lines that pass every rule.
SELECT
    id_venta, linea, id_producto, cantidad, precio_unitario, descuento,
    actualizado_en, extraido, fecha, periodo
FROM staging.detalle_ventas
WHERE regla IS NULL
