/*
id = "high_risk_non_covid_admissions"
title = "Non-COVID emergency admissions for high-risk conditions"
dataset = "admissions"
levels = ["place", "locality", "neighbourhood"]
strata = ["local_imd_quintile"]
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "down"
population_offset = false
provisional_weeks = 2
close_after = 3
*/
SELECT lsoa_code, admission_date AS event_date, 1 AS numerator
FROM admissions
WHERE admission_method = 'emergency' AND primary_diagnosis NOT LIKE 'U07%'
  AND (substr(primary_diagnosis, 1, 3) IN ('I21', 'I22', 'I50', 'J44', 'J45', 'J46', 'E10', 'E11', 'E12', 'E13', 'E14') OR (age <= 17 AND (primary_diagnosis LIKE 'S%' OR primary_diagnosis LIKE 'T%')))
