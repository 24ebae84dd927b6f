/* dfstore
# Rebuilt for the tickets that changed, merged by key.
materialized = "incremental_by_key"
description = "Ticket headers that fail a rule, with the rule (regla)."
source = "ventas"
partition_by = "periodo"
unique_key = ["id_venta"]
*/
-- rejected.ventas: ticket headers that fail a rule, with the first rule failed.
SELECT
    id_venta, id_tienda, id_cliente, fecha_venta, canal, medio_pago, estado,
    actualizado_en, extraido, fecha, periodo, regla
FROM staging.ventas
WHERE regla IS NOT NULL
