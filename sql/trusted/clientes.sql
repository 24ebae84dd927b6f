-- trusted.clientes: every current clientes row; dimensions have no rejection rule.
SELECT * FROM staging.clientes
