-- trusted.tiendas: every current tiendas row; dimensions have no rejection rule.
SELECT * FROM staging.tiendas
