-- retail.devoluciones: the lines customers returned, a table the retail
-- schema of `dfstore source init` lacks. It fills it from completed
-- tickets, so that this example has a source of its own to extract:
--   dfstore source init --pg "$PG"
--   psql "$PG" -f source/devoluciones.sql
CREATE TABLE retail.devoluciones (
    id_devolucion    bigint PRIMARY KEY,
    id_venta         bigint NOT NULL,
    linea            integer NOT NULL,
    cantidad         integer NOT NULL,
    monto            numeric(12,2) NOT NULL,
    motivo           text,
    fecha_devolucion timestamptz NOT NULL,
    actualizado_en   timestamptz NOT NULL
);

INSERT INTO retail.devoluciones
SELECT
    row_number() OVER (ORDER BY d.id_venta, d.linea),
    d.id_venta,
    d.linea,
    d.cantidad,
    d.cantidad * d.precio_unitario - d.descuento,
    (ARRAY['defectuoso', 'talla', 'arrepentimiento', NULL])[1 + (d.id_venta % 4)::int],
    v.fecha_venta + interval '3 days',
    v.fecha_venta + interval '3 days'
FROM retail.detalle_ventas AS d
JOIN retail.ventas AS v ON v.id_venta = d.id_venta
WHERE v.estado = 'COMPLETADA'
  AND d.id_venta % 23 = 0
  AND d.linea = 1
  AND d.cantidad > 0
  AND d.precio_unitario >= 0
  AND d.descuento BETWEEN 0 AND d.cantidad * d.precio_unitario;
