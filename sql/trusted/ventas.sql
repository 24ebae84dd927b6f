/* dfstore
# Rebuilt for the tickets that changed, merged by key.
materialized = "incremental_by_key"
description = "Ticket headers that pass every rule."
source = "ventas"
partition_by = "periodo"
unique_key = ["id_venta"]
*/
-- trusted.ventas: ticket headers that pass every rule, voided ones included
-- (rule 3.6: ANULADA stays here and is left out only of the report).
SELECT
    id_venta, id_tienda, id_cliente, fecha_venta, canal, medio_pago, estado,
    actualizado_en, extraido, fecha, periodo
FROM staging.ventas
WHERE regla IS NULL
