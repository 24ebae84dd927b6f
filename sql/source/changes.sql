-- One business day of changes in the demo source database, as the stores'
-- systems would make them: new tickets with their lines, voided tickets,
-- payment corrections, corrected lines, new and re-segmented customers.
-- Every changed row gets an `actualizado_en` during the day of changes, as
-- the OLTP system stamps them, so an incremental extraction finds it.
--
-- `dfstore source apply-changes --seed N` runs this file in one transaction
-- after setting its two parameters; by hand:
--   SET dfstore.semilla = '7';
--   SET dfstore.dia = '2026-01-04';   -- the day of the changes (UTC)
--   SET dfstore.recientes = '7';       -- optional: void and correct only tickets
--                                      -- sold in the 7 days before (default: any)
--   \i sql/source/changes.sql
-- Rows are picked by arithmetic on their keys and the seed, so the same
-- database and seed always give the same changes.

CREATE TEMP TABLE cambio ON COMMIT DROP AS
SELECT semilla, dia, recientes,
       -- With recientes > 0, only tickets sold from this instant until the
       -- day of changes may be voided or corrected (not those the source
       -- holds with a later, future date).
       dia - make_interval(days => recientes) AS desde
FROM (SELECT current_setting('dfstore.semilla')::bigint AS semilla,
             current_setting('dfstore.dia')::date::timestamptz AS dia,
             coalesce(nullif(current_setting('dfstore.recientes', true), '')::int, 0) AS recientes) p;

-- Voided tickets: about 0.2% of the completed ones.
UPDATE retail.ventas v
SET estado = 'ANULADA',
    actualizado_en = c.dia + make_interval(secs => (v.id_venta * 37 + c.semilla) % 86400)
FROM cambio c
WHERE v.estado = 'COMPLETADA'
  AND (v.id_venta * 7919 + c.semilla * 104729) % 500 = 0
  AND (c.recientes = 0 OR (v.fecha_venta >= c.desde AND v.fecha_venta < c.dia));

-- Payment corrections: about 0.1% of the tickets.
UPDATE retail.ventas v
SET medio_pago = CASE WHEN v.medio_pago = 'TARJETA' THEN 'BILLETERA' ELSE 'TARJETA' END,
    actualizado_en = c.dia + make_interval(secs => (v.id_venta * 41 + c.semilla) % 86400)
FROM cambio c
WHERE (v.id_venta * 7919 + c.semilla * 104729) % 1000 = 1
  AND (c.recientes = 0 OR (v.fecha_venta >= c.desde AND v.fecha_venta < c.dia));

-- Corrected lines: one more unit on about 0.1% of the valid lines.
UPDATE retail.detalle_ventas d
SET cantidad = d.cantidad + 1,
    actualizado_en = c.dia + make_interval(secs => (d.id_venta * 43 + d.linea + c.semilla) % 86400)
FROM cambio c
WHERE d.cantidad > 0
  AND (d.id_venta * 7919 + d.linea * 31 + c.semilla * 104729) % 1000 = 2
  AND (c.recientes = 0
       OR EXISTS (SELECT 1 FROM retail.ventas v
                  WHERE v.id_venta = d.id_venta AND v.fecha_venta >= c.desde AND v.fecha_venta < c.dia));

-- Re-segmented customers: about 0.5%.
UPDATE retail.clientes k
SET segmento = CASE WHEN k.segmento = 'VIP' THEN 'FRECUENTE' ELSE 'VIP' END,
    actualizado_en = c.dia + make_interval(secs => (k.id_cliente * 47 + c.semilla) % 86400)
FROM cambio c
WHERE (k.id_cliente * 7919 + c.semilla * 104729) % 200 = 3;

-- New customers: 0.1% more, at least one.
INSERT INTO retail.clientes
SELECT m.maximo + n, 'DOC' || (m.maximo + n), 'Cliente ' || (m.maximo + n),
       'cliente' || (m.maximo + n) || '@correo.pe', 'REGULAR', 'Lima',
       c.dia::date, c.dia + make_interval(secs => (n * 53 + c.semilla) % 86400)
FROM cambio c,
     (SELECT max(id_cliente) AS maximo, count(*) AS total FROM retail.clientes) m,
     generate_series(1, greatest(1, m.total / 1000)) n;

-- New tickets: as many as 0.1% of the tickets sold in the year before the
-- day of changes, at least ten (so a longer history does not make a busier
-- day), sold during the day of changes (Lima time is UTC-05:00) in existing
-- stores, to existing or new customers or anonymously, with one to three
-- lines at list price.
CREATE TEMP TABLE nuevas ON COMMIT DROP AS
SELECT m.maximo + n AS id_venta,
       n,
       c.dia + make_interval(secs => 36000 + (n * 59 + c.semilla) % 43200) AS instante
FROM cambio c,
     -- above every ticket id, also those of lines whose header never arrived
     LATERAL (SELECT greatest((SELECT max(id_venta) FROM retail.ventas),
                              (SELECT max(id_venta) FROM retail.detalle_ventas)) AS maximo,
                     (SELECT count(*) FROM retail.ventas v
                      WHERE v.fecha_venta >= c.dia - interval '365 days'
                        AND v.fecha_venta < c.dia) AS total) m,
     generate_series(1, greatest(10, m.total / 1000)) n;

INSERT INTO retail.ventas
SELECT x.id_venta,
       (SELECT id_tienda FROM retail.tiendas ORDER BY id_tienda
        OFFSET (x.n * 61 + c.semilla) % (SELECT count(*) FROM retail.tiendas) LIMIT 1),
       CASE WHEN x.n % 5 = 0 THEN NULL
            ELSE 1 + (x.n * 7919 + c.semilla) % (SELECT max(id_cliente) FROM retail.clientes) END,
       x.instante,
       (ARRAY['TIENDA', 'TIENDA', 'TIENDA', 'WEB', 'APP'])[1 + (x.n + c.semilla) % 5],
       (ARRAY['EFECTIVO', 'TARJETA', 'BILLETERA'])[1 + (x.n * 3 + c.semilla) % 3],
       'COMPLETADA',
       x.instante
FROM nuevas x, cambio c;

INSERT INTO retail.detalle_ventas
SELECT x.id_venta, l, p.id_producto, 1 + (x.n + l) % 4, p.precio_lista, 0, x.instante
FROM nuevas x
CROSS JOIN cambio c
CROSS JOIN LATERAL generate_series(1, 1 + (x.n + c.semilla) % 3) l
JOIN retail.productos p
  ON p.id_producto = 1 + (x.n * 97 + l * 13 + c.semilla) % (SELECT max(id_producto) FROM retail.productos);
