/*
id = "cellulitis_admissions"
title = "Non-COVID emergency admissions: cellulitis"
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
  AND primary_diagnosis LIKE 'L03%'
