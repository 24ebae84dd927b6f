/* dfstore
materialized = "table"
description = "Stores that pass every rule."
source = "tiendas"
unique_key = ["id_tienda"]
*/
-- trusted.tiendas: every current tiendas row; dimensions have no rejection rule.
SELECT * FROM staging.tiendas
