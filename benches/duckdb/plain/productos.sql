-- productos (products), plain DuckDB: the current version of every product
-- (rule 3.1), text normalised; costo_unitario stays DECIMAL(12,4). No
-- rejection rule.
CREATE TABLE trusted.productos AS
SELECT
    id_producto,
    upper(trim(sku))   AS sku,
    trim(nombre)       AS nombre,
    trim(categoria)    AS categoria,
    trim(subcategoria) AS subcategoria,
    trim(marca)        AS marca,
    precio_lista,
    costo_unitario,
    activo,
    actualizado_en,
    extraido
FROM raw.productos
QUALIFY row_number() OVER (PARTITION BY id_producto ORDER BY actualizado_en DESC, extraido DESC) = 1;
