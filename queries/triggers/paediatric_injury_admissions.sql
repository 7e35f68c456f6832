/*
id = "paediatric_injury_admissions"
title = "Emergency admissions for injuries in children (0-17)"
dataset = "admissions"
levels = ["place", "locality"]
strata = []
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "both"
population_offset = false
provisional_weeks = 2
close_after = 3
*/
SELECT lsoa_code, admission_date AS event_date, 1 AS numerator
FROM admissions
WHERE admission_method = 'emergency' AND primary_diagnosis NOT LIKE 'U07%'
  AND age <= 17 AND (primary_diagnosis LIKE 'S%' OR primary_diagnosis LIKE 'T%')
