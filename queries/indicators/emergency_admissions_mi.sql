/*
id = "emergency_admissions_mi"
title = "Emergency admissions for myocardial infarction"
definition = "Emergency hospital admissions of residents with a primary diagnosis of ICD-10 I21-I22, directly age-standardised to the European Standard Population 2013, per 100,000 population."
source = "admissions"
measure = "dsr"
multiplier = 100000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex", "age_band"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, admission_date AS event_date, age, sex, 1 AS numerator
FROM admissions
WHERE admission_method = 'emergency'
  AND (primary_diagnosis LIKE 'I21%' OR primary_diagnosis LIKE 'I22%')
