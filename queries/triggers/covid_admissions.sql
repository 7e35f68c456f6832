/*
id = "covid_admissions"
title = "COVID-19 admissions"
dataset = "admissions"
levels = ["place", "locality", "neighbourhood", "ward"]
strata = ["local_imd_quintile"]
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "up"
population_offset = false
provisional_weeks = 2
close_after = 3
[escalation]
thresholds = [20.0, 40.0, 80.0]
consecutive = 2
per = "count"
*/
SELECT lsoa_code, admission_date AS event_date, 1 AS numerator
FROM admissions
WHERE primary_diagnosis LIKE 'U07%'
