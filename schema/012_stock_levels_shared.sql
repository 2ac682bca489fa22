-- stock_levels gains shares_product_stock, so that tools can sum it. A variation without a
-- SKU of its own has no stock of its own: it sells from its product's stock, which Ecwid
-- (and so the mirror) shows on every such variation of the product. Three of them on a
-- product with 5 in stock show 5, 5 and 5: 5 units, not 15. shares_product_stock is 1 on
-- those rows and 0 on every other, and quantity stays what can be sold of the row's SKU.
-- The query that counts each unit once is in schema/README.md, "Stock of products with
-- variations".
DROP VIEW stock_levels;

CREATE VIEW stock_levels AS
    SELECT p.sku         AS sku,
           p.id          AS product_id,
           NULL          AS variation_id,
           p.name        AS name,
           p.quantity    AS quantity,
           p.unlimited   AS unlimited,
           p.in_stock    AS in_stock,
           0             AS shares_product_stock
      FROM products p
     WHERE NOT EXISTS (SELECT 1 FROM product_variations v WHERE v.product_id = p.id)
    UNION ALL
    SELECT v.sku,
           v.product_id,
           v.id,
           p.name,
           v.quantity,
           v.unlimited,
           CASE WHEN v.unlimited = 1 OR v.quantity > 0 THEN 1 ELSE 0 END,
           -- product_variations.sku holds the product's SKU when the variation has none;
           -- Ecwid's document says which it is.
           CASE WHEN trim(coalesce(json_extract(v.raw_json, '$.sku'), '')) = '' THEN 1 ELSE 0 END
      FROM product_variations v
      JOIN products p ON p.id = v.product_id;
