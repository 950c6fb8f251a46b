"""sqlite3 under HMM: the same query results and the same database file."""
import subprocess

SQL = """
.headers on
.mode list
PRAGMA page_size = 4096;
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO item(grp, name, price, note)
SELECT i % 97, 'item-' || i, (i * 7919 % 10007) / 100.0, printf('%.*c', i % 200, 'z') FROM n;
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 96)
INSERT INTO grp SELECT i, 'group ' || i FROM n;

SELECT count(*), sum(price), min(name), max(name), avg(length(note)) FROM item;
SELECT grp, count(*), round(sum(price), 2), max(price) FROM item GROUP BY grp ORDER BY 3 DESC LIMIT 5;
CREATE INDEX item_price ON item(price);
CREATE INDEX item_grp_name ON item(grp, name);
SELECT name, price FROM item WHERE price BETWEEN 50 AND 50.2 ORDER BY price, name;
SELECT g.label, count(*) AS n, group_concat(i.id, ',') AS ids
  FROM item i JOIN grp g ON g.id = i.grp WHERE i.id % 1000 = 0 GROUP BY g.label ORDER BY g.label;
UPDATE item SET note = upper(note) || '!' WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), sum(length(note)) FROM item;
SELECT grp, name, price, rank() OVER (PARTITION BY grp ORDER BY price DESC) AS r
  FROM item WHERE grp < 3 ORDER BY grp, r, name LIMIT 12;
SELECT substr(group_concat(name, ''), 1, 60), length(group_concat(name, '')) FROM (SELECT name FROM item ORDER BY name);
VACUUM;
PRAGMA integrity_check;
.sha3sum
"""


def test_sqlite3_same_as_glibc(tmp_path, run_both, same, served, support):
    sqlite3 = support.require_program("sqlite3")
    work = tmp_path / "work"
    work.mkdir()
    env = support.base_env(LC_ALL="C")
    both = run_both([sqlite3, "-bail", "data.db"], workdir=work, input=SQL, text=True, env=env)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    assert both.hmm.stderr == "", both.hmm.stderr
    out = both.hmm.stdout
    assert "20000|" in out and "\nok\n" in out
    # The files themselves: dumped by a glibc sqlite3, they must be equal.
    dumps = [subprocess.run([sqlite3, str(run.cwd / "data.db"), ".dump"], capture_output=True,
                            text=True, timeout=support.TIMEOUT, env=env).stdout
             for run in both]
    assert dumps[0] == dumps[1] and dumps[0].count("INSERT INTO") == 16097
    stats = served(both.hmm, min_allocs=1000)
    assert stats["peak_bytes_in_use"] > 1_000_000, stats
