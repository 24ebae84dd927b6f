-- staging.tiendas: the current version of every store.
-- Rule 3.1 as in staging.ventas: one row per id_tienda, the greatest
-- actualizado_en winning and, on a tie, the latest extraction; only the keys
-- present in a later extraction are resolved, the rest pass straight
-- through. Codes and enumerations are trimmed and upper-cased, other text
-- trimmed (spec section 1).
WITH repeated AS (
    SELECT DISTINCT id_tienda
    FROM raw.tiendas
    WHERE extraido > (SELECT MIN(extraido) FROM raw.tiendas)
),
latest AS (
    SELECT id_tienda, codigo, nombre, ciudad, region, formato, fecha_apertura, activa, actualizado_en, extraido
    FROM repeated AS k
    RIGHT ANTI JOIN raw.tiendas AS r ON k.id_tienda = r.id_tienda
    UNION ALL
    -- the newest version of each key that may repeat: no sort needed
    SELECT
        r.id_tienda,
        FIRST_VALUE(r.codigo         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS codigo,
        FIRST_VALUE(r.nombre         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS nombre,
        FIRST_VALUE(r.ciudad         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS ciudad,
        FIRST_VALUE(r.region         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS region,
        FIRST_VALUE(r.formato        ORDER BY r.actualizado_en DESC, r.extraido DESC) AS formato,
        FIRST_VALUE(r.fecha_apertura ORDER BY r.actualizado_en DESC, r.extraido DESC) AS fecha_apertura,
        FIRST_VALUE(r.activa         ORDER BY r.actualizado_en DESC, r.extraido DESC) AS activa,
        FIRST_VALUE(r.actualizado_en ORDER BY r.actualizado_en DESC, r.extraido DESC) AS actualizado_en,
        FIRST_VALUE(r.extraido       ORDER BY r.actualizado_en DESC, r.extraido DESC) AS extraido
    FROM repeated AS k
    RIGHT SEMI JOIN raw.tiendas AS r ON k.id_tienda = r.id_tienda
    GROUP BY r.id_tienda
)
SELECT
    id_tienda,
    UPPER(TRIM(codigo))  AS codigo,
    TRIM(nombre)         AS nombre,
    TRIM(ciudad)         AS ciudad,
    UPPER(TRIM(region))  AS region,
    UPPER(TRIM(formato)) AS formato,
    fecha_apertura,
    activa,
    actualizado_en,
    extraido
FROM latest
