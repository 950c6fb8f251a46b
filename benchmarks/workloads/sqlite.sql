-- The sqlite3 workload: @ROWS@ is replaced by the row count.
-- An in-memory database: the page cache, the B-trees and the sorter all
-- live in malloc'ed memory.
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < @ROWS@)
INSERT INTO item
SELECT x, (x * 7919) % 1000, printf('name-%08d-%s', (x * 31) % @ROWS@, hex(x * 2654435761)),
       (x % 977) * 1.5
FROM n;
CREATE INDEX item_grp_name ON item(grp, name);
SELECT grp, count(*), sum(val), min(name), max(name)
FROM item GROUP BY grp ORDER BY sum(val) DESC, grp LIMIT 5;
UPDATE item SET name = name || '-' || grp WHERE id % 3 = 0;
SELECT count(DISTINCT name), total(length(name)) FROM item;
SELECT grp, count(*), sum(rn) FROM
  (SELECT grp, row_number() OVER (PARTITION BY grp ORDER BY name) AS rn FROM item)
WHERE rn % 100 = 0 GROUP BY grp ORDER BY 2 DESC, 1 LIMIT 3;
SELECT group_concat(name, ';') IS NOT NULL, length(group_concat(name, ';'))
FROM (SELECT name FROM item ORDER BY name DESC LIMIT 20000);
