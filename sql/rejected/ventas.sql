/* dfstore
materialized = "table"
description = "Ticket headers that fail a rule, with the rule (regla)."
source = "ventas"
partition_by = "periodo"
*/
-- rejected.ventas: ticket headers that fail a rule, with the first rule failed.
SELECT
    id_venta, id_tienda, id_cliente, fecha_venta, canal, medio_pago, estado,
    actualizado_en, extraido, fecha, periodo, regla
FROM staging.ventas
WHERE regla IS NOT NULL
