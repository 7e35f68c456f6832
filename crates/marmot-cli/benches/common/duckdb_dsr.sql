-- The cube bench's fair peer (issue #15): DuckDB computing the finished values of one
-- directly standardised rate, as Marmot's cube gives them for an indicator without
-- breakdowns: every area of five levels (LSOA, ward, neighbourhood, locality, place) and every
-- month, calendar quarter and April-March year with data. Numerators per ESP2013 band joined
-- to the LSOAs' mid-year population, weighted by the European Standard Population 2013,
-- Dobson et al. (1991) limits from Byar's approximation of the total count, at 95% and 99.8%;
-- nothing published below 10 events or where a band has no population (as
-- PHEindicatormethods::calculate_dsr and marmot_stats::dsr). The bench checks that every value
-- and limit agrees with Marmot's cube.
--
-- The placeholder in `num` is replaced with the indicator's own SQL; the macros byars_lower,
-- byars_upper and dobson are defined by the script that runs this (benches/common/mod.rs).
WITH esp AS (
    -- Band 0 is 0-4, ..., band 17 is 85-89, band 18 is 90+.
    SELECT (row_number() OVER (ORDER BY age_lower) - 1)::INTEGER AS band, weight::DOUBLE AS weight
    FROM esp2013
),
areas AS (
    SELECT lsoa_code, 'lsoa' AS level, lsoa_code AS area_code FROM geography
    UNION ALL SELECT lsoa_code, 'ward', ward_code FROM geography
    UNION ALL SELECT lsoa_code, 'neighbourhood', neighbourhood FROM geography
    UNION ALL SELECT lsoa_code, 'locality', locality_code FROM geography
    UNION ALL SELECT lsoa_code, 'place', place_name FROM geography
),
num AS (
    SELECT lsoa_code, date_trunc('month', event_date) AS month, least(age // 5, 18) AS band,
           sum(numerator)::DOUBLE AS x
    FROM (__NUMERATOR_SQL__
    ) s
    WHERE lsoa_code IN (SELECT lsoa_code FROM geography)
    GROUP BY ALL
),
months AS (SELECT DISTINCT month FROM num),
-- Each month's period of each kind, with the year of the period's start: the year of the
-- period's midpoint for months, calendar quarters and April-March years alike.
month_periods AS (
    SELECT month, 'month' AS period_kind, strftime(month, '%Y-%m') AS period, year(month) AS y
    FROM months
    UNION ALL
    SELECT month, 'quarter', year(month) || '-Q' || quarter(month), year(month) FROM months
    UNION ALL
    SELECT month, 'financial_year', 'FY' || fy || '/' || lpad(((fy + 1) % 100)::VARCHAR, 2, '0'), fy
    FROM (SELECT month, year(month) - CASE WHEN month(month) < 4 THEN 1 ELSE 0 END AS fy FROM months)
),
-- The population year of a period: the mid-year estimate nearest that year.
periods AS (
    SELECT DISTINCT period_kind, period,
           (SELECT year FROM (SELECT DISTINCT year FROM population)
            ORDER BY abs(year - y), year LIMIT 1) AS year
    FROM month_periods
),
pop AS (
    SELECT lsoa_code, year, least(age // 5, 18) AS band, sum(population)::DOUBLE AS n
    FROM population GROUP BY ALL
),
-- Every area, period and band with its population (areas without events included).
cells AS (
    SELECT a.level, a.area_code, p.period_kind, p.period, pop.band, sum(pop.n) AS n
    FROM areas a CROSS JOIN periods p
    JOIN pop ON pop.lsoa_code = a.lsoa_code AND pop.year = p.year
    GROUP BY ALL
),
counts AS (
    SELECT a.level, a.area_code, mp.period_kind, mp.period, num.band, sum(num.x) AS x
    FROM num JOIN month_periods mp USING (month) JOIN areas a USING (lsoa_code)
    GROUP BY ALL
),
totals AS (
    SELECT c.level, c.area_code, c.period_kind, c.period,
           sum(coalesce(k.x, 0)) AS o, sum(c.n) AS n, min(c.n) AS min_n,
           sum(coalesce(k.x, 0) * e.weight / c.n) / sum(e.weight) AS dsr,
           sum(coalesce(k.x, 0) * pow(e.weight / c.n, 2)) / pow(sum(e.weight), 2) AS var
    FROM cells c JOIN esp e USING (band)
    LEFT JOIN counts k USING (level, area_code, period_kind, period, band)
    GROUP BY ALL
),
published AS (
    SELECT *, o >= 10 AND min_n > 0 AS ok, dsr * 100000 AS v FROM totals
)
SELECT level, area_code, period_kind, period, o AS numerator, n AS denominator,
       CASE WHEN ok THEN v END AS value,
       CASE WHEN ok THEN dobson(v, var, o, byars_lower(o, 1.959963984540054)) END AS lower_95,
       CASE WHEN ok THEN dobson(v, var, o, byars_upper(o, 1.959963984540054)) END AS upper_95,
       CASE WHEN ok THEN dobson(v, var, o, byars_lower(o, 3.090232306167813)) END AS lower_99_8,
       CASE WHEN ok THEN dobson(v, var, o, byars_upper(o, 3.090232306167813)) END AS upper_99_8
FROM published
