WITH ev AS MATERIALIZED (SELECT e.person AS u, e.time AS t, (e.event = 'App Open') AS s0, (e.event = 'View Item') AS s1, (e.event = 'Purchase') AS s2 FROM (SELECT * FROM (SELECT e.seq, e.event, coalesce(m.resolved_distinct_id, e.distinct_id) AS distinct_id, e.distinct_id AS stored_distinct_id, e.time, e.insert_id, e.properties, e.received_at, coalesce(m.resolved_key, e.id_key) AS person FROM events e LEFT JOIN identity_mapping m ON m.project_id = e.project_id AND m.id_key = e.id_key WHERE e.project_id = $project) e WHERE e.event IN ('App Open', 'Purchase', 'View Item') AND e.time >= $lo AND e.time <= $hi) e),
entry AS (SELECT u, (t - (t % 86400000 + 86400000) % 86400000) AS b, NULL::VARCHAR AS g, min(t) AS t0 FROM ev WHERE s0 AND t >= $start AND t < $end GROUP BY u, b),
c1 AS (SELECT n.u, n.b, n.g, n.t0, min(e.t) AS t1 FROM entry n JOIN ev e ON e.u = n.u AND e.s1 AND e.t >= n.t0 - 2000 AND e.t <= n.t0 + $length GROUP BY ALL),
c2 AS (SELECT n.u, n.b, n.g, n.t0, n.t1, min(e.t) AS t2 FROM c1 n JOIN ev e ON e.u = n.u AND e.s2 AND e.t >= n.t1 - 2000 AND e.t <= n.t0 + $length GROUP BY ALL)
SELECT b, g, 0 AS step, count(*) AS n, NULL::DOUBLE AS from_prev_ms, NULL::DOUBLE AS from_start_ms FROM entry GROUP BY b, g
UNION ALL SELECT b, g, 1, count(*), avg(t1 - t0), avg(t1 - t0) FROM c1 GROUP BY b, g
UNION ALL SELECT b, g, 2, count(*), avg(t2 - t1), avg(t2 - t0) FROM c2 GROUP BY b, g
