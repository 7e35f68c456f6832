/*
id = "emergency_admissions_injuries_children"
title = "Emergency admissions for injuries in children (0-17)"
definition = "Emergency hospital admissions for injuries (ICD-10 S00-T98) of residents aged 0-17, crude rate per 10,000 population aged 0-17."
source = "admissions"
measure = "crude_rate"
multiplier = 10000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex"]
[denominator]
kind = "population"
age_min = 0
age_max = 17
*/
SELECT lsoa_code, admission_date AS event_date, age, sex, 1 AS numerator
FROM admissions
WHERE admission_method = 'emergency'
  AND age <= 17 AND (primary_diagnosis LIKE 'S%' OR primary_diagnosis LIKE 'T%')
