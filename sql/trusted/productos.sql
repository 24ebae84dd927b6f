/* dfstore
materialized = "table"
description = "Products that pass every rule."
source = "productos"
unique_key = ["id_producto"]
*/
-- trusted.productos: every current productos row; dimensions have no rejection rule.
SELECT * FROM staging.productos
