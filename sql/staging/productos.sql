-- staging.productos: the current version of every product (rule 3.1), text
-- normalised; costo_unitario stays numeric(12,4).
-- Rule 3.1 as in staging.ventas: only the keys present in a later extraction
-- are resolved; the rest pass straight through.
WITH repeated AS (
    SELECT DISTINCT id_producto
    FROM raw.productos
    WHERE extraido > (SELECT MIN(extraido) FROM raw.productos)
),
latest AS (
    SELECT id_producto, sku, nombre, categoria, subcategoria, marca, precio_lista, costo_unitario, activo, actualizado_en, extraido
    FROM repeated AS k
    RIGHT ANTI JOIN raw.productos AS r ON k.id_producto = r.id_producto
    UNION ALL
    -- the newest version of each key that may repeat: no sort needed
    SELECT
        r.id_producto,
        FIRST_VALUE(r.sku            ORDER BY r.actualizado_en DESC, r.extraido DESC) AS sku,
        FIRST_VALUE(r.nombre         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS nombre,
        FIRST_VALUE(r.categoria      ORDER BY r.actualizado_en DESC, r.extraido DESC) AS categoria,
        FIRST_VALUE(r.subcategoria   ORDER BY r.actualizado_en DESC, r.extraido DESC) AS subcategoria,
        FIRST_VALUE(r.marca          ORDER BY r.actualizado_en DESC, r.extraido DESC) AS marca,
        FIRST_VALUE(r.precio_lista   ORDER BY r.actualizado_en DESC, r.extraido DESC) AS precio_lista,
        FIRST_VALUE(r.costo_unitario ORDER BY r.actualizado_en DESC, r.extraido DESC) AS costo_unitario,
        FIRST_VALUE(r.activo         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS activo,
        FIRST_VALUE(r.actualizado_en ORDER BY r.actualizado_en DESC, r.extraido DESC) AS actualizado_en,
        FIRST_VALUE(r.extraido       ORDER BY r.actualizado_en DESC, r.extraido DESC) AS extraido
    FROM repeated AS k
    RIGHT SEMI JOIN raw.productos AS r ON k.id_producto = r.id_producto
    GROUP BY r.id_producto
)
SELECT
    id_producto,
    UPPER(TRIM(sku))   AS sku,
    TRIM(nombre)       AS nombre,
    TRIM(categoria)    AS categoria,
    TRIM(subcategoria) AS subcategoria,
    TRIM(marca)        AS marca,
    precio_lista,
    costo_unitario,
    activo,
    actualizado_en,
    extraido
FROM latest
