-- trusted.productos: every current productos row; dimensions have no rejection rule.
SELECT * FROM staging.productos
