-- What else every engine must agree on besides the report: rows per trusted
-- table, rejected rows per table and rule (spec 3.4), and the personal-data
-- hashes (spec 3.5: the greatest hash of each column, so that a wrong HMAC
-- shows). Plain SQL that DataFusion, DuckDB and Spark SQL all run.
SELECT 'trusted' AS capa, 'tiendas' AS tabla, 'filas' AS medida, COUNT(*) AS valor FROM trusted.tiendas
UNION ALL
SELECT 'trusted', 'productos', 'filas', COUNT(*) FROM trusted.productos
UNION ALL
SELECT 'trusted', 'clientes', 'filas', COUNT(*) FROM trusted.clientes
UNION ALL
SELECT 'trusted', 'ventas', 'filas', COUNT(*) FROM trusted.ventas
UNION ALL
SELECT 'trusted', 'detalle_ventas', 'filas', COUNT(*) FROM trusted.detalle_ventas
UNION ALL
SELECT 'rejected', 'ventas', regla, COUNT(*) FROM rejected.ventas GROUP BY regla
UNION ALL
SELECT 'rejected', 'detalle_ventas', regla, COUNT(*) FROM rejected.detalle_ventas GROUP BY regla
UNION ALL
SELECT 'trusted', 'clientes', 'max(documento) ' || MAX(documento), COUNT(*) FROM trusted.clientes
UNION ALL
SELECT 'trusted', 'clientes', 'max(nombre) ' || MAX(nombre), COUNT(*) FROM trusted.clientes
UNION ALL
SELECT 'trusted', 'clientes', 'max(email) ' || MAX(email), COUNT(*) FROM trusted.clientes
