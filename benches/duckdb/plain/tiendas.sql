-- tiendas (stores), written as a plain DuckDB user would: the current version
-- of every store (rule 3.1: the greatest actualizado_en wins, ties go to the
-- latest extraction), codes and enumerations trimmed and upper-cased, other
-- text trimmed. No rejection rule.
CREATE TABLE trusted.tiendas AS
SELECT
    id_tienda,
    upper(trim(codigo))  AS codigo,
    trim(nombre)         AS nombre,
    trim(ciudad)         AS ciudad,
    upper(trim(region))  AS region,
    upper(trim(formato)) AS formato,
    fecha_apertura,
    activa,
    actualizado_en,
    extraido
FROM raw.tiendas
QUALIFY row_number() OVER (PARTITION BY id_tienda ORDER BY actualizado_en DESC, extraido DESC) = 1;
