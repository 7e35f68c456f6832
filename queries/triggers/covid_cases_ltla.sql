/*
id = "covid_cases_ltla"
title = "COVID-19 cases (UKHSA, by local authority)"
dataset = "covid_cases_ltla"
levels = ["place"]
methods = ["ears-c1", "ears-c2", "ears-c3"]
direction = "up"
population_offset = false
provisional_weeks = 1
close_after = 3
*/
-- People with a positive test each ISO week (by specimen date), the sum over the place's local
-- authorities (UKHSA's daily counts). EARS (CDC's C1, C2, C3 on a 7-week baseline) because the
-- data holds months, not the years Farrington needs. The last week is provisional: specimens
-- are reported for days after they are taken.
SELECT area_code, specimen_date AS event_date, cases AS numerator
FROM covid_cases_ltla
WHERE cases IS NOT NULL
