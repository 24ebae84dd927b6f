/* dfstore
# Rebuilt for the customers that changed, merged by key.
materialized = "incremental_by_key"
description = "Customers that pass every rule, personal data hashed."
source = "clientes"
unique_key = ["id_cliente"]
*/
-- trusted.clientes: every current clientes row; dimensions have no rejection rule.
SELECT * FROM staging.clientes
