-- The report as every engine exports it for the answer check: the columns of
-- spec section 4 in their order, one row per (fecha, id_tienda). Plain SQL
-- that DataFusion (dfstore sql), DuckDB and Spark SQL all run.
SELECT
    fecha, periodo, id_tienda, codigo_tienda, nombre_tienda, ciudad, region, formato,
    num_ventas, num_clientes, unidades, venta_bruta, descuento_total, venta_neta,
    costo_total, margen_bruto, ticket_promedio
FROM analytic.reporte_ventas_tienda
ORDER BY fecha, id_tienda
