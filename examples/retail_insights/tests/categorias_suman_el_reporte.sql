-- Every month's net sales by category add up to the store report's: the
-- two reports count the same lines. Returns the months where they differ.
WITH por_categoria AS (
    SELECT periodo, SUM(venta_neta) AS neta FROM analytic.ventas_categoria_mes GROUP BY periodo
),
por_tienda AS (
    SELECT periodo, SUM(venta_neta) AS neta FROM analytic.reporte_ventas_tienda GROUP BY periodo
)
SELECT t.periodo, t.neta AS tiendas, c.neta AS categorias
FROM por_tienda AS t
FULL JOIN por_categoria AS c ON c.periodo = t.periodo
WHERE t.neta IS DISTINCT FROM c.neta
