/*
id = "covid_cases"
title = "COVID-19 cases (UKHSA, by MSOA)"
dataset = "covid_cases_msoa"
levels = ["place"]
methods = ["ears-c1", "ears-c2", "ears-c3"]
direction = "up"
population_offset = false
provisional_weeks = 1
close_after = 3
*/
-- People with a positive test each week, the sum over the place's MSOAs (UKHSA's weekly counts
-- by MSOA 2011). A suppressed MSOA-week (0 to 2 cases, -99 in the source) adds nothing: the
-- place's count is a lower bound, as UKHSA's own MSOA totals are. EARS (CDC's C1, C2, C3 on a
-- 7-week baseline) because the data holds months, not the years Farrington needs.
SELECT msoa_code AS area_code, week_start AS event_date, cases AS numerator
FROM covid_cases_msoa
WHERE cases IS NOT NULL
